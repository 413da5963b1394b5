import re

import numpy as np

from tracewise.decode import decode, prepare
from tracewise.params import Params
from tracewise.quality import Reference, render
from tracewise.trace import compact, path_count, set_size, trace, vtracer_svg


def test_compact_draws_the_same_and_is_smaller(wordmark_png):
    pic = decode(wordmark_png)
    raw_svg = vtracer_svg(pic.rgba, Params())
    small = compact(raw_svg, pic.width, pic.height)
    assert len(small) < len(raw_svg) - 80  # the prolog, separators, short colours
    a = render(raw_svg, pic.width, pic.height).astype(int)
    b = render(small, pic.width, pic.height).astype(int)
    assert np.abs(a - b).max() <= 2
    assert path_count(small) == path_count(raw_svg) > 0


def test_padding_is_undone_by_viewbox(two_squares):
    from tracewise.decode import encode

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
        assert tags <= {"svg", "path", "g"}, tags  # VTracer 1.0 groups paths of one colour
        assert "script" not in svg and "href" not in svg


def test_compaction_is_faithful_across_precisions_and_modes(dev_logos):
    for logo in dev_logos[::10]:
        pic = logo.picture()
        prep = prepare(pic)
        for pp in (0, 2):
            for mode in ("spline", "polygon", "none"):
                raw_svg = vtracer_svg(prep.rgba, Params(path_precision=pp, mode=mode))
                small = compact(raw_svg, pic.width, pic.height, prep.pad)
                a = render(raw_svg)[prep.pad : prep.pad + pic.height].astype(int)
                b = render(small).astype(int)
                assert (np.abs(a - b) > 8).mean() < 1e-3, (logo.name, pp, mode)
                assert len(small) < len(raw_svg)


def _fills(svg: str) -> set[str]:
    return {c.lower() for c in re.findall(r'fill="(#[0-9A-Fa-f]{3,6})"', svg)}


def _long(c: str) -> str:
    return "#" + "".join(ch * 2 for ch in c[1:]) if len(c) == 4 else c


def test_vtracer_1_behaviour_we_rely_on(wordmark_png, dev_logos):
    """The alpha binding's behaviour the engine depends on (vtracer==1.0.0a4, pinned)."""
    pic = dev_logos[45].picture()
    prep = prepare(pic)
    ref = Reference(pic.rgba)

    def q(p):
        return ref.measure(trace(prep, p))

    # optimize changes the bytes, never the drawing; 2 writes the fewest
    by_opt = {o: trace(prep, Params(optimize=o)) for o in (0, 1, 2)}
    assert len({round(ref.measure(s).ssim, 6) for s in by_opt.values()}) == 1
    assert len(by_opt[2]) <= len(by_opt[1]) < len(by_opt[0])
    # deterministic
    assert trace(prep, Params()) == trace(prep, Params())
    # simplify trades bytes for (little) fidelity
    assert len(trace(prep, Params(simplify=1.0))) < len(trace(prep, Params()))
    # a palette snaps every colour to it; max_colors bounds the number of colours
    palette = ("#0a66c2", "#ffffff", "#222222")
    assert {_long(c) for c in _fills(trace(prep, Params(palette=palette)))} <= set(palette)
    assert len(_fills(trace(prep, Params(max_colors=2)))) <= 2
    assert len(_fills(trace(prep, Params()))) > 2
    # binary clustering draws in black only; mode "none" is VTracer's pixel mode
    assert {_long(c) for c in _fills(trace(prepare(decode(wordmark_png)), Params(colormode="binary")))} == {
        "#000000"
    }
    assert q(Params(mode="none")).ssim > 0.9
    # cutout is a seam-free mosaic in 1.0 (0.6 left white seams)
    assert q(Params(hierarchical="cutout")).ssim >= q(Params()).ssim - 0.01


def test_set_size_shows_a_working_resolution_trace_at_the_original_size(dev_logos):
    pic = dev_logos[3].picture()
    svg = trace(prepare(pic), Params())
    big = set_size(svg, 2 * pic.width, 2 * pic.height)
    assert f'width="{2 * pic.width}" height="{2 * pic.height}"' in big and "viewBox=" in big
    a = render(big)
    assert a.shape[:2] == (2 * pic.height, 2 * pic.width)
    # and VTracer's raw output (no viewBox) gets one from its own size
    raw = set_size(vtracer_svg(pic.rgba, None), 2 * pic.width, 2 * pic.height)
    assert f'viewBox="0 0 {pic.width} {pic.height}"' in raw
