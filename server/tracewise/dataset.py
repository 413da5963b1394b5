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

from .decode import Picture, decode, encode, from_array

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


# The variants the mapping table and the logo-type classifier train on, and the further ones the
# router's runs use (the full range: rescales from 64 to 1024 px, crops).
AUGMENTATIONS = ("orig", "scale128", "scale384", "background", "jpeg", "noise")
MORE_AUGMENTATIONS = ("scale64", "scale1024", "scale2048", "crop")
ALL_AUGMENTATIONS = AUGMENTATIONS + MORE_AUGMENTATIONS


def check_augmentations(kinds: tuple[str, ...] | list[str]) -> None:
    """ValueError naming the kinds that are not augmentations."""
    unknown = [k for k in kinds if k not in ALL_AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentations {unknown}; known: {', '.join(ALL_AUGMENTATIONS)}")


def augmentations(
    logo: Logo, seed: int = 0, kinds: tuple[str, ...] = AUGMENTATIONS
) -> Iterator[tuple[str, Picture]]:
    """The original and deterministic variants, those named in ``kinds``, in that order: true
    rescales from the SVG (``scale<width>``), JPEG artefacts, noise and a solid background colour
    (the last three are opaque, like real uploads), and a crop (part of the logo, as uploads
    sometimes are). Each variant is the same whichever others are asked for."""
    check_augmentations(kinds)
    base_seed = zlib.crc32(logo.name.encode()) + seed
    rng = np.random.default_rng(base_seed)
    bg = rng.integers(0, 256, 3).astype(np.float32)  # drawn in this order, always (see above)
    jpeg_quality = int(rng.integers(55, 85))  # then the noise (nothing else draws from rng)
    base = logo.picture()
    rgb = base.rgba[:, :, :3].astype(np.float32)
    a = base.rgba[:, :, 3:4].astype(np.float32) / 255.0
    white = (rgb * a + 255.0 * (1 - a)).clip(0, 255).astype(np.uint8)
    for kind in kinds:
        if kind == "orig":
            yield kind, base
        elif kind.startswith("scale"):
            yield kind, from_array(render_svg_file(logo.svg, int(kind.removeprefix("scale"))))
        elif kind == "background":
            yield kind, from_array((rgb * a + bg * (1 - a)).clip(0, 255).astype(np.uint8))
        elif kind == "jpeg":
            yield kind, decode(encode(white, "JPEG", quality=jpeg_quality))
        elif kind == "noise":
            noisy = white.astype(np.float32) + rng.normal(0, 4.0, white.shape)
            yield kind, from_array(noisy.clip(0, 255).astype(np.uint8))
        else:  # crop
            yield kind, from_array(_crop(base.rgba, np.random.default_rng(base_seed + 1)))


def _crop(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A box of 50-85% of each side holding at least 5% opaque pixels (or the most of ten tries)."""
    h, w = rgba.shape[:2]
    best, best_share = rgba, -1.0
    for _ in range(10):
        ch, cw = int(h * rng.uniform(0.5, 0.85)), int(w * rng.uniform(0.5, 0.85))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        box = rgba[y : y + ch, x : x + cw]
        share = float((box[:, :, 3] > 127).mean())
        if share >= 0.05:
            return np.ascontiguousarray(box)
        if share > best_share:
            best, best_share = np.ascontiguousarray(box), share
    return best
