"""The benchmark's peers on real pixels: VTracer 1.0 cutout, and Potrace multi-colour (a subprocess)."""

from __future__ import annotations

import re

import pytest

from tests.unit.test_decode import _big_logo
from tracewise import peers
from tracewise.decode import from_array
from tracewise.quality import Reference


def test_vtracer_cutout_is_faithful(dev_logos):
    pic = dev_logos[20].picture()
    svg = peers.vtracer_cutout(pic)
    assert Reference(pic.rgba).measure(svg).ssim > 0.9


@pytest.mark.skipif(
    not peers.potrace_available(),
    reason="the potrace program is not installed (make system-tools, or apt-get install potrace)",
)
def test_potrace_multicolour_stacks_one_layer_per_colour():
    pic = from_array(_big_logo(192, 128))
    svg = peers.potrace_multicolour(pic, colours=4)
    fills = set(re.findall(r'fill="(#[0-9a-f]{6})"', svg))
    assert len(fills) == 2  # the red block and the blue disc; the transparency is no layer
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="192" height="128"')
    assert Reference(pic.rgba).measure(svg).ssim > 0.95
