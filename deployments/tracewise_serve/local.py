"""``tracewise serve``: start Ray (or join one), deploy the app from serve_config.yaml, wait.

Embedded by default: a local Ray is started by this command and stopped on Ctrl-C.
``--address`` deploys to an existing Ray cluster instead (and leaves it running).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "serve_config.yaml"
PROXY_MAX_MESSAGE_BYTES = 24 * 1024 * 1024  # the ingress's 20 MiB image limit plus the options
# Serve's controller runs its control loop every 0.1 s by default: about 4% of a 2-core machine
# under load (bench/serving.py's CPU breakdown), half of it at 0.5 s. Replica health (checked every
# 2 s), starts and autoscaling (2 s upscale delay) react within a loop; 0.5 s more is within those.
CONTROL_LOOP_INTERVAL_S = "0.5"


def load_config(path: Path = DEFAULT_CONFIG) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return config


def colocated_config(config: dict[str, Any], processes: int) -> dict[str, Any]:
    """``config`` with the work-bounded methods in ``processes`` engine processes of each ingress
    replica (lane.py) instead of their own deployments: for one machine, where a second Ray hop
    buys no placement and costs a 256 px call 6-20 ms (BENCHMARKS.md "Serving")."""
    import copy

    from tracewise.methods import WORK_BOUNDED

    if processes < 1:
        raise ValueError(f"the colocated lane needs at least one process per ingress, got {processes}")
    out = copy.deepcopy(config)
    app = out["applications"][0]
    app.setdefault("args", {})["colocated"] = {"methods": list(WORK_BOUNDED), "processes": processes}
    lane = {f"method-{m}" for m in WORK_BOUNDED}
    app["deployments"] = [d for d in app.get("deployments", []) if d["name"] not in lane]
    return out


def overrides(app_cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: {k: v for k, v in d.items() if k != "name"} for d in app_cfg.get("deployments", [])}


FORWARDED = ("TRACEWISE_", "OTEL_", "RAY_SERVE_TRACING_")


def forwarded_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The settings of this command's environment a cluster's replicas need."""
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in environ.items() if k.startswith(FORWARDED)}


def start(
    config: dict[str, Any],
    address: str | None = None,
    grpc_port: int | None = None,
    num_cpus: int | None = None,
    dashboard: bool = True,
    metrics_port: int | None = None,
    http_port: int | None = None,
) -> dict[str, str]:
    """Start (or connect to) Ray and deploy; returns the addresses. Used by tests too."""
    from ray import serve
    from ray.serve.config import gRPCOptions

    from .app import build_app
    from .tracing import tracing_env

    app_cfg = config["applications"][0]
    env = dict(app_cfg.get("runtime_env", {}).get("env_vars", {}))
    os.environ.update(env)  # the embedded Ray's workers inherit them
    # Tracing must be in the environment before ray.init(): the gRPC proxy reads it at start.
    os.environ.update(tracing_env())
    if address:
        # A cluster's processes have their nodes' environment, not this command's: what this
        # command was given (keys, the results store, the cache, tracing) travels in the job's
        # runtime_env to every replica. (Serve's proxies start outside the job: tracing for them
        # is set on the nodes, as the k8s manifests do.)
        env.update(forwarded_env())
    # The proxy's own message limit (Ray's default is 2 GiB): oversized requests get
    # RESOURCE_EXHAUSTED at the door instead of travelling to the ingress first.
    os.environ.setdefault("RAY_SERVE_GRPC_MAX_MESSAGE_SIZE", str(PROXY_MAX_MESSAGE_BYTES))
    os.environ.setdefault("RAY_SERVE_CONTROL_LOOP_INTERVAL_S", CONTROL_LOOP_INTERVAL_S)
    info = _init_ray(
        # "local": always a new Ray of our own, never one that a `ray start` on this machine left
        # behind (a bare ray.init() joins that one: /tmp/ray/ray_current_cluster)
        address=address or EMBEDDED,
        num_cpus=None if address else num_cpus,
        include_dashboard=dashboard if not address else None,
        dashboard_host="127.0.0.1",
        runtime_env={"env_vars": env} if address else None,
        logging_level="WARNING",
        log_to_driver=False,
        # Prometheus scrapes Ray's metrics agent here (service metrics are prefixed ray_tracewise_)
        _metrics_export_port=None if address else metrics_port,
    )
    grpc = dict(config.get("grpc_options", {}))
    if grpc_port is not None:
        grpc["port"] = grpc_port
    http = dict(config.get("http_options") or {})
    if http_port is not None:
        http["port"] = http_port
    serve.start(
        grpc_options=gRPCOptions(**grpc),
        http_options=http,
        proxy_location=config.get("proxy_location", "EveryNode"),
    )
    app = build_app(app_cfg.get("args"), overrides(app_cfg))
    serve.run(app, name=app_cfg["name"], route_prefix=app_cfg.get("route_prefix", "/"))
    dash = getattr(info, "dashboard_url", "")
    return {
        "grpc": f"127.0.0.1:{grpc['port']}",
        "http": f"http://{http.get('host', '127.0.0.1')}:{http.get('port', 8000)}",
        "dashboard": f"http://{dash}" if dash else "(none)",
        "metrics": f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port and not address else "(Ray's)",
    }


