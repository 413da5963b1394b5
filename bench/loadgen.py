"""A bounded gRPC load generator (grpc.aio) for the reliability benchmarks: loopback only, a fixed
number of requests, every request accounted for.

- ``closed_loop``: N workers, each sends its next request when the last one answered (capacity).
- ``open_loop``: arrivals on a fixed schedule (``rate`` per second for ``duration`` seconds),
  independent of answers: what overload looks like to a real service.

Every request ends in exactly one ``Outcome``. "Definite" answers are OK and the statuses the
service sets on purpose (RESOURCE_EXHAUSTED, INVALID_ARGUMENT, its own DEADLINE_EXCEEDED, ...);
"lost" is anything else: the client's own deadline expiring with no answer, CANCELLED, UNKNOWN,
INTERNAL, or a request still unanswered when the run ends.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import numpy as np

from tracewise_client.client import _metadata, build_request
from tracewise_client.v1 import vectorize_pb2_grpc as pb_grpc
from tracewise_serve.status import RAY_PROXY_DROPPED

LOST_CODES = {"CANCELLED", "UNKNOWN", "INTERNAL", "CLIENT_DEADLINE", "NO_ANSWER"}
NO_RETRY = [("grpc.enable_retries", 0), ("grpc.max_receive_message_length", 64 << 20)]


@dataclass(frozen=True)
class Outcome:
    code: str
    seconds: float
    started: float  # monotonic, relative to the run's start
    fallback: str = ""  # why the first method asked did not answer (the reason's kind), or ""
    detail: str = ""
    node: str = ""  # the Ray node whose replica answered (the report's node_id)


def machine() -> str:
    return (
        f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Failed(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail[:300]


Send = Callable[[bytes], Awaitable[tuple[str, str]]]  # one request: (why it fell back or "", node id)


def _why(reasons: list[str]) -> str:
    """The kind of the first fallback's reason ("overloaded", "failed", "timed out", ...), or ""."""
    return reasons[0].split(":")[0] if reasons else ""


def _code(code: str, detail: str) -> str:
    if code == "DEADLINE_EXCEEDED" and detail == "Deadline Exceeded":
        return "CLIENT_DEADLINE"  # grpc's own: the service never answered in time
    return code


def raw_sender(stub: pb_grpc.VectorizeServiceStub, method: str, timeout: float, api_key: str | None) -> Send:
    """Plain grpc.aio, no retries: the service's own answers."""

    async def send(image: bytes) -> tuple[str, str]:
        try:
            resp = await stub.Vectorize(
                build_request(image, method=method), timeout=timeout, metadata=_metadata(api_key, timeout)
            )
        except grpc.aio.AioRpcError as exc:
            raise Failed(_code(exc.code().name, exc.details() or ""), exc.details() or "") from None
        return _why([f.reason for f in resp.report.fallbacks]), resp.report.node_id

    return send


def sdk_sender(client: Any, method: str, timeout: float) -> Send:
    """Through ``AsyncClient.vectorize``: what a user gets, retries included."""
    from tracewise_client import TracewiseError

    async def send(image: bytes) -> tuple[str, str]:
        try:
            r = await client.vectorize(image, method=method, timeout=timeout)
        except TracewiseError as exc:
            raise Failed(_code(exc.code, exc.message), exc.message) from None
        return _why([f["reason"] for f in r.fallbacks]), r.node_id

    return send


async def one(send: Send, image: bytes, t0: float) -> Outcome:
    start = time.monotonic()
    try:
        fallback, node = await send(image)
        return Outcome("OK", time.monotonic() - start, start - t0, fallback, node=node)
    except Failed as exc:
        return Outcome(exc.code, time.monotonic() - start, start - t0, detail=exc.detail)


async def closed_loop(
    target: str,
    images: list[bytes],
    method: str,
    concurrency: int,
    count: int,
    timeout: float = 30.0,
    api_key: str | None = None,
) -> tuple[list[Outcome], float]:
    """``count`` requests from ``concurrency`` workers; returns the outcomes and the wall time."""
    out: list[Outcome] = []
    next_i = iter(range(count))
    async with grpc.aio.insecure_channel(target, options=NO_RETRY) as ch:
        send = raw_sender(pb_grpc.VectorizeServiceStub(ch), method, timeout, api_key)
        t0 = time.monotonic()

        async def worker() -> None:
            for i in next_i:
                out.append(await one(send, images[i % len(images)], t0))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return out, time.monotonic() - t0


