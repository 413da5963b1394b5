"""Fault benchmark: replica kills and a redeploy under steady load, through the SDK's retry policy.

    python bench/faults.py [--rate 8] [--seconds 60] [--markdown out.md]

Starts the real service (cache off) and sends an open-loop load of ``--rate`` requests/s for
``--seconds`` (method ``mapping``; ``--auto-share`` of them ``auto``). During the run:
- at 20% of the run, one ``method-mapping`` replica is killed (``ray.kill``; Serve restarts it,
  the ingress falls back to a cheaper method meanwhile);
- at 45%, the ingress (router) replica is killed;
- at 70%, the whole app is redeployed with a new revision (every replica replaced, rolling).
Reports the success rate (target >= 99%) and lost requests (must be 0), overall and around each fault.

    python bench/faults.py --node-loss [--rate 4] [--seconds 120]

Node loss on a real 3-node Ray cluster on this box (tests/support/cluster.py: a head with the
ingress, two worker nodes with the method replicas, a Serve proxy on each), deployed with
``tracewise serve --address``; the SDK sends to every node's proxy (one channel over all). At 25%
of the run a whole worker node is killed (SIGKILL to its process group: raylet, agents, replicas
and its proxy), at 65% it is started again. Reports success and lost requests around each event,
the health check and the running replicas every second, which nodes answered, and how long the
service took to be back at full capacity (every deployment's running replicas back to their
count before the loss).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from loadgen import emit, machine, open_loop, start_service, stop_service, summary, window_row

from tracewise.dataset import logos


def kill_replica(deployment: str) -> str:
    import ray

    # Serve names replica actors "SERVE_REPLICA::<app>#<deployment>#<id>" (no dashboard needed)
    for a in ray.util.list_named_actors(all_namespaces=True):
        if a["name"].startswith(f"SERVE_REPLICA::tracewise#{deployment}#"):
            ray.kill(ray.get_actor(a["name"], namespace=a["namespace"]), no_restart=True)
            return a["name"]
    raise RuntimeError(f"no live replica of {deployment}")


def redeploy(revision: str) -> None:
    """A new revision of every deployment (a changed runtime_env forces new replicas)."""
    from ray import serve

    from tracewise_serve import local
    from tracewise_serve.app import build_app

    cfg = local.load_config()
    app_cfg = cfg["applications"][0]
    overrides = local.overrides(app_cfg)
    for opts in overrides.values():
        actor = dict(opts.get("ray_actor_options", {}))
        actor["runtime_env"] = {"env_vars": {"TRACEWISE_REVISION": revision}}
        opts["ray_actor_options"] = actor
    serve.run(build_app(app_cfg.get("args"), overrides), name=app_cfg["name"], route_prefix="/")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=None, help="requests/s (default 8; 4 with --node-loss)")
    ap.add_argument("--seconds", type=float, default=None, help="default 60; 120 with --node-loss")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--node-loss", action="store_true", help="lose a worker node of a 3-node cluster")
    a = ap.parse_args(argv)
    if a.node_loss:
        from node_loss import run

        return run(a.rate or 4.0, a.seconds or 120.0, a.timeout, a.markdown)
    a.rate, a.seconds = a.rate or 8.0, a.seconds or 60.0
    images = [lg.png.read_bytes() for lg in logos()]

    target = start_service()
    plan = [
        (0.20 * a.seconds, "kill a method-mapping replica", lambda: kill_replica("method-mapping")),
        (0.45 * a.seconds, "kill the ingress (router) replica", lambda: kill_replica("Ingress")),
        (0.70 * a.seconds, "redeploy the app (new revision)", lambda: redeploy("2")),
    ]
    done: list[tuple[float, str, str]] = []

    async def on_tick(elapsed: float) -> None:
        while plan and elapsed >= plan[0][0]:
            at, label, action = plan.pop(0)
            t = time.monotonic()
            # its window is reported even when the action is still under way as the load ends
            k = len(done)
            done.append((elapsed, label, "still under way when the load ended"))
            detail = await asyncio.to_thread(action)
            done[k] = (elapsed, label, f"{detail or 'done'} ({time.monotonic() - t:.1f} s)")
            print(f"  t={elapsed:5.1f} s  {label}: {done[k][2]}", flush=True)

    try:
        from tracewise_client import Client

        with Client(target, timeout=60) as c:
            c.wait_ready(120)
            for img in images[:6]:
                c.vectorize(img, method="mapping")
        t = time.monotonic()
        outcomes = asyncio.run(
            open_loop(target, images, "mapping", a.rate, a.seconds, a.timeout, on_tick=on_tick, sdk=True)
        )
        wall = time.monotonic() - t
    finally:
        stop_service()

    s = summary(outcomes, wall)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {machine()}; open loop {a.rate:g} requests/s of "
        f"`mapping` for {a.seconds:.0f} s through the SDK's retry policy, cache off.",
        "",
        "| window | requests | success | lost (no definite answer) | fallbacks | other statuses |",
        "|---|---|---|---|---|---|",
    ]

    def window(label: str, lo: float, hi: float) -> None:
        lines.append(window_row(outcomes, label, lo, hi)[0])

    window("whole run", 0.0, 1e9)
    for at, label, _ in done:
        window(f"{label}: t={at:.0f}..{at + 8:.0f} s", at, at + 8.0)
    for code, detail in s["examples"].items():
        took = sorted(o.seconds for o in outcomes if o.code == code)
        lines.append(
            f"\n{code} ({len(took)}, after {took[0]:.2f}..{took[-1]:.2f} s incl. retries): `{detail}`"
        )
    emit(lines, a.markdown)
    return 0 if s["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
