"""Node loss on a real 3-node Ray cluster on this box: ``python bench/faults.py --node-loss``.

The cluster and the deployment are the e2e tests' (tests/support/cluster.py): ``ray start`` per
node, ``tracewise serve --address`` onto it, the ingress on the head, the method replicas on the
two worker nodes, a Serve proxy on each node. An open loop of ``mapping`` requests goes through
the SDK to all three proxies at once; a worker node is killed, then started again.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from loadgen import emit, machine, open_loop, summary, window_row

from tracewise.dataset import logos

ROOT = Path(__file__).resolve().parents[1]
APP = "tracewise"


def replicas() -> dict[str, int]:
    """Running replicas per deployment (Serve's own view)."""
    from ray import serve

    app = serve.status().applications.get(APP)
    if app is None:
        return {}
    return {name: d.replica_states.get("RUNNING", 0) for name, d in app.deployments.items()}


def run(rate: float, seconds: float, timeout: float, markdown: Path | None) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.support.cluster import LocalCluster, serving
    from tracewise_client import Client

    images = [lg.png.read_bytes() for lg in logos()]
    samples: list[tuple[float, str, dict[str, int]]] = []  # (t, health via the head, replicas)
    events: list[tuple[float, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp), workers=2) as cluster:
        os.environ.update(cluster.auth)  # this driver joins the cluster too: its token
        with serving(cluster, env={"TRACEWISE_CACHE_SIZE": "0"}):  # every request does the work
            import ray

            ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
            names = {v: k for k, v in cluster.node_ids().items()}
            targets = [n.grpc for n in cluster.nodes]
            with Client(targets, timeout=60) as c:
                for img in images[:6]:
                    c.vectorize(img, method="mapping")
            victim: list = []

            def lose() -> None:  # the worker holding the most mapping replicas (Serve placed them)
                workers = [n for n in cluster.nodes if not n.head]
                victim.append(max(workers, key=lambda n: cluster.replicas_on(n)["method-mapping"]))
                print(f"  replicas on {victim[0].name}: {dict(cluster.replicas_on(victim[0]))}", flush=True)
                cluster.kill(victim[0])

            plan = [
                (0.25 * seconds, "lose the worker node with the most mapping replicas (SIGKILL)", lose),
                (0.65 * seconds, "start it again", lambda: cluster.start_node(victim[0])),
            ]
            health = Client(cluster.head.grpc, timeout=5)
            last = [-1.0]

            async def on_tick(elapsed: float) -> None:
                while plan and elapsed >= plan[0][0]:
                    at, label, action = plan.pop(0)
                    t = time.monotonic()
                    await asyncio.to_thread(action)
                    events.append((at, label, f"{time.monotonic() - t:.1f} s"))
                    print(f"  t={at:5.1f} s  {label} ({events[-1][2]})", flush=True)
                if elapsed - last[0] >= 1.0:
                    last[0] = elapsed

                    def sample() -> tuple[str, dict[str, int]]:
                        try:
                            status = health.health(timeout=3)
                        except Exception as exc:  # noqa: BLE001 - what a client sees, recorded
                            status = type(exc).__name__
                        return status, replicas()

                    status, counts = await asyncio.to_thread(sample)
                    samples.append((elapsed, status, counts))

            t0 = time.monotonic()
            outcomes = asyncio.run(
                open_loop(targets, images, "mapping", rate, seconds, timeout, on_tick=on_tick, sdk=True)
            )
            wall = time.monotonic() - t0
            health.close()
            names.update({v: k for k, v in cluster.node_ids().items()})  # the restarted node's new id
            ray.shutdown()

    loss_at = events[0][0]
    back_at = events[1][0] if len(events) > 1 else seconds
    before = [c for t, _, c in samples if t < loss_at]
    baseline = before[-1] if before else {}

    def at_baseline(c: dict[str, int]) -> bool:
        return all(c.get(d, 0) >= n for d, n in baseline.items())

    # Serve sees the loss when the GCS declares the node dead: the counts drop, then recover
    dropped = next((t for t, _, c in samples if t > loss_at and not at_baseline(c)), None)
    full = next((t for t, _, c in samples if dropped and t > dropped and at_baseline(c)), None)
    after = [o.started + o.seconds for o in outcomes if o.code == "OK" and o.started > loss_at]
    first_ok = min(after, default=None)
    s = summary(outcomes, wall)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {machine()}; a 3-node Ray cluster on this box "
        f"(head: ingress; 2 worker nodes: method replicas; a proxy on each), open loop {rate:g} requests/s "
        f"of `mapping` for {seconds:.0f} s through the SDK to all three proxies, cache off.",
        "",
        "| window | requests | success | lost | fallbacks | other statuses | answered by | health (head) |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def window(label: str, lo: float, hi: float) -> None:
        row, sel = window_row(outcomes, label, lo, hi)
        by = Counter(f"{names.get(o.node, '?')} {o.node[:8]}" for o in sel if o.code == "OK")
        seen = Counter(h for t, h, _ in samples if lo <= t < hi)
        lines.append(f"{row} {dict(sorted(by.items())) or '-'} | {dict(seen) or '-'} |")

    window("whole run", 0.0, 1e9)
    window(f"before the loss (0..{loss_at:.0f} s)", 0.0, loss_at)
    window(f"loss + 15 s ({loss_at:.0f}..{loss_at + 15:.0f} s)", loss_at, loss_at + 15)
    window(f"until the node is back ({loss_at + 15:.0f}..{back_at:.0f} s)", loss_at + 15, back_at)
    window(f"after it is back ({back_at:.0f} s..)", back_at, 1e9)
    lines.append("")
    lines.append(
        f"Lost node: {victim[0].name if victim else '?'}; node ids: "
        + ", ".join(f"{name} {nid[:8]}" for nid, name in sorted(names.items(), key=lambda kv: kv[1]))
    )
    if dropped is None:
        lines.append(f"Replicas before the loss: {baseline}; Serve's counts never dropped.")
    elif full is None:
        lines.append(f"Replicas before the loss: {baseline}; not back at that count during the run.")
    else:
        lines.append(
            f"Replicas before the loss: {baseline}; Serve counted them lost {dropped - loss_at:.0f} s after "
            f"it (the GCS declaring the node dead) and had them all running again {full - loss_at:.0f} s "
            "after it (full capacity)."
        )
    if first_ok is not None:
        lines.append(f"First answer to a request sent after the loss: {first_ok - loss_at:.1f} s after it.")
    lines.append("Running replicas over time (t s: deployment -> running):")
    shown = None
    for t, h, c in samples:
        if c != shown:
            lines.append(f"- t={t:.0f}: {c} (health {h})")
            shown = c
    for code, detail in s["examples"].items():
        lines.append(f"\n{code}: `{detail}`")
    emit(lines, markdown)
    return 0 if s["lost"] == 0 else 1
