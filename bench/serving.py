"""Serving efficiency: the mapping method in plain worker processes against the same through the
service (Ray Serve gRPC proxy -> ingress -> data plane -> method replica), on the same cores, in
one run.

    python bench/serving.py [--requests 120] [--concurrency 1,2,4,8] [--replicas 2] [--size PX] [--markdown F]

1. Plain processes: ``--replicas`` worker processes each decoding and running
   ``engine.vectorize(method="mapping")``, fed at each concurrency (requests in flight), before
   the service and again after it: this box's speed drifts by a third within minutes, so the
   service is compared with both passes together (their requests over their time), and both
   passes' rates are printed.
2. The service with exactly ``--replicas`` mapping replicas (autoscaling off for the run, result
   cache off), fed the same requests at the same concurrency through the SDK's asyncio client,
   with its retries: a call shed with RetryInfo comes back after the delay, as users' calls do,
   and counts once (its latency from the first attempt).
3. A no-op RPC through the same path (``GetServiceInfo``: proxy and ingress, no method): the fixed
   cost of a call.
4. The overhead, paired: each image one at a time through a plain process, the service's gRPC and
   its HTTP/JSON API back to back (the order rotating), and the median of the per-image
   differences.
Reported: throughput and p50/p99 of both at each concurrency, the service's throughput as a share
of the plain processes' (target >= 80%), the paired overhead (target <= 10 ms) and HTTP against
gRPC (target within 10%).
Bounded: a fixed number of requests per step, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import grpc
import numpy as np
from loadgen import emit, free_port, machine

from tracewise.dataset import logos, render_svg_file
from tracewise.decode import encode
from tracewise_client import AsyncClient, TracewiseError
from tracewise_client.client import RetryPolicy
from tracewise_client.v1 import vectorize_pb2 as pb
from tracewise_client.v1 import vectorize_pb2_grpc as pb_grpc

ROLES = [  # process title (Ray sets them) -> what it does, first match wins
    ("method-mapping", "mapping replicas"),
    ("Ingress", "ingress"),
    ("ProxyActor", "Ray's proxy"),
    ("ServeReplica", "other method replicas"),
    ("ServeController", "Serve's controller"),
    ("gcs_server", "Ray core (GCS, raylet, agents)"),
    ("raylet", "Ray core (GCS, raylet, agents)"),
    ("agent", "Ray core (GCS, raylet, agents)"),
    ("dashboard", "Ray core (GCS, raylet, agents)"),
]


LANE = "the ingresses' engine processes (colocated)"


def _title(pid: str) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def cpu_by_role() -> dict[str, float]:
    """CPU seconds so far of every Ray process on this machine, by role (from /proc), and of the
    colocated lane's engine processes (children of an ingress replica)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = _title(pid)
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if "multiprocessing.spawn" in title and "Ingress" in _title(fields[1]):
                title = LANE
        except OSError:
            continue
        if "ray" not in title and "gcs_server" not in title and title != LANE:
            continue
        role = LANE if title == LANE else next((r for key, r in ROLES if key in title), None)
        if role is not None:
            out[role] = out.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


FAILURES: Counter[str] = Counter()  # what the errors were, for the report


def _what(exc: Exception) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {(exc.details() or '')[:80]}"
    if isinstance(exc, TracewiseError):
        return f"{exc.code}: {exc.message[:80]}"
    return f"{type(exc).__name__}: {str(exc)[:80]}"


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000.0, q))


def comparison(
    first: str, plain: dict[int, tuple], served: dict[int, tuple]
) -> tuple[list[str], list[float]]:
    """The table of plain processes against the service at each step (``first``: the step's
    column name) and the service's share of the plain throughput at each."""
    lines = [
        f"| {first} | plain req/s | service req/s | service / plain | plain p50 / p99 ms "
        "| service p50 / p99 ms | errors or fallbacks |",
        "|---|---|---|---|---|---|---|",
    ]
    shares = []
    for step in plain:
        (pw, pl, pe), (sw, sl, se) = plain[step], served[step]
        prps, srps = len(pl) / pw, len(sl) / sw
        shares.append(srps / prps)
        lines.append(
            f"| {step} | {prps:.1f} | {srps:.1f} | {srps / prps:.0%} | {pct(pl, 50):.0f} / {pct(pl, 99):.0f} "
            f"| {pct(sl, 50):.0f} / {pct(sl, 99):.0f} | {pe + se} |"
        )
    return lines, shares


