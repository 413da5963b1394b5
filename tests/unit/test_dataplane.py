"""The data plane with fake method deployments (no Ray): fallback chains, shedding, the cache,
deadline margins. What each fake does is scripted per method."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import numpy as np
import pytest

from tracewise.decode import encode
from tracewise.errors import InvalidParameter, Unavailable
from tracewise.objective import Objective
from tracewise_serve import budget
from tracewise_serve.dataplane import Backpressure, DataPlane, ReplicaLost, Request
from tracewise_serve.status import DeadlineTooShort, Overloaded


def answer(method: str, **extra) -> dict:
    return {"method": method, "svg": "<svg/>", "ssim": 0.95, "svg_bytes": 900, "paths": 3,
            "seconds": 0.01, "evaluations": 4, "cap_bytes": 1000, "cut_short": False, **extra}  # fmt: skip


class FakeMethods:
    """``script[method]``: "ok", an exception to raise, "hang" (never answers) or "backpressure";
    or a list of those, one per call in turn."""

    def __init__(self, **script) -> None:
        self.script = script
        self.calls: list[tuple[str, float]] = []
        self.pictures: list = []

    async def run(self, method, picture, objective, deadline):
        self.calls.append((method, deadline - time.time()))
        self.pictures.append(picture)
        what = self.script.get(method, "ok")
        if isinstance(what, list):
            what = what.pop(0) if what else "ok"
        if what == "hang":
            await asyncio.sleep(3600)
        if what == "backpressure":
            raise Backpressure("queue full")
        if isinstance(what, BaseException):
            raise what
        if isinstance(what, dict):
            return what
        return answer(method)

    async def stream(self, method, picture, objective, deadline):
        yield {"progress": ("search", 0.9, 0.5)}
        yield {"result": answer(method)}


def fake_metrics():
    seen = []
    return SimpleNamespace(
        inc=lambda name, tags, value=1.0: seen.append((name, tags)),
        set=lambda *a: None,
        observe=lambda *a: None,
        request=lambda *a: None,
        method_call=lambda *a: seen.append(("tracewise_method_seconds", a)),
        seen=seen,
    )


@pytest.fixture
def png(two_squares):
    return encode(two_squares)


def plane(methods, limits=None):
    return DataPlane(methods, ["default", "mapping", "search", "regional"], fake_metrics(), limits)


def req(png, method="search", timeout=None, rid="r1", **objective):
    return Request(rid, png, Objective(**objective), method, timeout, time.monotonic())


def run(coro):
    return asyncio.run(coro)


def test_a_failing_method_falls_back_to_the_next_cheaper_one_and_says_so(png):
    methods = FakeMethods(search=RuntimeError("replica died"))
    served = run(plane(methods).vectorize(req(png)))
    assert served.method == "mapping" and served.requested == "search"
    assert served.fallbacks == ({"from": "search", "reason": "failed: RuntimeError"},)
    assert served.arm is None  # what ran is not an arm the router could have chosen
    assert [m for m, _ in methods.calls] == ["search", "mapping"]


def test_a_call_whose_replica_died_is_tried_once_more_on_the_same_method(png):
    methods = FakeMethods(mapping=[ReplicaLost("ActorDiedError")])
    served = run(plane(methods).vectorize(req(png, "mapping")))
    assert served.method == "mapping" and served.fallbacks == ()  # answered at mapping's quality
    assert [m for m, _ in methods.calls] == ["mapping", "mapping"]
    methods = FakeMethods(mapping=[ReplicaLost("ActorDiedError"), ReplicaLost("ActorDiedError")])
    served = run(plane(methods).vectorize(req(png, "mapping")))  # lost twice: the cheaper method
    assert served.method == "default"
    assert served.fallbacks == ({"from": "mapping", "reason": "failed: replica lost twice"},)
    assert [m for m, _ in methods.calls] == ["mapping", "mapping", "default"]


def test_a_method_that_overruns_is_given_up_and_the_fallback_still_gets_time(png, monkeypatch):
    monkeypatch.setattr(budget, "WAIT_GRACE_S", 0.1)
    methods = FakeMethods(search="hang")
    served = run(plane(methods).vectorize(req(png, budget_s=0.2)))
    assert served.method == "mapping" and served.fallbacks[0]["reason"] == "timed out"
    (_, first), (_, second) = methods.calls
    assert first == pytest.approx(0.2, abs=0.05) and second >= budget.FALLBACK_FLOOR_S - 0.01


def test_backpressure_everywhere_is_overloaded_and_remembered(png):
    methods = FakeMethods(search="backpressure", mapping="backpressure", default="backpressure")
    p = plane(methods)
    with pytest.raises(Overloaded, match="every method is saturated"):
        run(p.vectorize(req(png)))
    assert set(p.admission.load()) == {"search", "mapping", "default"}
    calls = len(methods.calls)
    with pytest.raises(Overloaded, match="every cheaper method"):  # shed at once, before decoding
        run(p.vectorize(req(b"not even an image", rid="r2")))
    assert len(methods.calls) == calls


class Held(FakeMethods):
    """Mapping's calls wait for ``gate`` (replicas busy with what is ahead of them); every answer
    took 0.4 s of the replica's time."""

    gate: asyncio.Event | None = None

    async def run(self, method, picture, objective, deadline):
        self.calls.append((method, deadline - time.time()))
        if method == "mapping" and self.gate is not None:
            await self.gate.wait()
        return answer(method, seconds=0.4)


