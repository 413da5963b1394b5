"""The router: arms, real labels (data/router_runs.csv), the judging, ONNX parity, decision rules,
served results retrained from, logo types."""

import json
from pathlib import Path

import numpy as np
import pytest

from tracewise.router import ARMS, MIN_BUDGET_S, ROUTED, Router, bucket, choose, default_router, eligible
from tracewise.training import router as training

RUNS = Path(__file__).resolve().parents[2] / "data" / "router_runs.csv"


@pytest.fixture(scope="module")
def examples():
    return training.examples(training.load_runs(RUNS, RUNS.with_name("router_regional.csv")))


def test_arms_are_cheapest_first_with_one_owner():
    assert [a.budget_s for a in ARMS] == sorted(a.budget_s for a in ARMS)
    assert ROUTED == ("mapping", "search", "regional")
    assert MIN_BUDGET_S == {"mapping": 0.0, "search": 0.5, "regional": 30.0}
    assert [a.name for a in eligible(1.0)] == ["mapping", "search@0.5", "search@1"]
    assert [a.name for a in eligible(0.2)] == ["mapping"]


def test_choose_takes_the_cheapest_arm_whose_cumulative_odds_reach_the_threshold():
    arms = eligible(5.0)
    probs = {"mapping": 0.3, "search@0.5": 0.1, "search@1": 0.2, "search@2": 0.1, "search@5": 0.3}
    assert choose(probs, arms, 0.3)[0].name == "mapping"
    assert choose(probs, arms, 0.55)[0].name == "search@1"
    assert choose(probs, arms, 0.9)[0].name == "search@5"
    # Odds of arms that do not fit are left out (renormalised over the eligible ones).
    arm, odds = choose({**probs, "regional@30": 0.5}, eligible(1.0), 0.6)
    assert arm.name == "search@0.5" and odds == pytest.approx(0.4 / 0.6)


def test_search_curve_is_read_as_the_anytime_prefix():
    curve = [[0.0, 0.90, 0.90, 900], [0.2, 0.91, 0.91, 950], [0.9, 0.93, 0.93, 800], [3.0, 0.95, 0.95, 700]]
    assert training.curve_at(curve, 0.2) == (0.90, 0.90, 900)  # 0.2 s less the margin
    assert training.curve_at(curve, 1.0) == (0.93, 0.93, 800)
    assert training.curve_at(curve, 5.0) == (0.95, 0.95, 700)
    floor_late = [[0.0, 0.90, 0.90, 900], [0.0, 0.92, 0.92, 990]]  # the floor counts at any budget
    assert training.curve_at(floor_late, 0.5) == (0.92, 0.92, 990)


def test_search_trajectory_is_a_prefix_of_any_longer_run(dev_logos):
    """What makes one run per picture a label for every budget: on a clock that advances with
    work only, a short search passes through exactly the states a longer one does."""
    from tracewise.methods.search import MARGIN_S, optimise, starting_points
    from tracewise.objective import Job, Objective
    from tracewise.training.router_runs import LaneEvaluator, Trajectory

    class Ticks:  # 10 ms per evaluation, nothing else
        evaluator = None

        def __call__(self):
            return 0.01 * (self.evaluator.count if self.evaluator else 0)

    picture = dev_logos[3].picture()
    histories = []
    for budget in (0.3, 0.8):
        clock = Ticks()
        job = Job(picture, Objective(), budget, clock=clock)
        clock.evaluator = LaneEvaluator(job)
        state = Trajectory(job, clock.evaluator)
        state.start_from_floor()
        optimise(state, starting_points(job), job.deadline - MARGIN_S, 0)
        histories.append(state)
    short, long = histories
    assert len(long.history) > len(short.history) > 10
    assert [c.params for c in short.history] == [c.params for c in long.history[: len(short.history)]]
    assert long.best_by(0.3).svg == short.best_by(0.3).svg


