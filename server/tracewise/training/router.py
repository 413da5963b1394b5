"""Train the router from real runs and export it to ONNX.

Labels come from measured results, never from rules: for each logo (and augmentation) and
request scenario (time budget; byte cap, quality target, style), the label is the cheapest method
whose result is as good as the best method that fits the request, judged the way the engine ranks
results (``judge``: within the cap first; with a target, reaching it with about the fewest bytes;
otherwise within ``TOLERANCE`` SSIM). The runs, each method run by mapping models trained on the
other fold of logos:

- ``data/router_table.csv``: the quality benchmark's per-logo results (1, 5 and 30 s), rebuilt by
  ``--from-bench bench/out/quality_rows.json --search-1s bench/out/quality_rows_1s.json``;
- ``data/router_table_aug.csv``: 1 and 5 s on three augmentations of every logo;
- ``data/router_table_requests.csv``: a half byte cap, targets 0.90 / 0.95 and the polygon style,
  at 1 s on the logos and three augmentations, at 5 s on the logos and two (background, JPEG);
  every scenario (the default request too) at 1 s on five more (noise, 384 px, a crop, 64 px,
  1024 px); the pixel style at 1 s on the logos and all nine kinds of picture, at 5 s on the logos
  (``python -m tracewise.training.router_augment``; ``make router-runs`` does all of it).

``--seed-runs`` reports instead how the labels change with search's seed (``make router-seeds``).

``python -m tracewise.training.router`` trains and exports, and reports with two-fold
cross-validation grouped by source logo: accuracy, confusion matrix, mean regret (SSIM lost
against the best choice), byte-cap misses and compute saved against always running the costliest
method that fits, per budget and scenario, beside simple policies and the served confidence rule.
Below 0.5 s only mapping fits (``router.MIN_BUDGET_S``): no label is needed there.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import confusion_matrix

from ..dataset import logos
from ..features import FEATURE_NAMES, features
from ..objective import rank_key
from ..params import DEFAULT_STYLE
from ..router import REQUEST_FEATURE_NAMES, ROUTED, request_features
from .export import write_model

TOLERANCE = 0.002
BYTES_TOLERANCE = 0.10  # with a quality target: how many more bytes than the best still count
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
# Request scenarios (cap, target, style) on the logos and their augmentations: router_augment too.
REQUESTS_TABLE = Path("data/router_table_requests.csv")


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


def _number(v) -> float | None:
    return float(v) if v not in (None, "") else None


def judge(
    methods: dict[str, dict], max_svg_bytes: int | None = None, target_ssim: float | None = None
) -> tuple[str, dict[str, float], dict[str, bool], dict[str, bool]]:
    """The label (cheapest method good enough), each method's regret, whether it kept the cap and
    whether it reached the target (always, without one).

    Results are ranked the way the engine ranks candidates (``objective.rank_key``): within the
    request's byte cap first; then, with a target, reaching it with the fewest bytes; otherwise the
    best SSIM. A method is good enough if it keeps the cap whenever the best does and
    - without a target (or when nothing reaches it): its SSIM is within ``TOLERANCE`` of the best;
    - with a target the best reaches: it reaches it too, with at most ``BYTES_TOLERANCE`` more
      bytes than the best (the request asked for the smallest SVG at that quality);
    - when nothing keeps the cap: at most ``BYTES_TOLERANCE`` more bytes than the smallest.
    Regret is the SSIM lost against the best (with a target, SSIM above it counts for nothing).
    """

    def q(r: dict) -> float:  # what the engine compares against a target: the score
        return float(r.get("score") or r["ssim"])

    def kept(r: dict) -> bool:
        return max_svg_bytes is None or int(r["bytes"]) <= max_svg_bytes

    def key(r: dict) -> tuple[float, ...]:  # the labels compare SSIM where the engine has no target
        value = q(r) if target_ssim is not None else float(r["ssim"])
        return rank_key(kept(r), value, int(r["bytes"]), target_ssim)

    best = methods[max(methods, key=lambda m: key(methods[m]))]
    best_bytes = int(best["bytes"])

    def good(r: dict) -> bool:
        if not kept(best):
            return int(r["bytes"]) <= best_bytes * (1 + BYTES_TOLERANCE)
        if not kept(r):
            return False
        if target_ssim is not None and q(best) >= target_ssim:
            return q(r) >= target_ssim and int(r["bytes"]) <= best_bytes * (1 + BYTES_TOLERANCE)
        return float(r["ssim"]) >= float(best["ssim"]) - TOLERANCE

    reference = float(best["ssim"])
    if target_ssim is not None:
        reference = min(reference, target_ssim)
    label = next(m for m in ROUTED if m in methods and good(methods[m]))
    regret = {m: max(0.0, reference - float(r["ssim"])) for m, r in methods.items()}
    reached = {m: target_ssim is None or q(r) >= target_ssim for m, r in methods.items()}
    return label, regret, {m: kept(r) for m, r in methods.items()}, reached


def make_example(methods: dict[str, dict], logo: str, aug: str, scenario: str, request: tuple) -> dict:
    """One training example: the request's fields, the label and what each choice would cost."""
    budget, cap, target, style = request
    label, regret, kept, reached = judge(methods, cap, target)
    return {
        "logo": logo,
        "aug": aug,
        "scenario": scenario,
        "budget_s": budget,
        "max_svg_bytes": cap,
        "target_ssim": target,
        "style": style,
        "label": label,
        "regret": regret,
        "kept_cap": kept,
        "reached_target": reached,
        "ssim": {m: float(r["ssim"]) for m, r in methods.items()},
        "seconds": {m: float(r["seconds"]) for m, r in methods.items()},
    }