# What Ray says when a process of its own node misses its fixed start window (the raylet's 30 s
# registration; the GCS's port file, RAY_gcs_server_port_wait_time_s): seen now and then on a
# loaded 2-core machine at the start of the e2e suite. An embedded Ray is started once more.
RAY_START_TIMEOUTS = ("timed out during startup", "Timed out waiting for file")
EMBEDDED = "local"  # ray.init's address for a new local Ray
START_LOGS = ("gcs_server.err", "gcs_server.out", "raylet.err", "raylet.out")


def _init_ray(**kwargs: Any) -> Any:
    """``ray.init``; for an embedded Ray (no address), once more if its node timed out during
    startup, said as a warning. Any other failure, and any failure to join a cluster, is raised.
    A failed embedded start's processes (GCS, raylet, ...) are stopped, and what its logs said
    last goes with the warning or the error."""
    import ray

    for attempt in (1, 2):
        try:
            return ray.init(**kwargs)
        except Exception as exc:
            if kwargs.get("address") not in (None, EMBEDDED):
                raise
            # The half-started node's processes outlive the failed init: stop them.
            node = _abandoned_node(exc)
            logs = _start_logs(node)
            if node is not None:
                node.kill_all_processes(check_alive=False, allow_graceful=False, wait=True)
            ray.shutdown()
            if logs:
                exc.add_note(logs)
            if attempt == 2 or not any(t in str(exc) for t in RAY_START_TIMEOUTS):
                raise
            detail = f"{exc}\n{logs}" if logs else str(exc)
            warnings.warn(f"Ray did not start ({detail}); starting it again", RuntimeWarning, stacklevel=3)
    raise AssertionError("unreachable")


def _start_logs(node: Any, lines: int = 15) -> str:
    """The last lines of the node's GCS and raylet logs, where they exist."""
    logs_dir = getattr(node, "_logs_dir", None)
    if not logs_dir:
        return ""
    parts = []
    for name in START_LOGS:
        path = Path(logs_dir) / name
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            continue
        if tail:
            parts.append(f"--- {path}\n" + "\n".join(tail))
    return "\n".join(parts)


def _abandoned_node(exc: BaseException) -> Any:
    """The local Ray node whose start raised ``exc``: Ray raises from inside ``Node.__init__``, so
    the object is only reachable from the traceback (Ray's private API, pinned in the lock file)."""
    try:
        from ray._private.node import Node
    except ImportError:  # a Ray without it: nothing to stop, the retry still runs
        return None
    tb = exc.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if isinstance(candidate, Node):
            return candidate
        tb = tb.tb_next
    return None


def stop(embedded: bool = True) -> None:
    import ray
    from ray import serve

    try:
        serve.shutdown()  # type: ignore[no-untyped-call]  # Ray's API
    finally:
        if embedded:
            ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tracewise serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--address", default=None, help="an existing Ray cluster (default: start a local one)")
    ap.add_argument("--port", type=int, default=None, help="gRPC port (default: from the config, 9000)")
    ap.add_argument(
        "--http-port",
        type=int,
        default=None,
        help="HTTP port: the web page and the HTTP API (default: from the config, 8000)",
    )
    ap.add_argument("--num-cpus", type=int, default=None)
    ap.add_argument("--metrics-port", type=int, default=8080, help="Prometheus endpoint (default 8080)")
    ap.add_argument(
        "--colocated",
        type=int,
        default=0,
        metavar="N",
        help="run default and mapping in N engine processes of each ingress replica instead of their "
        "own deployments (one machine: no second Ray hop; default 0, the config's layout)",
    )
    a = ap.parse_args(argv)
    config = load_config(a.config)
    if a.colocated:
        config = colocated_config(config, a.colocated)
    addresses = start(
        config,
        a.address,
        a.port,
        a.num_cpus,
        metrics_port=a.metrics_port,
        http_port=a.http_port,
    )
    print(f"Tracewise gRPC on {addresses['grpc']} (tracewise.v1.VectorizeService, grpc.health.v1.Health)")
    print(f"The web page and the HTTP API on {addresses['http']}/")
    print(f"Ray dashboard on {addresses['dashboard']}; Prometheus metrics on {addresses['metrics']}")
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        print(f"Traces to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']} (OTLP/gRPC)")
    print("Ctrl-C to stop.", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    # A timed wait: a signal may land on any of Ray's and gRPC's threads, and Python runs its
    # handler only when the main thread next runs; an untimed wait could then block for ever.
    while not done.wait(0.5):
        pass
    print("stopping...", flush=True)
    stop(embedded=a.address is None)
    return 0
