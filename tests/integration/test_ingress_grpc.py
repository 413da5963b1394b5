"""The real ingress servicer on a plain grpc.aio server on loopback, no Ray: the SDK and raw
gRPC clients against it, with fake method handles behind the data plane. Between the unit tests
(the data plane alone) and the e2e tests (Ray Serve with its proxy)."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tracewise.decode import encode
from tracewise_client import Client, TracewiseError
from tracewise_client.v1 import vectorize_pb2_grpc as pb_grpc
from tracewise_serve import app
from tracewise_serve.health import Health

from ..unit.test_dataplane import answer


class Response:
    """What a Ray handle's ``.remote()`` gives: awaitable, cancellable."""

    def __init__(self, coro) -> None:
        self.task = asyncio.ensure_future(coro)

    def __await__(self):
        return self.task.__await__()

    def cancel(self) -> None:
        self.task.cancel()


class Handle:
    def __init__(self, method: str, fail: Exception | None = None) -> None:
        self.method, self.fail = method, fail
        self.run = self  # handle.run.remote(...)

    def remote(self, picture, objective, deadline):
        async def go():
            if self.fail is not None:
                raise self.fail
            return answer(self.method, params=None)

        return Response(go())


class Metrics:
    def __getattr__(self, name):
        return lambda *a, **k: None


@pytest.fixture
def served(monkeypatch):
    """(address, handles): the ingress servicer on a free loopback port, in its own loop thread."""
    monkeypatch.setenv("TRACEWISE_API_KEYS", "k1")
    monkeypatch.delenv("TRACEWISE_RESULTS_DB", raising=False)
    monkeypatch.delenv("TRACEWISE_RESULTS_URL", raising=False)
    monkeypatch.setattr(app, "Metrics", Metrics)
    running = {f"method-{m}": 1 for m in ("default", "mapping", "search", "regional")}
    monkeypatch.setattr(app, "Health", lambda: Health(lambda: dict(running)))
    handles = {m: Handle(m) for m in ("default", "mapping", "search", "regional")}
    ingress = app.Ingress.func_or_class(handles, 50_000_000, {"mapping": 6})
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict = {}

    async def main():
        server = grpc.aio.server()
        pb_grpc.add_VectorizeServiceServicer_to_server(ingress, server)
        health_pb2_grpc.add_HealthServicer_to_server(ingress, server)
        box["port"] = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        box["quit"] = asyncio.Event()
        started.set()
        await box["quit"].wait()
        await server.stop(None)  # in this loop, awaited to the end, before the loop stops
        await ingress.health.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    started.wait(10)
    yield f"127.0.0.1:{box['port']}", handles, running
    loop.call_soon_threadsafe(box["quit"].set)
    thread.join(30)
    assert not thread.is_alive(), "the test server did not stop"
    loop.close()


@pytest.fixture
def png(two_squares):
    return encode(two_squares)


def test_vectorize_through_the_servicer_with_the_sdk(served, png):
    target, handles, _ = served
    handles["search"].fail = RuntimeError("replica died")
    with Client(target, api_key="k1", timeout=10) as c:
        r = c.vectorize(png, method="search")
        assert r.method_used == "mapping" and r.fallbacks == [
            {"from": "search", "reason": "failed: RuntimeError"}
        ]
        assert len(r.request_id) == 16
        again = c.vectorize(png, method="mapping")
        assert not again.cached and c.vectorize(png, method="mapping").cached


def test_errors_have_their_status_and_rich_details(served, png):
    target, _, _ = served
    with Client(target, api_key="k1", timeout=10) as c, pytest.raises(TracewiseError) as info:
        c.vectorize(b"not an image")
    assert info.value.code == "INVALID_ARGUMENT" and info.value.reason == "INVALID_IMAGE"
    assert info.value.violations[0][0] == "image" and info.value.request_id
    with Client(target, api_key="wrong", timeout=10) as c, pytest.raises(TracewiseError) as info:
        c.vectorize(png)
    assert info.value.code == "UNAUTHENTICATED" and info.value.reason == "UNAUTHENTICATED"
    with Client(target, api_key="k1", timeout=10) as c, pytest.raises(TracewiseError) as info:
        c.vectorize(png, budget_seconds=-1)
    assert info.value.reason == "INVALID_PARAMETER" and info.value.violations[0][0] == "budget_s"


def test_health_per_method_through_the_servicer(served):
    target, _, running = served
    with grpc.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        name = "tracewise.v1.VectorizeService/default"
        assert stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status == 1  # SERVING
        running["method-default"] = 0
        import time

        time.sleep(1.1)  # the view refreshes every second
        status = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        listed = stub.List(health_pb2.HealthListRequest(), timeout=5).statuses
        assert listed[name].status == status and listed[""].status == health_pb2.HealthCheckResponse.SERVING
        assert set(listed) == {"", "tracewise.v1.VectorizeService"} | {
            f"tracewise.v1.VectorizeService/{m}" for m in ("default", "mapping", "search", "regional")
        }
