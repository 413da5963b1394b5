"""Which replica of a method takes a call: Ray Serve's request router for the work-bounded methods.

Ray's default router picks two random replicas and sends to the one with the shorter queue, as
its cache knows it: the lengths a replica reported when it last accepted one of this router's
calls, plus this router's own sends and completions. Each ingress replica has its own router, so
what the other ingress sent since is missing, and two calls in flight on two replicas often land
on the same one: a replica of a work-bounded method runs one engine call at a time (worker.py),
so the second waits while the other replica idles. At 1024 px, 2 in flight on 2 replicas, 22% of
calls waited so, 0.36 s on average, and throughput was 0.80 req/s; reading both queues before
every call (``RAY_SERVE_QUEUE_LENGTH_CACHE_TIMEOUT_S=0``), 1.07. But a read is a round trip to
each candidate, and a busy replica answers only when its engine thread lets go of the GIL: at
256 px (~0.1 s of work, where the collisions cost ~7 ms on average) reading every time lost
5-15%, and reading busy replicas at 1024 px, 4 in flight, about 10% (BENCHMARKS.md, Serving).

So a call looks only where a stale view goes wrong: its picture has at least ``look_pixels``, and
Ray's cache shows one of its two candidates idle (or does not know). It asks both at once and
goes to the first that says it is idle, without waiting for a busy one; when none is idle within
``LOOK_DEADLINE_S``, or for any other call, Ray's router chooses as it always does. The replica's
slot, not this, keeps the order of the calls it takes.

Time-bounded methods (search, regional) take one call per replica (``max_ongoing_requests: 1``),
so a replica that is busy refuses and Ray's router tries the other: they keep Ray's default.

Deployments name it in serve_config.yaml (``request_router_config``) with its kwargs.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from ray.exceptions import ActorDiedError

# The default router's class, as Ray's own RequestRouterConfig names it by default.
from ray.serve._private.request_router.pow_2_router import PowerOfTwoChoicesRequestRouter
from ray.serve.request_router import PendingRequest, RunningReplica

from tracewise.decode import Encoded, Picture

ROUTER_PATH = "tracewise_serve.routing:FreshLookRouter"
# 512 x 512: four times the 256 px reference of admission.py, where a call's work (~0.4 s of
# mapping) is well over the round trips a fresh look costs.
DEFAULT_LOOK_PIXELS = 512 * 512
# How long a look waits for a queue length: an idle replica answers in a few ms; a busy one only
# when its engine thread lets go of the GIL (a VTracer call holds it throughout).
LOOK_DEADLINE_S = 0.02


def pixels(pending: PendingRequest | None) -> int | None:
    """The pixels of the picture a method call carries (``run``/``run_stream``: its first
    argument), or None for a call without one (Serve's own, or an unknown shape)."""
    if pending is None or not pending.args:
        return None
    picture = pending.args[0]
    if isinstance(picture, (Picture, Encoded)):
        return picture.width * picture.height
    return None


class FreshLookRouter(PowerOfTwoChoicesRequestRouter):
    """Ray's power of two choices, which first asks the two candidates whether one is idle when
    the call is big and Ray's cache may be wrong about it (the module's docstring)."""

    look_pixels = DEFAULT_LOOK_PIXELS

    @staticmethod
    def checked_kwargs(look_pixels: int = DEFAULT_LOOK_PIXELS) -> dict[str, int]:
        """``request_router_kwargs`` from a deployment's config, checked (a config test reads
        serve_config.yaml's through this); an unknown name is a TypeError."""
        if isinstance(look_pixels, bool) or not isinstance(look_pixels, int) or look_pixels < 0:
            raise ValueError(f"look_pixels must be an integer >= 0, got {look_pixels!r}")
        return {"look_pixels": look_pixels}

    def initialize_state(self, **kwargs: Any) -> None:
        """Called by Ray Serve with the deployment's ``request_router_kwargs``."""
        super().initialize_state()  # type: ignore[no-untyped-call]  # Ray's is untyped
        self.look_pixels = self.checked_kwargs(**kwargs)["look_pixels"]

    def worth_a_look(self, pending: PendingRequest | None) -> bool:
        n = pixels(pending)
        return n is not None and n >= self.look_pixels

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        ranks: list[list[RunningReplica]] = await super().choose_replicas(candidate_replicas, pending_request)
        chosen = [replica for rank in ranks for replica in rank]
        if len(chosen) < 2 or not self.worth_a_look(pending_request) or not self.maybe_idle(chosen):
            return ranks
        idle = await self.look(chosen)
        if idle is None:  # every one is busy: Ray's view (its cache, now with what was read) decides
            return ranks
        # One rank each, the idle one first (Ray's router takes the first whose cached length is
        # under its max_ongoing_requests: the look put its 0 there).
        return [[idle]] + [[replica] for replica in chosen if replica is not idle]

    def maybe_idle(self, replicas: list[RunningReplica]) -> bool:
        """Whether Ray's cache shows one of ``replicas`` idle (or does not know): what a stale
        view gets wrong. When it shows all busy, the call queues wherever it goes, and Ray's
        choice of the shorter queue stands (looking at busy replicas cost 10% of the throughput
        at 4 in flight on 2 replicas, 1024 px)."""
        cache = self.replica_queue_len_cache
        return any(not cache.get(r.replica_id) for r in replicas)

    async def look(self, replicas: list[RunningReplica]) -> RunningReplica | None:
        """The first of ``replicas`` to say it is idle, asked all at once; None when none does
        within ``LOOK_DEADLINE_S``. An idle replica answers in a few ms; a busy one only when its
        engine thread lets go of the GIL (a VTracer call holds it throughout), so a look among
        busy replicas ends at the deadline, and their lengths stay as Ray's cache has them. What
        was read goes into that cache."""
        asked = {asyncio.ensure_future(r.get_queue_len(deadline_s=LOOK_DEADLINE_S)): r for r in replicas}
        waiting = set(asked)
        end = asyncio.get_running_loop().time() + LOOK_DEADLINE_S
        idle = None
        while waiting and idle is None:
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                break
            done, waiting = await asyncio.wait(waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                replica = asked[task]
                exc = task.exception()
                if exc is None:
                    self.on_new_queue_len_info(replica.replica_id, task.result())
                    if task.result() == 0 and idle is None:
                        idle = replica
                elif isinstance(exc, ActorDiedError):
                    self.on_replica_actor_died(replica.replica_id)
                else:  # unavailable now: Ray's router reads it again before it sends there
                    self.on_replica_actor_unavailable(replica.replica_id)
        for task in waiting:  # a busy replica's late answer still goes into the cache
            task.add_done_callback(functools.partial(self._late, asked[task]))
        return idle

    def _late(self, replica: RunningReplica, task: asyncio.Future[int]) -> None:
        if not task.cancelled() and task.exception() is None:
            self.on_new_queue_len_info(replica.replica_id, task.result())