def _r(ssim, nbytes, score=None, cost=1.0):
    return {"ssim": ssim, "score": score if score is not None else ssim, "bytes": nbytes, "cost": cost}


def test_assess_ranks_like_the_engine():
    def near(results, **kw):
        return {k: v["near"] for k, v in training.assess(results, results, **kw).items()}

    # No cap, no target: within the SSIM tolerance of the best.
    both = {"mapping": _r(0.950, 900), "search@5": _r(0.951, 800)}
    assert near(both) == {"mapping": True, "search@5": True}
    got = training.assess(*(2 * ({"mapping": _r(0.940, 900), "search@5": _r(0.951, 800)},)))
    assert not got["mapping"]["near"] and got["mapping"]["regret"] == pytest.approx(0.011)
    # A cap: a result over it is not near-best, however fine it looks.
    runs = {"mapping": _r(0.99, 1300), "search@5": _r(0.97, 1000)}
    assert near(runs, cap=1100) == {"mapping": False, "search@5": True}
    # Nothing keeps the cap: the smallest (within the bytes tolerance) wins.
    assert near({"mapping": _r(0.99, 1300), "search@5": _r(0.9, 1250)}, cap=1000)["mapping"]
    assert not near({"mapping": _r(0.99, 1600), "search@5": _r(0.9, 1250)}, cap=1000)["mapping"]
    # A target: reaching it with (about) the fewest bytes; SSIM above it is worth nothing.
    runs = {"mapping": _r(0.99, 1325), "search@5": _r(0.974, 529)}
    got = training.assess(runs, runs, target=0.95)
    assert not got["mapping"]["near"] and got["mapping"]["regret"] == 0 and got["search@5"]["near"]
    assert near({"mapping": _r(0.99, 560), "search@5": _r(0.974, 529)}, target=0.95)["mapping"]
    # The target is compared with the score (alpha-aware), as the engine does.
    alpha_short = {"mapping": _r(0.96, 500, score=0.94), "search@5": _r(0.955, 520)}
    assert not near(alpha_short, target=0.95)["mapping"]


def test_examples_are_real_runs_labelled_by_the_cheapest_near_best_arm(examples):
    assert len(examples) >= 200
    assert {e["budget_s"] for e in examples} >= {1.0, 5.0}
    for e in examples:
        names = list(e["one"])
        assert names == [a.name for a in eligible(e["budget_s"]) if a.name in e["one"]]
        label = names.index(e["label1"])
        assert e["one"][e["label1"]]["near"] and not any(e["one"][n]["near"] for n in names[:label])
        best = min(e["one"].values(), key=lambda r: r["regret"])
        assert best["regret"] == 0 or not best["kept"]  # regret is against the best that fits
        assert len(e["features"]) == len(training.FEATURE_NAMES)


def test_request_scenarios_carry_their_fields(examples):
    by = {}
    for e in examples:
        by.setdefault(e["scenario"], []).append(e)
    assert {"default", "cap50", "target95"} <= set(by)
    names = list(training.REQUEST_FEATURE_NAMES)
    cap = lambda e: e["request"][names.index("log2_max_svg_bytes")]  # noqa: E731
    assert all(cap(e) > 5 for e in by["cap50"]) and all(cap(e) == 0 for e in by["default"])
    assert {e["request"][names.index("target_ssim")] for e in by["target95"]} == {0.95}
    if "colors8" in by:
        assert {e["request"][names.index("log2_colours")] for e in by["colors8"]} == {3.0}


def test_onnx_matches_sklearn(examples, tmp_path):
    x, y = training.design(examples)
    model = training.fit(x, y)
    path = training.export(model, tmp_path, {"thresholds": {"1": 0.8, "5": 0.9, "30": 0.95}})
    router = Router(path)
    ref = model.predict_proba(x)
    for row, expected in zip(x[:40], ref[:40]):
        assert np.allclose(router.model.proba(row), expected, atol=1e-5)
    assert router.model.labels == [str(c) for c in model.classes_]
    assert router.thresholds == {"1": 0.8, "5": 0.9, "30": 0.95}
    budgets = (0.2, 1.0, 4.9, 5.0, 29.0, 30.0, 600.0)
    assert [bucket(b) for b in budgets] == ["1", "1", "1", "5", "5", "30", "30"]


