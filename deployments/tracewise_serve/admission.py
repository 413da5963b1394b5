"""Admission and shedding per method, in one ingress replica: plain Python, no Ray.

Each method has a limit on the work this replica has sent it and not had back: a share per running
replica of the method (``inflight_limits``), so the room follows the method's capacity as Serve
scales it, on a 2-core box or a 16-core one. Beyond it a call is refused at once (``Overloaded``:
the data plane falls back to the cheaper method, or sheds the request with RESOURCE_EXHAUSTED)
instead of queueing, which keeps accepted requests' latency bounded under overload (Little's law,
per method). A refusal, or Ray Serve's own backpressure, is remembered: for a few seconds the
router sees the method as busy, and a request whose whole fallback chain pushed back just now is
shed before its image is even decoded.

Past the share, a call to a method bounded by work is still admitted when the work ahead of it is
expected to be done within its time (``fits``): the share is what keeps the replicas busy, the
time is what the client asked for. A burst of 1024 px logos then queues for mapping, as plain
worker processes would, instead of falling back to ``default`` (a worse answer than asked for,
made while mapping's replicas have the time to make the right one); a client whose deadline the
queue would miss still gets the fallback at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tracewise.decode import Encoded, Picture
from tracewise.methods import CHEAPER, WORK_BOUNDED

from .status import Overloaded

SATURATION_MEMORY_S = 3.0  # backpressure marks a method saturated for this long (router load)
# A request for a method whose whole fallback chain pushed back within this window is refused at
# once, before decoding: under sustained overload, shedding costs nothing and answers fast.
FAST_SHED_S = 0.25
# Admission counts work, not calls. A call to a method bounded by work weighs its picture's pixels
# over this reference (a 1024 px logo is ~16x the work of a 256 px one: measured), at least 1 and
# at most one replica's share, so one call alone is always admitted and a burst of big pictures
# takes one share per replica: every replica busy, a short queue, the rest shed at once unless
# they are expected to be answered in time (``fits``). Counting calls let a burst of big pictures
# in whatever their time, and the floor then timed out in the queue (UNAVAILABLE after seconds);
# a big call filling the method's whole limit kept all replicas but one idle.
# Search and regional hold a replica for their time: weight 1.
ADMISSION_REFERENCE_PIXELS = 256 * 256


def work(picture: Picture | Encoded) -> float:
    """A call's work on ``picture`` for a method bounded by work, in 256 px logos (at least one)."""
    return max(1.0, picture.width * picture.height / ADMISSION_REFERENCE_PIXELS)


def admission_weight(method: str, picture: Picture | Encoded, share: int | None) -> int:
    """What a call to ``method`` on ``picture`` counts against the method's limit (``share``: the
    limit per replica, the most one call weighs)."""
    if method not in WORK_BOUNDED:
        return 1
    weight = max(1, round(work(picture)))
    return weight if share is None else min(weight, share)


# How fast the estimate of a method's seconds per unit of work follows its answers (moving average).
PACE_SMOOTHING = 0.2


# Room a work-bounded method's replica keeps beyond its fair part, for the routers' uneven split
# of calls between replicas (each ingress routes on its own stale view: routing.py).
ROUTER_SLACK = 2


def replica_room(ingresses: int, share: int) -> int:
    """The calls a work-bounded method's replica must take (``max_ongoing_requests``) so that Ray's
    router never holds back what admission lets through: each ingress lets ``share`` per running
    replica through, plus ``ROUTER_SLACK``. Below it, Ray's router probes the full replicas and
    retries with backoff (a third of the ingress's CPU at 8 in flight: bench/serving.py); admission,
    not this, bounds the work. serve_config.yaml is held to it (tests) and bench/scale.py applies it
    when it adds ingresses."""
    return ingresses * share + ROUTER_SLACK


