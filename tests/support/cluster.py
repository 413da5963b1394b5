"""A real multi-node Ray cluster on one box, for the cluster tests and benchmarks.

Each node is its own ``ray start --block`` (GCS and raylet on the head; a raylet and its agents on
each worker), started in its own session; losing a node is SIGKILL to all of its processes at once
(``ray start``, the raylet, its agents and every worker process the raylet forked: replicas and
the node's Serve proxy, which Ray puts in process groups of their own), as when a machine goes
away. Nodes get distinct ports (Ray's, the agents', the Serve proxy's gRPC and HTTP through
``RAY_SERVE_WORKER_PROXY_*_PORT``, the head's from the Serve config) and custom resources:
the head carries ``tracewise-ingress`` and each worker ``tracewise-methods``, so a deployment that
asks for them lands there (``placement``). Bounded: loopback only, a few CPUs declared per node.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INGRESS = "tracewise-ingress"
METHODS = "tracewise-methods"
RAY = str(Path(sys.executable).with_name("ray"))
# How fast the GCS declares a silent node dead: 1 s checks, 5 misses (Ray's defaults are 3 s and
# 5). Set on every node; the same knobs a cluster operator sets (RAY_health_check_*).
HEALTH_ENV = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "5"}


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Node:
    name: str
    head: bool
    grpc_port: int  # its Serve proxy's gRPC port
    http_port: int
    resources: dict[str, float]
    num_cpus: int
    proc: subprocess.Popen | None = None
    log: Path | None = None
    ports: list[int] = field(default_factory=list)

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class LocalCluster:
    """``with LocalCluster(tmp, workers=2) as cluster:`` a head and ``workers`` worker nodes."""

    def __init__(self, tmp: Path, workers: int = 2, cpus: int = 2, head_cpus: int = 1) -> None:
        self.tmp = Path(tmp)
        # Ray's token authentication, on for every node: this cluster's own token, given to its
        # nodes and drivers in the environment (never written to ~/.ray: a fresh machine has none)
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.gcs_port, head_grpc, head_http = free_ports(3)
        self.nodes = [Node("head", True, head_grpc, head_http, {INGRESS: 100.0}, head_cpus)]
        for i in range(workers):
            grpc_port, http_port = free_ports(2)
            self.nodes.append(Node(f"worker-{i + 1}", False, grpc_port, http_port, {METHODS: 100.0}, cpus))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def head(self) -> Node:
        return self.nodes[0]

    def worker(self, i: int) -> Node:
        return self.nodes[i]

    def _command(self, node: Node) -> list[str]:
        # every port a node binds, its own: several nodes share this host
        ports = free_ports(7)
        node.ports = ports
        cmd = [
            RAY, "start", "--block", "--disable-usage-stats", "--node-ip-address", "127.0.0.1",
            "--num-cpus", str(node.num_cpus), "--resources", json.dumps(node.resources),
            "--node-manager-port", str(ports[0]), "--object-manager-port", str(ports[1]),
            "--dashboard-agent-listen-port", str(ports[2]), "--dashboard-agent-grpc-port", str(ports[3]),
            "--runtime-env-agent-port", str(ports[4]), "--metrics-export-port", str(ports[5]),
            "--object-store-memory", str(200 << 20),
        ]  # fmt: skip
        base = 20000 + 1000 * self.nodes.index(node)  # each node's worker processes: their own range
        cmd += ["--min-worker-port", str(base), "--max-worker-port", str(base + 999)]
        if node.head:
            cmd += ["--head", "--port", str(self.gcs_port), "--include-dashboard", "false"]
            cmd += ["--ray-client-server-port", str(ports[6])]
        else:
            cmd += ["--address", self.address]
        return cmd

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process that joins the cluster (a driver such as ``tracewise serve
        --address``, or ``ray status``): this one's, with the cluster's token."""
        return {**os.environ, **self.auth}

    def _env(self, node: Node) -> dict[str, str]:
        env = {**self.env, **HEALTH_ENV}
        if not node.head:  # the head's proxy takes the Serve config's ports
            env["RAY_SERVE_WORKER_PROXY_GRPC_PORT"] = str(node.grpc_port)
            env["RAY_SERVE_WORKER_PROXY_HTTP_PORT"] = str(node.http_port)
        return env

    def start_node(self, node: Node, timeout: float = 90.0) -> None:
        node.log = self.tmp / f"{node.name}.log"
        with node.log.open("ab") as log:
            node.proc = subprocess.Popen(
                self._command(node), env=self._env(node), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg takes the whole node
            )  # fmt: skip
        self._wait_for(lambda: self.alive_nodes() >= self._expected(), timeout, f"{node.name} did not join")

    def _expected(self) -> int:
        """The nodes started and not lost on purpose (one that exited is caught by ``_wait_for``)."""
        return sum(1 for n in self.nodes if n.proc is not None)

    def alive_nodes(self) -> int:
        """How many nodes the GCS counts as alive (``ray status``: no dashboard needed)."""
        out = subprocess.run(
            [RAY, "status", "--address", self.address],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env,
        )
        if out.returncode != 0:
            return 0
        active = out.stdout.split("Active:", 1)[-1].split("Pending:", 1)[0]
        return len(re.findall(r"^\s*\d+ node_", active, re.MULTILINE))

    def _wait_for(self, ok: Any, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not ok():
            dead = [n.name for n in self.nodes if n.proc is not None and n.proc.poll() is not None]
            if dead or time.monotonic() > end:
                logs = "\n".join(
                    f"--- {n.name}\n" + n.log.read_text(errors="replace")[-1500:]
                    for n in self.nodes
                    if n.log and n.log.exists()
                )
                raise RuntimeError(f"{what} (exited: {dead})\n{logs}")
            time.sleep(0.5)

    def node_ids(self) -> dict[str, str]:
        """{node name: Ray node id} of the alive nodes (``ray.nodes()`` from a short driver)."""
        script = (
            f"import json, ray; ray.init(address={self.address!r}, log_to_driver=False, "
            "logging_level='ERROR'); "
            "print(json.dumps({n['NodeManagerPort']: n['NodeID'] for n in ray.nodes() if n['Alive']}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=self.env
        )
        if out.returncode != 0:
            raise RuntimeError(f"ray.nodes() failed: {out.stderr[-2000:]}")
        by_port = {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}
        return {n.name: by_port[n.ports[0]] for n in self.nodes if n.alive and n.ports[0] in by_port}

    def processes(self, node: Node) -> dict[int, str]:
        """{pid: command line} of every process of the node: ``ray start``, its raylet and agents,
        and the worker processes the raylet forked (each in its own process group: Ray's)."""
        assert node.proc is not None
        parent: dict[int, int] = {}
        title: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmd = (
                    Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            title[int(entry)] = cmd.strip()
        found, frontier = {node.proc.pid}, [node.proc.pid]
        while frontier:
            pid = frontier.pop()
            children = [c for c, p in parent.items() if p == pid and c not in found]
            found.update(children)
            frontier.extend(children)
        return {pid: title.get(pid, "") for pid in found}

    def replicas_on(self, node: Node) -> Counter[str]:
        """Serve replicas running on the node, by deployment (from the process titles)."""
        titles = self.processes(node).values()
        return Counter(t.split(":")[-1].split()[0] for t in titles if t.startswith("ray::ServeReplica:"))

    def kill(self, node: Node) -> None:
        """Lose the node at once, as when its machine goes away: SIGKILL to every process of it
        (the raylet, its agents, and its worker processes: replicas and the node's proxy)."""
        assert node.proc is not None
        pids = self.processes(node)
        os.killpg(node.proc.pid, signal.SIGKILL)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.proc.wait(30)
        node.proc = None  # lost on purpose: not a node that died on its own (start_node brings it back)

    def __enter__(self) -> LocalCluster:
        for node in self.nodes:
            self.start_node(node)
        return self

    def __exit__(self, *exc: object) -> None:
        for node in reversed(self.nodes):
            if node.alive:
                assert node.proc is not None
                os.killpg(node.proc.pid, signal.SIGTERM)
        for node in reversed(self.nodes):
            if node.proc is not None:
                try:
                    node.proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                    node.proc.wait(10)
        # `ray start --head` left its address for a bare ray.init() to join: not ours to leave
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if current.exists() and current.read_text().strip().endswith(f":{self.gcs_port}"):
            current.unlink()


def placement(config: dict[str, Any]) -> dict[str, Any]:
    """The Serve config with the ingress on ``tracewise-ingress`` nodes and every method on
    ``tracewise-methods`` nodes (a tiny share of each: placement, not capacity)."""
    for d in config["applications"][0]["deployments"]:
        resource = INGRESS if d["name"] == "Ingress" else METHODS
        d.setdefault("ray_actor_options", {}).setdefault("resources", {})[resource] = 0.01
    return config


@contextmanager
def serving(
    cluster: LocalCluster, api_keys: str = "", timeout: float = 180.0, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """``tracewise serve --address`` onto the cluster, as a user runs it: the Serve config with
    ``placement``, the head's proxy on the head node's ports; stopped with SIGTERM at the end."""
    import yaml

    from tracewise_client import Client
    from tracewise_serve.local import load_config

    config = placement(load_config())
    path = cluster.tmp / "serve_config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    head = cluster.head
    cmd = [
        sys.executable, "-m", "tracewise_cli", "serve", "--address", cluster.address, "--config", str(path),
        "--port", str(head.grpc_port), "--http-port", str(head.http_port),
    ]  # fmt: skip
    log = (cluster.tmp / "serve.log").open("ab")
    environ = {**cluster.env, "TRACEWISE_API_KEYS": api_keys, **(env or {})}
    for name in ("TRACEWISE_RESULTS_DB", "TRACEWISE_RESULTS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        environ.pop(name, None)
    proc = subprocess.Popen(cmd, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end = time.monotonic() + timeout
        for node in cluster.nodes:  # every node's proxy, once the app is up
            while True:
                try:
                    with Client(node.grpc, api_key=api_keys.split(",")[0] or None, timeout=10) as c:
                        c.wait_ready(5)
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    if proc.poll() is not None or time.monotonic() > end:
                        text = (cluster.tmp / "serve.log").read_text(errors="replace")[-3000:]
                        raise RuntimeError(
                            f"tracewise serve --address: {node.name} never served\n{text}"
                        ) from None
                    time.sleep(1)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()