async def open_loop(
    target: str,
    images: list[bytes],
    method: str,
    rate: float,
    duration: float,
    timeout: float = 30.0,
    api_key: str | None = None,
    on_tick: Callable[[float], Awaitable[None]] | None = None,
    sdk: bool = False,
) -> list[Outcome]:
    """``rate * duration`` requests on a fixed schedule. ``on_tick(elapsed)`` runs every 0.5 s
    (fault injection); ``sdk`` sends through the SDK (its retries) instead of plain grpc.aio."""
    n = max(1, int(rate * duration))
    if sdk:
        from tracewise_client import AsyncClient

        async with AsyncClient(target, api_key=api_key, timeout=timeout) as client:
            return await _schedule(sdk_sender(client, method, timeout), images, rate, n, timeout, on_tick)
    async with grpc.aio.insecure_channel(target, options=NO_RETRY) as ch:
        send = raw_sender(pb_grpc.VectorizeServiceStub(ch), method, timeout, api_key)
        return await _schedule(send, images, rate, n, timeout, on_tick)


async def _schedule(
    send: Send, images: list[bytes], rate: float, n: int, timeout: float, on_tick
) -> list[Outcome]:
    t0 = time.monotonic()
    ticker = None
    if on_tick is not None:

        async def tick() -> None:
            while True:
                try:
                    await on_tick(time.monotonic() - t0)
                except Exception as exc:  # noqa: BLE001 - a failed fault injection is reported, loudly
                    print(f"  on_tick failed: {exc!r}", flush=True)
                await asyncio.sleep(0.5)

        ticker = asyncio.ensure_future(tick())
    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(send, images[i % len(images)], t0)))
    done, pending = await asyncio.wait(tasks, timeout=timeout + 10.0)
    if ticker is not None:
        ticker.cancel()
    out = [t.result() for t in done]
    for t in pending:  # no answer by the end: lost, and counted
        t.cancel()
        out.append(Outcome("NO_ANSWER", timeout + 10.0, 0.0))
    return out


def start_service(dashboard: bool = False) -> str:
    """The real service (local Ray, deployments/serve_config.yaml) on a free loopback port, with the
    result cache off so every request does the work; returns its gRPC address."""
    from tracewise_serve import local

    os.environ["TRACEWISE_CACHE_SIZE"] = "0"
    return local.start(local.load_config(), grpc_port=free_port(), dashboard=dashboard)["grpc"]


def stop_service() -> None:
    from tracewise_serve import local

    local.stop()


def emit(lines: list[str], markdown: Path | None) -> None:
    """Print the report, and write it where --markdown says."""
    text = "\n".join(lines)
    print(text)
    if markdown:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text + "\n")


def summary(outcomes: list[Outcome], wall: float) -> dict:
    codes = Counter(o.code for o in outcomes)
    ok = [o.seconds for o in outcomes if o.code == "OK"]
    shed_outcomes = [o for o in outcomes if o.code == "RESOURCE_EXHAUSTED"]
    shed = [o.seconds for o in shed_outcomes]
    n = len(outcomes)
    return {
        "requests": n,
        "ok_rate": codes["OK"] / n if n else float("nan"),
        "exhausted_rate": codes["RESOURCE_EXHAUSTED"] / n if n else float("nan"),
        "throughput": codes["OK"] / wall if wall > 0 else float("nan"),
        "p50_ms": float(np.percentile(ok, 50) * 1000) if ok else float("nan"),
        "p99_ms": float(np.percentile(ok, 99) * 1000) if ok else float("nan"),
        "shed_p99_ms": float(np.percentile(shed, 99) * 1000) if shed else float("nan"),
        "by_proxy": sum(1 for o in shed_outcomes if RAY_PROXY_DROPPED in o.detail),
        "fallbacks": sum(1 for o in outcomes if o.fallback),
        "fallback_kinds": dict(Counter(o.fallback for o in outcomes if o.fallback)),
        "lost": sum(codes[c] for c in LOST_CODES),
        "codes": dict(codes),
        "examples": {o.code: o.detail for o in outcomes if o.code != "OK"},
    }


def window_row(outcomes: list[Outcome], label: str, lo: float, hi: float) -> tuple[str, list[Outcome]]:
    """One fault-benchmark table row for the requests sent in [lo, hi): label, requests, success,
    lost, fallbacks, other statuses (a caller may add cells); and those requests."""
    sel = [o for o in outcomes if lo <= o.started < hi]
    w = summary(sel, max(hi - lo, 1e-9))
    other = {k: v for k, v in w["codes"].items() if k != "OK"}
    kinds = f" {w['fallback_kinds']}" if w["fallbacks"] else ""  # why: overloaded, failed, ...
    row = (
        f"| {label} | {w['requests']} | {100 * w['ok_rate']:.2f}% | {w['lost']} | {w['fallbacks']}{kinds} "
        f"| {other or '-'} |"
    )
    return row, sel
