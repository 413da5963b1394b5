"""Train the logo-type classifier (simple / text / gradient / complex) and export it to ONNX.

Extremely randomised trees over the 14 image features plus 7 logo-type extras (colour ramps,
colour counts, luminance spread: ``features.LOGOTYPE_EXTRA_NAMES``), trained on the dev logos and
their augmentations (categories from ``manifest.csv``). Accuracy is reported with two-fold
cross-validation by logo, on the original logos of the held-out fold. About 10 s.

    python -m tracewise.training.logotype
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.metrics import confusion_matrix

from ..dataset import CATEGORIES, augmentations, logos
from ..features import LOGOTYPE_FEATURE_NAMES, logotype_features
from .export import write_model

SEED = 11


def fit(x: np.ndarray, y: np.ndarray) -> ExtraTreesClassifier:
    model = ExtraTreesClassifier(n_estimators=300, min_samples_leaf=1, random_state=SEED, n_jobs=1)
    model.fit(x, y)
    return model


def build_table() -> dict[str, np.ndarray]:
    """Features of every dev logo and augmentation, with category, fold and augmentation name."""
    rows: dict[str, list] = {"features": [], "category": [], "fold": [], "aug": []}
    for lg in logos():
        for aug, picture in augmentations(lg):
            rows["features"].append(logotype_features(picture.rgba))
            rows["category"].append(lg.category)
            rows["fold"].append(lg.fold)
            rows["aug"].append(aug)
    return {k: np.array(v) for k, v in rows.items()}


def table_digest(table: dict[str, np.ndarray]) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(table["features"], np.float32).tobytes()).hexdigest()[:16]


def cross_validate(table: dict[str, np.ndarray]) -> dict:
    y = np.array([CATEGORIES.index(c) for c in table["category"]])
    truth, pred = [], []
    for fold in (0, 1):
        train = table["fold"] != fold
        test = (table["fold"] == fold) & (table["aug"] == "orig")
        model = fit(table["features"][train], y[train])
        truth.append(y[test])
        pred.append(model.predict(table["features"][test]))
    t, p = np.concatenate(truth), np.concatenate(pred)
    return {
        "accuracy": float((t == p).mean()),
        "n": int(len(t)),
        "labels": list(CATEGORIES),
        "confusion": confusion_matrix(t, p, labels=range(len(CATEGORIES))).tolist(),
    }


def export(model: ExtraTreesClassifier, out_dir: Path, extra: dict) -> Path:
    from skl2onnx import to_onnx

    x = np.zeros((1, len(LOGOTYPE_FEATURE_NAMES)), np.float32)
    onx = to_onnx(model, x, target_opset=17, options={id(model): {"zipmap": False}})
    meta = {
        "feature_names": list(LOGOTYPE_FEATURE_NAMES),
        "labels": list(CATEGORIES),
        **extra,
    }
    return write_model(out_dir, "logotype", onx, meta)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("server/tracewise/models"))
    a = ap.parse_args(argv)
    table = build_table()
    cv = cross_validate(table)
    print(f"logo type accuracy on held-out logos: {cv['accuracy']:.3f} (n={cv['n']})")
    print("confusion (rows truth, cols predicted):", cv["labels"])
    for label, row in zip(cv["labels"], cv["confusion"]):
        print(f"  {label:9s} {row}")
    y = np.array([CATEGORIES.index(c) for c in table["category"]])
    path = export(fit(table["features"], y), a.out, {"table_sha256": table_digest(table), "cv": cv})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
