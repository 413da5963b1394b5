"""What a request asks for, and how candidates are ranked against it.

A request wants, in this order:
1. an SVG no larger than ``max_svg_bytes`` (default: what VTracer's defaults with
   ``path_precision=3`` produce for this image);
2. with ``target_ssim``: the smallest SVG whose score reaches the target (or, if none does,
   the best score); without it: the best score, then the fewest bytes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .decode import Picture, Prepared, prepare
from .errors import InvalidParameter
from .params import DEFAULT_STYLE, Params, check_style
from .quality import Quality, Reference
from .trace import vtracer_svg

MAX_BUDGET_S = 600.0


@dataclass(frozen=True)
class Objective:
    style: str = DEFAULT_STYLE
    max_svg_bytes: int | None = None
    target_ssim: float | None = None
    budget_s: float | None = None  # None: the method's own default

    def __post_init__(self) -> None:
        check_style(self.style)
        if self.max_svg_bytes is not None and not (64 <= self.max_svg_bytes <= 100_000_000):
            raise InvalidParameter("max_svg_bytes", self.max_svg_bytes, "an integer in [64, 100000000]")
        if self.target_ssim is not None and not (0.0 < self.target_ssim <= 1.0):
            raise InvalidParameter("target_ssim", self.target_ssim, "a number in (0, 1]")
        if self.budget_s is not None and (
            not math.isfinite(self.budget_s) or not (0.0 < self.budget_s <= MAX_BUDGET_S)
        ):
            raise InvalidParameter("budget_s", self.budget_s, f"seconds in (0, {MAX_BUDGET_S:g}]")


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
    """One image under one objective: everything a method needs, computed once."""

    def __init__(
        self,
        picture: Picture,
        objective: Objective,
        budget_s: float,
        progress: Callable[[str, float, float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """``progress(stage, best_score, fraction_of_budget_used)`` is called as the best improves;
        setting ``cancel`` makes every method stop at its next evaluation boundary."""
        self.picture = picture
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.objective = objective
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.prepared: Prepared = prepare(picture)
        self.reference = Reference(picture.rgba)
        self._cap = objective.max_svg_bytes
        self._size_reference: str | None = None
        self._features: np.ndarray | None = None

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
    def size_reference(self) -> str:
        """What VTracer's defaults with ``path_precision=3`` write for the raw image (traced once)."""
        if self._size_reference is None:
            self._size_reference = vtracer_svg(self.picture.rgba, Params().with_style(self.objective.style))
        return self._size_reference

    @property
    def cap(self) -> int:
        """The byte cap: the request's, or by default the size reference's length."""
        if self._cap is None:
            self._cap = len(self.size_reference)
        return self._cap

    def remaining(self) -> float:
        """Seconds left (0 once cancelled)."""
        if self.cancel.is_set():
            return 0.0
        return self.deadline - time.monotonic()

    def until(self, t: float) -> float:
        """Seconds from now to monotonic time ``t``, capped by the deadline; 0 once cancelled."""
        return min(t - time.monotonic(), self.remaining())

    def key(self, q: Quality) -> tuple[float, ...]:
        """Sort key: larger is better."""
        return rank_key(q.svg_bytes <= self.cap, q.score, q.svg_bytes, self.objective.target_ssim)

    def better(self, a: Candidate | None, b: Candidate) -> Candidate:
        if a is None or self.key(b.quality) > self.key(a.quality):
            if self.progress is not None:
                used = (time.monotonic() - self.started) / max(1e-9, self.deadline - self.started)
                self.progress(b.label, b.quality.score, min(1.0, used))
            return b
        return a