class Admission:
    def __init__(
        self,
        methods: list[str],
        limits: dict[str, int] | None = None,
        on_change: Callable[[str, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        replicas: Callable[[str], int | None] = lambda method: None,
        ingresses: Callable[[], int | None] = lambda: None,
    ) -> None:
        """``limits``: work in flight per running replica of each method (none: unbounded);
        ``replicas``: the method's running replicas now (None while unknown: counted as one);
        ``ingresses``: the ingress replicas sharing the methods (None while unknown: one)."""
        self.limits = dict(limits or {})
        self._replicas = replicas
        self._ingresses = ingresses
        self.inflight = dict.fromkeys(methods, 0)
        self.calls = dict.fromkeys(methods, 0)  # calls in flight (a big one weighs more than one)
        self.work = dict.fromkeys(methods, 0.0)  # their work, uncapped (``work``)
        self.pace: dict[str, float] = {}  # seconds per unit of work, from the answers (``learn``)
        self.backpressure_at: dict[str, float] = {}
        self.saturated_until: dict[str, float] = {}
        self._on_change = on_change or (lambda method, value: None)
        self._clock = clock

    def pushed_back(self, method: str) -> None:
        """``method`` refused work (its limit here, or Serve's backpressure): remember it."""
        now = self._clock()
        self.backpressure_at[method] = now
        self.saturated_until[method] = now + SATURATION_MEMORY_S

    def chain_saturated(self, method: str) -> bool:
        """True when ``method`` and each cheaper fallback pushed back within ``FAST_SHED_S``."""
        now = self._clock()
        current: str | None = method
        while current is not None:
            if now - self.backpressure_at.get(current, -1e9) > FAST_SHED_S:
                return False
            current = CHEAPER[current]
        return True

    def load(self) -> dict[str, float]:
        """Load per method as the router sees it: 1.0 within a few seconds of backpressure."""
        now = self._clock()
        return {m: 1.0 for m, until in self.saturated_until.items() if until > now}

    def limit(self, method: str) -> int | None:
        """``method``'s limit now: its share per replica times its running replicas (at least one:
        a method Serve is starting again still gets one call, which its fallback answers if it
        cannot)."""
        share = self.limits.get(method)
        if share is None:
            return None
        return share * max(1, self._replicas(method) or 1)

    def room_to_explore(self, method: str) -> bool:
        """Exploration only uses the idle half of a method's limit: it must not take the room a
        request needs, nor be what pushes a method into backpressure."""
        limit = self.limit(method)
        return limit is None or self.inflight[method] < limit / 2

    def learn(self, method: str, picture: Picture | Encoded, seconds: float) -> None:
        """A work-bounded ``method`` answered a call on ``picture`` in ``seconds`` of its replica's
        time (the engine's, not the queue's)."""
        if method not in WORK_BOUNDED or seconds <= 0:
            return
        sample = seconds / work(picture)
        before = self.pace.get(method)
        self.pace[method] = sample if before is None else before + PACE_SMOOTHING * (sample - before)

    def expected_s(self, method: str, picture: Picture | Encoded) -> float | None:
        """When a call on ``picture`` sent now would be answered, in seconds (None: not known yet):
        the work in flight from this ingress, as much again from each other ingress (the proxy
        spreads requests evenly), shared by the method's running replicas, then its own."""
        pace = self.pace.get(method)
        if pace is None:
            return None
        ingresses = max(1, self._ingresses() or 1)
        replicas = max(1, self._replicas(method) or 1)
        return pace * (self.work[method] * ingresses / replicas + work(picture))

    def fits(self, method: str, picture: Picture | Encoded, seconds: float | None, limit: int | None) -> bool:
        """Past its share, a work-bounded call still fits when it is expected to be answered within
        its ``seconds``, and this ingress's calls stay within what the replicas take without
        Ray's router holding any back (``replica_room``: one call per unit of the share);
        ``limit``: the method's limit now (``limit``, as ``admit`` read it)."""
        if seconds is None or method not in WORK_BOUNDED or limit is None or self.calls[method] >= limit:
            return False
        expected = self.expected_s(method, picture)
        return expected is not None and expected <= seconds

    @contextmanager
    def admit(
        self,
        method: str,
        picture: Picture | Encoded,
        exploring: bool = False,
        seconds: float | None = None,
    ) -> Iterator[int]:
        """Hold ``method``'s room for one call on ``picture`` that has ``seconds`` to be answered, or
        raise ``Overloaded`` at once. An exploration only takes the share, and a refused one is not
        remembered as backpressure (it says nothing about the room requests have)."""
        limit = self.limit(method)
        weight = admission_weight(method, picture, self.limits.get(method))
        held = self.inflight[method]
        if limit is not None and held > 0 and held + weight > limit:
            if exploring or not self.fits(method, picture, seconds, limit):
                if not exploring:
                    self.pushed_back(method)
                raise Overloaded(f"{method} is saturated ({held} of {limit} in flight)")
        amount = work(picture) if method in WORK_BOUNDED else 1.0
        self._move(method, weight, 1, amount)
        try:
            yield weight
        finally:
            self._move(method, -weight, -1, -amount)

    def _move(self, method: str, weight: int, calls: int, amount: float) -> None:
        self.inflight[method] += weight
        self.calls[method] += calls
        self.work[method] += amount
        self._on_change(method, self.inflight[method])
