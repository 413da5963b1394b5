"""One real Ray Serve for every e2e test: gRPC proxy, Prometheus endpoint and an OTLP receiver."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

import pytest

from tests.support.otlp import OTLPReceiver
from tracewise_client import Client
from tracewise_serve.local import load_config

KEY = "test-key-two"
STORE_TOKEN = "store-token"
_DEPLOYMENTS = load_config()["applications"][0]["deployments"]
INGRESS_REPLICAS = next(d["num_replicas"] for d in _DEPLOYMENTS if d["name"] == "Ingress")


def pytest_collection_modifyitems(items):
    """The cluster tests run first, on their own cluster, before the shared service starts; tests
    that kill parts of the shared service run last (they wait for its recovery too)."""

    def order(item) -> int:
        if item.get_closest_marker("cluster") is not None:
            return 0
        return 2 if item.get_closest_marker("disruptive") is not None else 1

    items.sort(key=order)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Stack:
    grpc: str
    metrics_url: str
    traces: OTLPReceiver
    http: str


@pytest.fixture(scope="session")
def store_path(tmp_path_factory):
    return tmp_path_factory.mktemp("store") / "results.db"


@pytest.fixture(scope="session")
def store_url(store_path):
    """The results store as in a cluster: `tracewise store serve` in its own process."""
    port = free_port()
    env = {**os.environ, "TRACEWISE_STORE_TOKEN": STORE_TOKEN}
    cmd = [
        sys.executable,
        "-m",
        "tracewise_cli",
        "store",
        "serve",
        "--db",
        str(store_path),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                with proc.stderr:
                    why = proc.stderr.read().decode()
                proc.wait(10)
                raise RuntimeError("the store server did not start: " + why) from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)
    proc.stderr.close()


@pytest.fixture(scope="session")
def stack(store_url):
    from tracewise_serve import local

    saved = dict(os.environ)
    metrics_port = free_port()
    with OTLPReceiver() as receiver:
        # Replicas and the proxy inherit the environment of the embedded Ray.
        os.environ.update(
            {
                "TRACEWISE_API_KEYS": f"test-key-one,{KEY}",
                "TRACEWISE_RESULTS_URL": store_url,
                "TRACEWISE_STORE_TOKEN": STORE_TOKEN,
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
                "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within 0.2 s instead of 5 s
                "RAY_metrics_report_interval_ms": "1000",
                "TRACEWISE_EXPLORE": "1.0",  # every routed request also runs another method
            }
        )
        try:
            # an embedded Ray whose node times out during startup is started once more, with a warning
            config = local.load_config()
            addresses = local.start(
                config,
                grpc_port=free_port(),
                num_cpus=2,
                dashboard=False,
                metrics_port=metrics_port,
                http_port=free_port(),
            )
            with Client(addresses["grpc"], api_key=KEY, timeout=60) as c:
                c.wait_ready(60)
            yield Stack(addresses["grpc"], addresses["metrics"], receiver, addresses["http"])
        finally:
            local.stop()
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(scope="session")
def service(stack) -> str:
    return stack.grpc


@pytest.fixture
def client(service):
    with Client(service, api_key=KEY, timeout=60) as c:
        yield c
