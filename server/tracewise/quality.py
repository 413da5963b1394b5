"""Quality of an SVG against its raster input: render with resvg, SSIM, bytes, paths.

``ssim`` is the structural similarity of the RGB images composited on white, identical (to
float rounding) to ``skimage.metrics.structural_similarity(a, b, channel_axis=-1,
data_range=255)``: 7x7 uniform window, sample covariance, K1=0.01, K2=0.03, borders of 3
pixels cropped. It is computed with OpenCV's box filter channel by channel, ~20x faster than
skimage.

For inputs with transparency ``alpha_ssim`` compares the alpha channels too, and the
``score`` the optimisers maximise is penalised when the alpha is wrong: an SVG that paints
its background white scores well on white but badly on alpha.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
import resvg_py
from PIL import Image

from .errors import EngineFailure
from .trace import path_count

WIN = 7
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_COV_NORM = WIN * WIN / (WIN * WIN - 1)
ALPHA_SLACK = 0.01
cv2.setNumThreads(1)


def _box_valid(f: np.ndarray) -> np.ndarray:
    """Mean over every 7x7 window lying fully inside the image (float32, 2-D).

    OpenCV's box filter (one thread: the engine's parallelism is processes), ~12x faster than
    numpy's shifted adds at 1024 px; the valid windows are the centre crop.
    """
    m = cv2.boxFilter(f, cv2.CV_32F, (WIN, WIN), normalize=True, borderType=cv2.BORDER_CONSTANT)
    r = WIN // 2
    return m[r:-r, r:-r]


def ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SSIM per valid window, shape (C, H-6, W-6); ``x``, ``y`` in [0, 255], (H, W) or (H, W, C)."""
    if x.shape != y.shape:
        raise EngineFailure(f"cannot compare images of shapes {x.shape} and {y.shape}")
    if x.ndim == 2:
        x, y = x[:, :, None], y[:, :, None]
    out = []
    for c in range(x.shape[2]):
        # Centred, so float32 sums stay accurate.
        xc = np.ascontiguousarray(x[:, :, c], np.float32) - 127.5
        yc = np.ascontiguousarray(y[:, :, c], np.float32) - 127.5
        ux, uy = _box_valid(xc), _box_valid(yc)
        vx = _COV_NORM * (_box_valid(xc * xc) - ux * ux)
        vy = _COV_NORM * (_box_valid(yc * yc) - uy * uy)
        vxy = _COV_NORM * (_box_valid(xc * yc) - ux * uy)
        ux += 127.5
        uy += 127.5
        out.append(((2 * ux * uy + _C1) * (2 * vxy + _C2)) / ((ux * ux + uy * uy + _C1) * (vx + vy + _C2)))
    return np.stack(out)


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    return float(ssim_map(x, y).mean(dtype=np.float64))


def on_white(rgba: np.ndarray) -> np.ndarray:
    """Composite straight-alpha RGBA on white, as float RGB in [0, 255]."""
    a = rgba[:, :, 3:4].astype(np.float32) / 255.0
    return rgba[:, :, :3].astype(np.float32) * a + 255.0 * (1.0 - a)


def render(svg: str, width: int | None = None, height: int | None = None) -> np.ndarray:
    """Render with resvg to straight-alpha RGBA uint8; pads or crops to (height, width) if given.

    resvg can round one side of a non-square render up by a pixel, so the size is enforced
    here rather than trusted.
    """
    try:
        png = (
            resvg_py.svg_to_bytes(svg_string=svg, width=width)
            if width
            else resvg_py.svg_to_bytes(svg_string=svg)
        )
        im = Image.open(io.BytesIO(bytes(png)))
        im.load()
        rgba = np.asarray(im.convert("RGBA"))
    except Exception as exc:
        raise EngineFailure("resvg failed to render the SVG") from exc
    if height is not None and width is not None and rgba.shape[:2] != (height, width):
        out = np.zeros((height, width, 4), np.uint8)
        h, w = min(height, rgba.shape[0]), min(width, rgba.shape[1])
        out[:h, :w] = rgba[:h, :w]
        rgba = out
    return rgba


@dataclass(frozen=True)
class Quality:
    ssim: float  # RGB on white
    alpha_ssim: float | None  # None for opaque inputs
    svg_bytes: int
    paths: int

    @property
    def score(self) -> float:
        """What optimisers maximise: ``ssim``, capped by the alpha SSIM (plus a small slack).

        Colour and alpha SSIM are close for a faithful trace; the cap only bites when the alpha
        is clearly wrong (a painted background), and then it dominates.
        """
        if self.alpha_ssim is None:
            return self.ssim
        return min(self.ssim, self.alpha_ssim + ALPHA_SLACK)


class Reference:
    """An input prepared once for many comparisons (the white composite and alpha are cached)."""

    def __init__(self, rgba: np.ndarray) -> None:
        self.rgba = rgba
        self.height, self.width = rgba.shape[:2]
        self.white = on_white(rgba)
        self.has_alpha = bool((rgba[:, :, 3] < 255).any())
        self.alpha = rgba[:, :, 3].astype(np.float32)

    def measure(self, svg: str) -> Quality:
        out = render(svg, self.width, self.height)
        return self.compare(svg, out)

    def compare(self, svg: str, rendered: np.ndarray) -> Quality:
        s = ssim(self.white, on_white(rendered))
        a = ssim(self.alpha, rendered[:, :, 3].astype(np.float32)) if self.has_alpha else None
        return Quality(ssim=s, alpha_ssim=a, svg_bytes=len(svg.encode()), paths=path_count(svg))

    def error_map(self, rendered: np.ndarray) -> np.ndarray:
        """1 - SSIM per pixel (valid windows, padded back to the full size) for regional work."""
        m = 1.0 - ssim_map(self.white, on_white(rendered)).mean(axis=0)
        if self.has_alpha:
            m = np.maximum(m, 1.0 - ssim_map(self.alpha, rendered[:, :, 3].astype(np.float32))[0])
        p = WIN // 2
        return np.pad(m, ((p, p), (p, p)), mode="edge")
