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


def test_big_pictures_are_measured_on_one_analysis_copy(dev_logos):
    """A 2048 px picture is measured on an area-averaged copy of ANALYSIS_PIXELS: its features
    are those of the copy except the size, they agree with a true rescale, and the copy made
    once can be handed to both the features and the logo-type extras."""
    from tracewise.dataset import render_svg_file
    from tracewise.features import ANALYSIS_PIXELS, analysis_copy, logotype_extra

    lg = dev_logos[12]
    big = render_svg_file(lg.svg, 2048)
    small = analysis_copy(big)
    assert small.shape[0] * small.shape[1] <= ANALYSIS_PIXELS < big.shape[0] * big.shape[1]
    assert abs(small.shape[1] / small.shape[0] - big.shape[1] / big.shape[0]) < 0.02
    f = features(big)
    assert np.array_equal(f, features(big, small))
    assert np.array_equal(f[2:], features(small)[2:])
    assert f[0] == np.float32(np.log2(big.shape[0] * big.shape[1]))
    assert np.array_equal(logotype_extra(big), logotype_extra(small))
    assert analysis_copy(small) is small  # small enough already: no copy
    rescaled = render_svg_file(lg.svg, small.shape[1])
    same = [FEATURE_NAMES.index(n) for n in ("alpha_coverage", "top4_coverage", "saturation_mean")]
    assert np.allclose(f[same], features(rescaled)[same], atol=0.05)  # the same drawing, smaller
