"""Throughput against the number of mapping replicas, beside plain worker processes doing the same
work at the same count, in one run: ``python bench/scale.py [--counts 1,2,4,8,12,16]``.

For each count N: N plain worker processes (each decodes and runs ``engine.vectorize(mapping)``,
as a replica does) fed 2N requests in flight; then the service (one local Ray, the gRPC proxy,
max(2, N/4) ingress replicas) redeployed in place with exactly N mapping replicas (autoscaling and
the result cache off) fed the same requests at the same number in flight. Reported: both
throughputs and p50/p99, and the service's share of the plain processes' throughput (targets:
>= 80% on the 2-core box, >= 90% on a 16-core machine). Counts above the machine's cores are
skipped, saying so. Bounded: ``--per-replica`` requests per replica and step, loopback only; one
run on 16 cores is a few minutes. Runs unchanged on the 2-core box at counts 1 and 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from loadgen import emit, free_port, machine
from serving import FAILURES, _plain, comparison, plain_processes, through_service, warm

from tracewise.dataset import logos


def deploy(config: dict, count: int) -> None:
    """The app with exactly ``count`` mapping replicas (in place: Serve adds or removes replicas)."""
    from ray import serve

    from tracewise_serve.admission import replica_room
    from tracewise_serve.app import build_app
    from tracewise_serve.local import overrides

    app_cfg = config["applications"][0]
    ingresses = max(2, count // 4)
    for d in app_cfg["deployments"]:
        if d["name"] == "method-mapping":
            d.pop("autoscaling_config", None)
            d["num_replicas"] = count
            # the room admission gives mapping fits in its replicas (admission.replica_room)
            share = int(app_cfg["args"]["inflight_limits"]["mapping"])
            d["max_ongoing_requests"] = max(int(d["max_ongoing_requests"]), replica_room(ingresses, share))
        if d["name"] == "Ingress":
            d["num_replicas"] = ingresses
    serve.run(build_app(app_cfg.get("args"), overrides(app_cfg)), name=app_cfg["name"], route_prefix="/")
    end = time.monotonic() + 300
    while True:
        states = serve.status().applications[app_cfg["name"]].deployments["method-mapping"].replica_states
        if states.get("RUNNING", 0) == count and sum(states.values()) == count:
            return
        if time.monotonic() > end:
            raise RuntimeError(f"method-mapping never reached {count} running replicas: {states}")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="1,2,4,8,12,16")
    ap.add_argument("--per-replica", type=int, default=40, help="requests per replica and step")
    ap.add_argument("--markdown", type=Path, default=None)
    a = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    wanted = [int(x) for x in a.counts.split(",")]
    counts = [c for c in wanted if c <= cores]
    skipped = [c for c in wanted if c > cores]
    images = [lg.png.read_bytes() for lg in logos()]

    plain: dict[int, tuple] = {}
    for n in counts:
        with ProcessPoolExecutor(n) as pool:
            list(pool.map(_plain, images[: 2 * n]))  # warm: imports, models
            plain[n] = plain_processes(pool, images, a.per_replica * n, 2 * n)

    from tracewise_serve import local

    os.environ["TRACEWISE_CACHE_SIZE"] = "0"  # every request does the work
    for name in ("TRACEWISE_API_KEYS", "TRACEWISE_RESULTS_DB", "TRACEWISE_RESULTS_URL"):
        os.environ.pop(name, None)
    config = local.load_config()
    served: dict[int, tuple] = {}
    addresses = local.start(config, grpc_port=free_port(), dashboard=False)
    try:
        target = addresses["grpc"]
        for n in counts:
            deploy(config, n)
            warm(target, images, n)  # every replica; the errors listed are the table's only
            served[n] = through_service(target, images, a.per_replica * n, 2 * n)
    finally:
        local.stop()

    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; 256 px dev logos, "
        f"method mapping, {a.per_replica} requests per replica and step, 2 per replica in flight; the "
        "service's cache off.",
        "",
    ]
    table, shares = comparison("replicas = processes", plain, served)
    lines += table + [""]
    target = 0.9 if cores >= 16 else 0.8
    lines.append(
        f"Lowest share: {100 * min(shares):.0f}% (target >= {100 * target:.0f}% on {cores} cores)."
        + (f" Skipped counts above the {cores} cores: {skipped}." if skipped else "")
    )
    if FAILURES:
        lines.append(f"Errors: {dict(FAILURES)}")
    emit(lines, a.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
