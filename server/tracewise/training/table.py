"""Build the labelled table the mapping model learns from.

For every dev logo and its augmentations, evaluate a fixed, data-independent pool of VTracer
configurations (spline style, pre-processed input) and record score, SSIM and bytes of each,
plus the image's features and default byte cap. The pool is seeded and does not look at the
data, so a model trained on one fold can be evaluated on the other without leaking configs.

    python -m tracewise.training.table -o data/mapping_table.npz [--limit N] [--jobs 2]

Slow (minutes on 2 cores); the tests use a small slice (``--limit``).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import multiprocessing as mp
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..dataset import augmentations, logos
from ..decode import Picture, Prepared, prepare, working
from ..evaluate import evaluate_one
from ..features import FEATURE_NAMES, features
from ..params import DIM, Params, defaults, from_vector
from ..quality import Reference
from ..trace import trace_baseline

POOL_SEED = 20261127


def config_pool(n_random: int = 64, seed: int = POOL_SEED) -> list[Params]:
    """VTracer 1.0's defaults (stacked and cutout, two precisions), a structured grid over the
    parameters 1.0 made matter (cutout, simplify, speckle, colour precision), then seeded random
    points of the search box. Nothing here looks at the data."""
    base = defaults("spline")
    pool = [replace(base, hierarchical=h, path_precision=pp) for h in ("stacked", "cutout") for pp in (2, 1)]
    grid = itertools.product(("stacked", "cutout"), (1, 2, 4), (6, 7, 8), (0.0, 0.5, 1.0))
    for h, fs, cp, sim in grid:
        p = replace(
            base, hierarchical=h, filter_speckle=fs, color_precision=cp, simplify=sim, path_precision=1
        )
        if p not in pool:
            pool.append(p)
    rng = np.random.default_rng(seed)
    target = len(pool) + n_random
    while len(pool) < target:
        p = from_vector(rng.random(DIM))
        if p not in pool:
            pool.append(p)
    return pool


def measure_pool(
    prepared: Prepared, reference: Reference, pool: list[Params]
) -> tuple[list[float], list[float], list[int]]:
    """Score, SSIM and bytes of every configuration on one picture."""
    scores, ssims, sizes = [], [], []
    for p in pool:
        _, q = evaluate_one(prepared, reference, p)
        scores.append(q.score)
        ssims.append(q.ssim)
        sizes.append(q.svg_bytes)
    return scores, ssims, sizes


def _row(args: tuple[str, str, int, str, Picture, list[Params]]) -> dict:
    name, category, fold, aug, picture, pool = args
    t = time.perf_counter()
    picture = working(picture)
    prepared = prepare(picture)
    reference = Reference(picture.rgba)
    raw = trace_baseline(picture)
    base_q = reference.measure(raw)
    cap = len(raw)
    scores, ssims, sizes = measure_pool(prepared, reference, pool)
    return {
        "name": name,
        "category": category,
        "fold": fold,
        "aug": aug,
        "features": features(picture.rgba),
        "cap": cap,
        "base_ssim": base_q.ssim,
        "base_bytes": base_q.svg_bytes,
        "base_score": base_q.score,
        "score": scores,
        "ssim": ssims,
        "bytes": sizes,
        "seconds": time.perf_counter() - t,
    }


def build(out: Path, limit: int | None = None, jobs: int = 2, augment: bool = True) -> dict:
    pool = config_pool()
    tasks = []
    for logo in logos()[: limit or None]:
        for aug, pic in augmentations(logo) if augment else [("orig", logo.picture())]:
            tasks.append((logo.name, logo.category, logo.fold, aug, pic, pool))
    t = time.perf_counter()
    if jobs > 1:
        rows = []
        with mp.get_context("spawn").Pool(jobs) as workers:
            for i, row in enumerate(workers.imap(_row, tasks, chunksize=1), start=1):
                rows.append(row)
                if i % 40 == 0 or i == len(tasks):
                    print(f"{i}/{len(tasks)} rows, {time.perf_counter() - t:.0f} s", flush=True)
    else:
        rows = [_row(task) for task in tasks]
    table = {
        "name": np.array([r["name"] for r in rows]),
        "category": np.array([r["category"] for r in rows]),
        "fold": np.array([r["fold"] for r in rows], np.int8),
        "aug": np.array([r["aug"] for r in rows]),
        "features": np.stack([r["features"] for r in rows]).astype(np.float32),
        "cap": np.array([r["cap"] for r in rows], np.int64),
        "base_ssim": np.array([r["base_ssim"] for r in rows]),
        "base_bytes": np.array([r["base_bytes"] for r in rows], np.int64),
        "base_score": np.array([r["base_score"] for r in rows]),
        "score": np.array([r["score"] for r in rows]),
        "ssim": np.array([r["ssim"] for r in rows]),
        "bytes": np.array([r["bytes"] for r in rows], np.int64),
        "pool": np.array(json.dumps([p.to_dict() for p in pool])),
        "feature_names": np.array(FEATURE_NAMES),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **table)  # type: ignore[arg-type]  # numpy's stub types the first one
    print(f"{len(rows)} rows x {len(pool)} configs in {time.perf_counter() - t:.0f} s -> {out}")
    print(f"sha256 {table_hash(out)}")
    return table


def table_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=Path("data/mapping_table.npz"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N logos")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-augment", action="store_true")
    a = ap.parse_args(argv)
    build(a.out, a.limit, a.jobs, not a.no_augment)


if __name__ == "__main__":
    main()
