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
