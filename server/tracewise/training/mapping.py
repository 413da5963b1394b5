"""Train the mapping model from the labelled table and export it to ONNX.

1. Utility of configuration j on image i: what mapping returns if it traces j, i.e. the better of
   j's score (when j fits the image's default byte cap) and the floor (VTracer's defaults on the
   raw and the pre-processed pixels, which every method is checked against).
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


def floor(table: dict[str, np.ndarray]) -> np.ndarray:
    """The floor's score per image: VTracer's defaults as they came, or pool entry 0 (the same
    defaults on our pre-processed pixels) where it fits the cap."""
    feasible = table["bytes"][:, 0] <= table["cap"]
    return np.maximum(table["base_score"], np.where(feasible, table["score"][:, 0], -np.inf))


def utility(table: dict[str, np.ndarray]) -> np.ndarray:
    feasible = table["bytes"] <= table["cap"][:, None]
    return np.maximum(np.where(feasible, table["score"], -np.inf), floor(table)[:, None])


def allowed(table: dict[str, np.ndarray], held_out: int | None) -> np.ndarray:
    """Pool columns a model scored on fold ``held_out`` may use: the seeded pool, and
    configurations search found on logos of the other folds (``search_pool``)."""
    n = int(table["score"].shape[1])
    origin = table["pool_fold"] if "pool_fold" in table else np.full(n, -1)
    return np.ones(n, bool) if held_out is None else (origin != held_out)


def pick_codebook(u: np.ndarray, k: int = K, usable: np.ndarray | None = None) -> list[int]:
    chosen: list[int] = []
    best = np.full(u.shape[0], -np.inf)
    usable = np.ones(u.shape[1], bool) if usable is None else usable
    for _ in range(min(k, int(usable.sum()))):
        gains = [
            np.maximum(best, u[:, j]).mean() if usable[j] and j not in chosen else -np.inf
            for j in range(u.shape[1])
        ]
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

    def ranked(self, feats: np.ndarray) -> np.ndarray:
        """Pool columns in the model's order, best first, per row."""
        return np.asarray(self.codebook)[np.argsort(-self.model.predict(feats), axis=1, kind="stable")]


def fit(table: dict[str, np.ndarray], rows: np.ndarray, k: int = K, held_out: int | None = None) -> Fitted:
    """The model for ``rows``; ``held_out``: the fold it will be scored on (its codebook then
    takes no configuration search found on that fold's logos)."""
    u = utility(table)[rows]
    codebook = pick_codebook(u, k, allowed(table, held_out))
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


def best_fixed(u_train: np.ndarray, usable: np.ndarray) -> int:
    """The single pool column with the best mean utility on the training rows."""
    return int(np.argmax(np.where(usable, u_train.mean(axis=0), -np.inf)))


def cross_validate(table: dict[str, np.ndarray]) -> dict[str, float]:
    """Two-fold by logo; evaluated on the original (un-augmented) logos of the other fold."""
    u = utility(table)
    from ..methods.mapping import CHECK_BELOW, CHECK_RANKS

    got, checked, oracle, fixed, base = [], [], [], [], []
    for fold in (0, 1):
        train = table["fold"] != fold
        test = (table["fold"] == fold) & (table["aug"] == "orig")
        f = fit(table, np.flatnonzero(train), held_out=fold)
        pick = f.choose(table["features"][test])
        rows = np.flatnonzero(test)
        usable = allowed(table, fold)
        got.append(u[rows, pick])
        # what the method returns: below CHECK_BELOW it also measures the next ranks
        ranks = f.ranked(table["features"][test])[:, :CHECK_RANKS]
        first = u[rows, ranks[:, 0]]
        checked.append(np.where(first < CHECK_BELOW, u[rows[:, None], ranks].max(axis=1), first))
        oracle.append(u[rows][:, usable].max(axis=1))
        fixed.append(u[rows, best_fixed(u[train], usable)])
        base.append(table["base_score"][rows])
    g, c, o, fx, b = (np.concatenate(a) for a in (got, checked, oracle, fixed, base))

    def red(m: np.ndarray) -> float:
        return float(((1 - b) - (1 - m)).mean() / (1 - b).mean())

    return {
        "mapping_error_reduction": red(g),
        "mapping_checked_error_reduction": red(c),
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
