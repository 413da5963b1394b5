"""The time a request's method gets: computed once per request, here and nowhere else.

The method's own seconds (``engine.method_budget``: the options', the router's arm's, or the
method's default), cut by the client's deadline (``x-tracewise-timeout``, less a margin for the
answer's way back). Fallbacks get what is left, never less than a floor; how long to wait for a
method replica is its seconds plus a grace, more for the methods bounded by work on big pictures
(they take the time their work takes, whatever the budget).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tracewise import engine
from tracewise.methods import WORK_BOUNDED
from tracewise.objective import Objective
from tracewise.router import Decision

from .status import DeadlineTooShort

# Time kept back from the client's deadline for the trip back (at least this, or 10%).
DEADLINE_MARGIN_S = 0.15
FALLBACK_FLOOR_S = 0.05  # a fallback after a timeout still runs with at least this
WAIT_GRACE_S = 2.0  # a replica's answer may come this long after its budget (transit, queueing)
WORK_GRACE_S_PER_MP = 1.5  # and a work-bounded method's this much per megapixel (2048 px: ~6 s)


@dataclass(frozen=True)
class Budget:
    seconds: float  # what the first method runs for
    full: float  # what it would run for from the options alone (no client deadline)
    deadline: float  # monotonic: when the answer is due
    by_work: bool = False  # the method is bounded by work: its seconds do not change its answer

    @property
    def cut_by_client(self) -> bool:
        return self.seconds < self.full

    @property
    def answer_cut_by_client(self) -> bool:
        """The client's deadline may have changed the answer (not what the options alone give)."""
        return self.cut_by_client and not self.by_work

    def left(self, now: float | None = None) -> float:
        """What a fallback gets: the time left, at least the floor, at most the first method's."""
        now = time.monotonic() if now is None else now
        return max(FALLBACK_FLOOR_S, min(self.seconds, self.deadline - now))


def plan(
    method: str,
    objective: Objective,
    decision: Decision | None,
    timeout_s: float | None,
    started: float,
    now: float | None = None,
) -> Budget:
    """``timeout_s``: the client's whole deadline, counted from ``started`` (monotonic)."""
    now = time.monotonic() if now is None else now
    full = engine.method_budget(method, objective.budget_s, decision)
    seconds = full
    if timeout_s is not None:
        left = timeout_s - (now - started) - max(DEADLINE_MARGIN_S, 0.1 * timeout_s)
        if left <= 0.02:
            raise DeadlineTooShort("the deadline leaves no time to work")
        seconds = min(full, left)
    return Budget(seconds, full, now + seconds, method in WORK_BOUNDED)


def wait_s(method: str, seconds: float, pixels: int) -> float:
    """How long to wait for ``method``'s replica running for ``seconds`` on ``pixels``."""
    grace = WAIT_GRACE_S
    if method in WORK_BOUNDED:
        grace += WORK_GRACE_S_PER_MP * pixels / 1e6
    return seconds + grace
