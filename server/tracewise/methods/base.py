"""What every method returns, and the candidates all methods share."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..objective import Candidate, Job
from ..quality import Quality
from ..trace import set_size

# The method registry: every list of methods in the engine, the service and the report is read
# from here. Cheapest first; a method that fails in the service falls back to the one before it.
METHODS = ("default", "mapping", "search", "regional")
DEFAULT_BUDGET_S = {"default": 10.0, "mapping": 10.0, "search": 5.0, "regional": 30.0}
CHEAPER: dict[str, str | None] = {m: (METHODS[i - 1] if i else None) for i, m in enumerate(METHODS)}
# Bounded by work (a fixed number of traces and measurements), so their cost grows with the
# picture's pixels; search and regional are bounded by their time budget whatever the size.
WORK_BOUNDED = ("default", "mapping")


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
    defaults: Quality | None = None  # VTracer's defaults on the same image (the floor's first part)
    unconstrained: Quality | None = None  # the same configuration without the request's colour limits

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
            "unconstrained_ssim": None if self.unconstrained is None else round(self.unconstrained.ssim, 6),
        }


def finish(
    method: str, job: Job, best: Candidate, evaluations: int, floor: bool = True, **extra: Any
) -> Result:
    """The method's answer: ``best``, unless the floor (VTracer's defaults, ``Job.floor``) ranks
    higher under the request, shown at the picture's own size. ``floor=False`` only for the
    ``default`` method, which *is* VTracer's defaults."""
    notes: list[str] = [*job.notes(), *extra.pop("notes", [])]
    floors = job.floor_candidates() if floor else []
    if floors and job.key((f := job.floor()).quality) > job.key(best.quality):
        notes.append(
            f"{f.label} ranked above {best.label or method} "
            f"(SSIM {f.quality.ssim:.4f} against {best.quality.ssim:.4f}); returned them"
        )
        best = f
    quality = best.quality
    svg = best.svg
    if job.scaled:
        svg = set_size(svg, job.source.width, job.source.height)
        quality = replace(quality, svg_bytes=len(svg.encode()))
    return Result(
        method=method,
        svg=svg,
        params=None if best.params is None else best.params.to_dict(),
        quality=quality,
        seconds=job.clock() - job.started,
        evaluations=evaluations + len(floors),
        cap_bytes=job.cap,
        regions=best.regions,
        source=best.label,
        notes=notes,
        defaults=floors[0].quality if floors else None,
        **extra,
    )


def baseline(job: Job) -> Candidate:
    """VTracer's own defaults on the picture as it came, exactly as VTracer writes them."""
    svg = job.defaults_svg
    return Candidate(None, svg, job.reference.measure(svg), "vtracer-defaults")
