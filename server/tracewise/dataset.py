"""The shared logo set (``../shared/logos``): manifest, two folds, and augmentations.

The logos are read where they lie, never copied. Folds are fixed and stratified by
category, so that every figure can be reported on logos a model did not train on.
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import resvg_py
from PIL import Image

from .decode import Picture, decode, from_array

CATEGORIES = ("simple", "text", "gradient", "complex")


def logos_dir() -> Path:
    env = os.environ.get("TRACEWISE_LOGOS")
    if env:
        return Path(env)
    for base in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]):
        cand = base / ".." / "shared" / "logos"
        if (cand / "manifest.csv").exists():
            return cand.resolve()
        cand = base / "shared" / "logos"
        if (cand / "manifest.csv").exists():
            return cand.resolve()
    raise FileNotFoundError("../shared/logos not found; set TRACEWISE_LOGOS")


@dataclass(frozen=True)
class Logo:
    name: str
    category: str
    png: Path
    svg: Path
    fold: int

    def picture(self) -> Picture:
        return decode(self.png.read_bytes())


def logos(root: Path | None = None) -> list[Logo]:
    """All logos in manifest order; fold = alternating within each category (sorted by name)."""
    root = root or logos_dir()
    with open(root / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: list[Logo] = []
    for cat in CATEGORIES:
        in_cat = sorted((r for r in rows if r["category"] == cat), key=lambda r: r["file"])
        for i, r in enumerate(in_cat):
            out.append(
                Logo(
                    name=Path(r["file"]).stem,
                    category=cat,
                    png=root / r["file"],
                    svg=root / r["svg"],
                    fold=i % 2,
                )
            )
    return out


def render_svg_file(path: Path, width: int) -> np.ndarray:
    """Render a ground-truth SVG at a given width (RGBA uint8)."""
    png = resvg_py.svg_to_bytes(svg_path=str(path), width=width)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGBA"))


def augmentations(logo: Logo, seed: int = 0) -> Iterator[tuple[str, Picture]]:
    """The original and deterministic variants: true rescales from the SVG, JPEG artefacts,
    noise and a solid background colour (the last three are opaque, like real uploads)."""
    rng = np.random.default_rng(zlib.crc32(logo.name.encode()) + seed)
    base = logo.picture()
    yield "orig", base
    for width in (128, 384):
        yield f"scale{width}", from_array(render_svg_file(logo.svg, width))
    rgb = base.rgba[:, :, :3].astype(np.float32)
    a = base.rgba[:, :, 3:4].astype(np.float32) / 255.0
    bg = rng.integers(0, 256, 3).astype(np.float32)
    on_bg = (rgb * a + bg * (1 - a)).clip(0, 255).astype(np.uint8)
    yield "background", from_array(on_bg)
    white = (rgb * a + 255.0 * (1 - a)).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(white).save(buf, "JPEG", quality=int(rng.integers(55, 85)))
    yield "jpeg", decode(buf.getvalue())
    noisy = (white.astype(np.float32) + rng.normal(0, 4.0, white.shape)).clip(0, 255).astype(np.uint8)
    yield "noise", from_array(noisy)
