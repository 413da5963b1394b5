"""Admission and shedding per method (tracewise_serve.admission): plain Python on a fake clock."""

from __future__ import annotations

import numpy as np
import pytest

from tracewise.decode import Picture
from tracewise_serve.admission import (
    FAST_SHED_S,
    ROUTER_SLACK,
    SATURATION_MEMORY_S,
    Admission,
    admission_weight,
    replica_room,
)
from tracewise_serve.status import Overloaded


def pic(side: int) -> Picture:
    return Picture(np.zeros((side, side, 4), np.uint8), "png")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(limits=None, replicas=None):
    clock = Clock()
    seen: list[tuple[str, int]] = []
    methods = ["default", "mapping", "search", "regional"]
    running = (lambda m: None) if replicas is None else replicas.get
    adm = Admission(methods, limits, lambda m, v: seen.append((m, v)), clock, running)
    return adm, clock, seen


def test_admission_counts_work_for_the_methods_bounded_by_work():
    assert admission_weight("default", pic(256), 6) == 1 and admission_weight("mapping", pic(64), 6) == 1
    assert admission_weight("mapping", pic(512), 6) == 4
    # a big picture fills one replica's share (it is admitted alone there), never more
    assert admission_weight("default", pic(1024), 6) == 6
    assert admission_weight("default", pic(1024), None) == 16
    # search and regional hold a replica for their time budget, whatever the size
    assert admission_weight("search", pic(2048), 3) == 1 and admission_weight("regional", pic(2048), 2) == 1


def test_calls_beyond_the_limit_are_refused_at_once_and_remembered():
    adm, clock, seen = make({"mapping": 6})
    with adm.admit("mapping", pic(512)), adm.admit("mapping", pic(256)):  # 4 + 1 of 6
        assert adm.inflight["mapping"] == 5
        with pytest.raises(Overloaded, match="mapping is saturated"):
            with adm.admit("mapping", pic(512)):  # 5 + 4 > 6
                pass
        assert adm.load() == {"mapping": 1.0}  # the router now sees it busy
        with adm.admit("mapping", pic(256)):  # 5 + 1 fits
            pass
    assert adm.inflight["mapping"] == 0 and seen[-1] == ("mapping", 0)  # the gauge follows
    clock.now += SATURATION_MEMORY_S + 0.1
    assert adm.load() == {}


def test_one_call_alone_is_always_admitted_however_big():
    adm, _, _ = make({"default": 6})
    with adm.admit("default", pic(4096)) as weight:
        assert weight == 6


def test_the_limit_follows_the_methods_running_replicas():
    replicas = {"mapping": 2}
    adm, _, _ = make({"mapping": 3, "search": 2}, replicas)
    assert adm.limit("mapping") == 6 and adm.limit("search") == 2  # search: nothing known yet, one
    replicas["mapping"] = 0  # Serve is starting it again: still one share (its fallback answers)
    assert adm.limit("mapping") == 3
    replicas["mapping"] = 3
    assert adm.limit("mapping") == 9 and adm.limit("regional") is None


def test_big_pictures_take_one_share_each_so_every_replica_gets_one():
    adm, _, _ = make({"mapping": 3}, {"mapping": 2})
    with adm.admit("mapping", pic(1024)) as first, adm.admit("mapping", pic(2048)) as second:
        assert first == second == 3 and adm.inflight["mapping"] == 6
        with pytest.raises(Overloaded, match=r"mapping is saturated \(6 of 6 in flight\)"):
            with adm.admit("mapping", pic(1024)):
                pass
        with pytest.raises(Overloaded):  # full: even a small one waits for room
            with adm.admit("mapping", pic(256)):
                pass
    assert adm.chain_saturated("mapping") is False  # default has not pushed back
    assert adm.load() == {"mapping": 1.0}  # the refusals are remembered: the router sees it busy


def test_an_exploration_refused_is_not_backpressure():
    adm, _, _ = make({"search": 2})
    with adm.admit("search", pic(256)), adm.admit("search", pic(256)):
        assert not adm.room_to_explore("search")  # explorations use only the idle half
        with pytest.raises(Overloaded):
            with adm.admit("search", pic(256), exploring=True):
                pass
    assert adm.load() == {} and adm.room_to_explore("search")