def labelled(rows: list[dict]) -> list[dict]:
    """One example per (logo, augmentation, request scenario): the request's fields, the label,
    and what each choice would have cost."""
    groups: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        cap, target = _number(r.get("max_svg_bytes")), _number(r.get("target_ssim"))
        request = (float(r["budget_s"]), int(cap) if cap else None, target, r.get("style") or DEFAULT_STYLE)
        groups[(r["logo"], r.get("aug") or "orig", r.get("scenario") or "default", request)][r["method"]] = r
    out = []
    for (logo, aug, scenario, (budget, cap, target, style)), methods in sorted(
        groups.items(), key=lambda kv: repr(kv[0])
    ):
        example = make_example(methods, logo, aug, scenario, (budget, cap, target, style))
        stored = next(iter(methods.values())).get("features")
        if stored:
            example["features"] = json.loads(stored)
        out.append(example)
    return out


def example_request(e: dict) -> list[float]:
    return request_features(
        e["budget_s"], e.get("max_svg_bytes"), e.get("target_ssim"), e.get("style") or DEFAULT_STYLE
    )


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
        x.append(np.concatenate([f, example_request(e)]))
        y.append(e["label"])
        fold.append(lg.fold)
    return np.array(x, np.float32), np.array(y), np.array(fold)


def load_all(table: Path = TABLE, extra: tuple[Path, ...] = (AUG_TABLE, REQUESTS_TABLE)) -> list[dict]:
    """The shipped runs plus, when present, the augmented and the request-scenario ones."""
    rows = load_table(table)
    for path in extra:
        if path.exists():
            rows += load_table(path)
    return rows


def fit(
    x: np.ndarray, y: np.ndarray, min_samples_leaf: int = 2, max_depth: int | None = None
) -> RandomForestClassifier:
    model = RandomForestClassifier(
        n_estimators=100, min_samples_leaf=min_samples_leaf, max_depth=max_depth, random_state=SEED, n_jobs=1
    )
    model.fit(x, y)
    return model


# The forest's size is chosen by an inner grouped cross-validation on the training logos only (the
# labels are close calls, so shallower trees may generalise better; the data decides).
GRID = tuple({"min_samples_leaf": leaf, "max_depth": depth} for leaf in (2, 10) for depth in (None, 8, 4))


def tune(x: np.ndarray, y: np.ndarray, logo: np.ndarray) -> dict:
    """The GRID entry with the best accuracy over two inner folds split by source logo."""
    inner = np.array([zlib.crc32(str(n).encode()) % 2 for n in logo])
    if len(set(inner)) < 2:
        return dict(GRID[0])
    scores = []
    for params in GRID:
        right = 0
        for f in (0, 1):
            train, test = inner != f, inner == f
            right += int((fit(x[train], y[train], **params).predict(x[test]) == y[test]).sum())
        scores.append(right)
    return dict(GRID[int(np.argmax(scores))])


