"""A method replica's class without Ray: one engine call at a time, the rest wait in order."""

from __future__ import annotations

import asyncio
import threading
import time

from tracewise.objective import Objective
from tracewise_serve.worker import MethodWorker


def test_calls_on_one_replica_run_one_at_a_time_in_order(monkeypatch):
    worker = MethodWorker.func_or_class("default")
    running, order, lock = [], [], threading.Lock()
    overlap = []

    def guarded(picture, objective, cancel, progress=None):
        with lock:
            running.append(picture)
            overlap.append(len(running))
        time.sleep(0.05)
        with lock:
            running.remove(picture)
            order.append(picture)
        return {"budget": objective.budget_s}

    monkeypatch.setattr(worker, "_guarded", guarded)

    async def main():
        deadline = time.time() + 10
        calls = [asyncio.create_task(worker.run(i, Objective(), deadline)) for i in range(4)]
        return await asyncio.gather(*calls)

    answers = asyncio.run(main())
    assert max(overlap) == 1 and order == [0, 1, 2, 3]
    # each call's budget is what is left after waiting its turn
    budgets = [a["budget"] for a in answers]
    assert budgets == sorted(budgets, reverse=True) and budgets[0] - budgets[-1] > 0.1


def tenth_of_a_second(monkeypatch, method):
    """A replica of ``method`` whose engine call takes 0.1 s."""
    worker = MethodWorker.func_or_class(method)

    def guarded(picture, objective, cancel, progress=None):
        time.sleep(0.1)
        return {}

    monkeypatch.setattr(worker, "_guarded", guarded)
    return worker


def test_an_answer_says_how_long_it_waited_for_the_engine_and_how_long_it_ran(monkeypatch):
    worker = tenth_of_a_second(monkeypatch, "default")

    async def main():
        deadline = time.time() + 10
        return await asyncio.gather(*(worker.run(i, Objective(), deadline) for i in range(2)))

    first, second = asyncio.run(main())
    (q1, r1), (q2, r2) = first["timing"], second["timing"]
    assert q1 < 0.05 and 0.09 < r1 < 0.5  # the first ran at once
    assert 0.09 < q2 < 0.5 and 0.09 < r2 < 0.5  # the second waited for the first


def test_a_streamed_answer_says_the_same(monkeypatch):
    worker = tenth_of_a_second(monkeypatch, "search")

    async def main():
        return [e async for e in worker.run_stream(0, Objective(), time.time() + 10)]

    (last,) = asyncio.run(main())
    queued, ran = last["result"]["timing"]
    assert queued < 0.05 and 0.09 < ran < 0.5
