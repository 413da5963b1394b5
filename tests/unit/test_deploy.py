"""make deploy / make rollback (scripts/deploy.py) against a fake kubectl that plays KubeRay's
RayService status transitions: a blue-green upgrade that serves, one whose application fails, one
that never gets ready, and a rollback to the spec kept in the annotation."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "deploy.py"

FAKE = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys
    import yaml
    path = os.environ["FAKE_KUBE_STATE"]
    state = json.load(open(path))
    args = sys.argv[1:]
    state["calls"].append(args)
    def save():
        json.dump(state, open(path, "w"))
    if args[0] == "kustomize":
        save(); print(state["rendered"]); sys.exit(0)
    if "get" in args:
        rs = state.get("current")
        if rs is None:
            save()
            print('Error from server (NotFound): rayservices "tracewise" not found', file=sys.stderr)
            sys.exit(1)
        if state["timeline"]:
            status = state["timeline"].pop(0)
            if status.get("observedGeneration") == "new":
                status["observedGeneration"] = rs["metadata"]["generation"]
            rs["status"] = status
        save(); print(json.dumps(rs)); sys.exit(0)
    if "apply" in args:
        docs = [d for d in yaml.safe_load_all(sys.stdin.read()) if d]
        state["applied"].append(docs)
        for d in docs:
            if d["kind"] == "RayService":
                old = state.get("current") or {{"metadata": {{"generation": 0}}, "status": {{}}}}
                d["metadata"]["generation"] = old["metadata"]["generation"] + 1
                d["status"] = old.get("status", {{}})
                state["current"] = d
        state["timeline"] = state["after_apply"]
        save(); print("applied"); sys.exit(0)
    sys.exit(2)
    """
)


SIDECAR = "otel/opentelemetry-collector-contrib:0.139.0"


def _rayservice(image: str, generation: int = 1, annotations: dict | None = None) -> dict:
    group = {"template": {"spec": {"containers": [{"name": "ray", "image": image}]}}}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {
            "name": "tracewise",
            "namespace": "tracewise",
            "generation": generation,
            "annotations": annotations or {},
        },  # fmt: skip
        "spec": {
            "rayClusterConfig": {"headGroupSpec": group, "workerGroupSpecs": [json.loads(json.dumps(group))]}
        },
    }


def _status(observed, ready, upgrading, active=None, pending=None, cluster="tracewise-blue") -> dict:
    def apps(state, message=""):
        return {"applicationStatuses": {"tracewise": {"status": state, "message": message}}}

    out = {
        "observedGeneration": observed,
        "conditions": [
            {"type": "Ready", "status": str(ready), "reason": "r", "message": "m"},
            {"type": "UpgradeInProgress", "status": str(upgrading), "reason": "u", "message": "u"},
        ],
        "activeServiceStatus": {"rayClusterName": cluster, **(apps(*active) if active else {})},
    }
    if pending:
        out["pendingServiceStatus"] = apps(*pending)
    return out


SERVING_OLD = _status(1, True, False, active=("RUNNING",))
UPGRADING = _status(1, True, False, active=("RUNNING",))
PENDING = _status("new", True, True, active=("RUNNING",), pending=("DEPLOYING",))
SERVING_NEW = _status("new", True, False, active=("RUNNING",), cluster="tracewise-green")


@pytest.fixture
def kube(tmp_path):
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "kubectl"
    fake.write_text(FAKE.format(python=sys.executable))
    fake.chmod(0o755)
    state = tmp_path / "state.json"

    def run(action: str, current: dict | None, after_apply: list[dict], *extra: str):
        overlay = _rayservice("tracewise:overlay")
        for group in [overlay["spec"]["rayClusterConfig"]["headGroupSpec"],
                      *overlay["spec"]["rayClusterConfig"]["workerGroupSpecs"]]:  # fmt: skip
            group["template"]["spec"]["containers"].append({"name": "log-shipper", "image": SIDECAR})
        store = {
            "kind": "StatefulSet",
            "metadata": {"name": "tracewise-store"},
            "spec": {"template": {"spec": {"containers": [{"name": "store", "image": "tracewise:overlay"}]}}},
        }
        rendered = yaml.safe_dump_all([overlay, store, {"kind": "ConfigMap", "metadata": {"name": "x"}}])
        if current is not None:
            current = {**current, "status": SERVING_OLD}
        state.write_text(json.dumps({"rendered": rendered, "current": current, "timeline": [],
                                     "after_apply": after_apply, "applied": [], "calls": []}))  # fmt: skip
        env = {
            **os.environ,
            "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
            "FAKE_KUBE_STATE": str(state),
        }
        out = subprocess.run(
            [sys.executable, str(SCRIPT), action, "--overlay", "dev", "--poll", "0", "--timeout", "2",
             *extra],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        return out, json.loads(state.read_text())

    return run


def test_deploy_sets_the_image_keeps_the_old_spec_and_waits_for_the_new_cluster(kube):
    old = _rayservice("tracewise:v1")
    out, state = kube("deploy", old, [UPGRADING, PENDING, PENDING, SERVING_NEW], "--image", "tracewise:v2")
    assert out.returncode == 0, out.stderr
    assert "serving on tracewise-green (generation 2)" in out.stdout
    (docs,) = state["applied"]
    rs = next(d for d in docs if d["kind"] == "RayService")
    groups = [
        rs["spec"]["rayClusterConfig"]["headGroupSpec"],
        *rs["spec"]["rayClusterConfig"]["workerGroupSpecs"],
    ]
    images = {c["name"]: c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
    assert images == {"ray": "tracewise:v2", "log-shipper": SIDECAR}  # only the project's own image
    (store,) = [d for d in docs if d["kind"] == "StatefulSet"]
    assert store["spec"]["template"]["spec"]["containers"][0]["image"] == "tracewise:v2"
    assert json.loads(rs["metadata"]["annotations"]["tracewise.dev/previous-spec"]) == old["spec"]
    assert sum("get" in c for c in state["calls"]) >= 4  # it waited through the upgrade


def test_a_failed_application_fails_the_deploy_with_kuberays_own_message(kube):
    failed = _status(
        "new", True, True, active=("RUNNING",), pending=("DEPLOY_FAILED", "ImportError: no module x")
    )
    out, _ = kube("deploy", _rayservice("tracewise:v1"), [PENDING, failed], "--image", "tracewise:bad")
    assert out.returncode == 1
    assert "ImportError: no module x" in out.stderr and "UpgradeInProgress=True" in out.stderr


def test_a_deploy_that_never_gets_ready_times_out_saying_why(kube):
    out, _ = kube("deploy", _rayservice("tracewise:v1"), [PENDING] * 10_000, "--image", "tracewise:slow")
    assert out.returncode == 1 and "not serving after 2 s" in out.stderr and "DEPLOYING" in out.stderr


def test_rollback_applies_the_kept_spec_and_waits(kube):
    previous = _rayservice("tracewise:v1")["spec"]
    current = _rayservice("tracewise:v2", 2, {"tracewise.dev/previous-spec": json.dumps(previous)})
    out, state = kube("rollback", current, [PENDING, SERVING_NEW])
    assert out.returncode == 0, out.stderr
    ((rs,),) = state["applied"]
    assert rs["spec"] == previous
    assert json.loads(rs["metadata"]["annotations"]["tracewise.dev/previous-spec"]) == current["spec"]


def test_rollback_without_a_kept_spec_says_so(kube):
    out, state = kube("rollback", _rayservice("tracewise:v2"), [])
    assert out.returncode == 1 and "nothing to roll back to" in out.stderr and not state["applied"]
