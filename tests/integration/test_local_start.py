"""``tracewise serve``'s start of an embedded Ray: one more try when a process of Ray's node missed
its fixed start window (the raylet's 30 s registration, the GCS's port file: missed now and then on
a loaded 2-core machine), never for anything else; a failed start's processes are always stopped."""

import pytest
import ray
from ray._private.node import Node

from tracewise_serve import local


class HalfStartedNode(Node):
    """Stands for the node Ray leaves behind: it raises from inside itself, as Node.__init__ does."""

    def __init__(self, logs_dir=None, error="The current node timed out during startup."):  # a stand-in
        self.killed = 0
        self._logs_dir = logs_dir
        self.error = error

    def start(self):
        raise RuntimeError(self.error)

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


def test_a_gcs_that_missed_its_port_window_is_started_once_more_with_its_log(fake, tmp_path):
    (tmp_path / "gcs_server.out").write_text("starting\nloading tables\n")
    node = HalfStartedNode(tmp_path, "Timed out waiting for file /tmp/ray/session_x/gcs_server_port_ab")
    f = fake(_timed_out(node))
    with pytest.warns(RuntimeWarning, match="(?s)Ray did not start .*loading tables.*starting it again"):
        assert local._init_ray(address=local.EMBEDDED) == "started"
    assert f.calls == 2 and node.killed == 1


def test_another_failure_is_raised_at_once_and_its_processes_stopped(fake, tmp_path):
    (tmp_path / "raylet.err").write_text("bind: address in use\n")
    node = HalfStartedNode(tmp_path, "raylet exited")
    f = fake(_timed_out(node))
    with pytest.raises(RuntimeError, match="raylet exited") as info:
        local._init_ray(address=None)
    assert f.calls == 1 and f.shutdowns == 1 and node.killed == 1
    assert "bind: address in use" in "\n".join(info.value.__notes__)  # what its log said, with it


@pytest.mark.parametrize(
    ("address", "error"),
    [(None, ValueError("bad num_cpus")), ("ray://cluster:10001", RuntimeError("timed out during startup"))],
)
def test_other_failures_and_joining_a_cluster_are_not_retried(fake, address, error):
    f = fake(error)
    with pytest.raises(type(error)):
        local._init_ray(address=address)
    assert f.calls == 1 and f.shutdowns == (1 if address is None else 0)  # a cluster is not ours to stop


def test_a_cluster_deploy_forwards_the_commands_settings():
    from tracewise_serve.local import forwarded_env

    env = {"TRACEWISE_API_KEYS": "k", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "HOME": "/root",
           "RAY_SERVE_TRACING_SAMPLING_RATIO": "0.5", "PATH": "/bin"}  # fmt: skip
    assert forwarded_env(env) == {
        "TRACEWISE_API_KEYS": "k", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317",
        "RAY_SERVE_TRACING_SAMPLING_RATIO": "0.5",
    }  # fmt: skip
