"""Overload benchmark: capacity from a concurrency sweep, then 1x, 2x and 4x that rate, open loop.

    python bench/overload.py [--method mapping] [--seconds 60] [--markdown out.md]

Starts the real service (local Ray, deployments/serve_config.yaml, result cache off so every
request does the work) on a loopback port. Bounded: a fixed request count per sweep step and
``rate * seconds`` requests per phase. Reports, per phase: success rate, RESOURCE_EXHAUSTED rate
and how fast it answered (p99), accepted-request p50/p99, fallbacks, and requests without a
definite answer (must be 0). No client retries: the service's own answers are measured.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from loadgen import closed_loop, emit, machine, open_loop, start_service, stop_service, summary

from tracewise.dataset import logos


def row(label: str, s: dict) -> str:
    return (
        f"| {label} | {s['requests']} | {100 * s['ok_rate']:.1f}% | {100 * s['exhausted_rate']:.1f}% "
        f"| {s['shed_p99_ms']:.0f} | {s['p50_ms']:.0f} | {s['p99_ms']:.0f} | {s['throughput']:.1f} "
        f"| {s['by_proxy']} | {s['fallbacks']} | {s['lost']} |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="mapping")
    ap.add_argument("--sweep", default="1,2,4,8,16")
    ap.add_argument("--sweep-requests", type=int, default=80)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each open-loop phase")
    ap.add_argument("--multipliers", default="1,2,4")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--markdown", type=Path, default=None)
    a = ap.parse_args(argv)
    images = [lg.png.read_bytes() for lg in logos()]

    target = start_service()
    lines = []
    try:
        asyncio.run(closed_loop(target, images, a.method, 2, 20, a.timeout))  # warm up
        lines += [
            f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {machine()}; method `{a.method}`, "
            f"{len(images)} dev logos (256 px) round robin, cache off, no client retries.",
            "",
            "| load | requests | success | RESOURCE_EXHAUSTED | shed p99 ms | accepted p50 ms "
            "| accepted p99 ms | answered/s | refused by Ray's proxy | fallbacks | no definite answer |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        capacity = 0.0
        for conc in [int(c) for c in a.sweep.split(",")]:
            outcomes, wall = asyncio.run(
                closed_loop(target, images, a.method, conc, a.sweep_requests, a.timeout)
            )
            s = summary(outcomes, wall)
            lines.append(row(f"closed loop, {conc} in flight", s))
            print(lines[-1], flush=True)
            if s["ok_rate"] >= 0.99 and s["fallbacks"] == 0:
                capacity = max(capacity, s["throughput"])
        lines.append(
            f"| **capacity** (best sweep rate, >= 99% OK, no fallbacks) | | | | | | | {capacity:.1f} | | | |"
        )
        for m in [float(x) for x in a.multipliers.split(",")]:
            rate = m * capacity
            t = time.monotonic()
            outcomes = asyncio.run(open_loop(target, images, a.method, rate, a.seconds, a.timeout))
            s = summary(outcomes, time.monotonic() - t)
            lines.append(row(f"open loop {m:g}x = {rate:.1f}/s for {a.seconds:.0f} s", s))
            print(lines[-1], flush=True)
            if s["lost"]:
                print(f"  lost: {s['codes']}", flush=True)
    finally:
        stop_service()
    emit(lines, a.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