def _plain(image: bytes) -> float:
    """One request in a plain worker process: decode and mapping, as a replica does."""
    from tracewise.engine import vectorize

    t = time.perf_counter()
    vectorize(image, "mapping")
    return time.perf_counter() - t


async def _feed(call, images: list[bytes], n: int, concurrency: int) -> tuple[float, list[float], int]:
    """``n`` requests, ``concurrency`` in flight: (wall seconds, latencies of the answers made as
    asked, the rest: errors, and answers a cheaper method made because the one asked was saturated).
    ``call`` returns the name of the method that answered when it is not the one asked."""
    lat: list[float] = []
    errors = 0
    queue = list(range(n))

    async def worker() -> None:
        nonlocal errors
        while queue:
            i = queue.pop()
            t = time.perf_counter()
            try:
                instead = await call(images[i % len(images)])
            except Exception as exc:  # noqa: BLE001 - counted, reported
                errors += 1
                FAILURES[_what(exc)] += 1
                continue
            if instead:  # a fallback's answer: not the work the plain processes did
                errors += 1
                FAILURES[f"answered by {instead} instead (the method asked was saturated)"] += 1
            else:
                lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, lat, errors


def _together(first: tuple[float, list[float], int], second: tuple[float, list[float], int]):
    """Two passes of the same step as one: their requests over their time."""
    return first[0] + second[0], first[1] + second[1], first[2] + second[2]


def plain_processes(pool: ProcessPoolExecutor, images: list[bytes], n: int, concurrency: int):
    async def run():
        loop = asyncio.get_running_loop()

        async def call(image: bytes) -> None:
            await loop.run_in_executor(pool, _plain, image)

        return await _feed(call, images, n, concurrency)

    return asyncio.run(run())


class SheddingCounted(RetryPolicy):
    """The SDK's retry policy, counting the calls it sends again (a shed call comes back after
    the server's RetryInfo delay, as the SDK's users' calls do)."""

    sent_again = 0

    def pause(self, attempt: int, retry_after: float | None) -> float:
        SheddingCounted.sent_again += 1
        return super().pause(attempt, retry_after)


def warm(target: str, images: list[bytes], replicas: int) -> None:
    """A few calls on every replica; their errors are not the measured steps' (those counted
    before stay)."""
    measured = FAILURES.copy()
    through_service(target, images, 4 * replicas, replicas)
    FAILURES.clear()
    FAILURES.update(measured)


def method_parts(metrics_url: str) -> dict[str, tuple[float, int]]:
    """The service's own account of its calls to mapping replicas, summed over the ingresses:
    part (queued, run, transit) -> (seconds, calls), from ``ray_tracewise_method_seconds``."""
    import re
    import urllib.request

    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    out: dict[str, tuple[float, int]] = {}
    kinds = {"ray_tracewise_method_seconds_sum": "sum", "ray_tracewise_method_seconds_count": "count"}
    for line in text.splitlines():
        kind = kinds.get(line.partition("{")[0])
        if kind is None or 'method="mapping"' not in line:
            continue
        part = re.search(r'part="(\w+)"', line)
        if part is None:
            continue
        total, calls = out.get(part.group(1), (0.0, 0))
        value = float(line.rsplit(" ", 1)[1])
        out[part.group(1)] = (total + value, calls) if kind == "sum" else (total, calls + int(value))
    return out