def test_budget_decides_what_is_eligible(dev_logos):
    r = default_router()
    rgba = dev_logos[0].picture().rgba
    d = r.decide(rgba, 0.2)
    assert d.method == "mapping" and d.budget_s is None and d.arm == "mapping"
    d = r.decide(rgba, 60.0)
    assert set(d.probabilities) == {a.name for a in ARMS}
    assert abs(sum(d.probabilities.values()) - 1) < 1e-3  # each rounded to 4 decimals
    d = r.decide(rgba, 1.0)
    assert set(d.probabilities) == {"mapping", "search@0.5", "search@1"}
    assert d.budget_s is None or d.budget_s <= 1.0


def test_saturated_method_degrades_and_says_so(dev_logos):
    r = default_router()
    rgba, d0 = next(
        (rgba, d)
        for rgba in (lg.picture().rgba for lg in dev_logos)
        if (d := r.decide(rgba, 60.0)).method != "mapping"
    )
    assert not d0.degraded
    d = r.decide(rgba, 60.0, load={d0.method: 1.0})
    assert d.degraded and ROUTED.index(d.method) < ROUTED.index(d0.method)
    assert any("saturated" in x for x in d.reasons)
    everything_busy = r.decide(rgba, 60.0, load={m: 1.0 for m in ROUTED})
    assert everything_busy.method == "mapping"  # the cheapest always answers


def test_logo_type_is_reported(dev_logos):
    r = default_router()
    kinds = {r.decide(lg.picture().rgba, 5.0).logo_type for lg in dev_logos[::4]}
    assert kinds <= {"simple", "text", "gradient", "complex"} and len(kinds) >= 3


def test_shipped_router_sees_the_request_fields_and_keeps_the_goals():
    meta = default_router().model.meta
    assert meta["feature_names"][-5:] == list(training.REQUEST_FEATURE_NAMES)
    assert meta["arms"] == [a.name for a in ARMS]
    assert set(meta["thresholds"]) == {"1", "5", "30"}
    assert all(0.5 <= t <= 1 for t in meta["thresholds"].values())


def test_request_fields_reach_the_model(dev_logos, monkeypatch):
    r = default_router()
    seen = []
    real = r.model.proba
    monkeypatch.setattr(r.model, "proba", lambda x: (seen.append(np.asarray(x)), real(x))[1])
    rgba = dev_logos[7].picture().rgba
    r.decide(rgba, 5.0, max_svg_bytes=1024, target_ssim=0.9, style="polygon", colours=8)
    r.decide(rgba, 5.0)
    assert np.allclose(seen[0][-5:], [np.log2(5.0), 10.0, 0.9, 1.0, 3.0], atol=1e-6)
    assert np.allclose(seen[1][-5:], [np.log2(5.0), 0.0, 0.0, 0.0, 0.0], atol=1e-6)


def _served(store, image, arm, ssim, nbytes, seconds, feats, i):
    store.append(
        {
            "request_id": f"r{i}",
            "time": float(i),
            "image_sha256": image,
            "features": feats,
            "options": {"budget_s": 5.0, "arm": arm},
            "method_used": arm.split("@")[0],
            "ssim": ssim,
            "svg_bytes": nbytes,
            "seconds": seconds,
            "fallback": [],
        }
    )


