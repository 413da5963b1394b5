"""What a request asks for, and how candidates are ranked against it.

A request wants, in this order:
1. an SVG no larger than ``max_svg_bytes`` (default: what VTracer 1.0's own defaults write for
   this image);
2. with ``target_ssim``: the smallest SVG whose score reaches the target (or, if none does,
   the best score); without it: the best score, then the fewest bytes;
3. in its ``style``, with at most ``max_colors`` colours or snapped to ``palette`` when given.

Every method's answer is at least as good, ranked this way, as the *floor*: VTracer's defaults
on the image as it came and on our pre-processed pixels, under the same style and colours
(``Job.floor``). The floor is always measured: it does not depend on time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .decode import TRACE_MAX_PIXELS, Picture, Prepared, prepare, working
from .errors import InvalidParameter
from .params import DEFAULT_STYLE, MAX_COLORS, STYLE_TO_MODE, Params, check_style, normalise_palette
from .quality import Quality, Reference
from .trace import compact, set_size, trace, trace_baseline, vtracer_svg

MAX_BUDGET_S = 600.0


@dataclass(frozen=True)
class Objective:
    style: str = DEFAULT_STYLE
    max_svg_bytes: int | None = None
    target_ssim: float | None = None
    budget_s: float | None = None  # None: the method's own default
    max_colors: int | None = None  # None: as many as VTracer finds
    palette: tuple[str, ...] = ()  # snap the output to these colours (#rrggbb)

    def __post_init__(self) -> None:
        check_style(self.style)
        object.__setattr__(self, "palette", normalise_palette(self.palette))
        if self.max_colors is not None and (
            isinstance(self.max_colors, bool)
            or not float(self.max_colors).is_integer()
            or not (1 <= self.max_colors <= MAX_COLORS)
        ):
            raise InvalidParameter("max_colors", self.max_colors, f"an integer in [1, {MAX_COLORS}]")
        if self.max_colors is not None:
            object.__setattr__(self, "max_colors", int(self.max_colors))
        if self.max_svg_bytes is not None and not (64 <= self.max_svg_bytes <= 100_000_000):
            raise InvalidParameter("max_svg_bytes", self.max_svg_bytes, "an integer in [64, 100000000]")
        if self.target_ssim is not None and not (0.0 < self.target_ssim <= 1.0):
            raise InvalidParameter("target_ssim", self.target_ssim, "a number in (0, 1]")
        if self.budget_s is not None and (
            not math.isfinite(self.budget_s) or not (0.0 < self.budget_s <= MAX_BUDGET_S)
        ):
            raise InvalidParameter("budget_s", self.budget_s, f"seconds in (0, {MAX_BUDGET_S:g}]")

    @property
    def constrained(self) -> bool:
        """Whether the request limits the colours."""
        return self.max_colors is not None or bool(self.palette)

    def params(self, p: Params) -> Params:
        """``p`` in this request's style and colour constraints."""
        if p.mode != STYLE_TO_MODE[self.style]:
            p = p.with_style(self.style)
        return p.constrained(self.max_colors or 0, self.palette)


@dataclass
class Candidate:
    params: Params | None  # None for the baseline (VTracer's own defaults)
    svg: str
    quality: Quality
    label: str = ""  # where it came from (mapping, search, regional composition, ...)
    regions: list[dict[str, Any]] | None = None


def rank_key(within_cap: bool, score: float, svg_bytes: int, target: float | None) -> tuple[float, ...]:
    """How results are ranked (larger is better): within the byte cap first; with a target,
    reaching it with the fewest bytes, else the best score; without one, the best score, then the
    fewest bytes. The engine ranks candidates with it and the router's labels are judged by it."""
    if not within_cap:
        return (0.0, 0.0, -svg_bytes)
    if target is not None:
        return (1.0, 1.0, -svg_bytes) if score >= target else (1.0, 0.0, score)
    return (1.0, score, -svg_bytes)