def _mean_by(examples: list[dict], values, key: str) -> dict[str, float]:
    groups: dict[str, list[float]] = defaultdict(list)
    for e, v in zip(examples, values):
        groups[str(e[key])].append(float(v))
    return {k: float(np.mean(v)) for k, v in sorted(groups.items())}


def score_picks(examples: list[dict], picks, y: np.ndarray | None = None) -> dict:
    """Accuracy, regret, cap misses and compute of a list of choices (one per example)."""
    y = np.array([e["label"] for e in examples]) if y is None else y
    final = np.asarray(picks)
    spent = sum(e["seconds"][p] for e, p in zip(examples, final))
    regret = [e["regret"][p] for e, p in zip(examples, final)]
    missed = [(not e["kept_cap"][p]) and any(e["kept_cap"].values()) for e, p in zip(examples, final)]
    costliest = sum(e["seconds"][max(e["seconds"], key=ROUTED.index)] for e in examples)
    right = final == y
    return {
        "accuracy": float(right.mean()),
        "mean_regret_ssim": float(np.mean(regret)),
        "cap_misses": int(sum(missed)),
        "compute_seconds": spent,
        "always_costliest_seconds": costliest,
        "compute_saved": 1.0 - spent / costliest if costliest else 0.0,
        "accuracy_originals": _mean_by(examples, right, "aug").get("orig"),
        "accuracy_by_budget": _mean_by(examples, right, "budget_s"),
        "accuracy_by_scenario": _mean_by(examples, right, "scenario"),
        "regret_by_budget": _mean_by(examples, regret, "budget_s"),
        "regret_by_scenario": _mean_by(examples, regret, "scenario"),
    }