def test_past_the_share_a_call_queues_for_its_method_when_its_answer_comes_in_time():
    def big(i: int) -> bytes:  # 512 px: 4 units of work each, mapping's share 6
        a = np.zeros((512, 512, 4), np.uint8)
        a[:, :, 3] = 255
        a[0, 0, 0] = i  # a different picture each: no cache hit
        return encode(a)

    methods = Held()
    p = plane(methods, {"mapping": 6})

    async def go() -> list:
        await p.vectorize(req(big(0), "mapping"))  # mapping's pace: 0.1 s per unit of work
        methods.gate = asyncio.Event()
        waiting = [asyncio.create_task(p.vectorize(req(big(i), "mapping"))) for i in (1, 2, 3)]
        await asyncio.sleep(0.2)  # all three sent: 4 units held, then 8 and 12 (expected 0.8, 1.2 s)
        assert p.admission.calls["mapping"] == 3
        # one whose deadline leaves 0.85 s would wait 1.6 s: its fallback answers at once
        hurried = await p.vectorize(req(big(4), "mapping", timeout=1.0))
        methods.gate.set()
        return [hurried, *await asyncio.gather(*waiting)]

    hurried, *queued = run(go())
    assert [s.method for s in queued] == ["mapping"] * 3 and all(not s.fallbacks for s in queued)
    assert hurried.method == "default" and hurried.fallbacks[0]["reason"].startswith("overloaded")


def test_failures_everywhere_are_unavailable_with_every_reason(png):
    methods = FakeMethods(mapping=RuntimeError("x"), default=Unavailable("no worker pool"))
    with pytest.raises(Unavailable, match="failed: RuntimeError; UNAVAILABLE: no worker pool"):
        run(plane(methods).vectorize(req(png, "mapping")))


def test_the_requests_own_fault_is_not_retried_on_another_method(png):
    methods = FakeMethods(search={"error": InvalidParameter("options.max_colors", 0, "1..256")})
    with pytest.raises(InvalidParameter):
        run(plane(methods).vectorize(req(png)))
    assert [m for m, _ in methods.calls] == ["search"]


def test_a_full_answer_is_cached_and_served_again_as_a_hit(png):
    methods = FakeMethods()
    p = plane(methods)
    first = run(p.vectorize(req(png, "mapping")))
    again = run(p.vectorize(req(png, "mapping", rid="r2")))
    assert not first.cached and again.cached and again.request_id == "r2" and again.svg == first.svg
    assert len(methods.calls) == 1
    other = run(p.vectorize(req(png, "mapping", rid="r3", style="polygon")))  # other options: a miss
    assert not other.cached and len(methods.calls) == 2