class Job:
    """One image under one objective: everything a method needs, computed once.

    A picture above ``TRACE_MAX_PIXELS`` is traced and measured at a working resolution
    (``picture``; ``source`` is what came in) and every SVG is shown at the source's size.
    """

    def __init__(
        self,
        picture: Picture,
        objective: Objective,
        budget_s: float,
        progress: Callable[[str, float, float], None] | None = None,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``progress(stage, best_score, fraction_of_budget_used)`` is called as the best improves;
        setting ``cancel`` makes every method stop at its next evaluation boundary. ``clock`` is
        what the budget is measured on: wall time (``time.monotonic``) unless given, e.g. the
        router's label runs measure it in work (``training.router_runs.WorkClock``)."""
        self.source = picture
        self.picture = working(picture)
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.objective = objective
        self.clock = clock or time.monotonic
        self.started = self.clock()
        self.deadline = self.started + budget_s
        self.prepared: Prepared = prepare(self.picture)
        self.reference = Reference(self.picture.rgba)
        self._cap = objective.max_svg_bytes
        self._defaults_svg: str | None = None
        self._floor: list[Candidate] | None = None
        self._features: np.ndarray | None = None

    @property
    def scaled(self) -> bool:
        """Whether the picture is traced at a working resolution (above ``TRACE_MAX_PIXELS``)."""
        return self.picture is not self.source

    def notes(self) -> list[str]:
        if not self.scaled:
            return []
        s, w = self.source, self.picture
        return [
            f"traced and measured at {w.width}x{w.height}: the picture ({s.width}x{s.height}) is above "
            f"the tracing limit of {TRACE_MAX_PIXELS} pixels; the SVG is {s.width}x{s.height}"
        ]

    @property
    def features(self) -> np.ndarray:
        """The image's feature vector, computed once per job (mapping and the router share it)."""
        if self._features is None:
            from .features import features

            self._features = features(self.picture.rgba)
        return self._features

    @features.setter
    def features(self, value: np.ndarray) -> None:
        self._features = value

    @property
    def defaults_svg(self) -> str:
        """What VTracer's own defaults write for the picture as it came (traced once)."""
        if self._defaults_svg is None:
            self._defaults_svg = trace_baseline(self.picture)
        return self._defaults_svg

    @property
    def cap(self) -> int:
        """The byte cap: the request's, or by default the length of VTracer's own default output
        (shown at the picture's size when it was traced at a working resolution)."""
        if self._cap is None:
            svg = self.defaults_svg
            if self.scaled:
                svg = set_size(svg, self.source.width, self.source.height)
            self._cap = len(svg)
        return self._cap

    def floor_candidates(self) -> list[Candidate]:
        """VTracer's defaults under this request's style and colours, on the picture as it came
        and (for transparent pictures) on our pre-processed pixels, each measured (one or two
        evaluations, always: never skipped for time)."""
        if self._floor is None:
            p = self.objective.params(Params())
            w, h = self.picture.width, self.picture.height
            raw = self.defaults_svg if p == Params() else vtracer_svg(self.picture.rgba, p)
            raw = compact(raw, w, h, 0)
            out = [Candidate(p, raw, self.reference.measure(raw), "vtracer-defaults")]
            if self.prepared.pad:  # transparent: the pre-processed pixels differ from the raw ones
                svg = trace(self.prepared, p)
                out.append(Candidate(p, svg, self.reference.measure(svg), "vtracer-defaults-prepared"))
            self._floor = out
        return self._floor

    def floor(self) -> Candidate:
        """The better of ``floor_candidates`` as this request ranks results (the first on a tie)."""
        return max(self.floor_candidates(), key=lambda c: self.key(c.quality))

    def remaining(self) -> float:
        """Seconds left (0 once cancelled)."""
        if self.cancel.is_set():
            return 0.0
        return self.deadline - self.clock()

    def until(self, t: float) -> float:
        """Seconds from now to time ``t`` on the job's clock, capped by the deadline; 0 once cancelled."""
        return min(t - self.clock(), self.remaining())

    def key(self, q: Quality) -> tuple[float, ...]:
        """Sort key: larger is better."""
        return rank_key(q.svg_bytes <= self.cap, q.score, q.svg_bytes, self.objective.target_ssim)

    def better(self, a: Candidate | None, b: Candidate) -> Candidate:
        if a is None or self.key(b.quality) > self.key(a.quality):
            if self.progress is not None:
                used = (self.clock() - self.started) / max(1e-9, self.deadline - self.started)
                self.progress(b.label, b.quality.score, min(1.0, used))
            return b
        return a