def parts_since(metrics_url: str, before: dict[str, tuple[float, int]], calls: int) -> dict[str, float]:
    """Mean seconds per call in each part since ``before``, once the ``calls`` answered since then
    have reached Ray's metrics endpoint (it exports every few seconds; at most 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        now = method_parts(metrics_url)
        got = now.get("run", (0.0, 0))[1] - before.get("run", (0.0, 0))[1]
        if got >= calls or time.monotonic() > deadline:
            if got < calls:  # said, not hidden: the means below are over the calls exported
                print(f"only {got} of {calls} calls reached Ray's metrics in 60 s", file=sys.stderr)
            return {
                part: (now[part][0] - before.get(part, (0.0, 0))[0]) / max(1, got) for part in sorted(now)
            }
        time.sleep(1.0)


def steps(
    target: str, images: list[bytes], n: int, levels: list[int], metrics_url: str | None = None
) -> tuple[dict, dict, dict]:
    """``n`` requests at each level of ``levels``: (the results per level, the calls the SDK sent
    again per level, and, with ``metrics_url``, the mean seconds per mapping call in each part
    per level: waiting in the replica, its run, transit)."""
    results, again, parts = {}, {}, {}
    for c in levels:
        SheddingCounted.sent_again = 0
        before = method_parts(metrics_url) if metrics_url else {}
        results[c] = through_service(target, images, n, c)
        again[c] = SheddingCounted.sent_again
        if metrics_url:
            parts[c] = parts_since(metrics_url, before, len(results[c][1]))
    return results, again, parts


def through_service(target: str, images: list[bytes], n: int, concurrency: int, rpc: str = "Vectorize"):
    """``Vectorize`` through the SDK's asyncio client (its retries: a call the service shed comes
    back after the RetryInfo delay and counts once, from its first attempt); ``GetServiceInfo``
    (the no-op) on a raw stub. The channel connects before the clock starts (one no-op, not
    counted), as a long-lived client's has: the steps measure calls, not the connection's set-up."""

    async def run():
        async with AsyncClient(target, timeout=60.0, retry=SheddingCounted()) as client:
            stub = pb_grpc.VectorizeServiceStub(client.channel)
            await stub.GetServiceInfo(pb.GetServiceInfoRequest(), timeout=60)

            async def call(image: bytes) -> str | None:
                if rpc == "GetServiceInfo":
                    await stub.GetServiceInfo(pb.GetServiceInfoRequest(), timeout=60)
                    return None
                answer = await client.vectorize(image, method="mapping")
                return None if answer.method_used == "mapping" else answer.method_used

            return await _feed(call, images, n, concurrency)

    return asyncio.run(run())


def paired(
    pool: ProcessPoolExecutor, target: str, base: str, images: list[bytes], n: int
) -> dict[str, list[float]]:
    """The overhead, paired: ``n`` images one at a time, each through a plain process, the
    service's gRPC and its HTTP/JSON API back to back, in an order that rotates by image (so
    neither the box's drift nor which path goes first favours one). Returned: the seconds of each
    path per image. A p50 of one path against a p50 of another from minutes earlier mixes the
    drift and the images' spread into the overhead (two runs gave +1 and +34 ms that way); the
    median of the per-image differences does not."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=60)

    def post(image: bytes) -> None:
        connection.request(
            "POST", "/v1/vectorize?method=mapping", body=image,
            headers={"x-tracewise-timeout": "60", "content-type": "application/octet-stream"},
        )  # fmt: skip
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")

    async def run() -> dict[str, list[float]]:
        loop = asyncio.get_running_loop()
        async with AsyncClient(target, timeout=60.0) as client:
            await client.vectorize(images[0], method="mapping")  # connected and warm, not counted
            await asyncio.to_thread(post, images[0])

            async def grpc_call(image: bytes) -> None:
                answer = await client.vectorize(image, method="mapping")
                if answer.method_used != "mapping":
                    raise RuntimeError(f"answered by {answer.method_used}, not mapping")

            async def plain_call(image: bytes) -> None:
                await loop.run_in_executor(pool, _plain, image)

            async def http_call(image: bytes) -> None:
                await asyncio.to_thread(post, image)

            paths = [("plain", plain_call), ("gRPC", grpc_call), ("HTTP", http_call)]
            out: dict[str, list[float]] = {name: [] for name, _ in paths}
            for i in range(n):
                image = images[i % len(images)]
                for name, call in paths[i % 3 :] + paths[: i % 3]:
                    t = time.perf_counter()
                    await call(image)
                    out[name].append(time.perf_counter() - t)
            return out

    try:
        return asyncio.run(run())
    finally:
        connection.close()