def test_answers_cut_short_by_the_client_or_by_a_fallback_are_not_cached(png):
    methods = FakeMethods(search=RuntimeError("x"))
    p = plane(methods)
    run(p.vectorize(req(png)))  # fell back
    run(p.vectorize(req(png, "search", rid="r2")))
    assert [m for m, _ in methods.calls] == ["search", "mapping", "search", "mapping"]
    methods = FakeMethods()
    p = plane(methods)
    run(p.vectorize(req(png, "search", timeout=1.0)))  # the client's deadline cut its 5 s
    run(p.vectorize(req(png, "search", timeout=1.0, rid="r2")))
    assert len(methods.calls) == 2
    # mapping is bounded by work: a deadline shorter than its budget does not change its answer
    run(p.vectorize(req(png, "mapping", timeout=5.0)))
    assert run(p.vectorize(req(png, "mapping", timeout=5.0, rid="r3"))).cached


def test_the_clients_deadline_becomes_the_budget_less_a_margin():
    started = 100.0
    plan = budget.plan("search", Objective(), None, timeout_s=2.0, started=started, now=started + 0.5)
    assert plan.seconds == pytest.approx(2.0 - 0.5 - 0.2) and plan.cut_by_client  # 10% of 2 s
    plan = budget.plan("search", Objective(budget_s=1.0), None, timeout_s=60.0, started=started, now=started)
    assert plan.seconds == 1.0 and not plan.cut_by_client  # the options' own budget is shorter
    with pytest.raises(DeadlineTooShort):
        budget.plan("search", Objective(), None, timeout_s=0.1, started=started, now=started)


def test_work_bounded_methods_are_waited_for_by_their_work():
    assert budget.wait_s("search", 5.0, 2048 * 2048) == 5.0 + budget.WAIT_GRACE_S
    assert budget.wait_s("default", 0.05, 2048 * 2048) > 0.05 + budget.WAIT_GRACE_S + 6


def test_a_stream_sends_progress_then_the_result(png):
    async def collect():
        return [e async for e in plane(FakeMethods()).stream(req(png))]

    progress, result = run(collect())
    assert progress.stage == "search" and progress.fraction == 0.5
    assert result.method == "search" and result.requested == "search"


def test_a_named_method_gets_the_checked_bytes_not_the_pixels(png):
    from tracewise.decode import Encoded

    methods = FakeMethods()
    run(plane(methods).vectorize(req(png, "mapping")))
    (sent,) = methods.pictures
    assert isinstance(sent, Encoded) and sent.data == png and (sent.width, sent.height) == (96, 64)


def test_a_method_calls_time_is_split_into_the_replicas_queue_its_work_and_transit(png):
    class Slow(FakeMethods):
        async def run(self, method, picture, objective, deadline):
            await asyncio.sleep(0.2)  # the way there and back, as the ingress sees it
            return answer(method, timing=(0.03, 0.05))

    p = plane(Slow())
    served = run(p.vectorize(req(png, "mapping")))
    assert "timing" not in served.result  # the replica's timing is the metric's, not the answer's
    parts = [args for name, args in p.metrics.seen if name == "tracewise_method_seconds"]
    ((method, queued, ran, transit),) = parts
    assert (method, queued, ran) == ("mapping", 0.03, 0.05)
    assert 0.2 - 0.08 - 0.01 < transit < 0.2 - 0.08 + 0.1  # the round trip less what the replica did


def test_a_streamed_calls_time_is_split_the_same_way(png):
    class Streamed(FakeMethods):
        async def stream(self, method, picture, objective, deadline):
            yield {"progress": ("search", 0.9, 0.5)}
            await asyncio.sleep(0.1)
            yield {"result": answer(method, timing=(0.01, 0.02))}

    p = plane(Streamed())

    async def events():
        return [e async for e in p.stream(req(png, "search"))]

    *_, served = run(events())
    assert "timing" not in served.result
    ((method, queued, ran, transit),) = [a for n, a in p.metrics.seen if n == "tracewise_method_seconds"]
    assert (method, queued, ran) == ("search", 0.01, 0.02) and transit > 0.05
