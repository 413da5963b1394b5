"""``default``: VTracer's own defaults on the raw image, exactly as VTracer writes them (the baseline)."""

from __future__ import annotations

from ..objective import Job
from .base import Result, baseline, finish


def run(job: Job) -> Result:
    best = baseline(job)
    result = finish("default", job, best, 1, floor=False)
    result.defaults = best.quality
    return result
