"""Health that tells the truth, on the real service: kill the floor method's replica and watch
grpc.health.v1 say so within 5 s (Check and an open Watch stream), the rest stay SERVING, and
SERVING again once Serve has replaced it."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tracewise_client import Client

from .conftest import KEY
from .test_alerts_live import _kill_replicas, _until

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DEFAULT = "tracewise.v1.VectorizeService/default"


def test_a_dead_method_is_not_serving_within_5_s_and_serving_again_after(stack):
    with grpc.insecure_channel(stack.grpc) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def check(service: str) -> int:
            return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status

        assert check(DEFAULT) == SERVING
        watched: list[tuple[float, int]] = []
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=DEFAULT), timeout=120)

        def watch() -> None:
            try:
                for message in stream:
                    watched.append((time.monotonic(), message.status))
            except grpc.RpcError:
                pass  # cancelled at the end of the test

        reader = threading.Thread(target=watch, daemon=True)
        reader.start()
        _until(lambda: watched, 10, "Watch sent nothing")
        assert watched[0][1] == SERVING
        killed_at = time.monotonic()
        assert _kill_replicas("method-default") >= 1
        _until(lambda: check(DEFAULT) == NOT_SERVING, 5, "Check did not say NOT_SERVING within 5 s", 0.2)
        # its requests have no cheaper method; the others still answer
        assert check("") == SERVING and check("tracewise.v1.VectorizeService/mapping") == SERVING
        with Client(stack.grpc, api_key=KEY, timeout=30) as client:
            info = {m.method: m.ready for m in client.service_info().methods}
        assert info == {1: False, 2: True, 3: True, 4: True}
        _until(lambda: any(s == NOT_SERVING for _, s in watched), 5, "Watch did not push NOT_SERVING")
        pushed_at = next(t for t, s in watched if s == NOT_SERVING)
        assert pushed_at - killed_at < 5
        _until(lambda: check(DEFAULT) == SERVING, 90, "default never came back")
        _until(lambda: watched[-1][1] == SERVING, 5, "Watch did not push SERVING again")
        stream.cancel()
        reader.join(5)
