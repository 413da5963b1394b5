"""``tracewise serve --colocated 1``: default and mapping in each ingress replica's own engine
process (lane.py), through the real Ray Serve proxies. The same answers over gRPC, a stream and
HTTP; the lane's processes killed, a call right after is still answered by mapping and they are
replaced; a signal stops the service and its engine processes.

Named to run before the shared stack starts (two Rays at once on 2 cores would be slow).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tracewise_client import Client, TracewiseError
from tracewise_serve.local import load_config

from .conftest import free_port

pytestmark = pytest.mark.e2e

DEFAULT = "tracewise.v1.VectorizeService/default"


def lane_processes() -> list[int]:
    """The engine processes of the ingress replicas on this machine (their children)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            parent_title = Path(f"/proc/{parent}/cmdline").read_bytes()
            if b"multiprocessing.spawn" in title and b"Ingress" in parent_title:
                out.append(int(pid))
        except OSError:
            continue
    return out


def _until(ok, seconds: float, what: str, every: float = 0.2) -> None:
    end = time.monotonic() + seconds
    while not ok():
        assert time.monotonic() < end, what
        time.sleep(every)


def test_colocated_methods_answer_survive_a_killed_process_and_stop_with_the_service(tmp_path, dev_logos):
    config = load_config()
    http_port = free_port()
    config["http_options"]["port"] = http_port
    path = tmp_path / "serve_config.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEWISE_")}
    cmd = [sys.executable, "-m", "tracewise_cli", "serve", "--config", str(path), "--port", str(port),
           "--metrics-port", str(free_port()), "--num-cpus", "2", "--colocated", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    png = dev_logos[57].png.read_bytes()
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C to stop."):
                break
        assert lines and lines[-1].startswith("Ctrl-C"), "".join(lines)
        with Client(f"127.0.0.1:{port}", timeout=60) as client:
            client.wait_ready(60)
            assert {m.method: m.ready for m in client.service_info().methods} == {
                1: True,
                2: True,
                3: True,
                4: True,
            }
            answer = client.vectorize(png, method="mapping")
            assert answer.method_used == "mapping" and answer.svg.startswith("<svg") and not answer.fallbacks
            streamed = client.vectorize_stream(png, method="mapping")
            assert streamed.svg == answer.svg  # the same engine call, deterministic
            request = urllib.request.Request(
                f"http://127.0.0.1:{http_port}/v1/vectorize?method=default", data=png, method="POST"
            )
            with urllib.request.urlopen(request, timeout=60) as r:
                assert r.status == 200 and b"<svg" in r.read()  # default: VTracer's own SVG, prolog and all
            # a truncated PNG passes the ingress's header check and fails in the lane's decode: a
            # clear INVALID_ARGUMENT / 400, not a lost process
            truncated = png[: len(png) // 2]
            with pytest.raises(TracewiseError) as bad:
                client.vectorize(truncated, method="mapping")
            assert bad.value.code == "INVALID_ARGUMENT"
            request = urllib.request.Request(
                f"http://127.0.0.1:{http_port}/v1/vectorize?method=default", data=truncated, method="POST"
            )
            with pytest.raises(urllib.error.HTTPError) as http_bad:
                urllib.request.urlopen(request, timeout=60)
            http_bad.value.close()  # the error holds the response open
            assert http_bad.value.code == 400

            killed = lane_processes()
            assert len(killed) == 2  # one per ingress replica
            assert client.health(DEFAULT) == "SERVING"
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            # a call right after: tried again on the replacement process (a start takes about half
            # a second, less than health's one-second view: tests/integration/test_lane.py and
            # tests/unit/test_health.py show the view going to 0 and NOT_SERVING)
            at_once = client.vectorize(png, method="mapping")
            assert at_once.method_used == "mapping" and at_once.svg == answer.svg
            _until(lambda: len(lane_processes()) == 2, 120, "not two lane processes again")
            assert not set(lane_processes()) & set(killed)
            _until(lambda: client.health(DEFAULT) == "SERVING", 30, "default not SERVING again")
        running = lane_processes()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out[-2000:]
        # the engine processes end with their ingress (their pipe closes)
        _until(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in running),
            30,
            "lane processes left behind",
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