def test_fast_shedding_needs_the_whole_fallback_chain_saturated():
    adm, clock, _ = make()
    adm.pushed_back("mapping")
    assert not adm.chain_saturated("mapping")  # default can still take it
    adm.pushed_back("default")
    assert adm.chain_saturated("mapping") and adm.chain_saturated("default")
    assert not adm.chain_saturated("search")  # search itself has room
    clock.now += 2 * FAST_SHED_S  # pushed back, but not recently
    assert not adm.chain_saturated("mapping")


def test_a_replicas_room_holds_every_ingresses_share_plus_the_routers_slack():
    assert replica_room(2, 3) == 2 * 3 + ROUTER_SLACK
    assert replica_room(4, 3) > replica_room(2, 3)  # more ingresses: more room (bench/scale.py)


def test_past_its_share_a_big_call_queues_when_its_answer_is_expected_in_time():
    ingresses = [2]
    replicas = {"mapping": 2}.get
    adm = Admission(["default", "mapping"], {"mapping": 3}, None, Clock(), replicas, lambda: ingresses[0])
    with adm.admit("mapping", pic(1024), seconds=10.0), adm.admit("mapping", pic(1024), seconds=10.0):
        # the share is full (2 calls of 3 on 2 replicas) and nothing is known of mapping's pace yet
        with pytest.raises(Overloaded):
            with adm.admit("mapping", pic(1024), seconds=10.0):
                pass
        adm.learn("mapping", pic(1024), 1.6)  # 0.1 s per 256 px logo's work
        assert adm.expected_s("mapping", pic(1024)) == pytest.approx(0.1 * (32 * 2 / 2 + 16))
        with adm.admit("mapping", pic(1024), seconds=10.0):  # 4.8 s of 10: queued, not refused
            assert adm.calls["mapping"] == 3 and adm.inflight["mapping"] == 9
            # a client whose deadline the queue would miss is refused at once (its fallback answers)
            with pytest.raises(Overloaded):
                with adm.admit("mapping", pic(1024), seconds=2.0):
                    pass
            with pytest.raises(Overloaded):  # explorations never go past the share
                with adm.admit("mapping", pic(1024), exploring=True, seconds=60.0):
                    pass
            ingresses[0] = 8  # as much again from each of 8 ingresses: no longer in time
            with pytest.raises(Overloaded):
                with adm.admit("mapping", pic(1024), seconds=10.0):
                    pass
    assert adm.calls["mapping"] == 0 and adm.work["mapping"] == 0 and adm.inflight["mapping"] == 0


def test_calls_past_the_share_stay_within_what_the_replicas_take():
    # never more calls from one ingress than its share in small calls: the replicas' room
    # (replica_room) holds them all, so Ray's router holds none back
    adm = Admission(["default", "mapping"], {"mapping": 3}, None, Clock(), {"mapping": 1}.get)
    adm.learn("mapping", pic(256), 0.001)  # however fast
    with adm.admit("mapping", pic(1024), seconds=10.0):
        with adm.admit("mapping", pic(1024), seconds=10.0), adm.admit("mapping", pic(1024), seconds=10.0):
            assert adm.calls["mapping"] == 3
            with pytest.raises(Overloaded):
                with adm.admit("mapping", pic(1024), seconds=10.0):
                    pass


def test_only_the_methods_bounded_by_work_queue_past_their_share():
    adm = Admission(["search"], {"search": 1}, None, Clock())
    adm.learn("search", pic(256), 0.001)  # search takes its time, whatever its work
    assert adm.pace == {}
    with adm.admit("search", pic(256), seconds=60.0), pytest.raises(Overloaded):
        with adm.admit("search", pic(256), seconds=60.0):
            pass


def test_the_pace_follows_the_answers():
    adm = Admission(["mapping"], {"mapping": 3}, None, Clock())
    adm.learn("mapping", pic(512), 0.4)  # 4 units of work: 0.1 s each
    adm.learn("mapping", pic(256), 0.2)
    assert adm.pace["mapping"] == pytest.approx(0.1 + 0.2 * (0.2 - 0.1))
