"""The VTracer wrapper: pixels + ``Params`` in, a compact SVG string out.

Pixels go to VTracer as an uncompressed PNG (3x faster than the binding's list-of-tuples
path). The output is then made smaller without changing what it draws (see ``compact``).
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
_HEX6 = re.compile(r"#([0-9a-fA-F])\1([0-9a-fA-F])\2([0-9a-fA-F])\3\b")
_TOKEN = re.compile(r"[MLCQZmlcqz]|-?[0-9]*\.?[0-9]+")
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


_ARITY = {"M": 2, "L": 2, "C": 6, "Q": 4, "Z": 0}
_PATH_EL = re.compile(r'<path d="([^"]*)"([^>]*?)(?: transform="translate\(([-0-9.e]+),([-0-9.e]+)\)")?\s*/>')


def _fmt(v: int, scale: int, digits: int) -> str:
    """Shortest decimal for the fixed-point value v / scale ("-0.50" -> "-.5")."""
    if digits == 0:
        return str(v)
    sign = "-" if v < 0 else ""
    whole, frac = divmod(abs(v), scale)
    text = f"{frac:0{digits}d}".rstrip("0")
    if not text:
        return f"{sign}{whole}"
    return f"{sign}{whole if whole else ''}.{text}"


def _join(tokens: list[str]) -> str:
    """Join numbers with the fewest separators the SVG path grammar allows."""
    out: list[str] = []
    prev = ""
    for tok in tokens:
        if prev and prev[-1].isdigit() or prev.endswith("."):
            if tok[0].isdigit() or (tok[0] == "." and "." not in prev):
                out.append(" ")
        out.append(tok)
        prev = tok
    return "".join(out)


def _relative_d(d: str, dx: str = "0", dy: str = "0") -> str:
    """Rewrite absolute path data as relative commands, with the translation folded in.

    Coordinates are handled as fixed-point integers at the precision VTracer wrote, and each
    relative step is taken from the previous *written* point, so rounding never drifts.
    """
    toks = _TOKEN.findall(d)
    nums = [t for t in toks if not t[0].isalpha()] + [dx, dy]
    digits = max((len(t.split(".")[1]) if "." in t else 0) for t in nums) if nums else 0
    digits = min(digits, 8)
    scale = 10**digits
    ox, oy = round(float(dx) * scale), round(float(dy) * scale)
    out: list[str] = []
    cur = start = (0, 0)
    prev_cmd = ""
    i = 0
    first = True
    while i < len(toks):
        cmd = toks[i].upper()
        i += 1
        if cmd not in _ARITY:
            raise ValueError(f"unexpected path command {cmd}")
        n = _ARITY[cmd]
        if cmd == "Z":
            out.append("z")
            cur = start
            prev_cmd = "z"
            continue
        while True:
            vals = [round(float(t) * scale) for t in toks[i : i + n]]
            i += n
            pts = [(vals[k] + ox, vals[k + 1] + oy) for k in range(0, n, 2)]
            if cmd == "M" and first:
                letter, rel = "M", [pts[0]]
                first = False
            else:
                letter = cmd.lower()
                rel = [(x - cur[0], y - cur[1]) for x, y in pts]
            implicit = letter == prev_cmd
            if not implicit:
                out.append(letter)
            out.extend(_fmt(c, scale, digits) for xy in rel for c in xy)
            cur = pts[-1]
            if cmd == "M":
                start = cur
            prev_cmd = {"M": "L", "m": "l"}.get(letter, letter)
            if i >= len(toks) or toks[i][0].isalpha():
                break
    return _join(out)


def _compact_path(m: re.Match[str]) -> str:
    dx, dy = m.group(3) or "0", m.group(4) or "0"
    return f'<path d="{_relative_d(m.group(1), dx, dy)}"{m.group(2)}/>'


def compact(svg: str, width: int, height: int, pad: int = 0) -> str:
    """Minify VTracer output and set the size (removing ``pad`` rows above via the viewBox).

    The prolog and comment go, path data becomes relative with the per-path translation
    folded in, numbers lose redundant characters, ``#aabbcc`` becomes ``#abc``. The drawing
    is unchanged up to the precision VTracer wrote (tested by rendering both).
    """
    svg = _PROLOG.sub("", svg)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 {pad} {width} {height}">'
    )
    svg = _SVG_OPEN.sub(head, svg, count=1)
    svg = _PATH_EL.sub(_compact_path, svg)
    svg = _HEX6.sub(r"#\1\2\3", svg)
    return svg.replace("\n", "")


def path_count(svg: str) -> int:
    return len(_PATH.findall(svg))
