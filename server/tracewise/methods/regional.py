"""``regional``: spatially adaptive parameters, composed into one SVG.

1. Whole-image search for part of the budget gives a base configuration (and a fallback).
2. Regions are the separate parts of the logo: connected components of the opaque mask,
   merged by growing them until at most ``MAX_REGIONS`` remain (letters join into words).
   Regions are disjoint and surrounded by transparency, so each region's paths are traced
   from its own pixels only: no outline is paid twice and there is no seam to hide.
3. Each region gets its own search, started from the base configuration. Every evaluated
   configuration is a (bytes, error) point for that region.
4. Bytes are allocated across regions by a Lagrangian sweep of the multiple-choice knapsack
   (minimise total error + lambda * total bytes); the composed SVGs along the sweep are
   measured for real, and the best under the request's objective wins — the whole-image
   result included, so ``regional`` never returns less than its own whole-image search.

Opaque images (flags) have no transparent gaps to split at; regional then spends its whole
budget on whole-image search and says so in ``notes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..decode import ALPHA_THRESHOLD, from_array
from ..evaluate import Evaluator, pool
from ..objective import Candidate, Job, Objective
from ..params import Params
from .base import Result, finish
from .mapping import MappingModel
from .search import MARGIN_S, SearchState, optimise, starting_points

MAX_REGIONS = 8
MIN_REGION_PIXELS = 64
WHOLE_SHARE = 0.4
LAMBDAS = 24
MAX_MEASURED = 10

_BODY = re.compile(r"<svg\b[^>]*>(.*)</svg>", re.S)


@dataclass
class Region:
    x: int
    y: int
    rgba: np.ndarray
    windows: int  # SSIM windows in the crop (weights its error)


def split(rgba: np.ndarray) -> list[Region]:
    """Disjoint parts of the logo separated by transparency (empty if there is only one)."""
    mask = rgba[:, :, 3] >= ALPHA_THRESHOLD
    if mask.all() or not mask.any():
        return []
    grown = mask
    labels, n = ndimage.label(grown)
    radius = 1
    while n > MAX_REGIONS and radius < 64:
        grown = ndimage.binary_dilation(mask, iterations=radius)
        labels, n = ndimage.label(grown)
        radius *= 2
    if n < 2:
        return []
    # Each region owns its grown area (which holds its anti-aliased edge pixels too).
    owner = ndimage.binary_dilation(grown, iterations=2)
    labels, n = ndimage.label(owner)
    if n < 2:
        return []
    regions = []
    for idx, sl in enumerate(ndimage.find_objects(labels), start=1):
        ys, xs = sl
        crop = rgba[ys, xs].copy()
        crop[labels[ys, xs] != idx] = 0
        h, w = crop.shape[:2]
        if (crop[:, :, 3] >= ALPHA_THRESHOLD).sum() < MIN_REGION_PIXELS or h < 8 or w < 8:
            continue
        regions.append(Region(xs.start, ys.start, crop, max(1, (h - 6) * (w - 6))))
    return regions if len(regions) >= 2 else []


def _body(svg: str) -> str:
    m = _BODY.search(svg)
    return m.group(1) if m else ""


def compose(width: int, height: int, parts: list[tuple[Region, Candidate, int]]) -> str:
    """One SVG from region traces; ``pad`` rows above each region are undone by its offset."""
    groups = []
    for region, cand, pad in parts:
        dx, dy = region.x, region.y - pad
        groups.append(f'<g transform="translate({dx},{dy})">{_body(cand.svg)}</g>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}">{"".join(groups)}</svg>'
    )


def run(
    job: Job, evaluator: Evaluator | None = None, seed: int = 0, model: MappingModel | None = None
) -> Result:
    workers = pool()
    evaluator = evaluator or Evaluator(job.prepared, job.reference, workers, clock=job.clock)
    whole = SearchState(job, evaluator)
    whole.start_from_floor()
    regions = split(job.picture.rgba)
    budget = job.remaining()
    share = WHOLE_SHARE if regions else 1.0
    optimise(whole, starting_points(job, model=model), job.clock() + budget * share - MARGIN_S, seed)
    assert whole.best is not None
    evaluations = evaluator.count
    if not regions:
        return finish(
            "regional",
            job,
            whole.best,
            evaluations,
            notes=["no separable regions (opaque or one part): whole-image search only"],
        )

    base = whole.best.params or job.objective.params(Params())
    base_bytes = max(1, whole.best.quality.svg_bytes)
    area = np.array([r.windows for r in regions], np.float64)
    fronts: list[list[Candidate]] = []
    pads: list[int] = []
    end = job.deadline - MARGIN_S - 0.5  # leave time to compose and measure
    for i, region in enumerate(regions):
        left = job.until(end)
        if left <= 0:
            break
        slot = left * area[i] / area[i:].sum()
        sub = Job(
            from_array(region.rgba),
            Objective(
                style=job.objective.style,
                max_svg_bytes=max(64, int(job.cap * area[i] / area.sum())),
                max_colors=job.objective.max_colors,
                palette=job.objective.palette,
            ),
            budget_s=slot,
            cancel=job.cancel,
            clock=job.clock,
        )
        state = SearchState(sub, Evaluator(sub.prepared, sub.reference, workers, clock=job.clock))
        optimise(state, [base, *starting_points(sub, n_mapped=1, model=model)], job.clock() + slot, seed + i)
        evaluations += state.evaluator.count
        fronts.append(state.history)
        pads.append(sub.prepared.pad)
    if len(fronts) < len(regions) or any(not f for f in fronts):
        return finish(
            "regional",
            job,
            whole.best,
            evaluations,
            cut_short=True,
            notes=["budget ran out before every region was searched"],
        )

    best = whole.best
    measured = 0
    seen: set[tuple[int, ...]] = set()
    errs = [np.array([(1 - c.quality.score) * r.windows for c in f]) for r, f in zip(regions, fronts)]
    sizes = [np.array([c.quality.svg_bytes for c in f], np.float64) for f in fronts]
    scale = float(np.mean([e.mean() for e in errs])) / base_bytes
    for lam in np.geomspace(scale * 1e-3, scale * 1e2, LAMBDAS):
        choice = tuple(int(np.argmin(e + lam * s)) for e, s in zip(errs, sizes))
        if choice in seen:
            continue
        seen.add(choice)
        est = sum(s[c] for s, c in zip(sizes, choice))
        if est > job.cap * 1.02 or measured >= MAX_MEASURED:
            continue
        parts = [(r, f[c], pad) for r, f, c, pad in zip(regions, fronts, choice, pads)]
        svg = compose(job.picture.width, job.picture.height, parts)
        cand = Candidate(None, svg, job.reference.measure(svg), "regional-composition")
        cand.regions = [
            {
                "x": r.x,
                "y": r.y,
                "width": int(r.rgba.shape[1]),
                "height": int(r.rgba.shape[0]),
                "params": p.to_dict() if (p := f[c].params) is not None else None,
            }
            for r, f, c in zip(regions, fronts, choice)
        ]
        measured += 1
        evaluations += 1
        best = job.better(best, cand)
    notes = [f"{len(regions)} regions; composition {'won' if best is not whole.best else 'lost'}"]
    return finish("regional", job, best, evaluations, notes=notes)
