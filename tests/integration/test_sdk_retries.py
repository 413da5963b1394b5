"""The SDK against a real gRPC server on loopback (no Ray): retries, deadlines and metadata."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest

from tracewise_client import Client, TracewiseError
from tracewise_client.v1 import vectorize_pb2 as pb
from tracewise_client.v1 import vectorize_pb2_grpc as pb_grpc


class Flaky(pb_grpc.VectorizeServiceServicer):
    """Fails the first ``failures`` calls with ``code``, then answers."""

    def __init__(self, code: grpc.StatusCode, failures: int) -> None:
        self.code = code
        self.failures = failures
        self.calls = 0
        self.metadata: list[dict[str, str]] = []
        self.times: list[float] = []
        self.details: bytes | None = None
        self.lock = threading.Lock()

    def Vectorize(self, request, context):  # noqa: N802
        import time

        with self.lock:
            self.calls += 1
            self.metadata.append(dict(context.invocation_metadata()))
            self.times.append(time.monotonic())
            fail = self.calls <= self.failures
        if fail:
            if self.details is not None:  # the service's rich error (tracewise_serve.status)
                context.set_trailing_metadata([("grpc-status-details-bin", self.details)])
            context.abort(self.code, f"attempt {self.calls} refused")
        return pb.VectorizeResponse(
            svg="<svg/>", report=pb.Report(method_used=pb.METHOD_MAPPING, request_id="r")
        )

    def VectorizeStream(self, request, context):  # noqa: N802
        """Fails before any message the first ``failures`` times; with ``fail_midway`` it fails
        after one progress message instead (which must not be retried)."""
        with self.lock:
            self.calls += 1
            fail = self.calls <= self.failures
        if fail and getattr(self, "carrier", False):  # as the service does through Ray's proxy
            yield pb.VectorizeStreamResponse()
            context.abort(self.code, f"attempt {self.calls} refused")
        if fail and not getattr(self, "fail_midway", False):
            context.abort(self.code, f"attempt {self.calls} refused")
        yield pb.VectorizeStreamResponse(progress=pb.Progress(stage="search", best_score=0.9, fraction=0.5))
        if fail:
            context.abort(self.code, "failed after a progress message")
        yield pb.VectorizeStreamResponse(
            result=pb.VectorizeResponse(svg="<svg/>", report=pb.Report(method_used=pb.METHOD_SEARCH))
        )


@pytest.fixture
def server():
    servers = []

    def start(servicer) -> str:
        s = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_VectorizeServiceServicer_to_server(servicer, s)
        port = s.add_insecure_port("127.0.0.1:0")
        s.start()
        servers.append(s)
        return f"127.0.0.1:{port}"

    start.servers = servers  # type: ignore[attr-defined]
    yield start
    for s in servers:
        s.stop(0)


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL]
)
def test_transient_failures_are_retried(server, code):
    flaky = Flaky(code, failures=2)
    with Client(server(flaky), api_key="k", timeout=20) as c:
        r = c.vectorize(b"png-bytes", method="mapping")
    assert r.method_used == "mapping" and flaky.calls == 3
    assert all(md["authorization"] == "Bearer k" and "x-tracewise-timeout" in md for md in flaky.metadata)


def test_invalid_argument_is_not_retried(server):
    flaky = Flaky(grpc.StatusCode.INVALID_ARGUMENT, failures=5)
    with Client(server(flaky), timeout=20) as c, pytest.raises(TracewiseError) as info:
        c.vectorize(b"x")
    assert info.value.code == "INVALID_ARGUMENT" and flaky.calls == 1


def test_retries_give_up_after_five_attempts(server):
    flaky = Flaky(grpc.StatusCode.UNAVAILABLE, failures=100)
    with Client(server(flaky), timeout=30) as c, pytest.raises(TracewiseError) as info:
        c.vectorize(b"x")
    assert info.value.code == "UNAVAILABLE" and flaky.calls == 5


def test_retries_stay_within_the_deadline(server):
    import time

    flaky = Flaky(grpc.StatusCode.RESOURCE_EXHAUSTED, failures=100)
    t = time.monotonic()
    with Client(server(flaky), timeout=1.0) as c, pytest.raises(TracewiseError) as info:
        c.vectorize(b"x")
    assert time.monotonic() - t < 1.5
    assert info.value.code in ("RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED") and 1 <= flaky.calls <= 5
    # every attempt was told how long it had left, never more than the whole call
    assert all(float(md["x-tracewise-timeout"]) <= 1.0 for md in flaky.metadata)


async def _async_vectorize(target):
    from tracewise_client import AsyncClient

    async with AsyncClient(target, timeout=20) as c:
        return await c.vectorize(b"png", method="mapping")


def test_async_client_retries_too(server):
    import asyncio

    flaky = Flaky(grpc.StatusCode.UNAVAILABLE, failures=2)
    r = asyncio.run(_async_vectorize(server(flaky)))
    assert r.method_used == "mapping" and flaky.calls == 3


def test_streams_are_retried_before_the_first_message(server):
    flaky = Flaky(grpc.StatusCode.UNAVAILABLE, failures=2)
    events = []
    with Client(server(flaky), timeout=20) as c:
        r = c.vectorize_stream(b"png", method="search", on_progress=events.append)
    assert r.method_used == "search" and flaky.calls == 3 and len(events) == 1


def test_the_empty_message_before_an_error_is_skipped_and_still_retried(server):
    flaky = Flaky(grpc.StatusCode.RESOURCE_EXHAUSTED, failures=2)
    flaky.carrier = True
    events = []
    with Client(server(flaky), timeout=20) as c:
        r = c.vectorize_stream(b"png", method="search", on_progress=events.append)
    assert r.method_used == "search" and flaky.calls == 3 and len(events) == 1
    flaky = Flaky(grpc.StatusCode.INVALID_ARGUMENT, failures=1)
    flaky.carrier = True
    with Client(server(flaky), timeout=20) as c, pytest.raises(TracewiseError) as info:
        c.vectorize_stream(b"png", method="search")
    assert info.value.code == "INVALID_ARGUMENT" and flaky.calls == 1


def test_streams_are_not_retried_after_a_message(server):
    flaky = Flaky(grpc.StatusCode.UNAVAILABLE, failures=1)
    flaky.fail_midway = True
    events = []
    with Client(server(flaky), timeout=20) as c, pytest.raises(TracewiseError) as info:
        c.vectorize_stream(b"png", method="search", on_progress=events.append)
    assert info.value.code == "UNAVAILABLE" and flaky.calls == 1 and len(events) == 1


async def _async_stream(target):
    from tracewise_client import AsyncClient, Result

    async with AsyncClient(target, timeout=20) as c:
        return [e async for e in c.vectorize_stream(b"png", method="search") if isinstance(e, Result)]


def test_async_streams_are_retried_too(server):
    import asyncio

    flaky = Flaky(grpc.StatusCode.RESOURCE_EXHAUSTED, failures=2)
    results = asyncio.run(_async_stream(server(flaky)))
    assert len(results) == 1 and results[0].method_used == "search" and flaky.calls == 3


def test_the_servers_retry_info_sets_the_pause_and_details_reach_the_caller(server):
    from tracewise_serve.status import Overloaded, to_status

    shed = Flaky(grpc.StatusCode.RESOURCE_EXHAUSTED, failures=2)
    shed.details = to_status(Overloaded("every method is saturated"), "rid9", retry_after_s=0.6).details
    with Client(server(shed), timeout=20) as c:
        assert c.vectorize(b"png").method_used == "mapping"
    gaps = [b - a for a, b in zip(shed.times, shed.times[1:])]
    # the SDK's own first backoffs are at most 0.2 and 0.6 s; the server asked for 0.6 s each time
    assert len(gaps) == 2 and all(0.6 <= g < 0.6 * 1.2 + 0.3 for g in gaps), gaps

    from tracewise.errors import InvalidParameter

    bad = Flaky(grpc.StatusCode.INVALID_ARGUMENT, failures=1)
    bad.details = to_status(InvalidParameter("options.max_colors", 0, "1..256"), "rid3").details
    with Client(server(bad), timeout=20) as c, pytest.raises(TracewiseError) as info:
        c.vectorize(b"png")
    err = info.value
    assert err.reason == "INVALID_PARAMETER" and err.retry_after is None
    assert err.violations == (("options.max_colors", "options.max_colors=0 is invalid: expected 1..256"),)


def test_several_addresses_spread_calls_and_survive_one_going_away(server):
    a, b = Flaky(grpc.StatusCode.UNAVAILABLE, 0), Flaky(grpc.StatusCode.UNAVAILABLE, 0)
    first, second = server(a), server(b)
    with Client([first, second], timeout=10) as c:
        for _ in range(20):
            assert c.vectorize(b"png").svg == "<svg/>"
        assert a.calls > 0 and b.calls > 0, "round robin over both proxies"
    one_string = f"{first}, {second}"  # the CLI's form: commas
    with Client(one_string, timeout=10) as c:
        assert c.vectorize(b"png").svg == "<svg/>"
        server.servers[0].stop(None)  # a node (its proxy) goes away
        before = b.calls
        for _ in range(10):
            assert c.vectorize(b"png").svg == "<svg/>"  # retried onto the other, never an error
        assert b.calls - before >= 10


def test_addresses_are_checked():
    from tracewise_client.client import channel_target

    assert channel_target("127.0.0.1:9000") == ("127.0.0.1:9000", [])
    target, options = channel_target(["127.0.0.1:9000", "localhost:9001"])
    assert (
        target == "ipv4:127.0.0.1:9000,127.0.0.1:9001" and ("grpc.lb_policy_name", "round_robin") in options
    )
    assert channel_target("[::1]:1,[::1]:2")[0] == "ipv6:[::1]:1,[::1]:2"
    for bad in ("", "127.0.0.1:1,nohost", "127.0.0.1:1,[::1]:2"):
        with pytest.raises(ValueError):
            channel_target(bad)
