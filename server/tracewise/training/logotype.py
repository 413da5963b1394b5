"""Train the logo-type classifier (simple / text / gradient / complex) and export it to ONNX.

A RandomForestClassifier over the feature vector, trained on the dev logos and their
augmentations (the labelled table's rows; categories from ``manifest.csv``). Accuracy is
reported with two-fold cross-validation by logo, on the original logos of the held-out fold.

    python -m tracewise.training.logotype [--table data/mapping_table.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import confusion_matrix

from ..dataset import CATEGORIES
from ..features import FEATURE_NAMES
from .export import write_model
from .mapping import load
from .table import table_hash

SEED = 11


def fit(x: np.ndarray, y: np.ndarray) -> RandomForestClassifier:
    model = RandomForestClassifier(n_estimators=200, min_samples_leaf=1, random_state=SEED, n_jobs=1)
    model.fit(x, y)
    return model


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


def export(model: RandomForestClassifier, out_dir: Path, extra: dict) -> Path:
    from skl2onnx import to_onnx

    x = np.zeros((1, len(FEATURE_NAMES)), np.float32)
    onx = to_onnx(model, x, target_opset=17, options={id(model): {"zipmap": False}})
    meta = {
        "feature_names": list(FEATURE_NAMES),
        "labels": list(CATEGORIES),
        **extra,
    }
    return write_model(out_dir, "logotype", onx, meta)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=Path, default=Path("data/mapping_table.npz"))
    ap.add_argument("--out", type=Path, default=Path("server/tracewise/models"))
    a = ap.parse_args(argv)
    table = load(a.table)
    cv = cross_validate(table)
    print(f"logo type accuracy on held-out logos: {cv['accuracy']:.3f} (n={cv['n']})")
    print("confusion (rows truth, cols predicted):", cv["labels"])
    for label, row in zip(cv["labels"], cv["confusion"]):
        print(f"  {label:9s} {row}")
    y = np.array([CATEGORIES.index(c) for c in table["category"]])
    path = export(fit(table["features"], y), a.out, {"table_sha256": table_hash(a.table), "cv": cv})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
