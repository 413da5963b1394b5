"""Roll Tracewise out to a cluster and wait until it serves, or roll it back.

    python scripts/deploy.py deploy --overlay dev --image ghcr.io/org/tracewise:SHA
    python scripts/deploy.py rollback --overlay dev
    (make deploy OVERLAY=dev IMAGE=...; make rollback OVERLAY=dev)

``deploy`` renders the overlay (``kubectl kustomize``), sets the project's image (Ray pods, store,
backup job), keeps the RayService's current spec in an annotation (``PREVIOUS``), applies, and waits
until KubeRay reports the new generation observed, the service ready and no upgrade in progress,
with every Serve application RUNNING. KubeRay upgrades by starting a new Ray cluster and moving
traffic when it is ready (blue-green), so the old cluster serves until then. It fails with the
RayService's own conditions and application messages when an application fails or the time runs out.
``rollback`` applies the spec kept in the annotation and waits the same way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NAME = "tracewise"
PREVIOUS = "tracewise.dev/previous-spec"
FAILED = {"DEPLOY_FAILED", "UNHEALTHY"}


class DeployError(RuntimeError):
    pass


def kubectl(*args: str, stdin: str | None = None) -> str:
    out = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise DeployError(f"kubectl {' '.join(args)}: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout


def rayservice(namespace: str) -> dict | None:
    try:
        return json.loads(kubectl("-n", namespace, "get", "rayservice", NAME, "-o", "json"))
    except DeployError as exc:
        if "NotFound" in str(exc) or "not found" in str(exc):
            return None
        raise


def _pod_specs(doc: dict) -> list[dict]:
    if doc["kind"] == "RayService":
        cluster = doc["spec"]["rayClusterConfig"]
        return [g["template"]["spec"] for g in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]]
    if doc["kind"] in ("Deployment", "StatefulSet"):
        return [doc["spec"]["template"]["spec"]]
    if doc["kind"] == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def render(overlay: str, image: str | None) -> list[dict]:
    """The overlay's objects; with ``image``, every container that runs the project's own image
    (the Ray head's: Ray pods, the results store, the backup job) runs ``image`` instead. Other
    containers (the log-shipper sidecars, Prometheus, ...) keep theirs."""
    docs = [
        d for d in yaml.safe_load_all(kubectl("kustomize", str(ROOT / "k8s" / "overlays" / overlay))) if d
    ]
    if image:
        rs = next(d for d in docs if d["kind"] == "RayService")
        ours = rs["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
        for d in docs:
            for spec in _pod_specs(d):
                for c in spec["containers"]:
                    if c["image"] == ours:
                        c["image"] = image
    return docs


def overlay_namespace(overlay: str) -> str:
    rs = next(d for d in render(overlay, None) if d["kind"] == "RayService")
    return rs["metadata"].get("namespace", "default")


def conditions(rs: dict) -> dict[str, dict]:
    return {c["type"]: c for c in rs.get("status", {}).get("conditions", [])}


def describe(rs: dict) -> str:
    """The RayService's own words: its conditions and every application's status and message."""
    status = rs.get("status", {})
    lines = [
        f"{t}={c.get('status')} ({c.get('reason', '')}: {c.get('message', '')})"
        for t, c in conditions(rs).items()
    ]
    for side in ("activeServiceStatus", "pendingServiceStatus"):
        for app, s in (status.get(side) or {}).get("applicationStatuses", {}).items():
            lines.append(f"{side} {app}: {s.get('status')} {s.get('message', '')}".rstrip())
    return "; ".join(lines) or "no status yet"


def serving(rs: dict) -> bool | None:
    """True when the current generation serves, False when an application failed, None while not yet."""
    status = rs.get("status", {})
    pending = (status.get("pendingServiceStatus") or {}).get("applicationStatuses", {})
    if any(s.get("status") in FAILED for s in pending.values()):
        return False
    if status.get("observedGeneration", 0) < rs["metadata"].get("generation", 0):
        return None
    cond = conditions(rs)
    apps = (status.get("activeServiceStatus") or {}).get("applicationStatuses", {})
    ready = cond.get("Ready", {}).get("status") == "True"
    upgrading = cond.get("UpgradeInProgress", {}).get("status") == "True"
    if ready and not upgrading and apps and all(s.get("status") == "RUNNING" for s in apps.values()):
        return True
    if apps and any(s.get("status") in FAILED for s in apps.values()) and not upgrading:
        return False
    return None


def wait(namespace: str, timeout_s: float, poll_s: float) -> dict:
    end = time.monotonic() + timeout_s
    rs: dict | None = None
    while time.monotonic() < end:
        rs = rayservice(namespace)
        if rs is not None:
            state = serving(rs)
            if state is True:
                return rs
            if state is False:
                raise DeployError(f"the new version failed: {describe(rs)}")
        time.sleep(poll_s)
    raise DeployError(f"not serving after {timeout_s:g} s: {describe(rs) if rs else 'no RayService'}")


def apply(docs: list[dict], namespace: str) -> None:
    kubectl("-n", namespace, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))


def deploy(overlay: str, image: str | None, namespace: str, timeout_s: float, poll_s: float) -> dict:
    docs = render(overlay, image)
    current = rayservice(namespace)
    if current is not None:  # what rollback returns to
        rs = next(d for d in docs if d["kind"] == "RayService")
        rs.setdefault("metadata", {}).setdefault("annotations", {})[PREVIOUS] = json.dumps(current["spec"])
    apply(docs, namespace)
    return wait(namespace, timeout_s, poll_s)


def rollback(namespace: str, timeout_s: float, poll_s: float) -> dict:
    current = rayservice(namespace)
    if current is None:
        raise DeployError("no RayService to roll back")
    previous = current["metadata"].get("annotations", {}).get(PREVIOUS)
    if not previous:
        raise DeployError(f"the RayService has no {PREVIOUS} annotation: nothing to roll back to")
    back = {
        "apiVersion": current["apiVersion"],
        "kind": "RayService",
        "metadata": {
            "name": NAME,
            "namespace": namespace,
            "annotations": {PREVIOUS: json.dumps(current["spec"])},
        },
        "spec": json.loads(previous),
    }
    apply([back], namespace)
    return wait(namespace, timeout_s, poll_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("deploy", "rollback"))
    ap.add_argument("--overlay", choices=("dev", "prod"), required=True)
    ap.add_argument(
        "--image", default=None, help="the Ray containers' image (deploy; default: the overlay's)"
    )
    ap.add_argument("--namespace", default=None, help="default: the overlay's (dev: tracewise-dev)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the new version")
    ap.add_argument("--poll", type=float, default=5.0)
    a = ap.parse_args(argv)
    try:
        namespace = a.namespace or overlay_namespace(a.overlay)
        if a.action == "deploy":
            rs = deploy(a.overlay, a.image, namespace, a.timeout, a.poll)
        else:
            rs = rollback(namespace, a.timeout, a.poll)
    except DeployError as exc:
        print(f"{a.action} failed: {exc}", file=sys.stderr)
        return 1
    cluster = (rs["status"].get("activeServiceStatus") or {}).get("rayClusterName")
    print(f"{a.action}: serving on {cluster} (generation {rs['metadata'].get('generation')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
