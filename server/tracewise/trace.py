"""The VTracer 1.0 wrapper: pixels + ``Params`` in, a compact SVG string out.

``vtracer==1.0.0a4`` is an alpha, so everything the engine relies on goes through here (and is
tested in ``tests/unit/test_trace.py``): ``Config(**kw).convert_pixels`` on raw RGBA bytes,
``clustering`` for our ``colormode``, ``"pixel"`` for our mode ``"none"``, ``simplify=None`` for
off, ``max_colors=None`` for no limit.

VTracer 1.0 with ``optimize=2`` already writes relative path commands with H/V shorthands; the
absolute-to-relative rewriter 0.6 needed no longer pays (on the 80 dev logos, our rewrite of
``optimize=0`` output was 1.6% larger at the median than ``optimize=2``'s own). What still saves
bytes is ``compact``: no prolog or comment, no separator the path grammar does not need, short
colours (~1-2% of the bytes; tested to draw the same).
"""

from __future__ import annotations

import re

import numpy as np
import vtracer

from .decode import Picture, Prepared
from .errors import EngineFailure
from .params import Params

_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!--.*?-->\s*", re.S)
_HEX6 = re.compile(r"#([0-9a-fA-F])\1([0-9a-fA-F])\2([0-9a-fA-F])\3\b")
_BEFORE_MINUS = re.compile(r"[, ](?=-)")
_BETWEEN_FRACTIONS = re.compile(r"(\.[0-9]+)[, ](?=\.)")
_D = re.compile(r' d="([^"]*)"')
_PATH = re.compile(r"<path\b")
_MODE = {"spline": "spline", "polygon": "polygon", "none": "pixel"}
_CLUSTERING = {"color": "color-cluster", "binary": "bw"}


def config(params: Params | None) -> vtracer.Config:
    """The VTracer ``Config`` for ``params`` (``None``: VTracer's own defaults, untouched)."""
    if params is None:
        return vtracer.Config()
    return vtracer.Config(
        clustering=_CLUSTERING[params.colormode],
        hierarchical=params.hierarchical,
        mode=_MODE[params.mode],
        filter_speckle=int(params.filter_speckle),
        color_precision=int(params.color_precision),
        layer_difference=int(params.layer_difference),
        corner_threshold=int(params.corner_threshold),
        length_threshold=float(params.length_threshold),
        max_iterations=int(params.max_iterations),
        splice_threshold=int(params.splice_threshold),
        path_precision=int(params.path_precision),
        simplify=float(params.simplify) if params.simplify > 0 else None,
        optimize=int(params.optimize),
        max_colors=int(params.max_colors) if params.max_colors > 0 else None,
        palette=list(params.palette) or None,
    )


def vtracer_svg(rgba: np.ndarray, params: Params | None) -> str:
    """Call VTracer on RGBA pixels. ``params=None`` means VTracer's own defaults, as it writes them."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    try:
        return config(params).convert_pixels(rgba.tobytes(), int(rgba.shape[1]), int(rgba.shape[0]))
    except Exception as exc:  # the binding raises plain exceptions with Rust messages
        raise EngineFailure("VTracer failed to trace the image") from exc


def trace(prepared: Prepared, params: Params) -> str:
    """Trace pre-processed pixels and return the compact SVG at the original size."""
    svg = vtracer_svg(prepared.rgba, params)
    return compact(svg, prepared.width, prepared.height, prepared.pad)


def trace_baseline(picture: Picture) -> str:
    """VTracer with its own defaults on the raw image: the baseline every figure compares to."""
    return vtracer_svg(picture.rgba, None)


def _short_d(m: re.Match[str]) -> str:
    """Drop the separators the path grammar does not need: before a minus sign, and between two
    fractions (``1.5,.3`` is ``1.5.3``)."""
    d = _BETWEEN_FRACTIONS.sub(r"\1", _BEFORE_MINUS.sub("", m.group(1)))
    return f' d="{d}"'


def compact(svg: str, width: int, height: int, pad: int = 0) -> str:
    """Minify VTracer output and set the size (removing ``pad`` rows above via the viewBox).
    The drawing is unchanged (tested by rendering both)."""
    svg = _PROLOG.sub("", svg)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 {pad} {width} {height}">'
    )
    svg = _SVG_OPEN.sub(head, svg, count=1)
    svg = _D.sub(_short_d, svg)
    svg = _HEX6.sub(r"#\1\2\3", svg)
    return svg.replace("\n", "")


_WIDTH = re.compile(r'\swidth="([0-9.]+)"')
_HEIGHT = re.compile(r'\sheight="([0-9.]+)"')
_VIEWBOX = re.compile(r'\sviewBox="[^"]*"')


def set_size(svg: str, width: int, height: int) -> str:
    """The same drawing shown at ``width`` x ``height``: the coordinates stay VTracer's (the
    viewBox keeps them) when a large picture was traced at a working resolution."""
    m = _SVG_OPEN.search(svg)
    if m is None:
        raise EngineFailure("not an SVG document")
    tag = m.group(0)
    vb = _VIEWBOX.search(tag)
    if vb is None:
        w, h = _WIDTH.search(tag), _HEIGHT.search(tag)
        if w is None or h is None:
            raise EngineFailure("the SVG has neither a viewBox nor a size")
        view = f' viewBox="0 0 {w.group(1)} {h.group(1)}"'
    else:
        view = vb.group(0)
    head = f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"{view}>'
    return svg[: m.start()] + head + svg[m.end() :]


def path_count(svg: str) -> int:
    return len(_PATH.findall(svg))
