import io
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tracewise.decode import (
    DEFAULT_MAX_PIXELS,
    TRACE_MAX_PIXELS,
    decode,
    encode,
    from_array,
    prepare,
    working,
)
from tracewise.errors import ImageTooLarge, InvalidImage, TracewiseError


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h, with a tiny IDAT: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_decodes_real_logo(wordmark_png):
    pic = decode(wordmark_png)
    assert pic.rgba.dtype == np.uint8 and pic.rgba.shape[2] == 4
    assert pic.format == "PNG" and pic.has_transparency


@pytest.mark.parametrize(
    "fmt,mode",
    [
        ("JPEG", "RGB"),
        ("WEBP", "RGBA"),
        ("GIF", "P"),
        ("PNG", "L"),
        ("PNG", "P"),
        ("JPEG", "CMYK"),
        ("TIFF", "RGB"),
    ],
)
def test_decodes_formats_and_modes(fmt, mode):
    arr = np.zeros((32, 40, 3), np.uint8)
    arr[8:24, 10:30] = (250, 120, 10)
    im = Image.fromarray(arr).convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt)
    pic = decode(buf.getvalue())
    assert (pic.height, pic.width) == (32, 40)
    # the orange block survives every mode, in some shade
    assert pic.rgba[16, 20, 0] > pic.rgba[2, 2, 0] or mode == "L"


def test_sixteen_bit_png_is_scaled_not_clipped():
    arr = np.full((16, 16), 32768, np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    pic = decode(buf.getvalue())
    assert 120 <= pic.rgba[0, 0, 0] <= 135


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    pic = decode(buf.getvalue())
    assert tuple(pic.rgba[0, 0, :3]) == (255, 0, 0)


def test_bomb_rejected_before_decoding():
    data = _png_header_only(30000, 30000)
    t = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="limit"):
        decode(data)
    assert time.perf_counter() - t < 1.0  # header only: nothing was decoded


def test_pixel_limit_is_configurable():
    data = encode(np.zeros((100, 100, 3), np.uint8))
    decode(data, max_pixels=10_000)
    with pytest.raises(ImageTooLarge):
        decode(data, max_pixels=9_999)


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "empty"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"hello world, not an image", "not a supported"),
    ],
)
def test_bad_bytes_are_invalid_image(data, match):
    with pytest.raises(InvalidImage, match=match):
        decode(data)


def test_truncated_png_and_jpeg(wordmark_png):
    jpeg = encode(np.full((64, 64, 3), 90, np.uint8), "JPEG")
    for data in (wordmark_png[: len(wordmark_png) // 2], jpeg[: len(jpeg) // 2]):
        with pytest.raises(InvalidImage):
            decode(data)


def test_tiny_images_rejected_with_reason():
    with pytest.raises(InvalidImage, match="at least 8"):
        decode(encode(np.zeros((1, 1, 3), np.uint8)))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data):
    try:
        decode(data, max_pixels=1_000_000)
    except TracewiseError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 4000), st.integers(1, 200))
def test_mutated_png_never_crashes(pos, value):
    base = bytearray(encode(np.random.default_rng(0).integers(0, 255, (24, 24, 4), dtype=np.uint8)))
    base[pos % len(base)] = value
    try:
        decode(bytes(base), max_pixels=1_000_000)
    except TracewiseError:
        pass


def test_prepare_binarises_alpha_and_pads(two_squares):
    arr = two_squares.copy()
    arr[0, 0] = (10, 10, 10, 100)  # partly transparent: dropped
    arr[9, 9, 3] = 200  # mostly opaque: kept opaque
    pic = decode(encode(arr))
    prep = prepare(pic)
    assert prep.pad == 1 and prep.rgba.shape[0] == arr.shape[0] + 2
    alpha = prep.rgba[1:-1, :, 3]
    assert set(np.unique(alpha)) <= {0, 255}
    assert alpha[0, 0] == 0 and alpha[9, 9] == 255
    assert (prep.rgba[0, :, 3] == 0).all() and (prep.rgba[-1, :, 3] == 0).all()


def test_prepare_leaves_opaque_images_alone():
    pic = decode(encode(np.full((20, 20, 3), 7, np.uint8)))
    assert prepare(pic).pad == 0


def _big_logo(width: int, height: int) -> np.ndarray:
    """A flat two-colour logo on transparency, any size (cheap to make and to encode)."""
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[height // 8 : height // 2, width // 8 : width // 2] = (200, 30, 40, 255)
    yy, xx = np.ogrid[:height, :width]
    disc = (yy - 0.65 * height) ** 2 + (xx - 0.65 * width) ** 2 < (0.2 * min(width, height)) ** 2
    rgba[disc] = (20, 60, 200, 255)
    return rgba


def test_real_logo_sizes_are_accepted_and_only_a_bomb_is_refused():
    assert DEFAULT_MAX_PIXELS >= 6000 * 4000  # a 24-megapixel export is a picture, not a bomb
    pic = decode(encode(_big_logo(2048, 2048)))
    assert (pic.width, pic.height) == (2048, 2048) and working(pic) is pic  # traced as it is
    with pytest.raises(ImageTooLarge, match=f"the limit is {DEFAULT_MAX_PIXELS} pixels"):
        decode(_png_header_only(8000, 8000))


def test_pictures_above_the_tracing_limit_get_a_working_resolution():
    pic = from_array(_big_logo(6000, 4000))
    work = working(pic)
    assert work.width * work.height <= TRACE_MAX_PIXELS
    assert abs(work.width / work.height - 1.5) < 0.01  # aspect kept
    # area-averaged: the colours of flat regions survive, edges are blended, not aliased
    assert tuple(work.rgba[work.height // 4, work.width // 4]) == (200, 30, 40, 255)


def test_probe_checks_the_header_alone_with_decodes_errors(two_squares):
    from tracewise.decode import Encoded, ImageTooLarge, decode, encode, probe

    png = encode(two_squares)
    e = probe(png)
    assert isinstance(e, Encoded) and (e.width, e.height, e.format) == (96, 64, "PNG")
    assert (decode(e).rgba == decode(png).rgba).all()
    for bad in (b"", b"<svg/>", b"\x00garbage"):
        with pytest.raises(InvalidImage):
            probe(bad)
    with pytest.raises(ImageTooLarge):
        probe(png, max_pixels=100)
    broken = png[: len(png) // 2]  # the header is whole, the pixels are not: only decoding finds out
    assert probe(broken).width == 96
    with pytest.raises(InvalidImage):
        decode(probe(broken))
