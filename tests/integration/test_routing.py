"""The request router of the work-bounded methods (tracewise_serve/routing.py): Ray's real router
class, with small fake replicas that answer their queue length."""

from __future__ import annotations

import asyncio
import time

import pytest
from ray.exceptions import ActorDiedError
from ray.serve._private.common import DeploymentHandleSource, DeploymentID, ReplicaID, RequestMetadata
from ray.serve.request_router import PendingRequest

from tracewise.decode import Encoded
from tracewise_serve.routing import DEFAULT_LOOK_PIXELS, FreshLookRouter

DEPLOYMENT = DeploymentID(name="method-mapping", app_name="tracewise")


class FakeReplica:
    """What Ray's router reads of a running replica."""

    def __init__(self, name: str, queue: int, answers_after: float = 0.0, error: Exception | None = None):
        self.replica_id = ReplicaID(unique_id=name, deployment_id=DEPLOYMENT)
        self.actor_id = name
        self.node_id = "node"
        self.availability_zone = None
        self.multiplexed_model_ids: set[str] = set()
        self.max_ongoing_requests = 8
        self.queue = queue
        self.answers_after = answers_after
        self.error = error
        self.asked = 0

    async def get_queue_len(self, *, deadline_s: float) -> int:
        self.asked += 1
        await asyncio.sleep(self.answers_after)
        if self.error is not None:
            raise self.error
        return self.queue


def call(side: int) -> PendingRequest:
    """A method call as the ingress makes it: run(picture, objective, deadline)."""
    meta = RequestMetadata(request_id="r", internal_request_id="r", call_method="run")
    return PendingRequest(args=[Encoded(b"", side, side, "png"), None, 0.0], kwargs={}, metadata=meta)


def new_router() -> FreshLookRouter:
    return FreshLookRouter(
        deployment_id=DEPLOYMENT,
        handle_source=DeploymentHandleSource.REPLICA,
        use_replica_queue_len_cache=True,
    )


async def router_with(*replicas: FakeReplica, look_pixels: int = DEFAULT_LOOK_PIXELS) -> FreshLookRouter:
    router = new_router()
    router.initialize_state(look_pixels=look_pixels)
    router.update_replicas(list(replicas))
    await asyncio.sleep(0.01)  # Ray's router reads new replicas' queues once: let it finish
    for r in replicas:
        r.asked = 0
    return router


def order(ranks) -> list[str]:
    return [rank[0].replica_id.unique_id for rank in ranks]


def test_a_big_call_goes_to_the_idle_replica_even_when_the_cache_says_otherwise():
    async def go():
        busy, idle = FakeReplica("busy", queue=1, answers_after=0.3), FakeReplica("idle", queue=0)
        router = await router_with(busy, idle)
        # what this router's cache believes: the other ingress's call on "busy" is not in it
        router.replica_queue_len_cache.update(busy.replica_id, 0)
        router.replica_queue_len_cache.update(idle.replica_id, 1)
        started = time.monotonic()
        ranks = await router.choose_replicas([busy, idle], call(1024))
        took = time.monotonic() - started
        assert order(ranks) == ["idle", "busy"]
        assert busy.asked == idle.asked == 1
        assert took < 0.25  # the idle one answered: the busy one's late answer is not awaited
        assert router.replica_queue_len_cache.get(idle.replica_id) == 0
        await asyncio.sleep(0.4)
        assert router.replica_queue_len_cache.get(busy.replica_id) == 1  # its late answer, kept

    asyncio.run(go())


def test_no_look_when_the_cache_shows_every_candidate_busy():
    """The call queues wherever it goes: Ray's choice of the shorter cached queue stands."""

    async def go():
        a, b = FakeReplica("a", queue=0), FakeReplica("b", queue=0)
        router = await router_with(a, b)
        router.replica_queue_len_cache.update(a.replica_id, 2)
        router.replica_queue_len_cache.update(b.replica_id, 1)
        ranks = await router.choose_replicas([a, b], call(1024))
        assert a.asked == b.asked == 0
        assert sorted(r.replica_id.unique_id for rank in ranks for r in rank) == ["a", "b"]

    asyncio.run(go())


def test_a_small_call_is_routed_from_the_cache_without_a_look():
    async def go():
        a, b = FakeReplica("a", queue=0), FakeReplica("b", queue=0)
        router = await router_with(a, b)
        ranks = await router.choose_replicas([a, b], call(256))
        assert sorted(r.replica_id.unique_id for rank in ranks for r in rank) == ["a", "b"]
        assert a.asked == b.asked == 0
        assert router.worth_a_look(call(512)) and not router.worth_a_look(call(511))

    asyncio.run(go())


def test_a_look_among_busy_replicas_ends_at_its_deadline_with_what_it_read():
    async def go():
        stuck, busy = FakeReplica("stuck", queue=1, answers_after=5.0), FakeReplica("busy", queue=2)
        router = await router_with(stuck, busy)
        router.replica_queue_len_cache.invalidate_key(stuck.replica_id)  # unknown: worth a look
        started = time.monotonic()
        ranks = await router.choose_replicas([stuck, busy], call(2048))
        assert time.monotonic() - started < 2.5  # the deadline (LOOK_DEADLINE_S), not the 5 s answer
        assert stuck.asked == busy.asked == 1
        assert sorted(r.replica_id.unique_id for rank in ranks for r in rank) == ["busy", "stuck"]
        assert router.replica_queue_len_cache.get(busy.replica_id) == 2

    asyncio.run(go())


def test_a_dead_replica_is_dropped_from_the_routers_replicas():
    async def go():
        dead = FakeReplica("dead", queue=0)
        alive = FakeReplica("alive", queue=1, answers_after=0.005)
        router = await router_with(dead, alive)
        dead.error = ActorDiedError()
        await router.choose_replicas([dead, alive], call(1024))
        assert dead.asked == 1
        assert dead.replica_id not in router.curr_replicas

    asyncio.run(go())


def test_look_pixels_is_validated():
    router = new_router()
    with pytest.raises(ValueError, match="look_pixels"):
        router.initialize_state(look_pixels=-1)


def test_router_kwargs_are_checked_by_name_and_type():
    assert FreshLookRouter.checked_kwargs(look_pixels=1024) == {"look_pixels": 1024}
    with pytest.raises(TypeError):
        FreshLookRouter.checked_kwargs(look_pixel=1024)  # a misspelt name is not ignored
    with pytest.raises(ValueError, match="look_pixels"):
        FreshLookRouter.checked_kwargs(look_pixels="512")
