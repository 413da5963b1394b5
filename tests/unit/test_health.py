"""grpc.health.v1 statuses from Serve's view of the replicas (tracewise_serve.health), on fakes."""

from __future__ import annotations

import asyncio

from tracewise_serve.health import NOT_SERVING, SERVICE_NAME, SERVICE_UNKNOWN, SERVING, Health

ALL_UP = {"Ingress": 2, "method-default": 1, "method-mapping": 1, "method-search": 2, "method-regional": 1}


class Source:
    def __init__(self, snapshot):
        self.snapshot = snapshot if isinstance(snapshot, Exception) else dict(snapshot)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if isinstance(self.snapshot, Exception):
            raise self.snapshot
        return dict(self.snapshot)


def run(coro):
    return asyncio.run(coro)


def test_a_method_serves_while_it_or_a_cheaper_fallback_runs():
    source = Source({**ALL_UP, "method-search": 0})
    health = Health(source)
    run(health.refresh())
    assert health.status("") == health.status(SERVICE_NAME) == SERVING
    assert health.status(f"{SERVICE_NAME}/search") == SERVING  # mapping answers its requests
    assert not health.method_ready("search") and health.method_ready("mapping")
    source.snapshot.update({"method-mapping": 0, "method-default": 0})
    run(health.refresh())
    assert health.status(f"{SERVICE_NAME}/search") == NOT_SERVING  # nothing below it runs either
    assert health.status(f"{SERVICE_NAME}/regional") == SERVING  # regional itself runs
    assert health.status("") == SERVING
    source.snapshot = {"Ingress": 2}
    run(health.refresh())
    assert health.status("") == NOT_SERVING
    assert health.status("nope") is None and health.status(f"{SERVICE_NAME}/magic") is None


def test_an_unreachable_controller_means_nothing_is_known_to_run():
    health = Health(Source(RuntimeError("controller gone")))
    run(health.refresh())
    assert health.status("") == NOT_SERVING and "controller gone" in health.error


def test_draining_is_not_serving():
    health = Health(Source(ALL_UP))
    run(health.refresh())
    health.drain()
    assert health.status("") == NOT_SERVING and health.status(f"{SERVICE_NAME}/default") == NOT_SERVING


def test_watch_pushes_each_change_and_stays_open():
    source = Source(ALL_UP)
    health = Health(source)

    async def scenario():
        seen = []

        async def watcher():
            async for status in health.watch(f"{SERVICE_NAME}/mapping"):
                seen.append(status)

        task = asyncio.create_task(watcher())
        await asyncio.sleep(0.05)
        source.snapshot.update({"method-mapping": 0, "method-default": 0})
        await health.refresh()
        await asyncio.sleep(0.05)
        source.snapshot.update({"method-default": 1})
        await health.refresh()
        await asyncio.sleep(0.05)
        assert not task.done()  # Watch stays open
        task.cancel()
        return seen

    assert run(scenario()) == [SERVING, NOT_SERVING, SERVING]


def test_watch_of_an_unknown_service_says_so_once():
    health = Health(Source(ALL_UP))

    async def scenario():
        return [s async for s in health.watch("nope")]

    assert run(scenario()) == [SERVICE_UNKNOWN]


def test_the_view_is_refreshed_at_most_once_a_second_per_caller_burst():
    source = Source(ALL_UP)
    health = Health(source)

    async def scenario():
        for _ in range(20):
            await health.fresh()

    run(scenario())
    assert source.calls == 1


def test_running_replicas_for_admission_are_kept_fresh_from_the_first_request():
    source = Source({**ALL_UP, "method-mapping": 2})
    health = Health(source)
    assert health.running("mapping") is None and health.ingresses() is None  # admission counts one

    async def scenario():
        health.start()  # no wait: the first refresh runs in the background
        health.start()  # once
        await asyncio.sleep(0.05)
        assert source.calls == 1 and health.running("mapping") == 2 and health.running("search") == 2
        assert health.ingresses() == 2  # admission's estimate of the queue counts the other ingress
        source.snapshot["method-mapping"] = 3
        await health.refresh()
        assert health.running("mapping") == 3
        source.snapshot = RuntimeError("controller gone")
        await health.refresh()
        assert health.running("mapping") is None  # unknown again, not zero

    run(scenario())


def test_the_background_view_refreshes_every_refresh_s_from_the_first_request(monkeypatch):
    from tracewise_serve import health as module

    monkeypatch.setattr(module, "REFRESH_S", 0.01)  # ticks; the clock below decides what is due
    now = [1000.0]
    source = Source({**ALL_UP, "method-mapping": 1})
    health = Health(source, clock=lambda: now[0])

    async def ticks(n: int, step: float) -> None:
        for _ in range(n):
            now[0] += step
            await asyncio.sleep(0.02)

    async def scenario():
        await ticks(3, 1.0)
        assert source.calls == 0  # nothing asked for it yet
        health.start()
        health.start()  # one loop, however many requests start it
        await ticks(1, 0.0)
        source.snapshot["method-mapping"] = 3  # Serve started two more
        await ticks(5, 1.0)
        assert 4 <= source.calls <= 7 and health.running("mapping") == 3
        await health.fresh()  # just refreshed: a check does not look again
        calls = source.calls
        await health.fresh()
        assert source.calls == calls
        await health.stop()
        await ticks(3, 1.0)
        assert source.calls == calls  # stopped

    run(scenario())


def test_a_colocated_methods_replicas_are_this_replicas_own_processes():
    """With the colocated lane Serve has no deployment for default and mapping: their running
    replicas are what the lane says (its live processes), over Serve's view."""
    serve_view = {k: v for k, v in ALL_UP.items() if k not in ("method-default", "method-mapping")}
    lane = {"method-default": 1, "method-mapping": 1}
    health = Health(Source(serve_view))
    health.local = lambda: dict(lane)
    run(health.refresh())
    assert health.running("mapping") == 1 and health.status(f"{SERVICE_NAME}/default") == SERVING
    lane.update({"method-default": 0, "method-mapping": 0})  # its processes died
    run(health.refresh())
    assert health.status(f"{SERVICE_NAME}/default") == NOT_SERVING
    assert health.status(f"{SERVICE_NAME}/mapping") == NOT_SERVING  # default, its fallback, is down too
    assert health.status("") == SERVING  # search and regional still answer
