"""A fixed, documented feature vector of an image, for the mapping model and the router.

All features are computed from the RGBA pixels in a few milliseconds at 256 px (no tracing).
Pictures above ``ANALYSIS_PIXELS`` (384 x 384) are measured on an area-averaged copy of that
many pixels (``analysis_copy``; ``log_pixels`` and ``aspect`` still describe the picture itself):
every picture the mapping model and the logo-type classifier trained on (up to 384 px wide) is
measured as it is, and a 2048 px picture takes a few milliseconds instead of ~1.7 s (the router's
target is 20 ms for the whole decision). The copy is made once per decision and shared by the
router's features and the logo-type extras.
Colour statistics use the image composited on white, quantised to 5 bits per channel.

| name               | meaning                                                               |
|--------------------|-----------------------------------------------------------------------|
| log_pixels         | log2(width * height)                                                  |
| aspect             | log2(width / height)                                                  |
| alpha_coverage     | fraction of pixels with alpha > 0                                     |
| alpha_partial      | fraction of pixels with 0 < alpha < 255 (anti-aliased alpha edges)    |
| log_colours        | log2(1 + number of quantised colours covering >= 0.05% of the pixels) |
| palette_entropy    | Shannon entropy (bits) of the quantised colour histogram              |
| top4_coverage      | fraction of pixels in the 4 most common quantised colours             |
| rare_fraction      | fraction of pixels in colours that each cover < 0.05% (AA / noise)   |
| edge_density       | fraction of pixels with luminance gradient > 32                       |
| corner_density     | fraction of pixels with both |dx| > 24 and |dy| > 24                   |
| smooth_gradient    | fraction of pixels with 0 < gradient <= 12 (gradients, photos)        |
| gradient_mean      | mean gradient magnitude / 255                                         |
| log_components     | log2(1 + connected components of the opaque mask)                     |
| saturation_mean    | mean (max - min) channel / 255                                        |
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage

from .decode import MIN_SIDE
from .quality import on_white

ANALYSIS_PIXELS = 384 * 384

FEATURE_NAMES = (
    "log_pixels",
    "aspect",
    "alpha_coverage",
    "alpha_partial",
    "log_colours",
    "palette_entropy",
    "top4_coverage",
    "rare_fraction",
    "edge_density",
    "corner_density",
    "smooth_gradient",
    "gradient_mean",
    "log_components",
    "saturation_mean",
)
N_FEATURES = len(FEATURE_NAMES)


def analysis_copy(rgba: np.ndarray) -> np.ndarray:
    """``rgba`` itself, or an area-averaged copy (alpha premultiplied) of at most
    ``ANALYSIS_PIXELS``: what the features are measured on. The picture is shrunk by a whole
    factor (the few rows and columns past a multiple of it dropped), which OpenCV's area filter
    does in one pass: ~3x faster than an arbitrary size at 2048 px."""
    h, w = rgba.shape[:2]
    if h * w <= ANALYSIS_PIXELS:
        return rgba
    k = min(math.ceil((h * w / ANALYSIS_PIXELS) ** 0.5), max(1, min(h, w) // MIN_SIDE))
    hh, ww = h // k, w // k
    premultiplied = cv2.cvtColor(np.ascontiguousarray(rgba[: hh * k, : ww * k]), cv2.COLOR_RGBA2mRGBA)
    return cv2.cvtColor(
        cv2.resize(premultiplied, (ww, hh), interpolation=cv2.INTER_AREA), cv2.COLOR_mRGBA2RGBA
    )


def features(rgba: np.ndarray, small: np.ndarray | None = None) -> np.ndarray:
    """The feature vector (float32, in ``FEATURE_NAMES`` order); ``small``: ``analysis_copy(rgba)``
    when the caller has it."""
    h, w = rgba.shape[:2]
    size = float(h * w)
    rgba = analysis_copy(rgba) if small is None else small
    n = float(rgba.shape[0] * rgba.shape[1])
    alpha = rgba[:, :, 3]
    rgb = on_white(rgba)

    q = (rgb.astype(np.uint16) >> 3).astype(np.int32)
    keys = (q[:, :, 0] << 10) | (q[:, :, 1] << 5) | q[:, :, 2]
    hist = np.bincount(keys.ravel(), minlength=1 << 15)
    hist = hist[hist > 0].astype(np.float64)
    p = hist / n
    common = p >= 0.0005
    top = np.sort(p)[::-1]

    lum = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    dx = np.zeros_like(lum)
    dy = np.zeros_like(lum)
    dx[:, :-1] = np.abs(np.diff(lum, axis=1))
    dy[:-1, :] = np.abs(np.diff(lum, axis=0))
    mag = np.maximum(dx, dy)

    mask = alpha >= 128
    _, ncomp = ndimage.label(mask)
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]  # per plane: 20x faster than max over axis 2
    saturation = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)

    return np.array(
        [
            np.log2(size),
            np.log2(w / h),
            float((alpha > 0).mean()),
            float(((alpha > 0) & (alpha < 255)).mean()),
            np.log2(1 + common.sum()),
            float(-(p * np.log2(p)).sum()),
            float(top[:4].sum()),
            float(p[~common].sum()),
            float((mag > 32).mean()),
            float(((dx > 24) & (dy > 24)).mean()),
            float(((mag > 0.5) & (mag <= 12)).mean()),
            float(mag.mean() / 255.0),
            np.log2(1 + ncomp),
            float(saturation.mean() / 255.0),
        ],
        dtype=np.float32,
    )


# Extra features for the logo-type classifier only (the mapping model and router keep the 14
# above). Measured on the opaque pixels, between 4-connected neighbours (max channel step):
LOGOTYPE_EXTRA_NAMES = (
    "ramp_fraction",  # neighbour steps of 1..6: smooth colour ramps (gradients)
    "step_fraction",  # steps of 7..40: soft edges, anti-aliasing, shading
    "flat_fraction",  # no step: flat fills (simple logos, text)
    "log_colours_90",  # log2 of the 5-bit colours that cover 90% of the opaque pixels
    "log_colours_99",  # ... 99%
    "log_colours_all",  # log2(1 + all 5-bit colours present)
    "luminance_spread",  # standard deviation of luminance / 128
)
LOGOTYPE_FEATURE_NAMES = FEATURE_NAMES + LOGOTYPE_EXTRA_NAMES


def logotype_extra(rgba: np.ndarray) -> np.ndarray:
    """The extra logo-type features (~2 ms at 256 px): what tells a gradient logo from the rest.
    Measured on ``analysis_copy(rgba)`` (pass the copy when you have it: it is returned as is)."""
    rgba = analysis_copy(rgba)
    opaque = rgba[:, :, 3] >= 128
    rgb = rgba[:, :, :3].astype(np.int16)
    planes = np.ascontiguousarray(np.moveaxis(rgba[:, :, :3], 2, 0)).astype(np.int16)  # 20x faster
    sx = np.abs(planes[:, :, 1:] - planes[:, :, :-1])  # than diff + max over the colour axis
    sy = np.abs(planes[:, 1:, :] - planes[:, :-1, :])
    dx = np.maximum(np.maximum(sx[0], sx[1]), sx[2])[opaque[:, 1:] & opaque[:, :-1]]
    dy = np.maximum(np.maximum(sy[0], sy[1]), sy[2])[opaque[1:, :] & opaque[:-1, :]]
    steps = np.concatenate([dx, dy]) if dx.size + dy.size else np.zeros(1, np.int16)
    if not opaque.any():
        return np.zeros(len(LOGOTYPE_EXTRA_NAMES), np.float32)
    q = planes >> 3  # 5-bit colour codes on the whole picture, then the opaque ones (10x faster
    codes = ((q[0].astype(np.int32) << 10) | (q[1].astype(np.int32) << 5) | q[2])[opaque]  # than masking RGB)
    counts = np.bincount(codes, minlength=1 << 15)
    counts = np.sort(counts[counts > 0])[::-1]
    cum = np.cumsum(counts) / counts.sum()
    lum = 0.299 * rgb[..., 0][opaque] + 0.587 * rgb[..., 1][opaque] + 0.114 * rgb[..., 2][opaque]
    return np.array(
        [
            float(((steps > 0) & (steps <= 6)).mean()),
            float(((steps > 6) & (steps <= 40)).mean()),
            float((steps == 0).mean()),
            float(np.log2(np.searchsorted(cum, 0.9) + 1)),
            float(np.log2(np.searchsorted(cum, 0.99) + 1)),
            float(np.log2(len(counts) + 1)),
            float(lum.std() / 128.0),
        ],
        np.float32,
    )


def logotype_features(rgba: np.ndarray, feats: np.ndarray | None = None) -> np.ndarray:
    """The logo-type classifier's input: the 14 features (reused when given) plus the extras.
    ``rgba``: the picture or its ``analysis_copy`` (the 14 features need the picture itself)."""
    base = features(rgba) if feats is None else np.asarray(feats, np.float32)
    return np.concatenate([base, logotype_extra(rgba)]).astype(np.float32)