def test_retrain_learns_from_served_results_and_never_swaps_for_worse(tmp_path, dev_logos):
    from tracewise.features import features
    from tracewise.store import ResultsStore

    db = tmp_path / "results.db"
    out = tmp_path / "models"
    out.mkdir()
    # A slice of the shipped runs (every logo's default request and the regional rows): quicker.
    lines = RUNS.read_text().splitlines(keepends=True)
    runs = tmp_path / RUNS.name
    runs.write_text("".join(lines[:1] + [x for x in lines[1:] if ",orig,default," in x]))
    (tmp_path / "router_regional.csv").write_text(RUNS.with_name("router_regional.csv").read_text())
    # No current model, nothing served: the candidate is written.
    assert training.retrain(db, runs, out)["replaced"]
    assert json.loads((out / "router.json").read_text())["served_examples"] == 0
    # A current model and still nothing served: nothing new to learn from, it stays.
    assert not training.retrain(db, runs, out)["replaced"]
    # Served pairs (one image, two arms, one request) that agree with the current model's own
    # choices: it is near-best on all of them, so a candidate may replace it only by being so too.
    current = Router(out / "router.onnx", None)
    store = ResultsStore(db)
    for i, lg in enumerate(dev_logos[:16]):
        rgba = lg.picture().rgba
        pick = current.decide(rgba, 5.0).arm
        other = "search@5" if pick != "search@5" else "mapping"
        f = [float(v) for v in features(rgba)]
        sha = f"{i:063x}{i % 2}"
        _served(store, sha, pick, 0.951, 800, 0.05, f, 2 * i)
        _served(store, sha, other, 0.940, 900, 5.0, f, 2 * i + 1)
    assert len(training.examples_from_store(db)) == 16
    outcome = training.retrain(db, runs, out)
    assert outcome["served"] == 16 and outcome["current"]["near_best"] == 1.0
    assert outcome["replaced"] == (outcome["candidate"]["near_best"] == 1.0)
    meta = json.loads((out / "router.json").read_text())
    assert meta["served_examples"] == (16 if outcome["replaced"] else 0)


def test_shipped_runs_are_the_plan_the_script_makes(dev_logos):
    """data/router_runs.csv is what ``router_runs`` regenerates: every logo in every scenario,
    plus the seeded extra pictures, each once."""
    from tracewise.training import router_runs

    plan = router_runs.plan(dev_logos)
    assert plan == router_runs.plan(dev_logos) and len(set(plan)) == len(plan)
    n = len(router_runs.SCENARIOS)
    every = {(lg.name, "orig", s) for lg in dev_logos for s in router_runs.SCENARIOS}
    assert set(plan[: n * len(dev_logos)]) == every
    assert {a for _, a, _ in plan[n * len(dev_logos) :]} <= set(router_runs.PICTURES)
    runs = training.load_runs(RUNS)
    assert sorted((r["logo"], r["aug"], r["scenario"]) for r in runs) == sorted(plan)
    sizes = {max(int(r["width"]), int(r["height"])) for r in runs}
    assert min(sizes) <= 64 and max(sizes) >= 2048  # the picture sizes the router serves
    colours = {r["max_colors"] for r in runs if r["scenario"] == "colors8"}
    assert colours == {"8"}


def test_a_routed_request_runs_the_arm_for_its_seconds():
    from tracewise.engine import AUTO_BUDGET_S, method_budget
    from tracewise.methods import DEFAULT_BUDGET_S
    from tracewise.router import Decision

    def decision(method, budget_s):
        return Decision(method, 0.9, "text", "v", 0.001, budget_s=budget_s)

    assert method_budget("search", 30.0, decision("search", 1.0)) == 1.0  # the rest is saved
    assert method_budget("search", 0.7, decision("search", 1.0)) == 0.7  # never above the request's
    assert method_budget("search", None, decision("search", 5.0)) == min(5.0, AUTO_BUDGET_S)
    assert method_budget("mapping", 30.0, decision("mapping", None)) == DEFAULT_BUDGET_S["mapping"]
    assert method_budget("search", None) == DEFAULT_BUDGET_S["search"]  # asked for by name
    assert method_budget("search", 7.0) == 7.0
