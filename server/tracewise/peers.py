"""The free tracers the benchmark compares against, run on the same pixels in the same run.

- ``vtracer_cutout``: VTracer 1.0's seam-free ``cutout`` mosaic with its other defaults, on our
  pre-processed pixels (what a user of VTracer 1.0 gets from one well-chosen switch).
- ``potrace_multicolour``: Potrace is black-and-white; the multi-colour trace Inkscape offers is
  quantise (Pillow's median cut to ``colours``), then one Potrace pass per colour, stacked
  largest first, each layer holding its colour and every colour drawn above it (no seams).
  Potrace is GPL-2.0+: it runs as a subprocess (Debian's ``potrace`` program), never linked.
  ``potrace_available`` says whether it is installed; the benchmark skips it with a message if not.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
from PIL import Image

from .decode import ALPHA_THRESHOLD, Picture, encode, prepare
from .params import Params
from .trace import trace

POTRACE_COLOURS = 8
_GROUP = re.compile(r"<g\b.*?</g>", re.S)


def vtracer_cutout(picture: Picture) -> str:
    return trace(prepare(picture), Params(hierarchical="cutout"))


def potrace_available() -> bool:
    return shutil.which("potrace") is not None


def _potrace_layer(mask: np.ndarray, colour: str) -> str:
    """One Potrace pass over a boolean mask (True = ink), as an SVG ``<g>`` filled with ``colour``."""
    im = Image.fromarray(np.where(mask, 0, 255).astype(np.uint8)).convert("1")
    out = subprocess.run(
        ["potrace", "--svg", "--flat", "--color", colour, "--output", "-", "-"],
        input=encode(im, "PPM"),
        capture_output=True,
        check=True,
        timeout=60,
    )
    m = _GROUP.search(out.stdout.decode())
    return "" if m is None else m.group(0).replace("\n", " ")


def potrace_multicolour(picture: Picture, colours: int = POTRACE_COLOURS) -> str:
    """Quantise to ``colours`` and stack one Potrace layer per colour, largest area first."""
    rgba = picture.rgba
    opaque = rgba[:, :, 3] >= ALPHA_THRESHOLD
    rgb = Image.fromarray(np.ascontiguousarray(rgba[:, :, :3]), "RGB")
    q = rgb.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    index = np.asarray(q)
    pal = np.asarray((q.getpalette() or [])[: 3 * colours], np.uint8).reshape(-1, 3)
    used = [i for i in np.unique(index[opaque])]
    order = sorted(used, key=lambda i: -int(((index == i) & opaque).sum()))
    groups = []
    for k, i in enumerate(order):
        mask = np.isin(index, order[k:]) & opaque  # this colour and every one drawn above it
        r, g, b = (int(c) for c in pal[i])
        groups.append(_potrace_layer(mask, f"#{r:02x}{g:02x}{b:02x}"))
    w, h = picture.width, picture.height
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
        + "".join(groups)
        + "</svg>"
    )
