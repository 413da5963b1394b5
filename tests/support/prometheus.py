"""A real Prometheus server for tests: Debian's ``prometheus`` binary on loopback, in a temp dir.

It scrapes the given targets every second and evaluates the given rule file every second; the
test reads alerts and queries through Prometheus' HTTP API, as Alertmanager and Grafana would.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

BINARY = "prometheus"


def available() -> bool:
    return shutil.which(BINARY) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def short_windows(rules: dict[str, Any], for_: str = "1s") -> dict[str, Any]:
    """The same rules with every alert's ``for:`` shortened (expressions and thresholds unchanged)."""
    out = json.loads(json.dumps(rules))
    for group in out["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = for_
    return out


class Prometheus:
    def __init__(self, workdir: Path, targets: list[str], rules: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "tracewise", "static_configs": [{"targets": targets}]}],
        }
        if rules is not None:
            (workdir / "rules.yaml").write_text(yaml.safe_dump(rules))
            config["rule_files"] = [str(workdir / "rules.yaml")]
        (workdir / "prometheus.yaml").write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Prometheus:
        with (self.workdir / "prometheus.log").open("wb") as log:  # the child keeps its own copy
            self.proc = self._start(log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.workdir / "prometheus.log").read_text()
                raise RuntimeError("prometheus exited: " + log[-2000:])
            try:
                if urllib.request.urlopen(self.url + "/-/ready", timeout=2).status == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("prometheus did not become ready in 30 s")

    def _start(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                BINARY,
                f"--config.file={self.workdir / 'prometheus.yaml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def api(self, path: str, **params: str) -> Any:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        body = json.loads(urllib.request.urlopen(self.url + "/api/v1/" + path + query, timeout=5).read())
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus API {path}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts pending or firing now: each with ``labels``, ``state`` and ``activeAt``."""
        return self.api("alerts")["alerts"]

    def targets_up(self) -> bool:
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)
