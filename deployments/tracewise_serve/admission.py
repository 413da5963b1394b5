"""Admission and shedding per method, in one ingress replica: plain Python, no Ray.

Each method has a limit on the work this replica has sent it and not had back: a share per running
replica of the method (``inflight_limits``), so the room follows the method's capacity as Serve
scales it, on a 2-core box or a 16-core one. Beyond it a call is refused at once (``Overloaded``:
the data plane falls back to the cheaper method, or sheds the request with RESOURCE_EXHAUSTED)
instead of queueing, which keeps accepted requests' latency bounded under overload (Little's law,
per method). A refusal, or Ray Serve's own backpressure, is remembered: for a few seconds the
router sees the method as busy, and a request whose whole fallback chain pushed back just now is
shed before its image is even decoded.
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
# takes one share per replica: every replica busy, a short queue, the rest shed at once. Counting
# calls let a burst of big pictures in, and the floor then timed out in the queue (UNAVAILABLE
# after seconds); a big call filling the method's whole limit kept all replicas but one idle.
# Search and regional hold a replica for their time: weight 1.
ADMISSION_REFERENCE_PIXELS = 256 * 256


def admission_weight(method: str, picture: Picture | Encoded, share: int | None) -> int:
    """What a call to ``method`` on ``picture`` counts against the method's limit (``share``: the
    limit per replica, the most one call weighs)."""
    if method not in WORK_BOUNDED:
        return 1
    weight = max(1, round(picture.width * picture.height / ADMISSION_REFERENCE_PIXELS))
    return weight if share is None else min(weight, share)


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
    ) -> None:
        """``limits``: work in flight per running replica of each method (none: unbounded);
        ``replicas``: the method's running replicas now (None while unknown: counted as one)."""
        self.limits = dict(limits or {})
        self._replicas = replicas
        self.inflight = dict.fromkeys(methods, 0)
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

    @contextmanager
    def admit(self, method: str, picture: Picture | Encoded, exploring: bool = False) -> Iterator[int]:
        """Hold ``method``'s room for one call on ``picture``, or raise ``Overloaded`` at once.
        A refused exploration is not remembered as backpressure (it says nothing about the room
        requests have)."""
        limit = self.limit(method)
        weight = admission_weight(method, picture, self.limits.get(method))
        held = self.inflight[method]
        if limit is not None and held > 0 and held + weight > limit:
            if not exploring:
                self.pushed_back(method)
            raise Overloaded(f"{method} is saturated ({held} of {limit} in flight)")
        self._move(method, +weight)
        try:
            yield weight
        finally:
            self._move(method, -weight)

    def _move(self, method: str, delta: int) -> None:
        self.inflight[method] += delta
        self._on_change(method, self.inflight[method])
