"""Cancellation benchmark: how long a method replica keeps burning CPU after the client gives up.

    python bench/cancel.py [--trials 5] [--markdown out.md]

Starts the real service, sends ``search`` and ``regional`` requests with a long budget, and after
1.5 s either cancels the call or lets a 1.5 s client deadline expire. It then samples the method
replica's CPU time (/proc/<pid>/stat) every 20 ms and reports how long until the replica uses less
than 10% of a core (over a 200 ms window): the bound on work wasted by a cancelled request.
Images: a 256 px dev logo and the same logo at 1024 px (one evaluation there takes ~0.5 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import grpc
import numpy as np
from loadgen import emit, machine, start_service, stop_service
from PIL import Image

from tracewise.dataset import logos
from tracewise.decode import encode
from tracewise_client.client import _metadata, build_request
from tracewise_client.v1 import vectorize_pb2_grpc as pb_grpc

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes (a replica that has gone away counts as idle)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def replica_pids(deployment: str) -> list[int]:
    """Every live replica of the deployment (autoscaling may have added one)."""
    from ray.util.state import list_actors

    pids = [
        int(a.pid)
        for a in list_actors(filters=[("state", "=", "ALIVE")], limit=1000)
        if a.class_name.endswith(f":tracewise:{deployment}")
    ]
    if not pids:
        raise RuntimeError(f"no replica of {deployment}")
    return pids


def until_idle(pids: list[int], limit: float = 30.0, window_s: float = 0.2) -> float:
    """Seconds until the process uses < 10% of a core over a ``window_s`` window (CPU time comes in
    10 ms ticks, so the window must hold several). Returns when that window began."""
    t0 = time.monotonic()
    samples: list[tuple[float, float]] = []
    while time.monotonic() - t0 < limit:
        samples.append((time.monotonic(), cpu_seconds(pids)))
        while len(samples) > 2 and samples[-1][0] - samples[1][0] >= window_s:
            samples.pop(0)  # keep the shortest run of samples that still spans the window
        span = samples[-1][0] - samples[0][0]
        if span >= window_s and (samples[-1][1] - samples[0][1]) / span < 0.10:
            return samples[0][0] - t0
        time.sleep(0.02)
    return float("inf")


def trial(stub, image: bytes, method: str, pids: int, how: str) -> tuple[float, float]:
    """Returns (CPU rate while working, seconds to idle after the client gave up)."""
    budget = 20.0
    request = build_request(image, method=method, budget_seconds=budget)
    if how == "cancel":
        call = stub.Vectorize.future(request, timeout=60, metadata=_metadata(None, 60))
        time.sleep(0.5)
        c0, t0 = cpu_seconds(pids), time.monotonic()
        time.sleep(1.0)
        busy = (cpu_seconds(pids) - c0) / (time.monotonic() - t0)
        call.cancel()
    else:  # the client's deadline expires (the service got it as x-tracewise-timeout too)
        call = stub.Vectorize.future(request, timeout=1.5, metadata=_metadata(None, 1.5))
        time.sleep(0.5)
        c0, t0 = cpu_seconds(pids), time.monotonic()
        time.sleep(0.9)
        busy = (cpu_seconds(pids) - c0) / (time.monotonic() - t0)
        try:
            call.result()
        except grpc.RpcError:
            pass
    return busy, until_idle(pids)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--markdown", type=Path, default=None)
    a = ap.parse_args(argv)
    lg = next(lg for lg in logos() if lg.category == "complex")
    small = lg.png.read_bytes()
    big_im = Image.open(lg.png).convert("RGBA")
    big_im = big_im.resize((big_im.width * 4, big_im.height * 4), Image.LANCZOS)
    images = {f"{Image.open(lg.png).width} px": small, f"{big_im.width} px": encode(big_im)}

    target = start_service(dashboard=True)
    rows = []
    try:
        with grpc.insecure_channel(target) as ch:
            stub = pb_grpc.VectorizeServiceStub(ch)
            for method in ("search", "regional"):
                stub.Vectorize(build_request(small, method=method, budget_seconds=0.5), timeout=60)  # warm
                for size, image in images.items():
                    for how in ("cancel", "deadline"):
                        busy, idle = [], []
                        for _ in range(a.trials):
                            pids = replica_pids(f"method-{method}")
                            until_idle(pids)
                            b, i = trial(stub, image, method, pids, how)
                            busy.append(b)
                            idle.append(i)
                            time.sleep(0.3)
                        rows.append((method, size, how, float(np.median(busy)), idle))
                        print(rows[-1], flush=True)
    finally:
        stop_service()
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {machine()}; {a.trials} trials each, "
        "budget 20 s, the client gives up after ~1.5 s.",
        "",
        "| method | image | client | replica CPU while working | to idle p50 ms | to idle max ms |",
        "|---|---|---|---|---|---|",
    ]
    for method, size, how, busy, idle in rows:
        lines.append(
            f"| {method} | {size} | {how} | {100 * busy:.0f}% | {1000 * float(np.median(idle)):.0f} "
            f"| {1000 * max(idle):.0f} |"
        )
    emit(lines, a.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