def cross_validate(examples: list[dict], x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> dict:
    """Two-fold cross-validation grouped by source logo: the model's own choices."""
    pred = np.empty_like(y)
    proba = np.zeros((len(y), len(ROUTED)))
    logo = np.array([e["logo"] for e in examples])
    chosen = []
    for f in (0, 1):
        params = tune(x[fold != f], y[fold != f], logo[fold != f])
        chosen.append(params)
        model = fit(x[fold != f], y[fold != f], **params)
        pred[fold == f] = model.predict(x[fold == f])
        p = model.predict_proba(x[fold == f])
        for j, c in enumerate(model.classes_):
            proba[fold == f, ROUTED.index(str(c))] = p[:, j]
    labels = [m for m in ROUTED if m in set(y) | set(pred)]
    return {
        **score_picks(examples, pred, y),
        "n": int(len(y)),
        "labels": labels,
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
        "label_counts": {m: int((y == m).sum()) for m in labels},
        "probabilities": proba,  # for the policy comparison; dropped before export
        "predictions": pred,  # out-of-fold choices; dropped before export
        "forest_per_fold": chosen,
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
    """Examples from served results: the same image and request served by two or more methods."""
    from ..engine import AUTO_BUDGET_S
    from ..store import ResultsStore

    groups: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in ResultsStore(db).rows():
        if not r["image_sha256"] or r["fallback"] or r.get("cached") or not r["features"]:
            continue  # a cache hit is a copy, not a new measurement
        o = r["options"] or {}
        request = (
            float(o.get("budget_s") or AUTO_BUDGET_S),
            o.get("max_svg_bytes") or None,
            o.get("target_ssim") or None,
            o.get("style") or DEFAULT_STYLE,
        )
        groups[(r["image_sha256"], request)][r["method_used"]] = {**r, "bytes": r["svg_bytes"]}
    examples, feats = [], []
    for (image, (budget, cap, target, style)), methods in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        methods = {m: r for m, r in methods.items() if m in ROUTED}
        if len(methods) < 2:
            continue
        e = make_example(methods, image, "served", "served", (budget, cap, target, style))
        examples.append(e)
        feats.append(
            np.concatenate(
                [np.asarray(next(iter(methods.values()))["features"], np.float32), example_request(e)]
            )
        )
    width = len(FEATURE_NAMES) + len(REQUEST_FEATURE_NAMES)
    return examples, np.array(feats, np.float32).reshape(len(feats), width)


def retrain(db: Path, table: Path, out: Path) -> dict:
    """Train from the shipped table plus the store; replace the model only if it is no worse.

    The comparison is on the served examples, which the current model never trained on: the
    candidate's cross-validated choices against the current model's choices. Without served
    examples there is nothing new to learn from and the current model stays. Returns whether the
    model was replaced and both sides' figures on the served examples.
    """
    from ..router import OnnxClassifier

    shipped = labelled(load_all(table, tuple(table.with_name(p.name) for p in (AUG_TABLE, REQUESTS_TABLE))))
    x1, y1, f1 = design(shipped)
    served, x2 = examples_from_store(db)
    print(f"{len(shipped)} shipped + {len(served)} served examples")
    current_path = out / "router.onnx"
    current = OnnxClassifier(current_path) if current_path.exists() else None
    if current is not None and current.meta["feature_names"] != [*FEATURE_NAMES, *REQUEST_FEATURE_NAMES]:
        print(f"current {current.version} was trained on other features: it cannot be compared")
        current = None
    if current is not None and not served:
        print(f"kept {current.version}: the store holds no image served by two methods for one request")
        return {"replaced": False, "served": 0, "candidate": None, "current": None}
    y2 = np.array([e["label"] for e in served])
    f2 = np.array([int(e["logo"][-1], 16) % 2 for e in served], dtype=int)  # by image hash
    examples = shipped + served
    x = np.concatenate([x1, x2]) if len(served) else x1
    y = np.concatenate([y1, y2]) if len(served) else y1
    fold = np.concatenate([f1, f2]) if len(served) else f1
    cv = cross_validate(examples, x, y, fold)
    cv.pop("probabilities")
    picks = cv.pop("predictions")
    print(f"candidate (cross-validated): accuracy {cv['accuracy']:.3f}, regret {cv['mean_regret_ssim']:.5f}")
    mine = theirs = None
    if current is not None:
        mine = score_picks(served, picks[len(shipped) :], y2)
        theirs = score_picks(
            served,
            [_eligible(e, current.labels[int(np.argmax(current.proba(r)))]) for e, r in zip(served, x2)],
            y2,
        )
        for who, f in (("candidate", mine), (f"current {current.version}", theirs)):
            print(
                f"on the {len(served)} served examples, {who}: accuracy {f['accuracy']:.3f}, "
                f"regret {f['mean_regret_ssim']:.5f}, compute saved {f['compute_saved']:.0%}"
            )
        if mine["mean_regret_ssim"] > theirs["mean_regret_ssim"] + 1e-6:
            print("kept the current model: the candidate is worse")
            return {"replaced": False, "served": len(served), "candidate": mine, "current": theirs}
    digest = hashlib.sha256(table.read_bytes() + Path(db).read_bytes()).hexdigest()[:16]
    params = tune(x, y, np.array([e["logo"] for e in examples]))
    path = export(
        fit(x, y, **params),
        out,
        {"table_sha256": digest, "cv": cv, "served_examples": len(served), "forest": params},
    )
    print(f"wrote {path}")
    return {"replaced": True, "served": len(served), "candidate": mine, "current": theirs}


def learning_curve(
    examples: list[dict], x: np.ndarray, y: np.ndarray, fold: np.ndarray, sizes=(5, 10, 20, 40), repeats=5
) -> dict[int, tuple[float, float]]:
    """Held-out accuracy when each fold trains on only ``n`` of its source logos (with their
    augmentations and scenarios): flat means more logos of the same kind will not help."""
    rng = np.random.default_rng(SEED)
    logo = np.array([e["logo"] for e in examples])
    out = {}
    for n in sizes:
        runs = []
        for _ in range(repeats):
            pred = np.empty_like(y)
            for f in (0, 1):
                names = np.unique(logo[fold != f])
                chosen = set(rng.choice(names, min(n, len(names)), replace=False))
                train = (fold != f) & np.isin(logo, list(chosen))
                params = tune(x[train], y[train], logo[train])
                pred[fold == f] = fit(x[train], y[train], **params).predict(x[fold == f])
            runs.append(float((pred == y).mean()))
        out[n] = (float(np.mean(runs)), float(np.std(runs)))
    return out


def run_key(r: dict) -> tuple:
    """A run's identity in the tables: (logo, augmentation, scenario, budget, method)."""
    return (
        r["logo"],
        r.get("aug") or "orig",
        r.get("scenario") or "default",
        float(r["budget_s"]),
        r["method"],
    )


def example_key(e: dict) -> tuple:
    """An example's identity: (logo, augmentation, scenario, budget)."""
    return (e["logo"], e["aug"], e["scenario"], e["budget_s"])


def seed_labels(rows: list[dict], reruns: list[list[dict]]) -> dict[tuple, list[str]]:
    """For each example that every rerun of search (``router_augment --methods search --seed N``)
    covers, the label each seed gives: ``rows``' own first, then the reruns' in order."""
    indexes = [{run_key(r): r for r in rerun} for rerun in reruns]
    covered = set.intersection(*({k[:4] for k in index} for index in indexes)) if indexes else set()
    mine = [r for r in rows if run_key(r)[:4] in covered]
    out: dict[tuple, list[str]] = defaultdict(list)
    for index in [{}, *indexes]:
        for e in labelled([index.get(run_key(r), r) for r in mine]):
            out[example_key(e)].append(e["label"])
    return dict(out)


def majority(labels: list[str]) -> str:
    """The most common label; a tie keeps the first seed's (the shipped label)."""
    counts = Counter(labels)
    top = max(counts.values())
    return next(label for label in labels if counts[label] == top)


def seed_ceiling(seeds: dict[tuple, list[str]]) -> dict[str, dict[str, float]]:
    """How much the labels hang on search's seed (``seeds``: ``seed_labels``). Per scenario (and ``all``):
    ``n``, the share of examples every seed labels alike, and ``ceiling``: the mean share of the
    most common label, which is what a router that knew each example's odds but not the seed's
    luck would score against one seed's labels. From a few seeds the ceiling errs high (a generous
    bound)."""
    by_scenario: dict[str, list[float]] = defaultdict(list)
    for k, labels in seeds.items():
        share = max(Counter(labels).values()) / len(labels)
        by_scenario[k[2]].append(share)
        by_scenario["all"].append(share)
    return {
        sc: {
            "n": len(v),
            "seeds": len(next(iter(seeds.values()))),
            "unanimous": float(np.mean(np.array(v) == 1.0)),
            "ceiling": float(np.mean(v)),
        }
        for sc, v in sorted(by_scenario.items())
    }


def majority_accuracy(examples: list[dict], x: np.ndarray, fold: np.ndarray, seeds: dict) -> dict:
    """Whether the seed's luck is what the router misses: on the examples ``seeds`` covers, the
    cross-validated router's accuracy against the seeds' majority label, trained on the shipped
    labels and trained with the covered examples relabelled by their majority. Per scenario and
    ``all``: ``n``, the shipped labels' accuracy (``shipped``), ``shipped_vs_majority`` and
    ``majority``."""
    y = np.array([e["label"] for e in examples])
    ym = np.array([majority(seeds.get(example_key(e), [e["label"]])) for e in examples])
    covered = np.array([example_key(e) in seeds for e in examples])
    scenario = np.array([e["scenario"] for e in examples])
    shipped = cross_validate(examples, x, y, fold)["predictions"]
    relabelled = cross_validate(examples, x, ym, fold)["predictions"]
    out = {}
    for sc in ["all", *sorted(set(scenario[covered]))]:
        m = covered & ((scenario == sc) if sc != "all" else True)
        out[sc] = {
            "n": int(m.sum()),
            "relabelled": int((y[m] != ym[m]).sum()),
            "shipped": float((shipped[m] == y[m]).mean()),
            "shipped_vs_majority": float((shipped[m] == ym[m]).mean()),
            "majority": float((relabelled[m] == ym[m]).mean()),
        }
    return out


def _eligible(e: dict, pick: str) -> str:
    """A choice the example did not measure (the current model may know other methods) counts as
    the costliest measured one."""
    return pick if pick in e["ssim"] else max(e["ssim"], key=ROUTED.index)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--from-bench", type=Path, default=None, help="rebuild the table from quality_rows.json")
    ap.add_argument(
        "--search-1s", type=Path, default=None, help="with --from-bench: rows of a 1 s search run"
    )
    ap.add_argument(
        "--extra",
        type=Path,
        nargs="*",
        default=[AUG_TABLE, REQUESTS_TABLE],
        help="more runs (augmented logos, request scenarios)",
    )
    ap.add_argument("--out", type=Path, default=Path("server/tracewise/models"))
    ap.add_argument("--learning-curve", action="store_true", help="also: accuracy against logos trained on")
    ap.add_argument(
        "--seed-runs",
        type=Path,
        nargs="+",
        default=None,
        help="only report how labels change with search's seed (router_augment --seed N runs)",
    )
    a = ap.parse_args(argv)
    if a.from_bench:
        print(f"{table_from_bench(a.from_bench, a.table, a.search_1s)} runs -> {a.table}")
    extra = tuple(p for p in a.extra if p.exists())
    if a.seed_runs:
        rows = load_all(a.table, extra)
        seeds = seed_labels(rows, [load_table(p) for p in a.seed_runs])
        for scenario, f in seed_ceiling(seeds).items():
            print(
                f"{scenario:9s} {f['n']:4d} examples, {f['seeds']} seeds: all agree on {f['unanimous']:.3f}, "
                f"ceiling {f['ceiling']:.3f}"
            )
        examples = labelled(rows)
        x, _, fold = design(examples)
        print("router accuracy on these examples (cross-validated on the whole table):")
        for scenario, f in majority_accuracy(examples, x, fold, seeds).items():
            print(
                f"{scenario:9s} {f['n']:4d} examples ({f['relabelled']} relabelled by the majority): "
                f"shipped labels {f['shipped']:.3f}; trained on them, against the majority "
                f"{f['shipped_vs_majority']:.3f}; trained on the majority {f['majority']:.3f}"
            )
        return
    examples = labelled(load_all(a.table, extra))
    x, y, fold = design(examples)
    cv = cross_validate(examples, x, y, fold)
    proba = cv.pop("probabilities")
    cv.pop("predictions")
    print(json.dumps(cv, indent=1))
    for name, picks in policies(examples, proba).items():
        f = score_picks(examples, picks, y)
        print(
            f"{name:32s} accuracy {f['accuracy']:.3f}  regret {f['mean_regret_ssim']:.5f}  "
            f"saved {f['compute_saved']:.0%}  cap misses {f['cap_misses']}"
        )
    if a.learning_curve:
        for n, (mean, sd) in learning_curve(examples, x, y, fold).items():
            print(f"trained on {n:2d} logos per fold: accuracy {mean:.3f} +- {sd:.3f}")
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in (a.table, *extra))).hexdigest()[:16]
    params = tune(x, y, np.array([e["logo"] for e in examples]))
    path = export(fit(x, y, **params), a.out, {"table_sha256": digest, "cv": cv, "forest": params})
    print(f"wrote {path}")


def policies(examples: list[dict], proba: np.ndarray) -> dict[str, list[str]]:
    """Simple policies and the served decision rule (cross-validated probabilities) on the examples."""
    from ..router import LOW_CONFIDENCE

    def rule(threshold: float) -> list[str]:
        picks = []
        for e, p in zip(examples, proba):
            measured = [m for m in ROUTED if m in e["ssim"]]
            probs = np.array([p[ROUTED.index(m)] for m in measured])
            probs = probs / probs.sum() if probs.sum() > 0 else np.full(len(measured), 1 / len(measured))
            i = int(np.argmax(probs))
            if probs[i] < threshold and i < len(measured) - 1:
                i += 1
            picks.append(measured[i])
        return picks

    out = {
        "always mapping": ["mapping" for _ in examples],
        "always search": ["search" for _ in examples],
        "always the costliest that fits": [max(e["ssim"], key=ROUTED.index) for e in examples],
        "oracle (the label)": [e["label"] for e in examples],
    }
    for t in sorted({0.0, 0.6, 0.7, 0.8, 0.9, LOW_CONFIDENCE}):
        out[f"router, threshold {t:.2f}"] = rule(t)
    return out


if __name__ == "__main__":
    main()
