"""``default``: VTracer's own defaults on the raw image, exactly as VTracer writes them (the baseline)."""

from __future__ import annotations

from ..objective import Job
from .base import Result, baseline, finish


def run(job: Job) -> Result:
    return finish("default", job, baseline(job), 1)
