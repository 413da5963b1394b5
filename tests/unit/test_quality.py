import numpy as np
import pytest
from skimage.metrics import structural_similarity

from tracewise.decode import decode, prepare
from tracewise.params import Params
from tracewise.quality import Reference, on_white, render, ssim
from tracewise.trace import trace


def test_ssim_matches_skimage_on_random_images():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (60, 70, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.float32)
    ref = structural_similarity(a, b, channel_axis=-1, data_range=255)
    assert abs(ssim(a, b) - ref) < 1e-5


def test_ssim_matches_skimage_on_real_traces(dev_logos):
    for logo in dev_logos[::9]:
        pic = logo.picture()
        out = render(trace(prepare(pic), Params()), pic.width, pic.height)
        a, b = on_white(pic.rgba), on_white(out)
        assert abs(ssim(a, b) - structural_similarity(a, b, channel_axis=-1, data_range=255)) < 1e-3


def test_identical_images_score_one():
    a = np.random.default_rng(2).integers(0, 256, (32, 32, 3)).astype(np.float32)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)


def test_painted_background_cannot_score_well(wordmark_png):
    pic = decode(wordmark_png)
    ref = Reference(pic.rgba)
    good = ref.measure(trace(prepare(pic), Params()))
    svg = trace(prepare(pic), Params())
    painted = svg.replace(">", f'><rect width="{pic.width}" height="{pic.height}" fill="#fff"/>', 1)
    bad = ref.measure(painted)
    assert bad.ssim == pytest.approx(good.ssim, abs=1e-3)  # the same on white...
    assert bad.alpha_ssim < 0.5 and bad.score < good.score - 0.3  # ...but the alpha gives it away


def test_render_size_is_enforced():
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="235" height="256">'
        '<rect width="235" height="256"/></svg>'
    )
    assert render(svg, 235, 256).shape == (256, 235, 4)
