"""The colocated lane (lane.py) with real engine processes, no Ray: calls share one queue, streams
carry progress, typed errors cross as data, a cancelled call frees its process, and a killed
process fails only its own call and is replaced."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tracewise.decode import probe
from tracewise.errors import InvalidImage
from tracewise.objective import Objective
from tracewise_serve.dataplane import ReplicaLost
from tracewise_serve.lane import Lane, ProcessLost, WithLane


def _deadline() -> float:
    return time.time() + 60


async def _until(ok, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not ok():
        if time.monotonic() > end:
            raise AssertionError(what)
        await asyncio.sleep(0.05)


def test_only_work_bounded_methods_and_at_least_one_process():
    with pytest.raises(ValueError, match="work-bounded"):
        Lane(["mapping", "search"], 1)
    with pytest.raises(ValueError, match="at least one process"):
        Lane(["mapping"], 0)


def test_calls_share_the_processes_in_one_queue(dev_logos):
    images = [probe(lg.png.read_bytes()) for lg in dev_logos[:6]]

    async def main():
        lane = Lane(["default", "mapping"], 2)
        await lane.start()
        try:
            assert lane.alive() == 2 and lane.snapshot() == {"method-default": 2, "method-mapping": 2}
            return await asyncio.gather(*(lane.run("mapping", im, Objective(), _deadline()) for im in images))
        finally:
            await lane.stop()

    answers = asyncio.run(main())
    assert all(a["method"] == "mapping" and "<svg" in a["svg"] for a in answers)
    queued = sorted(a["timing"][0] for a in answers)
    # six calls on two processes: two start at once, the rest wait their turn
    assert queued[1] < 0.05 and queued[-1] > 0.05
    assert all(a["timing"][1] > 0 for a in answers)


def test_a_stream_carries_the_engines_progress_then_its_result(dev_logos):
    # mapping reports progress when it measures more than its first rank: some gradient logos do
    images = [probe(lg.png.read_bytes()) for lg in dev_logos if lg.category == "gradient"][:12]

    async def main():
        lane = Lane(["mapping"], 1)
        try:
            streams = [
                [e async for e in lane.stream("mapping", im, Objective(), _deadline())] for im in images
            ]
            answer = await lane.run("mapping", images[0], Objective(), _deadline())
            return streams, answer
        finally:
            await lane.stop()

    streams, answer = asyncio.run(main())
    for events in streams:
        assert [next(iter(e)) for e in events][-1] == "result"
        assert all(len(e["progress"]) == 3 for e in events[:-1])
    assert any(len(events) > 1 for events in streams), "no gradient logo's stream carried progress"
    assert streams[0][-1]["result"]["svg"] == answer["svg"]  # deterministic: the same answer


def test_a_bad_image_comes_back_as_its_typed_error(wordmark_png):
    truncated = wordmark_png[: len(wordmark_png) // 2]  # its header passes the ingress's probe

    async def main():
        lane = Lane(["default"], 1)
        try:
            return await lane.run("default", probe(truncated), Objective(), _deadline())
        finally:
            await lane.stop()

    answer = asyncio.run(main())
    assert isinstance(answer["error"], InvalidImage)


def test_a_cancelled_call_frees_its_process_for_the_next(logo_by_category):
    image = probe(logo_by_category["complex"].png.read_bytes())

    async def main():
        lane = Lane(["mapping"], 1)
        await lane.start()
        try:
            first = asyncio.create_task(lane.run("mapping", image, Objective(), _deadline()))
            await asyncio.sleep(0.02)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            return await lane.run("mapping", image, Objective(), _deadline())
        finally:
            await lane.stop()

    answer = asyncio.run(main())
    assert answer["method"] == "mapping" and "<svg" in answer["svg"]


def test_a_killed_process_fails_its_call_as_replica_lost_and_is_replaced(logo_by_category):
    image = probe(logo_by_category["complex"].png.read_bytes())

    async def main():
        lane = Lane(["mapping"], 1)
        methods = WithLane(None, lane)
        await lane.start()
        try:
            (pid,) = lane.pids()
            call = asyncio.create_task(methods.run("mapping", image, Objective(), _deadline()))
            await asyncio.sleep(0.02)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(ReplicaLost) as lost:
                await call
            assert isinstance(lost.value.__cause__, ProcessLost)
            assert lane.alive() == 0 and lane.snapshot() == {"method-mapping": 0}
            await _until(lambda: lane.alive() == 1, 120, "no process replaced the killed one")
            assert lane.pids() != [pid]
            return await methods.run("mapping", image, Objective(), _deadline())
        finally:
            await lane.stop()

    answer = asyncio.run(main())
    assert answer["method"] == "mapping" and "<svg" in answer["svg"]


def test_a_process_that_dies_starting_is_started_again_after_a_doubling_pause(monkeypatch):
    """A start that keeps failing (say, a model that no longer loads) is not respawned in a loop;
    a process that had started is replaced at once."""
    import threading
    from types import SimpleNamespace

    async def main():
        lane = Lane(["mapping"], 1)
        pauses = []
        monkeypatch.setattr(asyncio.get_running_loop(), "call_later", lambda pause, *_: pauses.append(pause))
        proc = SimpleNamespace(index=0, pid=1, started=threading.Event(), process=SimpleNamespace(exitcode=1))
        lane._procs[0] = proc
        for _ in range(7):
            lane._lost(proc)
        proc.started.set()
        lane._lost(proc)
        return pauses

    assert asyncio.run(main()) == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 0.0]