def differences(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """The median and the quartiles of ``a - b`` per image, in ms."""
    d = (np.array(a) - np.array(b)) * 1000.0
    return float(np.median(d)), float(np.percentile(d, 25)), float(np.percentile(d, 75))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=120, help="per step")
    ap.add_argument("--concurrency", default="1,2,4,8")
    ap.add_argument("--replicas", type=int, default=2, help="mapping replicas = plain worker processes")
    ap.add_argument(
        "--size",
        type=int,
        default=None,
        help="the dev SVGs rendered at this width (default: the 256 px PNGs)",
    )
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument(
        "--ray-router",
        action="store_true",
        help="then the service once more with Ray's default request router on the work-bounded "
        "methods instead of routing.py's, the same steps (the router's A/B in one run)",
    )
    ap.add_argument(
        "--colocated",
        action="store_true",
        help="then the service once more with the work-bounded methods in the ingresses' own engine "
        "processes (lane.py), as many as --replicas: the second Ray hop's A/B in one run",
    )
    ap.add_argument(
        "--tracing",
        action="store_true",
        help="trace every request (sampling 1.0) into an OTLP/gRPC receiver on loopback, to compare",
    )
    a = ap.parse_args(argv)
    images = [
        lg.png.read_bytes() if a.size is None else encode(render_svg_file(lg.svg, a.size)) for lg in logos()
    ]
    levels = [int(x) for x in a.concurrency.split(",")]
    n = a.requests

    from tracewise_serve import local

    os.environ["TRACEWISE_CACHE_SIZE"] = "0"  # every request does the work
    os.environ.pop("TRACEWISE_API_KEYS", None)
    os.environ.pop("TRACEWISE_RESULTS_DB", None)
    os.environ.pop("TRACEWISE_RESULTS_URL", None)
    config = local.load_config()
    for d in config["applications"][0]["deployments"]:
        if d["name"] == "method-mapping":  # exactly --replicas, as many as the plain processes
            d.pop("autoscaling_config", None)
            d["num_replicas"] = a.replicas
    passes = [("deployments", "through the method deployments (the configs' layout)", config)]
    if a.colocated:
        passes.append(
            ("colocated", "with the colocated lane (lane.py)", colocated_config(local, config, a.replicas))
        )
    pool = ProcessPoolExecutor(a.replicas)  # idle while the service runs: no CPU
    list(pool.map(_plain, images[: 2 * a.replicas]))  # warm: imports, models
    plain_before = {c: plain_processes(pool, images, n, c) for c in levels}
    receiver = None
    if a.tracing:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support.otlp import OTLPReceiver

        receiver = OTLPReceiver().__enter__()
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.port}"
        os.environ["TRACEWISE_TRACE_SAMPLING"] = "1.0"
    runs = {}
    try:
        for name, _, cfg in passes:
            runs[name] = service_pass(local, cfg, pool, images, n, levels, a.replicas)
    finally:
        if receiver is not None:
            receiver.__exit__()
    failures = Counter(FAILURES)
    ray_routed: dict[int, tuple] = {}
    if a.ray_router:
        for d in config["applications"][0]["deployments"]:
            d.pop("request_router_config", None)
        addresses = local.start(config, grpc_port=free_port(), dashboard=False)
        try:
            warm(addresses["grpc"], images, a.replicas)
            ray_routed, _, _ = steps(addresses["grpc"], images, n, levels)
        finally:
            local.stop()
    with pool:
        plain_after = {c: plain_processes(pool, images, n, c) for c in levels}
    plain = {c: _together(plain_before[c], plain_after[c]) for c in levels}

    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; {n} requests "
        f"per step, {a.size or 256} px dev logos, method mapping, {a.replicas} plain worker processes "
        f"against {a.replicas} mapping replicas (the service's cache off); tracing "
        + (f"on ({len(receiver.spans)} spans received)." if receiver else "off."),
        "",
    ]
    rate = {
        c: (len(plain_before[c][1]) / plain_before[c][0], len(plain_after[c][1]) / plain_after[c][0])
        for c in levels
    }
    lines += [
        "Plain processes' req/s before the service / after it (each table: both passes together): "
        + ", ".join(f"{rate[c][0]:.1f} / {rate[c][1]:.1f} at {c} in flight" for c in levels)
        + ".",
    ]
    for name, title, _ in passes:
        lines += ["", f"**The service {title}:**", ""]
        lines += report(runs[name], plain, levels, n, name)
    if failures:
        lines += ["", "Errors: " + "; ".join(f"{n} x {what}" for what, n in failures.most_common())]
    if ray_routed:
        lines += [
            "",
            "The same steps through the service with Ray's default request router on the "
            "work-bounded methods (routing.py's replaced), started after the run above:",
            "",
        ]
        lines += comparison("in flight", plain, ray_routed)[0]
    emit(lines, a.markdown)
    return 0


