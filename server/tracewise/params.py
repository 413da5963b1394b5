"""VTracer 1.0's parameter space: every parameter, its documented range, validation and styles.

``Params`` is what one VTracer call takes. ``validate`` raises ``InvalidParameter`` naming
the field and its range. The *search space* is a narrower box inside the valid ranges where
good logo configurations live; optimisers move inside it as vectors in [0, 1]^d.

``max_colors`` and ``palette`` are the request's colour constraints (``Objective``), applied to
every configuration a method traces with ``constrained``; they are never searched.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from .errors import InvalidParameter

STYLES = ("spline", "polygon", "pixel")
STYLE_TO_MODE = {"spline": "spline", "polygon": "polygon", "pixel": "none"}
DEFAULT_STYLE = "spline"
MAX_PALETTE = 64
MAX_COLORS = 256
_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


@dataclass(frozen=True)
class Params:
    """One VTracer 1.0 configuration. Defaults are VTracer's own, except ``optimize`` (2, below).

    - ``colormode``: "color" or "binary" (VTracer's ``clustering`` color-cluster / bw).
    - ``hierarchical``: "stacked" (shapes on top of each other) or "cutout" (a seam-free mosaic).
    - ``mode``: "spline" (smooth curves), "polygon" (straight lines), "none" (pixel grid).
    - ``filter_speckle``: 0..128, discard patches smaller than this many pixels (side).
    - ``color_precision``: 1..8, significant bits per RGB channel when clustering.
    - ``layer_difference``: 0..255, colour difference between gradient layers.
    - ``corner_threshold``: 0..180 degrees, the minimum angle to count as a corner.
    - ``length_threshold``: 3.5..10, segment length used when subdividing curves.
    - ``max_iterations``: 1..100, curve-fitting iterations.
    - ``splice_threshold``: 0..180 degrees, the minimum angle change to splice a spline.
    - ``path_precision``: 0..8 decimal places in path coordinates (VTracer's default 2).
    - ``simplify``: 0..10 px curve tolerance (0: off, VTracer's default).
    - ``optimize``: 0..2 how VTracer encodes paths. It changes bytes, never the drawing (measured:
      SSIM identical on the 80 dev logos); 2 writes the fewest, so it is our default.
    - ``max_colors``: 0 (no limit) or 1..256 colours, quantised by VTracer.
    - ``palette``: up to 64 ``#rrggbb`` colours the output is snapped to (empty: none).
    """

    colormode: str = "color"
    hierarchical: str = "stacked"
    mode: str = "spline"
    filter_speckle: int = 4
    color_precision: int = 6
    layer_difference: int = 16
    corner_threshold: int = 60
    length_threshold: float = 4.0
    max_iterations: int = 10
    splice_threshold: int = 45
    path_precision: int = 2
    simplify: float = 0.0
    optimize: int = 2
    max_colors: int = 0
    palette: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["palette"] = list(self.palette)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidParameter(unknown[0], data[unknown[0]], f"one of {sorted(known)}")
        data = dict(data)
        if "palette" in data:
            data["palette"] = normalise_palette(data["palette"])
        return validate(cls(**data))

    def with_style(self, style: str) -> Params:
        check_style(style)
        return replace(self, mode=STYLE_TO_MODE[style])

    def constrained(self, max_colors: int, palette: tuple[str, ...]) -> Params:
        """This configuration under a request's colour constraints."""
        if self.max_colors == max_colors and self.palette == palette:
            return self
        return replace(self, max_colors=max_colors, palette=palette)


CHOICES: dict[str, tuple[str, ...]] = {
    "colormode": ("color", "binary"),
    "hierarchical": ("stacked", "cutout"),
    "mode": ("spline", "polygon", "none"),
}
RANGES: dict[str, tuple[float, float]] = {
    "filter_speckle": (0, 128),
    "color_precision": (1, 8),
    "layer_difference": (0, 255),
    "corner_threshold": (0, 180),
    "length_threshold": (3.5, 10.0),
    "max_iterations": (1, 100),
    "splice_threshold": (0, 180),
    "path_precision": (0, 8),
    "simplify": (0.0, 10.0),
    "optimize": (0, 2),
    "max_colors": (0, MAX_COLORS),
}
FLOAT = {"length_threshold", "simplify"}
INTEGER = {name for name in RANGES if name not in FLOAT}


def check_style(style: str) -> str:
    if style not in STYLES:
        raise InvalidParameter("style", style, f"one of {', '.join(STYLES)}")
    return style


def normalise_palette(colours: Any, field: str = "palette") -> tuple[str, ...]:
    """``#rgb`` / ``#rrggbb`` (the ``#`` optional, any case) to a tuple of lower-case ``#rrggbb``."""
    if isinstance(colours, str) or not hasattr(colours, "__iter__"):
        raise InvalidParameter(field, colours, "a list of #rrggbb colours")
    out: list[str] = []
    for c in colours:
        m = _HEX.fullmatch(c.strip()) if isinstance(c, str) else None
        if m is None:
            raise InvalidParameter(field, c, "colours written #rrggbb or #rgb")
        h = m.group(1).lower()
        if len(h) == 3:
            h = "".join(ch * 2 for ch in h)
        if f"#{h}" not in out:
            out.append(f"#{h}")
    if len(out) > MAX_PALETTE:
        raise InvalidParameter(field, f"{len(out)} colours", f"at most {MAX_PALETTE} colours")
    return tuple(out)


def validate(p: Params) -> Params:
    """Return ``p`` if every field is in range, else raise ``InvalidParameter`` for the first bad one."""
    for name, allowed in CHOICES.items():
        value = getattr(p, name)
        if value not in allowed:
            raise InvalidParameter(name, value, f"one of {', '.join(allowed)}")
    for name, (lo, hi) in RANGES.items():
        value = getattr(p, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidParameter(name, value, f"a number in [{lo}, {hi}]")
        if name in INTEGER and not float(value).is_integer():
            raise InvalidParameter(name, value, f"an integer in [{lo}, {hi}]")
        if not (lo <= value <= hi) or value != value:
            raise InvalidParameter(name, value, f"a number in [{lo}, {hi}]")
    if not isinstance(p.palette, tuple) or normalise_palette(p.palette) != p.palette:
        raise InvalidParameter("palette", p.palette, "a tuple of lower-case #rrggbb colours")
    return p


def defaults(style: str = DEFAULT_STYLE) -> Params:
    """VTracer's own defaults in the given style (encoded with ``optimize=2``)."""
    return Params().with_style(style)


# The box the optimisers search, as (low, high) per numeric field; categorical fields are
# encoded as one coordinate in [0, 1] thresholded at 0.5.
SEARCH_BOX: dict[str, tuple[float, float]] = {
    "filter_speckle": (0, 32),
    "color_precision": (3, 8),
    "layer_difference": (1, 128),
    "corner_threshold": (0, 180),
    "length_threshold": (3.5, 10.0),
    "splice_threshold": (0, 180),
    "path_precision": (0, 3),
    "simplify": (0.0, 2.0),
}
SEARCH_FIELDS = (*SEARCH_BOX, "hierarchical")
DIM = len(SEARCH_FIELDS)
CATEGORICAL = (DIM - 1,)  # coordinates that flip rather than drift


def to_vector(p: Params) -> np.ndarray:
    """Encode into [0, 1]^DIM (values outside the search box are clipped)."""
    v = []
    for name, (lo, hi) in SEARCH_BOX.items():
        v.append((float(getattr(p, name)) - lo) / (hi - lo))
    v.append(1.0 if p.hierarchical == "cutout" else 0.0)
    return np.clip(np.array(v, dtype=np.float64), 0.0, 1.0)


def from_vector(v: np.ndarray, style: str = DEFAULT_STYLE, colormode: str = "color") -> Params:
    """Decode a vector in [0, 1]^DIM (clipped) into valid ``Params``."""
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    values: dict[str, Any] = {}
    for i, (name, (lo, hi)) in enumerate(SEARCH_BOX.items()):
        x = lo + float(v[i]) * (hi - lo)
        values[name] = round(x, 2) if name in FLOAT else int(round(x))
    values["hierarchical"] = "cutout" if v[DIM - 1] >= 0.5 else "stacked"
    return validate(Params(colormode=colormode, mode=STYLE_TO_MODE[check_style(style)], **values))
