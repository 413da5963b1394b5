"""Train the router from real runs and export it to ONNX.

Labels come from measured results, never from rules: for each logo and request scenario
(time budget), the label is the cheapest method whose SSIM is within ``TOLERANCE`` of the best
method that fits the budget (all at the default byte cap). The runs come from the quality
benchmark (``bench/quality.py`` writes every method's result per logo, each from models trained
on the other fold), stored as ``data/router_table.csv``:

    tracewise bench --methods default,search --search-budget 1 --json bench/out/quality_rows_1s.json
    python -m tracewise.training.router --from-bench bench/out/quality_rows.json \
        --search-1s bench/out/quality_rows_1s.json                                 # rebuild the table
    python -m tracewise.training.router                                            # train + export

Reports, with two-fold cross-validation by logo: accuracy, confusion matrix, mean regret (SSIM
lost against the best method that fits) and compute saved against always running the costliest
method that fits.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import confusion_matrix

from ..dataset import logos
from ..features import FEATURE_NAMES, features
from ..router import REQUEST_FEATURE_NAMES, ROUTED, request_features
from .export import write_model

TOLERANCE = 0.002
# Which methods a budget lets run, as measured in the benchmark: at 1 s search runs for 1 s (a
# second benchmark run, --search-budget 1), at 5 s for its own 5 s, at 30 s regional joins.
SCENARIOS = {
    1.0: ("mapping", "search@1"),
    5.0: ("mapping", "search"),
    30.0: ("mapping", "search", "regional"),
}
SEED = 5
TABLE = Path("data/router_table.csv")
AUG_TABLE = Path("data/router_table_aug.csv")  # python -m tracewise.training.router_augment


def table_from_bench(rows_json: Path, out: Path = TABLE, search_1s: Path | None = None) -> int:
    """The runs table from the quality benchmark's rows (and a 1 s search run, when given)."""
    by_logo: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in json.loads(rows_json.read_text())["rows"]:
        by_logo[r["logo"]][r["method"]] = r
    if search_1s is not None:
        for r in json.loads(search_1s.read_text())["rows"]:
            if r["method"] == "search":
                by_logo[r["logo"]]["search@1"] = r
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["logo", "budget_s", "method", "ssim", "bytes", "seconds"])
        n = 0
        for logo, methods in sorted(by_logo.items()):
            for budget, allowed in SCENARIOS.items():
                if not all(m in methods for m in allowed):
                    continue
                for m in allowed:
                    r = methods[m]
                    name = m.split("@")[0]
                    w.writerow([logo, budget, name, f"{r['ssim']:.6f}", r["bytes"], f"{r['seconds']:.4f}"])
                    n += 1
    return n


def load_table(path: Path = TABLE) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def labelled(rows: list[dict]) -> list[dict]:
    """One example per (logo, augmentation, budget): label, and what each choice would have cost."""
    groups: dict[tuple[str, str, float], dict[str, dict]] = defaultdict(dict)
    for r in rows:
        groups[(r["logo"], r.get("aug") or "orig", float(r["budget_s"]))][r["method"]] = r
    out = []
    for (logo, aug, budget), methods in sorted(groups.items()):
        best = max(float(r["ssim"]) for r in methods.values())
        label = next(m for m in ROUTED if m in methods and float(methods[m]["ssim"]) >= best - TOLERANCE)
        example = {
            "logo": logo,
            "aug": aug,
            "budget_s": budget,
            "label": label,
            "ssim": {m: float(r["ssim"]) for m, r in methods.items()},
            "seconds": {m: float(r["seconds"]) for m, r in methods.items()},
        }
        stored = next(iter(methods.values())).get("features")
        if stored:
            example["features"] = json.loads(stored)
        out.append(example)
    return out


