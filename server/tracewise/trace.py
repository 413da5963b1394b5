"""The VTracer wrapper: pixels + ``Params`` in, a compact SVG string out.

Pixels go to VTracer as an uncompressed PNG (3x faster than the binding's list-of-tuples
path). The output is then made smaller without changing what it draws: the XML prolog and
generator comment go, repeated path commands are left implicit, ``#aabbcc`` becomes ``#abc``.
"""

from __future__ import annotations

import io
import re

import numpy as np
import vtracer
from PIL import Image

from .decode import Picture, Prepared
from .errors import EngineFailure
from .params import Params

_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!--.*?-->\s*", re.S)
_D_ATTR = re.compile(r'd="([^"]*)"')
_HEX6 = re.compile(r"#([0-9a-fA-F])\1([0-9a-fA-F])\2([0-9a-fA-F])\3\b")
_TOKEN = re.compile(r"[MLCQZmlcqz]|-?[0-9]*\.?[0-9]+(?:e-?[0-9]+)?")
_PATH = re.compile(r"<path\b")


def _png_bytes(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG", compress_level=0)
    return buf.getvalue()


def vtracer_svg(rgba: np.ndarray, params: Params | None) -> str:
    """Call VTracer. ``params=None`` means the binding's own defaults (path precision unset)."""
    kwargs = {} if params is None else params.to_dict()
    try:
        return vtracer.convert_raw_image_to_svg(_png_bytes(rgba), img_format="png", **kwargs)
    except Exception as exc:  # the binding raises plain exceptions with Rust messages
        raise EngineFailure("VTracer failed to trace the image") from exc


def trace(prepared: Prepared, params: Params) -> str:
    """Trace pre-processed pixels and return the compact SVG at the original size."""
    svg = vtracer_svg(prepared.rgba, params)
    return compact(svg, prepared.width, prepared.height, prepared.pad)


def trace_baseline(picture: Picture) -> str:
    """VTracer with the binding's defaults on the raw image: the baseline every figure compares to."""
    return vtracer_svg(picture.rgba, None)


def _compact_d(d: str) -> str:
    out: list[str] = []
    prev_cmd = ""
    prev_num = False
    for tok in _TOKEN.findall(d):
        if tok[0].isalpha():
            # After M the implicit command is L, so only repeats of other commands can go.
            if tok == prev_cmd and tok not in "Mm":
                continue
            out.append(tok)
            prev_cmd = tok
            prev_num = False
        else:
            if prev_num and not tok.startswith("-"):
                out.append(" ")
            out.append(tok)
            prev_num = True
    return "".join(out)


def compact(svg: str, width: int, height: int, pad: int = 0) -> str:
    """Minify VTracer output and set the size (removing ``pad`` rows above via the viewBox)."""
    svg = _PROLOG.sub("", svg)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 {pad} {width} {height}">'
    )
    svg = _SVG_OPEN.sub(head, svg, count=1)
    svg = _D_ATTR.sub(lambda m: f'd="{_compact_d(m.group(1))}"', svg)
    svg = _HEX6.sub(r"#\1\2\3", svg)
    return svg.replace("\n", "")


def path_count(svg: str) -> int:
    return len(_PATH.findall(svg))
