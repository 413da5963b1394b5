"""Decode any raster input into an RGBA array, and prepare it for VTracer.

Decoding checks the pixel count from the header *before* decoding, so a decompression bomb
costs nothing: past ``DEFAULT_MAX_PIXELS`` a picture is refused (``ImageTooLarge``,
``RESOURCE_EXHAUSTED``). Below it any size is accepted; past ``TRACE_MAX_PIXELS`` (2048 x 2048)
``working`` scales the picture down for tracing and measuring, and the SVG keeps the original
size (the engine says so in the result's notes). Every Pillow failure becomes ``InvalidImage``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLarge, InvalidImage, InvalidParameter

DEFAULT_MAX_PIXELS = 50_000_000  # the decompression-bomb limit, from the header (e.g. 8000 x 6250)
TRACE_MAX_PIXELS = 2048 * 2048  # larger pictures are traced at a working resolution of this many pixels
MIN_SIDE = 8  # SSIM uses a 7x7 window; anything smaller cannot be measured
ALPHA_THRESHOLD = 128


@dataclass(frozen=True)
class Picture:
    """A decoded image: ``rgba`` is uint8 (H, W, 4), colour not premultiplied."""

    rgba: np.ndarray
    format: str

    @property
    def width(self) -> int:
        return int(self.rgba.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgba.shape[0])

    @property
    def has_transparency(self) -> bool:
        return bool((self.rgba[:, :, 3] < 255).any())


def _to_rgba(im: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to uint8 RGBA, scaling 16-bit and float data instead of clipping."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or (mode == "I" and arr.max() > 255) else 255.0
        if mode == "F":
            hi = max(1.0, float(arr.max()))
        g = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.dstack([g, g, g, np.full_like(g, 255)])
    if mode == "CMYK":
        im = im.convert("RGB")
    if mode in ("P", "PA") and "transparency" in im.info:
        im = im.convert("RGBA")
    return np.asarray(im.convert("RGBA"), dtype=np.uint8).copy()


@dataclass(frozen=True)
class Encoded:
    """Image bytes whose header has been checked (``probe``), not yet decoded: what the service
    sends a method replica, which decodes it there (a few KB cross instead of the pixels)."""

    data: bytes
    width: int
    height: int
    format: str


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Encoded:
    """The header's checks alone (format, sides, the pixel limit), without decoding: the same
    errors ``decode`` raises for them. A body that is broken past the header fails in ``decode``."""
    return _open(data, max_pixels, decode_pixels=False)  # type: ignore[return-value]


def decode(data: bytes | Encoded, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Decode PNG, JPEG, WebP, GIF (first frame) and anything else Pillow reads, in any mode."""
    if isinstance(data, Encoded):
        data = data.data
    return _open(data, max_pixels, decode_pixels=True)  # type: ignore[return-value]


def _open(data: bytes, max_pixels: int, decode_pixels: bool) -> Picture | Encoded:
    if max_pixels <= 0:
        raise InvalidParameter("max_pixels", max_pixels, "a positive pixel count")
    if not data:
        raise InvalidImage("empty image: no bytes were sent")
    head = data[:256].lstrip()
    if head.startswith(b"<"):
        raise InvalidImage("input looks like SVG/XML text; send a raster image (PNG, JPEG, WebP, GIF)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > max_pixels:
                raise ImageTooLarge(f"image is {w}x{h} = {w * h} pixels; the limit is {max_pixels} pixels")
            if w < MIN_SIDE or h < MIN_SIDE:
                raise InvalidImage(f"image is {w}x{h}; both sides must be at least {MIN_SIDE} pixels")
            fmt = im.format or "unknown"
            if not decode_pixels:
                return Encoded(data, w, h, fmt)
            im.seek(0)  # first frame of GIF / APNG / animated WebP
            im.load()
            rgba = _to_rgba(ImageOps.exif_transpose(im))
    except (ImageTooLarge, InvalidImage):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"image dimensions exceed the limit of {max_pixels} pixels") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("not a supported raster image (PNG, JPEG, WebP, GIF, ...)") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        raise InvalidImage(f"image could not be decoded: {_safe(exc)}") from exc
    except (MemoryError, OverflowError) as exc:
        raise ImageTooLarge("image could not be decoded within memory limits") from exc
    return Picture(rgba=rgba, format=fmt)


def _safe(exc: BaseException) -> str:
    """A short reason without paths: Pillow's messages are generic, but keep them bounded."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def working(picture: Picture, max_pixels: int = TRACE_MAX_PIXELS) -> Picture:
    """``picture`` itself, or scaled down (area-averaged, alpha premultiplied) to at most
    ``max_pixels`` with its aspect ratio kept: what the engine traces and measures."""
    w, h = picture.width, picture.height
    if w * h <= max_pixels:
        return picture
    f = (max_pixels / (w * h)) ** 0.5
    size = (max(MIN_SIDE, int(w * f)), max(MIN_SIDE, int(h * f)))
    im = Image.fromarray(picture.rgba, "RGBA").convert("RGBa").resize(size, Image.Resampling.BOX)
    return Picture(rgba=np.asarray(im.convert("RGBA"), dtype=np.uint8).copy(), format=picture.format)


def encode(image: np.ndarray | Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """``image`` (an array of pixels or a PIL image) encoded as ``fmt`` (PIL's format names and
    save options): decode's inverse, for the benchmarks, the tests and the peers' inputs."""
    im = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def from_array(rgba: np.ndarray) -> Picture:
    """Wrap an in-memory array (RGB or RGBA uint8) as a Picture, with the same size checks."""
    if rgba.ndim != 3 or rgba.shape[2] not in (3, 4) or rgba.dtype != np.uint8:
        raise InvalidImage("expected a uint8 array of shape (H, W, 3|4)")
    if rgba.shape[0] < MIN_SIDE or rgba.shape[1] < MIN_SIDE:
        raise InvalidImage(f"both sides must be at least {MIN_SIDE} pixels")
    if rgba.shape[2] == 3:
        rgba = np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)])
    return Picture(rgba=np.ascontiguousarray(rgba), format="array")


@dataclass(frozen=True)
class Prepared:
    """The pixels VTracer sees: alpha binarised, and padded so that the background gets keyed.

    VTracer traces partly transparent edge pixels as solid colour and keys the background
    transparent only when enough fully transparent pixels lie on five sample rows; a
    transparent row above and below forces the key. ``pad`` rows are removed again through
    the SVG viewBox.
    """

    rgba: np.ndarray  # what goes to VTracer
    width: int  # the original size
    height: int
    pad: int


def prepare(picture: Picture, alpha_threshold: int = ALPHA_THRESHOLD) -> Prepared:
    rgba = picture.rgba
    if not picture.has_transparency:
        return Prepared(rgba=rgba, width=picture.width, height=picture.height, pad=0)
    out = rgba.copy()
    opaque = out[:, :, 3] >= alpha_threshold
    out[:, :, 3] = np.where(opaque, 255, 0).astype(np.uint8)
    out[~opaque, :3] = 0
    row = np.zeros((1, out.shape[1], 4), np.uint8)
    out = np.concatenate([row, out, row], axis=0)
    return Prepared(rgba=out, width=picture.width, height=picture.height, pad=1)
