"""The engine's front door: bytes (or a decoded picture) and options in, a ``Result`` out.

Plain Python: no Ray, no gRPC. The CLI, the benchmark and the serving layer all call this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from .decode import DEFAULT_MAX_PIXELS, Picture, decode
from .errors import InvalidParameter
from .features import FEATURE_NAMES, analysis_copy, features
from .methods import DEFAULT_BUDGET_S, METHODS, Result, mapping, regional, search
from .methods import default as default_method
from .objective import Job, Objective
from .params import Params
from .router import Decision, colour_limit
from .telemetry import annotate, span
from .trace import trace

CHOICES = (*METHODS, "auto")

_RUN = {
    "default": default_method.run,
    "mapping": mapping.run,
    "search": search.run,
    "regional": regional.run,
}


def check_method(method: str) -> str:
    if method not in CHOICES:
        raise InvalidParameter("method", method, f"one of {', '.join(CHOICES)}")
    return method


AUTO_BUDGET_S = 5.0  # what ``auto`` assumes when the request gives no budget


def method_budget(method: str, requested: float | None, decision: Decision | None = None) -> float:
    """Seconds a method gets. Asked for by name: the request's budget, or the method's default.
    Routed (``decision``): the router chose an arm (a method and its seconds) for what it reaches
    in them, so the request's budget is an upper bound: a 30 s request routed to ``search@1`` runs
    search for 1 s and saves the rest."""
    if decision is None:
        return DEFAULT_BUDGET_S[method] if requested is None else requested
    arm = decision.budget_s if decision.budget_s is not None else DEFAULT_BUDGET_S[method]
    return min(arm, requested if requested is not None else AUTO_BUDGET_S)


def route(
    picture: Picture,
    objective: Objective,
    load: dict[str, float] | None = None,
    feats: np.ndarray | None = None,
) -> Decision:
    """The router's decision for ``auto`` (raises ``Unavailable`` if its models are missing)."""
    from .router import default_router

    budget = objective.budget_s if objective.budget_s is not None else AUTO_BUDGET_S
    with span("tracewise.route", budget_s=budget) as s:
        small = None
        if feats is None:
            with span("tracewise.features", width=picture.width, height=picture.height):
                small = analysis_copy(picture.rgba)  # once: the features and the logo type share it
                feats = features(picture.rgba, small)
        decision = default_router().decide(
            picture.rgba,
            budget,
            load,
            feats,
            small=small,
            max_svg_bytes=objective.max_svg_bytes,
            target_ssim=objective.target_ssim,
            style=objective.style,
            colours=colour_limit(objective.max_colors, objective.palette),
        )
        annotate(
            s,
            method=decision.method,
            arm=decision.arm,
            confidence=decision.confidence,
            logo_type=decision.logo_type,
            degraded=decision.degraded,
            model_version=decision.model_version,
        )
        if s.is_recording():
            s.set_attributes({f"tracewise.feature.{n}": float(v) for n, v in zip(FEATURE_NAMES, feats)})
        return decision


def vectorize(
    image: bytes | Picture,
    method: str = "auto",
    objective: Objective | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[str, float, float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Result:
    """Vectorize with ``method``. Every result carries VTracer's defaults on the same image
    (``Result.defaults``: the floor it was checked against) and, under colour limits, what the
    same configuration scores without them (``Result.unconstrained``: the limits' cost)."""
    objective = objective or Objective()
    check_method(method)
    picture = image if isinstance(image, Picture) else decode(image, max_pixels)
    decision = None
    if method == "auto":
        decision = route(picture, objective)
        name = decision.method
    else:
        name = method
    budget = method_budget(name, objective.budget_s, decision)
    job = Job(picture, objective, budget, progress, cancel)
    if decision is not None:
        job.features = np.asarray(decision.features, np.float32)  # computed once; mapping reuses them
    with span(f"tracewise.method.{name}", method=name, budget_s=budget, style=objective.style) as s:
        result = _RUN[name](job)
        q = result.quality
        annotate(
            s,
            ssim=q.ssim,
            svg_bytes=q.svg_bytes,
            paths=q.paths,
            evaluations=result.evaluations,
            cut_short=result.cut_short,
            source=result.source,
        )
    result.decision = decision
    if objective.constrained and result.params is not None:
        free = Params.from_dict({**result.params, "max_colors": 0, "palette": []})
        svg = trace(job.prepared, free)
        result.unconstrained = job.reference.measure(svg)
        result.evaluations += 1
        cost = result.unconstrained.ssim - result.quality.ssim
        result.notes.append(
            f"the colour limits cost {cost:+.4f} SSIM against the same configuration without them"
            f" ({result.unconstrained.ssim:.4f})"
        )
    return result
