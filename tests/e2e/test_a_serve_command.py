"""``tracewise serve`` as a user runs it: it serves, and a signal stops it and its Ray, promptly.

Named to run first in the e2e tier, before the shared stack starts (two Rays at once on 2 cores
would be slow), and on its own free ports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tracewise_client import Client, TracewiseError
from tracewise_serve.local import load_config

from .conftest import free_port

pytestmark = pytest.mark.e2e


def test_serve_stops_on_sigterm_and_leaves_no_ray_behind(tmp_path):
    config = load_config()
    config["http_options"]["port"] = free_port()
    path = tmp_path / "serve_config.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEWISE_")}
    cmd = [sys.executable, "-m", "tracewise_cli", "serve", "--config", str(path), "--port", str(port),
           "--metrics-port", str(free_port()), "--num-cpus", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 180
        assert proc.stdout is not None
        for line in proc.stdout:  # what a user waits for before pressing Ctrl-C
            lines.append(line)
            if line.startswith("Ctrl-C to stop."):
                break
            assert time.monotonic() < deadline, "".join(lines)
        assert lines and lines[-1].startswith("Ctrl-C"), "".join(lines)
        with Client(f"127.0.0.1:{port}", timeout=10) as client:
            assert client.health(timeout=5) == "SERVING"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)  # used to wait for ever: the signal was never seen
        assert proc.returncode == 0 and "stopping..." in out, "".join(lines)[-1000:] + out[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with pytest.raises(TracewiseError):  # nothing answers there any more
        with Client(f"127.0.0.1:{port}", timeout=3) as client:
            client.health(timeout=2)
