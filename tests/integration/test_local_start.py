"""``tracewise serve``'s start of an embedded Ray: one more try when Ray's node timed out during
startup (Ray's fixed 30 s window, missed now and then on a loaded 2-core machine), never for anything else."""

import pytest
import ray
from ray._private.node import Node

from tracewise_serve import local


class HalfStartedNode(Node):
    """Stands for the node Ray leaves behind: it raises from inside itself, as Node.__init__ does."""

    def __init__(self):  # no processes: a stand-in
        self.killed = 0

    def start(self):
        raise RuntimeError("The current node timed out during startup.")

    def kill_all_processes(self, check_alive=True, allow_graceful=False, wait=False):
        self.killed += 1


class FakeInit:
    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0
        self.shutdowns = 0

    def init(self, **kwargs):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "started"

    def shutdown(self):
        self.shutdowns += 1


@pytest.fixture
def fake(monkeypatch):
    def install(*errors):
        f = FakeInit(*errors)
        monkeypatch.setattr(ray, "init", f.init)
        monkeypatch.setattr(ray, "shutdown", f.shutdown)
        return f

    return install


def _timed_out(node: HalfStartedNode) -> Exception:
    try:
        node.start()
    except RuntimeError as exc:
        return exc
    raise AssertionError("unreachable")


def test_an_embedded_ray_that_timed_out_is_started_once_more_and_says_so(fake):
    node = HalfStartedNode()
    f = fake(_timed_out(node))
    with pytest.warns(RuntimeWarning, match="Ray did not start .*starting it again"):
        assert local._init_ray(address=None) == "started"
    assert f.calls == 2 and f.shutdowns == 1
    assert node.killed == 1  # the half-started node's processes are stopped before the retry


def test_twice_timed_out_is_raised(fake):
    f = fake(*[RuntimeError("The current node timed out during startup.")] * 2)
    with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="timed out"):
        local._init_ray(address=None)
    assert f.calls == 2 and f.shutdowns == 2


@pytest.mark.parametrize(
    ("address", "error"),
    [(None, ValueError("bad num_cpus")), ("ray://cluster:10001", RuntimeError("timed out during startup"))],
)
def test_other_failures_and_joining_a_cluster_are_not_retried(fake, address, error):
    f = fake(error)
    with pytest.raises(type(error)):
        local._init_ray(address=address)
    assert f.calls == 1 and f.shutdowns == 0


def test_a_cluster_deploy_forwards_the_commands_settings():
    from tracewise_serve.local import forwarded_env

    env = {"TRACEWISE_API_KEYS": "k", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "HOME": "/root",
           "RAY_SERVE_TRACING_SAMPLING_RATIO": "0.5", "PATH": "/bin"}  # fmt: skip
    assert forwarded_env(env) == {
        "TRACEWISE_API_KEYS": "k", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317",
        "RAY_SERVE_TRACING_SAMPLING_RATIO": "0.5",
    }  # fmt: skip
