import re

import numpy as np

from tracewise.decode import decode, prepare
from tracewise.params import Params
from tracewise.quality import Reference, render
from tracewise.trace import compact, path_count, trace, vtracer_svg


def test_compact_draws_the_same_and_is_smaller(wordmark_png):
    pic = decode(wordmark_png)
    raw_svg = vtracer_svg(pic.rgba, Params())
    small = compact(raw_svg, pic.width, pic.height)
    assert len(small) < 0.95 * len(raw_svg)
    a = render(raw_svg, pic.width, pic.height).astype(int)
    b = render(small, pic.width, pic.height).astype(int)
    assert np.abs(a - b).max() <= 2
    assert path_count(small) == path_count(raw_svg) > 0


def test_padding_is_undone_by_viewbox(two_squares):
    from tests.conftest import encode

    pic = decode(encode(two_squares))
    svg = trace(prepare(pic), Params())
    assert 'viewBox="0 1 96 64"' in svg
    q = Reference(pic.rgba).measure(svg)
    assert q.ssim > 0.99 and q.alpha_ssim > 0.99


def test_output_holds_only_vtracer_elements(dev_logos):
    for logo in dev_logos[::11]:
        pic = logo.picture()
        svg = trace(prepare(pic), Params())
        tags = set(re.findall(r"<([a-zA-Z]+)", svg))
        assert tags <= {"svg", "path"}, tags
        assert "script" not in svg and "href" not in svg


def test_relative_compaction_is_faithful_across_precisions_and_modes(dev_logos):
    for logo in dev_logos[::10]:
        pic = logo.picture()
        prep = prepare(pic)
        for pp in (0, 2):
            for mode in ("spline", "polygon"):
                raw_svg = vtracer_svg(prep.rgba, Params(path_precision=pp, mode=mode))
                small = compact(raw_svg, pic.width, pic.height, prep.pad)
                a = render(raw_svg)[prep.pad : prep.pad + pic.height].astype(int)
                b = render(small).astype(int)
                assert (np.abs(a - b) > 8).mean() < 1e-3, (logo.name, pp, mode)
                assert len(small) < 0.85 * len(raw_svg)