def colocated_config(local, config: dict, replicas: int) -> dict:
    """``config`` with as many lane processes in all as ``replicas`` (the plain processes), split
    over the ingress replicas."""
    ingresses = int(
        next(d for d in config["applications"][0]["deployments"] if d["name"] == "Ingress")["num_replicas"]
    )
    per_ingress, rest = divmod(replicas, ingresses)
    if per_ingress < 1 or rest:
        raise SystemExit(f"--replicas {replicas} does not split over {ingresses} ingresses")
    return local.colocated_config(config, per_ingress)


def service_pass(local, config: dict, pool, images: list[bytes], n: int, levels: list[int], replicas: int):
    """One start of the service with ``config``: the steps, the no-op, the paired overhead and
    where the service's CPU went during the steps."""
    addresses = local.start(config, grpc_port=free_port(), dashboard=False, metrics_port=free_port())
    try:
        target = addresses["grpc"]
        warm(target, images, replicas)
        before, began = cpu_by_role(), time.perf_counter()
        served, retried, parts = steps(target, images, n, levels, addresses["metrics"])
        after, wall = cpu_by_role(), time.perf_counter() - began
        noop = through_service(target, images, n, 1, rpc="GetServiceInfo")
        pairs = paired(pool, target, addresses["http"], images, n)
    finally:
        local.stop()
    used = {role: after.get(role, 0.0) - before.get(role, 0.0) for role in after}
    return {
        "served": served, "retried": retried, "parts": parts, "noop": noop, "pairs": pairs, "cpu": used,
        "wall": wall,
    }  # fmt: skip


def report(run: dict, plain: dict, levels: list[int], n: int, name: str) -> list[str]:
    served, retried, parts, pairs, used = (run[k] for k in ("served", "retried", "parts", "pairs", "cpu"))
    lines, shares = comparison("in flight", plain, served)
    first = levels[0]
    overhead = pct(served[first][1], 50) - pct(plain[first][1], 50)
    _, nl, ne = run["noop"]
    over, over_lo, over_hi = differences(pairs["gRPC"], pairs["plain"])
    http_over, http_lo, http_hi = differences(pairs["HTTP"], pairs["gRPC"])
    http_share = float(np.median(np.array(pairs["HTTP"]) / np.array(pairs["gRPC"]))) - 1
    where = "a lane process" if name == "colocated" else "the replica"
    total = sum(used.values()) or 1.0
    lines += [
        "",
        f"Overhead, paired ({n} images one at a time, each through a plain process, gRPC and HTTP "
        f"back to back, the order rotating): gRPC - plain per image, median {over:+.1f} ms "
        f"(quartiles {over_lo:+.1f} / {over_hi:+.1f}; target <= 10 ms); from the table's p50s at "
        f"{first} in flight {overhead:+.1f} ms. The no-op RPC (GetServiceInfo through proxy and "
        f"ingress): p50 {pct(nl, 50):.1f} ms, p99 {pct(nl, 99):.1f} ms{f', {ne} errors' if ne else ''}.",
        f"HTTP/JSON against gRPC, paired: HTTP - gRPC per image, median {http_over:+.1f} ms (quartiles "
        f"{http_lo:+.1f} / {http_hi:+.1f}), {http_share:+.0%} per image at the median (target within "
        "10%); HTTP on one kept-alive connection.",
        "Where a mapping call's time went, from the ingress (the service's own "
        "`tracewise_method_seconds`, mean ms per call): "
        + "; ".join(
            f"{c} in flight: " + ", ".join(f"{part} {1000 * sec:.0f}" for part, sec in parts[c].items())
            for c in levels
        )
        + f" (queued: waiting for {where}'s engine; run: its work; transit: the rest of the round "
        "trip).",
        "Calls the SDK sent again (a shed call after its RetryInfo delay; counted once, from the "
        "first attempt): " + ", ".join(f"{retried[c]} at {c} in flight" for c in levels) + ".",
        f"Service throughput as a share of plain processes: lowest {min(shares):.0%} (target >= 80% "
        "at every concurrency).",
        "Where the service's CPU went during those steps (/proc): "
        + ", ".join(f"{role} {sec / total:.0%}" for role, sec in sorted(used.items(), key=lambda x: -x[1]))
        + f"; in all {total / (run['wall'] * (os.cpu_count() or 1)):.0%} of the {os.cpu_count()} CPUs "
        "from the first step's start to the last one's metrics (the rest: this load generator, and idle).",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
