"""The router: real labels (data/router_table.csv), ONNX parity, decision rules, logo types."""

from pathlib import Path

import numpy as np
import pytest

from tracewise.router import MIN_BUDGET_S, Router, default_router
from tracewise.training import router as training

TABLE = Path(__file__).resolve().parents[2] / "data" / "router_table.csv"


@pytest.fixture(scope="module")
def examples():
    return training.labelled(training.load_table(TABLE))


def test_labels_are_cheapest_within_tolerance(examples):
    assert len(examples) >= 100
    for e in examples:
        best = max(e["ssim"].values())
        assert e["ssim"][e["label"]] >= best - training.TOLERANCE
        cheaper = [m for m in ("mapping", "search", "regional") if m in e["ssim"]]
        for m in cheaper[: cheaper.index(e["label"])]:
            assert e["ssim"][m] < best - training.TOLERANCE


def test_onnx_matches_sklearn(examples, tmp_path):
    x, y, _ = training.design(examples)
    model = training.fit(x, y)
    path = training.export(model, tmp_path, {"table_sha256": "test"})
    router = Router(path)
    ref = model.predict_proba(x)
    for row, expected in zip(x[:40], ref[:40]):
        assert np.allclose(router.model.proba(row), expected, atol=1e-5)
    assert router.model.labels == [str(c) for c in model.classes_]


def test_budget_decides_what_is_eligible(dev_logos):
    r = default_router()
    rgba = dev_logos[0].picture().rgba
    assert r.decide(rgba, 0.2).method == "mapping"
    d = r.decide(rgba, 60.0)
    assert set(d.probabilities) == {"mapping", "search", "regional"}
    assert abs(sum(d.probabilities.values()) - 1) < 1e-6
    assert set(r.decide(rgba, MIN_BUDGET_S["search"]).probabilities) == {"mapping", "search"}


def test_saturated_method_degrades_and_says_so(dev_logos):
    r = default_router()
    order = ("mapping", "search", "regional")
    rgba, d0 = next(
        (rgba, d)
        for rgba in (lg.picture().rgba for lg in dev_logos)
        if (d := r.decide(rgba, 60.0)).method != "mapping"
    )
    assert not d0.degraded
    d = r.decide(rgba, 60.0, load={d0.method: 1.0})
    assert d.degraded and order.index(d.method) < order.index(d0.method)
    assert any("saturated" in x for x in d.reasons)
    everything_busy = r.decide(rgba, 60.0, load={m: 1.0 for m in order})
    assert everything_busy.method == "mapping"  # the cheapest always answers


def test_logo_type_is_reported(dev_logos):
    r = default_router()
    kinds = {r.decide(lg.picture().rgba, 5.0).logo_type for lg in dev_logos[::4]}
    assert kinds <= {"simple", "text", "gradient", "complex"} and len(kinds) >= 3


def test_augmented_runs_bring_their_own_features_and_keep_the_source_fold():
    import numpy as np

    from tracewise.dataset import logos
    from tracewise.features import N_FEATURES

    examples = training.labelled(training.load_all())
    aug = [e for e in examples if e["aug"] != "orig"]
    assert len(aug) >= 400 and {e["budget_s"] for e in aug} == {1.0, 5.0}
    assert all(len(e["features"]) == N_FEATURES for e in aug)
    x, _, fold = training.design(aug[:6])
    assert np.allclose(x[:, :N_FEATURES], [e["features"] for e in aug[:6]], atol=1e-5)
    folds = {lg.name: lg.fold for lg in logos()}
    assert list(fold) == [folds[e["logo"]] for e in aug[:6]]
