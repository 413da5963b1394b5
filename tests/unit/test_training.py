"""Mapping-model training on a small slice of real data, and ONNX parity with scikit-learn."""

import json

import numpy as np
import pytest

from tracewise.features import FEATURE_NAMES
from tracewise.methods.mapping import MappingModel
from tracewise.training import mapping as training
from tracewise.training.table import build, config_pool


@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    out = tmp_path_factory.mktemp("table") / "t.npz"
    build(out, limit=2, jobs=1, augment=False)
    return out


def test_pool_is_seeded_and_valid():
    a, b = config_pool(), config_pool()
    assert a == b and len(set(a)) == len(a)


def test_table_columns(small_table):
    t = training.load(small_table)
    n, p = t["score"].shape
    assert n == 2 and p == len(config_pool())
    assert t["features"].shape == (n, len(FEATURE_NAMES))
    assert (t["bytes"] > 0).all() and ((t["score"] > 0) & (t["score"] <= 1)).all()
    # the table records the cap each row's utility is judged by
    assert (t["cap"] > 0).all()


def test_onnx_matches_sklearn(small_table, tmp_path):
    t = training.load(small_table)
    fitted = training.fit(t, np.arange(len(t["name"])), k=4)
    path = training.export(fitted, t, tmp_path, {"table_sha256": "test"})
    model = MappingModel.load(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["feature_names"] == list(FEATURE_NAMES) and len(meta["codebook"]) == 4
    x = t["features"].astype(np.float32)
    ours = np.stack([model.utilities(row) for row in x])
    ref = fitted.model.predict(x)
    assert np.allclose(ours, ref, atol=1e-5)


def test_shipped_model_loads_and_ranks(dev_logos):
    from tracewise.features import features
    from tracewise.methods.mapping import default_model

    m = default_model()
    ranked = m.rank(features(dev_logos[0].picture().rgba))
    assert len(ranked) == len(m.codebook) and len(set(ranked)) == len(ranked)


def test_search_found_configurations_never_serve_their_own_fold(small_table):
    """A model scored on fold f takes its codebook only from the seeded pool and configurations
    search found on other folds' logos; the utility is never below the floor."""
    t = training.load(small_table)
    n, p = t["score"].shape
    # pretend the last half of the pool was found by search on fold 0's logos, and is excellent
    t["pool_fold"] = np.array([-1] * (p // 2) + [0] * (p - p // 2), np.int8)
    t["score"][:, p // 2 :] = 0.999
    t["bytes"][:, p // 2 :] = 1
    fitted = training.fit(t, np.arange(n), k=6, held_out=0)
    assert all(t["pool_fold"][j] != 0 for j in fitted.codebook)
    assert any(t["pool_fold"][j] == 0 for j in training.fit(t, np.arange(n), k=6, held_out=1).codebook)
    u = training.utility(t)
    assert (u >= training.floor(t)[:, None] - 1e-12).all()
