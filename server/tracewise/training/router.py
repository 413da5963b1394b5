"""Train the router (engine v2) from real runs, judge it by what users get, export it to ONNX.

The runs (``training.router_runs``: ``data/router_runs.csv``, regional's 30 s results on the logos in
``data/router_regional.csv``) hold, per picture and request scenario, mapping's result and its
cost, and search's whole anytime trajectory on a work clock. For each run and request budget
(``BUDGETS``) every arm that fits (``router.ARMS``: mapping, search for 0.5 / 1 / 2 / 5 s, regional
for 30 s) has a result and a cost in CPU seconds (mapping: what it used; search and regional: their
seconds on ``LANES`` workers).

What users get (``score_policy``), on logos the model did not train on (two folds by source logo,
augmentations never straddle them):
- *near-best rate*: the share of requests whose result is as good as the best result among the
  methods that fit the request (``assess``: ranked the way the engine ranks results: within the
  cap first; with a target, reaching it with at most 10% more bytes than the fewest; otherwise
  within ``TOLERANCE`` SSIM);
- *mean regret*: the SSIM lost against that best (with a target, SSIM above it counts for nothing);
- *compute saved* against always running the costliest arm that fits;
- *cap misses*: the result broke the cap where the costliest arm kept it.

Two policies, each a forest over the image features and the request's fields:
- *one-shot* (served): the label is the cheapest arm that is near-best; the decision is the
  cheapest arm whose cumulative odds reach a threshold (``router.choose``);
- *two-stage* (measured beside it): mapping runs first, and a second forest that also sees
  mapping's own result (``MAPPING_RESULT_NAMES``) decides whether search pays, and for how long.
Each forest's size and its thresholds (one per labelled budget: ``router.bucket``) are chosen
together inside the training fold (a second split by logo): per budget, the threshold that saves
the most compute while its near-best rate and regret keep ``NEAR_BEST_GOAL`` and ``REGRET_GOAL``,
never on reported figures.

``python -m tracewise.training.router`` reports both policies beside simple ones and exports the
served model; ``retrain`` (``tracewise router retrain --db``) adds served results (the same image
and request served by two arms) and replaces the model only when it is no worse on them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from ..features import FEATURE_NAMES
from ..methods.search import MARGIN_S
from ..objective import rank_key
from ..params import DEFAULT_STYLE
from ..router import (
    ARM_BY_NAME,
    ARMS,
    BUDGETS,
    REQUEST_FEATURE_NAMES,
    bucket,
    choose,
    eligible,
    request_features,
)
from .export import write_model
from .router_runs import LANES, REGIONAL
from .router_runs import OUT as RUNS

TOLERANCE = 0.002
BYTES_TOLERANCE = 0.10  # with a quality target: how many more bytes than the best still count
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)
# Inside the training fold, the threshold must keep these (margins over the 0.95 and 0.0005).
NEAR_BEST_GOAL = 0.96
REGRET_GOAL = 0.0004
SEED = 5
MAPPING_RESULT_NAMES = (
    "mapping_ssim",
    "mapping_gain",
    "mapping_log2_bytes_over_defaults",
    "mapping_over_target",
)
STOP = "mapping"  # the two-stage decision that search does not pay


# -- runs -> results per arm ---------------------------------------------------------------------


def load_runs(path: Path = RUNS, regional: Path = REGIONAL) -> list[dict]:
    """The runs, with search's trajectory parsed and regional's result joined where measured."""
    extra = {}
    if regional.exists():
        with open(regional, newline="") as fh:
            extra = {(r["logo"], r["aug"], r["scenario"]): r for r in csv.DictReader(fh)}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["curve"] = json.loads(r["search_curve"])
        r["features"] = json.loads(r["features"])
        r["regional"] = extra.get((r["logo"], r["aug"], r["scenario"]))
    return rows


def _number(v: str | float | None) -> float | None:
    return float(v) if v not in (None, "") else None


def _result(ssim: float, score: float, nbytes: int, cost: float) -> dict:
    return {"ssim": float(ssim), "score": float(score), "bytes": int(nbytes), "cost": float(cost)}


def curve_at(curve: list[list[float]], budget_s: float) -> tuple[float, float, int]:
    """Search's best (SSIM, score, bytes) with ``budget_s``: the last improvement finished by the
    deadline less the margin (the floor's entries, at 0, always count)."""
    best = curve[0]
    for entry in curve:
        if entry[0] == 0.0 or entry[0] <= budget_s - MARGIN_S:
            best = entry
    return best[1], best[2], int(best[3])


def request_of(run: dict) -> tuple[int | None, float | None, str, int]:
    cap = _number(run.get("max_svg_bytes"))
    colours = _number(run.get("max_colors"))
    return (
        int(cap) if cap else None,
        _number(run.get("target_ssim")),
        run.get("style") or DEFAULT_STYLE,
        int(colours) if colours else 0,
    )


def one_shot_results(run: dict, budget: float) -> dict[str, dict]:
    """Each arm that fits ``budget``: its result and cost (CPU seconds)."""
    out = {}
    for arm in eligible(budget):
        if arm.method == "mapping":
            r = run
            out[arm.name] = _result(
                r["mapping_ssim"], r["mapping_score"], r["mapping_bytes"], r["mapping_cpu_s"]
            )
        elif arm.method == "search":
            out[arm.name] = search_result(run, arm.budget_s)
        elif run.get("regional"):
            out[arm.name] = regional_result(run)
    return out


def search_result(run: dict, seconds: float) -> dict:
    """Search for ``seconds`` as it serves: mapping's answer first (``SearchState.start_from_mapping``:
    its CPU seconds come out of the budget), then the trajectory for what is left; the better of
    the two, at the cost of both (mapping on one lane, the rest on ``LANES``)."""
    cap, target, _, _ = request_of(run)
    first = _result(run["mapping_ssim"], run["mapping_score"], run["mapping_bytes"], run["mapping_cpu_s"])
    left = max(0.0, seconds - first["cost"])
    ssim, score, nbytes = curve_at(run["curve"], left)
    return {
        **better(first, _result(ssim, score, nbytes, 0.0), cap, target),
        "cost": first["cost"] + LANES * left,
    }


def regional_result(run: dict) -> dict:
    """Regional's 30 s result: measured in the quality benchmark, and never below search's 5 s
    (regional's first 12 s are a whole-image search with search's seed and starts, so in any one
    run it holds search@5's result; the benchmark's run and ours differ only in the machine's luck)."""
    cap, target, _, _ = request_of(run)
    g = run["regional"]
    ssim, score, nbytes = curve_at(run["curve"], 5.0)
    measured = _result(g["ssim"], g["score"], g["bytes"], LANES * float(g["seconds"]))
    return {**better(measured, _result(ssim, score, nbytes, 0.0), cap, target), "cost": measured["cost"]}


def better(a: dict, b: dict, cap: int | None, target: float | None) -> dict:
    return b if _key(b, cap, target) > _key(a, cap, target) else a


def two_stage_results(run: dict, budget: float) -> dict[str, dict]:
    """Mapping first, then (or not: ``STOP``) an arm in what is left of the budget: the better of
    the two results, at the cost of both."""
    cap, target, _, _ = request_of(run)
    first = one_shot_results(run, 0.0)["mapping"]
    out = {STOP: first}
    for arm in eligible(budget)[1:]:
        if arm.method == "search":
            seconds = min(arm.budget_s, budget - first["cost"])
            if seconds < arm.budget_s - 1e-9 and seconds < 0.5:
                continue  # mapping used the budget up
            ssim, score, nbytes = curve_at(run["curve"], seconds)
            then = _result(ssim, score, nbytes, LANES * seconds)
        elif run.get("regional"):
            then = regional_result(run)
        else:
            continue
        best = better(first, then, cap, target)
        out[arm.name] = {**best, "cost": first["cost"] + then["cost"]}
    return out


# -- judging -------------------------------------------------------------------------------------


def _key(r: dict, cap: int | None, target: float | None) -> tuple[float, ...]:
    kept = cap is None or r["bytes"] <= cap
    value = r["score"] if target is not None else r["ssim"]
    return rank_key(kept, value, r["bytes"], target)


def assess(
    results: dict[str, dict], reference: dict[str, dict], cap: int | None = None, target: float | None = None
) -> dict[str, dict]:
    """For each result: near-best (as good as the best of ``reference``: the methods that fit the
    request), its regret and whether it kept the cap.

    Ranked the way the engine ranks candidates (``objective.rank_key``): within the cap first;
    then, with a target, reaching it with the fewest bytes; otherwise the best SSIM. Near-best:
    - without a target (or when nothing reaches it): SSIM within ``TOLERANCE`` of the best, and
      the cap kept whenever the best keeps it;
    - with a target the best reaches: reaching it too with at most ``BYTES_TOLERANCE`` more bytes;
    - when nothing keeps the cap: at most ``BYTES_TOLERANCE`` more bytes than the smallest.
    Regret is the SSIM lost against the best (with a target, SSIM above it counts for nothing).
    """
    best = max(reference.values(), key=lambda r: _key(r, cap, target))

    def kept(r: dict) -> bool:
        return cap is None or r["bytes"] <= cap

    def near(r: dict) -> bool:
        if not kept(best):
            return r["bytes"] <= best["bytes"] * (1 + BYTES_TOLERANCE)
        if not kept(r):
            return False
        if target is not None and best["score"] >= target:
            return r["score"] >= target and r["bytes"] <= best["bytes"] * (1 + BYTES_TOLERANCE)
        return r["ssim"] >= best["ssim"] - TOLERANCE

    ref = best["ssim"] if target is None else min(best["ssim"], target)
    return {
        name: {"near": near(r), "regret": max(0.0, ref - r["ssim"]), "kept": kept(r), "cost": r["cost"]}
        for name, r in results.items()
    }


def mapping_result_features(run: dict) -> list[float]:
    """What the two-stage decision knows after mapping ran (``MAPPING_RESULT_NAMES``)."""
    _, target, _, _ = request_of(run)
    ssim, score = float(run["mapping_ssim"]), float(run["mapping_score"])
    return [
        ssim,
        ssim - float(run["defaults_ssim"]),
        float(np.log2(max(1, int(run["mapping_bytes"])) / max(1, int(run["defaults_bytes"])))),
        score - target if target is not None else 0.0,
    ]


def size_bucket(side: int) -> str:
    """The picture's long side, in the bands the report groups by."""
    return next((f"<={b}" for b in (128, 256, 512, 1024, 2048) if side <= b), ">2048")


def examples(runs: list[dict]) -> list[dict]:
    """One example per run and request budget it can be asked with: the request's fields, and
    what each arm (one-shot and two-stage) gets and costs."""
    out = []
    for run in runs:
        cap, target, style, colours = request_of(run)
        for budget in BUDGETS:
            if budget >= 30.0 and not run.get("regional"):
                continue  # regional measured on the logos only
            one = one_shot_results(run, budget)
            two = two_stage_results(run, budget)
            a1 = assess(one, one, cap, target)
            a2 = assess(two, one, cap, target)
            out.append(
                {
                    "logo": run["logo"],
                    "fold": int(run["fold"]),
                    "aug": run["aug"],
                    "scenario": run["scenario"],
                    "budget_s": budget,
                    "size": size_bucket(max(int(run["width"]), int(run["height"]))),
                    "request": request_features(budget, cap, target, style, colours),
                    "features": run["features"],
                    "mapping_result": mapping_result_features(run),
                    "one": a1,
                    "two": a2,
                    "label1": next(n for n in a1 if a1[n]["near"]),
                    "label2": next(n for n in a2 if a2[n]["near"])
                    if any(v["near"] for v in a2.values())
                    else None,
                }
            )
    return out


# -- models and policies -------------------------------------------------------------------------


def design(exs: list[dict], stage: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels: image features + request (+ mapping's result for stage 2)."""
    rows, y = [], []
    for e in exs:
        x = [*e["features"], *e["request"]]
        if stage == 2:
            x += e["mapping_result"]
        rows.append(x)
        y.append(e["label1"] if stage == 1 else (e["label2"] or _costliest(e, 2)))
    return np.array(rows, np.float32), np.array(y)


def _costliest(e: dict, stage: int) -> str:
    return list(e["one" if stage == 1 else "two"])[-1]


def fit(
    x: np.ndarray, y: np.ndarray, min_samples_leaf: int = 2, max_depth: int | None = None
) -> RandomForestClassifier:
    model = RandomForestClassifier(
        n_estimators=100, min_samples_leaf=min_samples_leaf, max_depth=max_depth, random_state=SEED, n_jobs=1
    )
    model.fit(x, y)
    return model


GRID: tuple[dict[str, Any], ...] = tuple(
    {"min_samples_leaf": leaf, "max_depth": depth} for leaf in (2, 5, 10, 20) for depth in (None, 8)
)


def _inner(exs: list[dict]) -> np.ndarray:
    return np.array([zlib.crc32(e["logo"].encode()) % 2 for e in exs])


def measured_pick(probs: dict[str, float], e: dict, threshold: float, stage: int = 1) -> str:
    """The served rule (``router.choose`` over every arm that fits the request) on one example,
    read on what it measured: the chosen arm, or the cheapest measured one above it (the
    costliest measured when none is)."""
    arm = choose(probs, eligible(e["budget_s"]), threshold)[0]
    names = list(e["one" if stage == 1 else "two"])
    order = [a.name for a in ARMS]
    above = [n for n in names if order.index(n) >= order.index(arm.name)]
    return above[0] if above else names[-1]


def score_policy(exs: list[dict], picks: list[str], stage: int = 1) -> dict:
    """Near-best rate, regret, compute saved, cap misses (and label accuracy) of one choice per
    example; ``stage`` 2 reads the choices as two-stage ones (mapping first)."""
    got = [e["one" if stage == 1 else "two"][p] for e, p in zip(exs, picks)]
    costliest = [list(e["one"].values())[-1] for e in exs]
    spent = sum(g["cost"] for g in got)
    full = sum(c["cost"] for c in costliest)
    labels = [e["label1"] if stage == 1 else e["label2"] for e in exs]
    out = {
        "n": len(exs),
        "near_best": float(np.mean([g["near"] for g in got])),
        "mean_regret_ssim": float(np.mean([g["regret"] for g in got])),
        "compute_saved": 1.0 - spent / full if full else 0.0,
        "cap_misses": int(sum((not g["kept"]) and c["kept"] for g, c in zip(got, costliest))),
        "costliest_cost": full,
        "accuracy": float(np.mean([p == lab for p, lab in zip(picks, labels)])),
    }
    return out


def breakdown(exs: list[dict], picks: list[str], stage: int, key: str) -> dict[str, dict]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(exs):
        groups[str(e[key])].append(i)
    return {
        k: score_policy([exs[i] for i in idx], [picks[i] for i in idx], stage)
        for k, idx in sorted(groups.items())
    }


def decide_all(
    model: Any, x: np.ndarray, exs: list[dict], thresholds: dict[str, float], stage: int
) -> list[str]:
    """The served rule on each example: the cheapest arm whose cumulative odds reach the
    threshold of the example's budget."""
    proba = model.predict_proba(x)
    classes = [str(c) for c in model.classes_]
    return [
        measured_pick(dict(zip(classes, p)), e, thresholds[bucket(e["budget_s"])], stage)
        for e, p in zip(exs, proba)
    ]


def select(exs: list[dict], stage: int) -> tuple[dict, dict[str, float], dict]:
    """The forest's size and a threshold per budget, chosen together on a split of ``exs`` by
    logo: per budget, the threshold that saves the most compute while the near-best rate stays at
    or above ``NEAR_BEST_GOAL`` and the regret within ``REGRET_GOAL`` (where none does: the best
    near-best rate); the size whose thresholds meet the goals on most budgets, then save most.
    Returns the size, the thresholds and the inner figures per budget."""
    inner = _inner(exs)
    x, y = design(exs, stage)
    groups = defaultdict(list)
    for i, e in enumerate(exs):
        groups[bucket(e["budget_s"])].append(i)
    best: tuple[tuple, dict, dict, dict] | None = None
    for params in GRID:
        proba: list[dict[str, float]] = [{} for _ in exs]
        for f in (0, 1):
            train, test = np.flatnonzero(inner != f), np.flatnonzero(inner == f)
            if len(set(y[train])) < 2 or not len(test):
                return dict(GRID[0]), {b: THRESHOLDS[-1] for b in groups}, {}
            model = fit(x[train], y[train], **params)
            classes = [str(c) for c in model.classes_]
            for k, p in zip(test, model.predict_proba(x[test])):
                proba[int(k)] = dict(zip(classes, p))
        thresholds, figures, met, spent, full = {}, {}, 0, 0.0, 0.0
        for b, idx in groups.items():
            sub = [exs[i] for i in idx]
            chosen = None
            for t in THRESHOLDS:
                picks = [measured_pick(proba[i], exs[i], t, stage) for i in idx]
                s = score_policy(sub, picks, stage)
                ok = s["near_best"] >= NEAR_BEST_GOAL and s["mean_regret_ssim"] <= REGRET_GOAL
                rank = (ok, s["compute_saved"] if ok else s["near_best"])
                if chosen is None or rank > chosen[0]:
                    chosen = (rank, t, s)
            assert chosen is not None
            thresholds[b], figures[b] = chosen[1], chosen[2]
            met += chosen[0][0]
            full += figures[b]["costliest_cost"]
            spent += figures[b]["costliest_cost"] * (1 - figures[b]["compute_saved"])
        rank = (met, 1 - spent / full if full else 0.0)
        if best is None or rank > best[0]:
            best = (rank, dict(params), thresholds, figures)
    assert best is not None
    return best[1], best[2], best[3]


def train(exs: list[dict], stage: int = 1) -> tuple[RandomForestClassifier, dict[str, float], dict]:
    """A forest, its thresholds per budget and its size, all chosen on ``exs`` alone."""
    params, thresholds, _ = select(exs, stage)
    x, y = design(exs, stage)
    return fit(x, y, **params), thresholds, params


def cross_validate(exs: list[dict], stage: int = 1) -> tuple[list[str], dict]:
    """Out-of-fold choices (each fold decided by a model, threshold and size chosen on the other)."""
    picks: list[str] = [""] * len(exs)
    chosen = []
    for f in (0, 1):
        train_i = [i for i, e in enumerate(exs) if e["fold"] != f]
        test_i = [i for i, e in enumerate(exs) if e["fold"] == f]
        model, thresholds, params = train([exs[i] for i in train_i], stage)
        chosen.append({"thresholds": thresholds, **params})
        x, _ = design([exs[i] for i in test_i], stage)
        for i, p in zip(test_i, decide_all(model, x, [exs[i] for i in test_i], thresholds, stage)):
            picks[i] = p
    return picks, {"per_fold": chosen}


def policies(exs: list[dict]) -> dict[str, tuple[list[str], int]]:
    """Simple policies: (choices, stage)."""
    return {
        "always mapping": ([next(iter(e["one"])) for e in exs], 1),
        "always search (the whole budget, <= 5 s)": (
            [[n for n in e["one"] if n.startswith("search")][-1] for e in exs],
            1,
        ),
        "always the costliest that fits": ([list(e["one"])[-1] for e in exs], 1),
        "oracle (the cheapest near-best arm)": ([e["label1"] for e in exs], 1),
    }


def export(model: RandomForestClassifier, out_dir: Path, extra: dict) -> Path:
    from skl2onnx import to_onnx

    x = np.zeros((1, len(FEATURE_NAMES) + len(REQUEST_FEATURE_NAMES)), np.float32)
    onx = to_onnx(model, x, target_opset=17, options={id(model): {"zipmap": False}})
    meta = {
        "feature_names": [*FEATURE_NAMES, *REQUEST_FEATURE_NAMES],
        "labels": [str(c) for c in model.classes_],
        "arms": [a.name for a in ARMS],
        **extra,
    }
    return write_model(out_dir, "router", onx, meta)


# -- served results ------------------------------------------------------------------------------


def examples_from_store(db: Path) -> list[dict]:
    """One-shot examples from served results: the same image and request served by two or more
    arms (a routed answer and an exploration). Costs: mapping's seconds, the arms' budgets on
    ``LANES`` workers."""
    from ..engine import AUTO_BUDGET_S
    from ..router import colour_limit
    from ..store import ResultsStore

    groups: dict[tuple, dict[str, dict]] = defaultdict(dict)
    feats: dict[tuple, list[float]] = {}
    for r in ResultsStore(db).rows():
        o = r["options"] or {}
        arm = o.get("arm")
        if (
            not r["image_sha256"]
            or r["fallback"]
            or r.get("cached")
            or not r["features"]
            or arm not in ARM_BY_NAME
        ):
            continue  # a cache hit is a copy, not a new measurement
        request = (
            float(o.get("budget_s") or AUTO_BUDGET_S),
            o.get("max_svg_bytes") or None,
            o.get("target_ssim") or None,
            o.get("style") or DEFAULT_STYLE,
            colour_limit(o.get("max_colors"), tuple(o.get("palette") or ())),
        )
        a = ARM_BY_NAME[arm]
        cost = float(r["seconds"]) if a.method == "mapping" else LANES * a.budget_s
        groups[(r["image_sha256"], request)][arm] = _result(r["ssim"], r["ssim"], r["svg_bytes"], cost)
        feats[(r["image_sha256"], request)] = r["features"]
    out = []
    for (image, (budget, cap, target, style, colours)), results in sorted(
        groups.items(), key=lambda kv: repr(kv[0])
    ):
        if len(results) < 2:
            continue
        ordered = {a.name: results[a.name] for a in ARMS if a.name in results}
        judged = assess(ordered, ordered, cap, target)
        out.append(
            {
                "logo": image,
                "fold": int(image[-1], 16) % 2,
                "aug": "served",
                "scenario": "served",
                "budget_s": budget,
                "size": "served",
                "request": request_features(budget, cap, target, style, colours),
                "features": feats[(image, (budget, cap, target, style, colours))],
                "one": judged,
                "label1": next(n for n in judged if judged[n]["near"]),
            }
        )
    return out


def retrain(db: Path, runs: Path, out: Path) -> dict:
    """Train from the shipped runs plus the store; replace the model only if it is no worse.

    The comparison is on the served examples, which the current model never trained on: the
    candidate's cross-validated choices against the current model's choices (each by its own
    threshold), by near-best rate, then regret. Without served examples there is nothing new to
    learn from and the current model stays."""
    from ..router import OnnxClassifier

    shipped = examples(load_runs(runs, runs.with_name(REGIONAL.name)))
    served = examples_from_store(db)
    print(f"{len(shipped)} shipped + {len(served)} served examples")
    current_path = out / "router.onnx"
    current = OnnxClassifier(current_path) if current_path.exists() else None
    if current is not None and current.meta["feature_names"] != [*FEATURE_NAMES, *REQUEST_FEATURE_NAMES]:
        print(f"current {current.version} was trained on other features: it cannot be compared")
        current = None
    if current is not None and not served:
        print(f"kept {current.version}: the store holds no image served by two arms for one request")
        return {"replaced": False, "served": 0, "candidate": None, "current": None}
    everything = shipped + served
    picks, cv = cross_validate(everything)
    mine = theirs = None
    if current is not None:
        mine = score_policy(served, picks[len(shipped) :])
        x, _ = design(served)
        thresholds = current.meta["thresholds"]
        theirs_picks = [
            measured_pick(dict(zip(current.labels, current.proba(row))), e, thresholds[bucket(e["budget_s"])])
            for e, row in zip(served, x)
        ]
        theirs = score_policy(served, theirs_picks)
        for who, f in (("candidate", mine), (f"current {current.version}", theirs)):
            print(
                f"on the {len(served)} served examples, {who}: near-best {f['near_best']:.3f}, "
                f"regret {f['mean_regret_ssim']:.5f}, compute saved {f['compute_saved']:.0%}"
            )
        if (mine["near_best"], -mine["mean_regret_ssim"]) < (
            theirs["near_best"],
            -theirs["mean_regret_ssim"],
        ):
            print("kept the current model: the candidate is worse")
            return {"replaced": False, "served": len(served), "candidate": mine, "current": theirs}
    digest = hashlib.sha256(runs.read_bytes() + Path(db).read_bytes()).hexdigest()[:16]
    model, thresholds, params = train(everything)
    path = export(
        model,
        out,
        {
            "thresholds": thresholds,
            "runs_sha256": digest,
            "served_examples": len(served),
            "forest": params,
            "cv": {**score_policy(everything, picks), **cv},
        },  # fmt: skip
    )
    print(f"wrote {path}")
    return {"replaced": True, "served": len(served), "candidate": mine, "current": theirs}


# -- how much the labels hang on search's seed ---------------------------------------------------


def seed_study(runs: list[dict], reruns: list[list[dict]]) -> dict[str, dict]:
    """For the runs every rerun covers (``router_runs --seed N``: search again with another seed,
    mapping as shipped), per budget and ``all``: ``n``; ``unanimous``, the share of examples every
    seed labels alike; ``ceiling``, the mean share of each example's most common label (what a
    router that knew the odds but not the seed's luck could score against one seed's labels);
    ``seed0_near_best``, how often seed 0's own label (the cheapest near-best arm) is still
    near-best when search ran with another seed (the near-best rate no router can beat)."""
    index = [{(r["logo"], r["aug"], r["scenario"]): r for r in rerun} for rerun in reruns]
    covered = [r for r in runs if all((r["logo"], r["aug"], r["scenario"]) in i for i in index)]
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in covered:
        key = (run["logo"], run["aug"], run["scenario"])
        versions = [examples([run])] + [examples([{**run, "curve": i[key]["curve"]}]) for i in index]
        for per_seed in zip(*versions):
            labels = [e["label1"] for e in per_seed]
            for group in (str(per_seed[0]["budget_s"]), "all"):
                g = out[group]
                g["unanimous"].append(float(len(set(labels)) == 1))
                g["ceiling"].append(max(labels.count(x) for x in labels) / len(labels))
                for e in per_seed[1:]:
                    g["seed0_near_best"].append(float(e["one"][labels[0]]["near"]))
    return {
        k: {"n": len(v["unanimous"]), **{m: float(np.mean(x)) for m, x in v.items()}}
        for k, v in sorted(out.items())
    }


# -- the report ----------------------------------------------------------------------------------


def _line(name: str, f: dict) -> str:
    return (
        f"{name:44s} near-best {f['near_best']:.3f}  regret {f['mean_regret_ssim']:.5f}  "
        f"saved {f['compute_saved']:4.0%}  cap misses {f['cap_misses']:3d}  accuracy {f['accuracy']:.3f}"
    )


def report(exs: list[dict]) -> dict:
    """Both policies cross-validated, beside the simple ones, overall and per budget, scenario,
    picture and size; returns the one-shot figures for the model's metadata."""
    print(f"{len(exs)} examples from {len({e['logo'] for e in exs})} logos")
    for name, (picks, stage) in policies(exs).items():
        print(_line(name, score_policy(exs, picks, stage)))
    one, cv1 = cross_validate(exs, 1)
    two, cv2 = cross_validate(exs, 2)
    f1, f2 = score_policy(exs, one, 1), score_policy(exs, two, 2)
    print(_line("router, one-shot (served)", f1), cv1["per_fold"])
    print(_line("router, two-stage (mapping first)", f2), cv2["per_fold"])
    for key in ("budget_s", "scenario", "aug", "size"):
        for (k, a), b in zip(breakdown(exs, one, 1, key).items(), breakdown(exs, two, 2, key).values()):
            print(
                f"  {key}={k:12s} n={a['n']:4d} "
                + _line("one-shot", a)[45:]
                + " | two-stage "
                + _line("", b)[45:]
            )
    originals = [i for i, e in enumerate(exs) if e["aug"] == "orig"]
    print(
        _line(
            "one-shot on the original logos",
            score_policy([exs[i] for i in originals], [one[i] for i in originals]),
        )
    )
    counts: defaultdict[str, int] = defaultdict(int)
    for p in one:
        counts[p] += 1
    print("one-shot choices:", dict(counts))
    return {**f1, **cv1, "two_stage": {**f2, **cv2}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, default=RUNS)
    ap.add_argument("--regional", type=Path, default=REGIONAL)
    ap.add_argument("--out", type=Path, default=Path("server/tracewise/models"))
    ap.add_argument("--no-export", action="store_true", help="only report")
    ap.add_argument("--seed-runs", type=Path, nargs="+", default=None, help="router_runs --seed N runs")
    a = ap.parse_args(argv)
    if a.seed_runs:
        runs = load_runs(a.runs, a.regional)
        reruns = [load_runs(p, Path("/nonexistent")) for p in a.seed_runs]
        for group, f in seed_study(runs, reruns).items():
            print(
                f"budget {group:5s} {f['n']:4d} examples, {len(reruns) + 1} seeds: "
                f"all agree {f['unanimous']:.3f}, ceiling {f['ceiling']:.3f}; "
                f"seed 0's label near-best under another seed {f['seed0_near_best']:.3f}"
            )
        return
    exs = examples(load_runs(a.runs, a.regional))
    cv = report(exs)
    if a.no_export:
        return
    model, thresholds, params = train(exs, 1)
    digest = hashlib.sha256(
        a.runs.read_bytes() + (a.regional.read_bytes() if a.regional.exists() else b"")
    ).hexdigest()
    path = export(
        model, a.out, {"thresholds": thresholds, "runs_sha256": digest[:16], "forest": params, "cv": cv}
    )
    print(f"thresholds {thresholds}, forest {params}: wrote {path}")


if __name__ == "__main__":
    main()
