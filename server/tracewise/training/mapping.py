"""Train the mapping model from the labelled table and export it to ONNX.

1. Utility of configuration j on image i: its score when it fits the image's default byte
   cap, else the size reference's score (what the method falls back to).
2. Codebook: ``K`` configurations picked greedily from the pool to maximise the mean best
   utility over the training images.
3. Model: a RandomForestRegressor from features to each codebook entry's utility *relative
   to the best entry for that image*; the method traces the argmax. Regressing utilities
   (instead of classifying the winner) keeps near-ties cheap: regret, not accuracy, counts.

    python -m tracewise.training.mapping [--table data/mapping_table.npz] [--out server/tracewise/models]

Prints two-fold cross-validated figures (folds by logo, augmentations never straddle).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from ..features import FEATURE_NAMES
from .export import write_model
from .table import table_hash

K = 12
SEED = 7


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as t:
        return {k: t[k] for k in t.files}


def utility(table: dict[str, np.ndarray]) -> np.ndarray:
    feasible = table["bytes"] <= table["cap"][:, None]
    return np.where(feasible, table["score"], table["base_ssim"][:, None])


def pick_codebook(u: np.ndarray, k: int = K) -> list[int]:
    chosen: list[int] = []
    best = np.full(u.shape[0], -np.inf)
    for _ in range(min(k, u.shape[1])):
        gains = [np.maximum(best, u[:, j]).mean() if j not in chosen else -np.inf for j in range(u.shape[1])]
        j = int(np.argmax(gains))
        chosen.append(j)
        best = np.maximum(best, u[:, j])
    return chosen


@dataclass
class Fitted:
    model: RandomForestRegressor
    codebook: list[int]  # indices into the table's pool

    def choose(self, feats: np.ndarray) -> np.ndarray:
        return np.asarray(self.codebook)[np.argmax(self.model.predict(feats), axis=1)]


def fit(table: dict[str, np.ndarray], rows: np.ndarray, k: int = K) -> Fitted:
    u = utility(table)[rows]
    codebook = pick_codebook(u, k)
    uc = u[:, codebook]
    target = uc - uc.max(axis=1, keepdims=True)
    model = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=SEED, n_jobs=1)
    model.fit(table["features"][rows], target)
    return Fitted(model, codebook)


def export(fitted: Fitted, table: dict[str, np.ndarray], out_dir: Path, extra: dict | None = None) -> Path:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    x = table["features"][:1].astype(np.float32)
    final = [("variable", FloatTensorType([None, len(fitted.codebook)]))]
    onx = to_onnx(fitted.model, x, target_opset=17, final_types=final)
    pool = json.loads(str(table["pool"]))
    meta = {
        "feature_names": list(FEATURE_NAMES),
        "codebook": [pool[j] for j in fitted.codebook],
        "classes": list(range(len(fitted.codebook))),
        "output": "relative_utility",
        **(extra or {}),
    }
    return write_model(out_dir, "mapping", onx, meta)


def cross_validate(table: dict[str, np.ndarray]) -> dict[str, float]:
    """Two-fold by logo; evaluated on the original (un-augmented) logos of the other fold."""
    u = utility(table)
    got, oracle, fixed, base = [], [], [], []
    for fold in (0, 1):
        train = table["fold"] != fold
        test = (table["fold"] == fold) & (table["aug"] == "orig")
        f = fit(table, np.flatnonzero(train))
        pick = f.choose(table["features"][test])
        rows = np.flatnonzero(test)
        got.append(u[rows, pick])
        oracle.append(u[rows].max(axis=1))
        fixed.append(u[rows, int(np.argmax(u[train].mean(axis=0)))])
        base.append(table["base_ssim"][rows])
    g, o, fx, b = (np.concatenate(a) for a in (got, oracle, fixed, base))

    def red(m: np.ndarray) -> float:
        return float(((1 - b) - (1 - m)).mean() / (1 - b).mean())

    return {
        "mapping_error_reduction": red(g),
        "pool_oracle_error_reduction": red(o),
        "best_fixed_error_reduction": red(fx),
        "mapping_mean_ssim": float(g.mean()),
        "baseline_mean_ssim": float(b.mean()),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=Path, default=Path("data/mapping_table.npz"))
    ap.add_argument("--out", type=Path, default=Path("server/tracewise/models"))
    a = ap.parse_args(argv)
    table = load(a.table)
    cv = cross_validate(table)
    for k, v in cv.items():
        print(f"{k:32s} {v:.4f}")
    fitted = fit(table, np.arange(len(table["name"])))
    path = export(fitted, table, a.out, {"table_sha256": table_hash(a.table), "cv": cv})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
