"""What every method returns, and the candidates all methods share."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..objective import Candidate, Job
from ..params import Params
from ..quality import Quality
from ..trace import compact, trace_baseline

METHODS = ("default", "mapping", "search", "regional")
DEFAULT_BUDGET_S = {"default": 10.0, "mapping": 10.0, "search": 5.0, "regional": 30.0}


@dataclass
class Result:
    method: str
    svg: str
    params: dict[str, Any] | None  # None: VTracer's own defaults
    quality: Quality
    seconds: float
    evaluations: int
    cap_bytes: int
    regions: list[dict[str, Any]] | None = None
    cut_short: bool = False  # the deadline stopped the method before it finished
    source: str = ""  # which candidate won (for the benchmark and the router's logs)
    notes: list[str] = field(default_factory=list)
    decision: Any = None  # the router's Decision when the request asked for auto
    defaults: Quality | None = None  # VTracer's defaults on the same image, when measured

    def to_dict(self) -> dict[str, Any]:
        q = self.quality
        d = self.decision
        return {
            "method": self.method,
            "decision": None
            if d is None
            else {
                "method": d.method,
                "confidence": round(d.confidence, 4),
                "logo_type": d.logo_type,
                "degraded": d.degraded,
                "reasons": d.reasons,
                "model_version": d.model_version,
            },
            "params": self.params,
            "regions": self.regions,
            "ssim": round(q.ssim, 6),
            "alpha_ssim": None if q.alpha_ssim is None else round(q.alpha_ssim, 6),
            "score": round(q.score, 6),
            "svg_bytes": q.svg_bytes,
            "paths": q.paths,
            "seconds": round(self.seconds, 4),
            "evaluations": self.evaluations,
            "cap_bytes": self.cap_bytes,
            "cut_short": self.cut_short,
            "source": self.source,
            "notes": self.notes,
            "defaults_ssim": None if self.defaults is None else round(self.defaults.ssim, 6),
            "defaults_svg_bytes": None if self.defaults is None else self.defaults.svg_bytes,
        }


def finish(method: str, job: Job, best: Candidate, evaluations: int, **extra: Any) -> Result:
    return Result(
        method=method,
        svg=best.svg,
        params=None if best.params is None else best.params.to_dict(),
        quality=best.quality,
        seconds=time.monotonic() - job.started,
        evaluations=evaluations,
        cap_bytes=job.cap,
        regions=best.regions,
        source=best.label,
        **extra,
    )


def baseline(job: Job) -> Candidate:
    """VTracer's own defaults on the raw image, exactly as VTracer writes them."""
    svg = trace_baseline(job.picture)
    return Candidate(None, svg, job.reference.measure(svg), "vtracer-defaults")


def size_reference(job: Job) -> Candidate:
    """VTracer's defaults with ``path_precision=3`` on the raw image, compacted.

    The default cap is this SVG's uncompacted length, so it always fits: the result every
    method can fall back to. It is traced once per job (the cap needs it anyway).
    """
    svg = compact(job.size_reference, job.picture.width, job.picture.height, 0)
    return Candidate(
        Params().with_style(job.objective.style), svg, job.reference.measure(svg), "size-reference"
    )
