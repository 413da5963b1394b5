"""Bad (and oddly shaped but valid) inputs, each with the gRPC codes it may get and a word the
message must contain. Shared by the e2e test and ``bench/bad_inputs.py``.

Crafted files are built here from Pillow output (headers patched with correct CRCs), so the
corpus is reproducible and needs no binary fixtures.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from tracewise.decode import encode

OK = ("OK",)
INVALID = ("INVALID_ARGUMENT",)
TOO_BIG = ("RESOURCE_EXHAUSTED",)
RANGE = ("INVALID_ARGUMENT", "OUT_OF_RANGE")


@dataclass(frozen=True)
class Case:
    name: str
    image: bytes
    expect: tuple[str, ...]
    word: str = ""  # must appear (case-insensitive) in the error message
    options: dict[str, Any] = field(default_factory=dict)  # raw Options fields
    timeout: float | None = None


def logo(size: int = 64) -> np.ndarray:
    """A small two-colour logo: a disc and a bar on transparency."""
    yy, xx = np.mgrid[:size, :size]
    a = np.zeros((size, size, 4), np.uint8)
    disc = (yy - size / 2) ** 2 + (xx - size / 3) ** 2 < (size / 4) ** 2
    a[disc] = (200, 30, 40, 255)
    a[size // 4 : size // 4 + size // 8, size // 2 :] = (20, 60, 160, 255)
    return a


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (valid CRC), with a tiny IDAT: a bomb header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat) - 4)
        + idat
        + struct.pack(">I", zlib.crc32(idat))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


def cases() -> list[Case]:
    rgba = logo()
    png = encode(rgba)
    rgb = Image.fromarray(rgba).convert("RGB")
    jpeg = encode(rgb, "JPEG", quality=90)
    frames = [Image.fromarray(np.roll(rgba, 8 * i, axis=1)).convert("P") for i in range(3)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    apng = encode(Image.fromarray(rgba), "PNG", save_all=True, append_images=[Image.fromarray(rgba[::-1])])
    rng = random.Random(7)
    return [
        # not images
        Case("empty payload", b"", INVALID, "empty"),
        Case("random bytes (16)", rng.randbytes(16), INVALID, "not a supported"),
        Case("random bytes (64 KiB)", rng.randbytes(65536), INVALID, "not a supported"),
        Case("svg sent as input", b'<svg xmlns="http://www.w3.org/2000/svg"/>', INVALID, "svg"),
        Case("xml with bom-less whitespace", b"  \n<?xml version='1.0'?><svg/>", INVALID, "svg"),
        Case("text file", b"hello, this is not a picture\n" * 10, INVALID, "not a supported"),
        # broken images
        Case("truncated png (half)", png[: len(png) // 2], INVALID, "truncated"),
        Case("png signature only", png[:8], INVALID, ""),
        Case("truncated jpeg (half)", jpeg[: len(jpeg) // 2], INVALID, "truncated"),
        Case("png with a corrupt IDAT", png[:60] + bytes(b ^ 0xFF for b in png[60:120]) + png[120:], INVALID),
        # sizes
        Case("0x0 png header", png_with_size(0, 0), INVALID, ""),
        Case("1x1 png", encode(rgba[:1, :1]), INVALID, "at least"),
        Case("3x500 png", encode(np.repeat(rgba[:3, :1], 500, axis=1)), INVALID, "at least"),
        Case("30000x30000 header (bomb)", png_with_size(30000, 30000), TOO_BIG, "pixels"),
        Case("65535x65535 header (bomb)", png_with_size(65535, 65535), TOO_BIG, "pixels"),
        Case("message over the size limit", b"\x89PNG\r\n\x1a\n" + bytes(21 * 1024 * 1024), TOO_BIG, "limit"),
        # odd but valid
        Case(
            "16-bit grayscale png",
            encode((np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)),
            OK,
        ),
        Case("palette png", encode(Image.fromarray(rgba).convert("P"), "PNG"), OK),
        Case("grayscale png", encode(rgb.convert("L"), "PNG"), OK),
        Case("grayscale+alpha png", encode(Image.fromarray(rgba).convert("LA"), "PNG"), OK),
        Case("cmyk jpeg", encode(rgb.convert("CMYK"), "JPEG", quality=90), OK),
        Case("animated gif (first frame)", gif, OK),
        Case("apng (first frame)", apng, OK),
        Case("webp", encode(Image.fromarray(rgba), "WEBP", lossless=True), OK),
        # options
        Case("unknown method enum", png, INVALID, "method", {"method": 99}),
        Case("unknown style enum", png, INVALID, "style", {"style": 42}),
        Case("target_ssim above 1", png, RANGE, "target_ssim", {"target_ssim": 1.5}),
        Case("target_ssim negative", png, RANGE, "target_ssim", {"target_ssim": -0.1}),
        Case("negative budget", png, RANGE, "budget", {"budget_seconds": -1.0}),
        Case("absurd budget", png, RANGE, "budget", {"budget_seconds": 1e9}),
        Case("nan budget", png, RANGE, "budget", {"budget_seconds": float("nan")}),
        Case("zero byte cap", png, RANGE, "max_svg_bytes", {"max_svg_bytes": 0}),
        Case("huge byte cap", png, RANGE, "max_svg_bytes", {"max_svg_bytes": 2**62}),
        Case("target and pixel style together", png, OK, "", {"target_ssim": 0.9, "style": 3, "method": 2}),
        Case("zero max_colors", png, RANGE, "max_colors", {"max_colors": 0}),
        Case("absurd max_colors", png, RANGE, "max_colors", {"max_colors": 2**31}),
        Case("palette colour by name", png, RANGE, "palette", {"palette": ["red"]}),
        Case(
            "palette of 1000 colours", png, RANGE, "palette", {"palette": [f"#{i:06x}" for i in range(1000)]}
        ),
        Case(
            "palette and max_colors together",
            png,
            OK,
            "",
            {"palette": ["#123456", "#fff"], "max_colors": 2, "method": 2},
        ),
        # deadlines
        Case("expired deadline", png, ("DEADLINE_EXCEEDED",), "deadline", {"method": 3}, timeout=0.05),
    ]


def mutations(seeds: list[bytes], n: int, seed: int = 0) -> list[bytes]:
    """``n`` random mutations of valid images: bit flips, truncations, splices, chunk duplication."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        data = bytearray(rng.choice(seeds))
        kind = rng.randrange(4)
        if kind == 0:
            for _ in range(rng.randint(1, 16)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            data = data[: rng.randrange(1, len(data))]
        elif kind == 2:
            other = rng.choice(seeds)
            cut = rng.randrange(len(data))
            data = data[:cut] + other[rng.randrange(len(other)) :]
        else:
            a = rng.randrange(len(data))
            b = min(len(data), a + rng.randint(1, 512))
            data = data[:b] + data[a:b] * rng.randint(1, 8) + data[b:]
        out.append(bytes(data))
    return out