def design(examples: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (the augmented picture's when stored), labels, and the source logo's fold."""
    by_name = {lg.name: lg for lg in logos()}
    cache: dict[str, np.ndarray] = {}
    x, y, fold = [], [], []
    for e in examples:
        lg = by_name[e["logo"]]
        if "features" in e:
            f = np.asarray(e["features"], np.float32)
        else:
            if lg.name not in cache:
                cache[lg.name] = features(lg.picture().rgba)
            f = cache[lg.name]
        x.append(np.concatenate([f, request_features(e["budget_s"])]))
        y.append(e["label"])
        fold.append(lg.fold)
    return np.array(x, np.float32), np.array(y), np.array(fold)


def load_all(table: Path = TABLE, augmented: Path | None = AUG_TABLE) -> list[dict]:
    """The shipped runs plus, when present, the augmented ones."""
    rows = load_table(table)
    if augmented is not None and augmented.exists():
        rows += load_table(augmented)
    return rows


def fit(x: np.ndarray, y: np.ndarray) -> RandomForestClassifier:
    model = RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=SEED, n_jobs=1)
    model.fit(x, y)
    return model


def cross_validate(examples: list[dict], x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> dict:
    pred = np.empty_like(y)
    for f in (0, 1):
        model = fit(x[fold != f], y[fold != f])
        pred[fold == f] = model.predict(x[fold == f])
    regret, spent, costliest = [], 0.0, 0.0
    for e, p in zip(examples, pred):
        regret.append(max(e["ssim"].values()) - e["ssim"][p])
        spent += e["seconds"][p]
        costliest += e["seconds"][max(e["seconds"], key=ROUTED.index)]
    labels = [m for m in ROUTED if m in set(y) | set(pred)]
    return {
        "accuracy": float((pred == y).mean()),
        "n": int(len(y)),
        "labels": labels,
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
        "mean_regret_ssim": float(np.mean(regret)),
        "compute_seconds": spent,
        "always_costliest_seconds": costliest,
        "compute_saved": 1.0 - spent / costliest if costliest else 0.0,
        "label_counts": {m: int((y == m).sum()) for m in labels},
        "accuracy_originals": float(
            np.mean([p == t for e, p, t in zip(examples, pred, y) if e.get("aug", "orig") == "orig"])
        ),
        "accuracy_by_budget": {
            str(b): float(np.mean([p == t for e, p, t in zip(examples, pred, y) if e["budget_s"] == b]))
            for b in sorted({e["budget_s"] for e in examples})
        },
        "regret_by_budget": {
            str(b): float(np.mean([r for e, r in zip(examples, regret) if e["budget_s"] == b]))
            for b in sorted({e["budget_s"] for e in examples})
        },
    }


def export(model: RandomForestClassifier, out_dir: Path, extra: dict) -> Path:
    from skl2onnx import to_onnx

    x = np.zeros((1, len(FEATURE_NAMES) + len(REQUEST_FEATURE_NAMES)), np.float32)
    onx = to_onnx(model, x, target_opset=17, options={id(model): {"zipmap": False}})
    meta = {
        "feature_names": [*FEATURE_NAMES, *REQUEST_FEATURE_NAMES],
        "labels": [str(c) for c in model.classes_],
        **extra,
    }
    return write_model(out_dir, "router", onx, meta)


def examples_from_store(db: Path) -> tuple[list[dict], np.ndarray]:
    """Examples from served results: the same image served by two or more methods at one budget."""
    from ..engine import AUTO_BUDGET_S
    from ..store import ResultsStore

    groups: dict[tuple[str, float], dict[str, dict]] = defaultdict(dict)
    for r in ResultsStore(db).rows():
        if not r["image_sha256"] or r["fallback"] or r.get("cached") or not r["features"]:
            continue  # a cache hit is a copy, not a new measurement
        budget = (r["options"] or {}).get("budget_s") or AUTO_BUDGET_S
        groups[(r["image_sha256"], float(budget))][r["method_used"]] = r
    examples, feats = [], []
    for (image, budget), methods in sorted(groups.items()):
        methods = {m: r for m, r in methods.items() if m in ROUTED}
        if len(methods) < 2:
            continue
        best = max(r["ssim"] for r in methods.values())
        label = next(m for m in ROUTED if m in methods and methods[m]["ssim"] >= best - TOLERANCE)
        examples.append(
            {
                "logo": image,
                "budget_s": budget,
                "label": label,
                "ssim": {m: r["ssim"] for m, r in methods.items()},
                "seconds": {m: r["seconds"] for m, r in methods.items()},
            }
        )
        feats.append(
            np.concatenate(
                [np.asarray(next(iter(methods.values()))["features"], np.float32), request_features(budget)]
            )
        )
    return examples, np.array(feats, np.float32).reshape(len(feats), -1)


def regret_of(predict, examples: list[dict], x: np.ndarray) -> float:
    picks = predict(x)
    return float(
        np.mean(
            [
                max(e["ssim"].values()) - e["ssim"].get(p, min(e["ssim"].values()))
                for e, p in zip(examples, picks)
            ]
        )
    )


def retrain(db: Path, table: Path, out: Path) -> bool:
    """Train from the shipped table plus the store; replace the model only if it is no worse."""
    from ..router import OnnxClassifier

    shipped = labelled(load_all(table, table.with_name(AUG_TABLE.name)))
    x1, y1, f1 = design(shipped)
    served, x2 = examples_from_store(db)
    y2 = np.array([e["label"] for e in served])
    f2 = np.array([int(e["logo"][-1], 16) % 2 for e in served], dtype=int)  # by image hash
    examples = shipped + served
    x = np.concatenate([x1, x2]) if len(served) else x1
    y = np.concatenate([y1, y2]) if len(served) else y1
    fold = np.concatenate([f1, f2]) if len(served) else f1
    cv = cross_validate(examples, x, y, fold)
    current_path = out / "router.onnx"
    current = OnnxClassifier(current_path) if current_path.exists() else None
    print(f"{len(shipped)} shipped + {len(served)} served examples")
    print(f"candidate (cross-validated): accuracy {cv['accuracy']:.3f}, regret {cv['mean_regret_ssim']:.5f}")
    if current is not None:

        def predict(rows: np.ndarray) -> list[str]:
            return [current.labels[int(np.argmax(current.proba(r)))] for r in rows]

        cur_regret = regret_of(predict, examples, x)
        cur_acc = float(np.mean([p == t for p, t in zip(predict(x), y)]))
        print(f"current {current.version}: accuracy {cur_acc:.3f}, regret {cur_regret:.5f}")
        if cv["mean_regret_ssim"] > cur_regret + 1e-6:
            print("kept the current model: the candidate is worse")
            return False
    digest = hashlib.sha256(table.read_bytes() + Path(db).read_bytes()).hexdigest()[:16]
    path = export(fit(x, y), out, {"table_sha256": digest, "cv": cv, "served_examples": len(served)})
    print(f"wrote {path}")
    return True


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--from-bench", type=Path, default=None, help="rebuild the table from quality_rows.json")
    ap.add_argument(
        "--search-1s", type=Path, default=None, help="with --from-bench: rows of a 1 s search run"
    )
    ap.add_argument("--augmented", type=Path, default=AUG_TABLE, help="extra runs on augmented logos")
    ap.add_argument("--out", type=Path, default=Path("server/tracewise/models"))
    a = ap.parse_args(argv)
    if a.from_bench:
        print(f"{table_from_bench(a.from_bench, a.table, a.search_1s)} runs -> {a.table}")
    examples = labelled(load_all(a.table, a.augmented))
    x, y, fold = design(examples)
    cv = cross_validate(examples, x, y, fold)
    print(json.dumps(cv, indent=1))
    digest = hashlib.sha256(
        a.table.read_bytes() + (a.augmented.read_bytes() if a.augmented and a.augmented.exists() else b"")
    ).hexdigest()[:16]
    path = export(fit(x, y), a.out, {"table_sha256": digest, "cv": cv})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
