"""Serving benchmark: the mapping method in-process vs through gRPC (Ray Serve), in one run.

    python bench/serving.py [--requests 200] [--concurrency 1,4,8]

Starts the real service (local Ray, the app from deployments/serve_config.yaml) on a free
loopback port, then measures on the shared logos:
1. in-process ``engine.vectorize(method="mapping")``, sequential: p50 / p99;
2. the same through the SDK at concurrency 1: p50 / p99, and the overhead against 1;
3. throughput (requests/s) through gRPC at each concurrency, against in-process sequential.
Bounded: a fixed number of requests per step, loopback only. The service's result cache is
off for the run (repeated images would otherwise be answered from it).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from tracewise.dataset import logos
from tracewise.engine import vectorize
from tracewise_client import AsyncClient, Client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000.0, q))


async def _load(target: str, images: list[bytes], n: int, concurrency: int) -> tuple[float, list[float], int]:
    lat: list[float] = []
    errors = 0
    queue = list(range(n))

    async def worker(client: AsyncClient) -> None:
        nonlocal errors
        while queue:
            i = queue.pop()
            t = time.perf_counter()
            try:
                await client.vectorize(images[i % len(images)], method="mapping", timeout=30)
                lat.append(time.perf_counter() - t)
            except Exception:  # noqa: BLE001 - counted, reported
                errors += 1

    async with AsyncClient(target, timeout=30) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return wall, lat, errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", default="1,4,8")
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument(
        "--tracing",
        action="store_true",
        help="trace every request (sampling 1.0) into an OTLP/gRPC receiver on loopback, to compare",
    )
    a = ap.parse_args(argv)
    images = [lg.png.read_bytes() for lg in logos()]
    n = a.requests

    import os

    from tracewise_serve import local

    # Measure the method path, not the result cache: every request must do the work.
    os.environ["TRACEWISE_CACHE_SIZE"] = "0"
    receiver = None
    if a.tracing:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support.otlp import OTLPReceiver

        receiver = OTLPReceiver().__enter__()
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.port}"
        os.environ["TRACEWISE_TRACE_SAMPLING"] = "1.0"
    port = _free_port()
    addresses = local.start(local.load_config(), grpc_port=port, dashboard=False)
    try:
        with Client(addresses["grpc"], timeout=60) as c:
            c.wait_ready(120)
            for img in images[:10]:
                c.vectorize(img, method="mapping")  # warm every replica path
        for img in images[:10]:
            vectorize(img, "mapping")

        local_lat = []
        for i in range(n):
            t = time.perf_counter()
            vectorize(images[i % len(images)], "mapping")
            local_lat.append(time.perf_counter() - t)
        local_wall = sum(local_lat)

        grpc_lat = []
        with Client(addresses["grpc"], timeout=60) as c:
            for i in range(n):
                t = time.perf_counter()
                c.vectorize(images[i % len(images)], method="mapping")
                grpc_lat.append(time.perf_counter() - t)

        rows = []
        for conc in [int(x) for x in a.concurrency.split(",")]:
            wall, lat, errors = asyncio.run(_load(addresses["grpc"], images, n, conc))
            rows.append((conc, len(lat) / wall, pct(lat, 50), pct(lat, 99), errors))
    finally:
        local.stop()
        if receiver is not None:
            receiver.__exit__()

    machine = f"{platform.node()} {platform.machine()} {__import__('os').cpu_count()} cpus"
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {machine}; {n} requests per step, 256 px dev logos"
        + (f"; tracing on, {len(receiver.spans)} spans received." if receiver else "; tracing off."),
        "",
        "| path | p50 ms | p99 ms | mean ms |",
        "|---|---|---|---|",
        f"| in-process mapping | {pct(local_lat, 50):.1f} | {pct(local_lat, 99):.1f} "
        f"| {statistics.mean(local_lat) * 1000:.1f} |",
        f"| gRPC (Ray Serve) mapping, concurrency 1 | {pct(grpc_lat, 50):.1f} | {pct(grpc_lat, 99):.1f} "
        f"| {statistics.mean(grpc_lat) * 1000:.1f} |",
        "",
        f"gRPC overhead at p50: {pct(grpc_lat, 50) - pct(local_lat, 50):+.1f} ms "
        f"(ratio {pct(grpc_lat, 50) / pct(local_lat, 50):.2f}x)",
        "",
        "| concurrency | requests/s | vs in-process sequential | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    base_rps = n / local_wall
    for conc, rps, p50, p99, errors in rows:
        lines.append(f"| {conc} | {rps:.1f} | {rps / base_rps:.2f}x | {p50:.1f} | {p99:.1f} | {errors} |")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        a.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
