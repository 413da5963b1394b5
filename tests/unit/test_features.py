import numpy as np

from tracewise.features import FEATURE_NAMES, N_FEATURES, features


def test_shape_and_finite(dev_logos):
    for logo in dev_logos[::7]:
        f = features(logo.picture().rgba)
        assert f.shape == (N_FEATURES,) == (len(FEATURE_NAMES),)
        assert np.isfinite(f).all()


def test_flat_image_has_one_colour_and_no_edges():
    f = dict(zip(FEATURE_NAMES, features(np.full((32, 32, 4), 255, np.uint8))))
    assert f["log_colours"] == 1.0 and f["edge_density"] == 0.0 and f["alpha_coverage"] == 1.0


def test_gradient_differs_from_flat(dev_logos):
    by = {}
    for logo in dev_logos:
        by.setdefault(logo.category, []).append(dict(zip(FEATURE_NAMES, features(logo.picture().rgba))))
    grad = np.mean([f["log_colours"] for f in by["gradient"]])
    simple = np.mean([f["log_colours"] for f in by["simple"]])
    assert grad > simple


def test_logotype_extras_see_ramps_and_flat_fills():
    import numpy as np

    from tracewise.features import LOGOTYPE_EXTRA_NAMES, LOGOTYPE_FEATURE_NAMES, logotype_features

    ramp = np.zeros((64, 128, 4), np.uint8)
    ramp[..., 0] = np.linspace(0, 255, 128, dtype=np.uint8)[None, :]  # a smooth horizontal ramp
    ramp[..., 3] = 255
    flat = np.zeros_like(ramp)
    flat[:, :64] = (200, 30, 40, 255)
    flat[:, 64:] = (20, 60, 160, 255)
    names = LOGOTYPE_EXTRA_NAMES
    r = dict(zip(names, logotype_features(ramp)[-len(names) :]))
    f = dict(zip(names, logotype_features(flat)[-len(names) :]))
    assert len(logotype_features(flat)) == len(LOGOTYPE_FEATURE_NAMES)
    assert r["ramp_fraction"] > 0.4 and f["ramp_fraction"] == 0.0
    assert f["flat_fraction"] > 0.95 and r["log_colours_all"] > f["log_colours_all"] + 3
