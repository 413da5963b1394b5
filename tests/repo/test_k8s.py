"""The Kubernetes manifests, checked offline: CRD and core schemas, and that the pieces agree.

KubeRay objects are validated against the CRDs in ../shared/schemas/kuberay (their
openAPIV3Schema, plus a strict pass for fields the API server would silently prune); core objects
against Kubernetes' own JSON schemas (the kubernetes-validate package, strict mode).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support.kustomize import render
from tracewise_serve.local import CONTROL_LOOP_INTERVAL_S, PROXY_MAX_MESSAGE_BYTES
from tracewise_serve.metrics import exported_names
from tracewise_serve.tracing import EXPORTER_PATH, tracing_env

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
SCHEMAS = ROOT.parent / "shared" / "schemas" / "kuberay"
OVERLAYS = ["dev", "prod"]
K8S_VERSION = "1.33.0"


@cache
def overlay(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(K8S / "overlays" / name))


def find(docs, kind: str, name: str | None = None) -> dict[str, Any]:
    hits = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} found"
    return hits[0]


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((SCHEMAS / f"ray.io_{kind.lower()}s.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return version["schema"]["openAPIV3Schema"]


def pruned_fields(doc: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would drop: not in a structural schema's properties."""
    out: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return out
    if isinstance(doc, dict) and "properties" in schema:
        for key, value in doc.items():
            if key in schema["properties"]:
                out += pruned_fields(value, schema["properties"][key], f"{path}.{key}")
            elif not schema.get("additionalProperties"):
                out.append(f"{path}.{key}")
    elif isinstance(doc, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, value in doc.items():
            out += pruned_fields(value, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            out += pruned_fields(item, schema["items"], f"{path}[{i}]")
    return out


def containers(docs) -> list[dict[str, Any]]:
    out = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            out += d["spec"]["template"]["spec"]["containers"]
        elif d["kind"] == "CronJob":
            out += d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        elif d["kind"] == "RayService":
            rc = d["spec"]["rayClusterConfig"]
            out += rc["headGroupSpec"]["template"]["spec"]["containers"]
            for g in rc["workerGroupSpecs"]:
                out += g["template"]["spec"]["containers"]
    return out


def ray_pods(rayservice) -> list[dict[str, Any]]:
    rc = rayservice["spec"]["rayClusterConfig"]
    return [rc["headGroupSpec"], *rc["workerGroupSpecs"]]


@pytest.mark.parametrize("name", OVERLAYS)
def test_kuberay_objects_match_the_crd_schemas(name):
    rs = find(overlay(name), "RayService")
    assert rs["apiVersion"] == "ray.io/v1"
    jsonschema.validate(rs, crd_schema("RayService"))
    assert pruned_fields(rs, crd_schema("RayService")) == []


def test_strict_schema_pass_catches_a_typo():
    rs = json.loads(json.dumps(find(overlay("dev"), "RayService")))
    rs["spec"]["rayClusterConfig"]["enableInTreeAutoscalling"] = True
    assert pruned_fields(rs, crd_schema("RayService")) == [".spec.rayClusterConfig.enableInTreeAutoscalling"]
    rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplicas"] = "eight"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rs, crd_schema("RayService"))


@pytest.mark.parametrize("name", OVERLAYS)
def test_core_objects_match_kubernetes_schemas(name):
    core = [d for d in overlay(name) if d["apiVersion"] != "ray.io/v1"]
    assert {d["kind"] for d in core} >= {"Deployment", "Service", "ConfigMap", "Namespace", "Role"}
    for d in core:
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)
    # and the pod templates inside the RayService, which no CRD schema checks in depth
    for group in ray_pods(find(overlay(name), "RayService")):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "x"},
            "spec": group["template"]["spec"],
        }
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_a_bad_core_object_fails_validation():
    bad = json.loads(json.dumps(find(overlay("dev"), "Deployment", "tempo")))
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", OVERLAYS)
def test_serve_config_v2_is_the_serve_config(name):
    rs = find(overlay(name), "RayService")
    serve_config = yaml.safe_load((ROOT / "deployments" / "serve_config.yaml").read_text())
    running = yaml.safe_load(rs["spec"]["serveConfigV2"])
    # in a pod the HTTP proxy binds every interface (the Service reaches it)
    assert running["http_options"].pop("host") == "0.0.0.0"
    assert serve_config["http_options"].pop("host") == "127.0.0.1"
    if name == "prod":  # the same file, with production's changes: no server reflection
        assert running["grpc_options"].pop("enable_reflection") is False
        assert serve_config["grpc_options"].pop("enable_reflection") is True
    assert running == serve_config
    check = subprocess.run(["python", str(ROOT / "scripts" / "sync_k8s.py"), "--check"], cwd=ROOT)
    assert check.returncode == 0, "run `make k8s`"


def test_the_proxys_backstop_is_above_the_longest_budget():
    from tracewise.objective import MAX_BUDGET_S

    grpc_options = yaml.safe_load((ROOT / "deployments" / "serve_config.yaml").read_text())["grpc_options"]
    assert grpc_options["request_timeout_s"] > MAX_BUDGET_S + 10


@pytest.mark.parametrize("name", OVERLAYS)
def test_grpc_port_is_exposed_for_h2c_and_probed_by_grpc_health(name):
    rs = find(overlay(name), "RayService")
    grpc_port = yaml.safe_load(rs["spec"]["serveConfigV2"])["grpc_options"]["port"]
    ports = rs["spec"]["serveService"]["spec"]["ports"]
    (grpc,) = [p for p in ports if p["name"] == "serve-grpc"]
    assert grpc["appProtocol"] == "kubernetes.io/h2c" and grpc["targetPort"] == grpc_port
    # the HTTP/JSON API beside it, on the port the serve config's HTTP proxy binds in every pod
    http_options = yaml.safe_load(rs["spec"]["serveConfigV2"])["http_options"]
    (http,) = [p for p in ports if p["name"] == "serve-http"]
    assert http["targetPort"] == http_options["port"] and http_options["host"] == "0.0.0.0"
    rc = rs["spec"]["rayClusterConfig"]
    assert rc["enableInTreeAutoscaling"] is True
    assert rs["spec"]["excludeHeadPodFromServeSvc"] is True
    for group in rc["workerGroupSpecs"]:
        c = group["template"]["spec"]["containers"][0]
        assert c["readinessProbe"]["grpc"]["port"] == grpc_port
        assert any(p["containerPort"] == grpc_port for p in c["ports"])
        assert any(p["containerPort"] == http_options["port"] for p in c["ports"])
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_container_has_requests_limits_and_runs_as_non_root(name):
    docs = overlay(name)
    for c in containers(docs):
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
    for d in docs:
        if d["kind"] == "Deployment":
            assert d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    for group in ray_pods(find(docs, "RayService")):
        assert group["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("name, ratio", [("dev", "1.0"), ("prod", "0.05")])
def test_tracing_env_on_head_and_workers_reaches_the_collector(name, ratio):
    docs = overlay(name)
    rs = find(docs, "RayService")
    envs = [group["template"]["spec"]["containers"][0]["env"] for group in ray_pods(rs)]
    assert all(e == envs[0] for e in envs), "head and workers differ"
    env = {e["name"]: e.get("value") for e in envs[0]}
    expected = tracing_env({"OTEL_EXPORTER_OTLP_ENDPOINT": env["OTEL_EXPORTER_OTLP_ENDPOINT"]})
    assert env["RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH"] == EXPORTER_PATH
    assert set(expected) <= set(env) and env["RAY_SERVE_TRACING_SAMPLING_RATIO"] == ratio
    assert int(env["RAY_SERVE_GRPC_MAX_MESSAGE_SIZE"]) == PROXY_MAX_MESSAGE_BYTES
    assert env["RAY_SERVE_CONTROL_LOOP_INTERVAL_S"] == CONTROL_LOOP_INTERVAL_S  # as `tracewise serve` runs it
    # Ray's logs (the access log among them) rotate: bounded disk on every pod
    assert int(env["RAY_ROTATION_MAX_BYTES"]) > 0 and int(env["RAY_ROTATION_BACKUP_COUNT"]) > 0
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", env["OTEL_EXPORTER_OTLP_ENDPOINT"]).groups()
    svc = find(docs, "Service", host)
    assert int(port) in [p["port"] for p in svc["spec"]["ports"]]
    collector = yaml.safe_load(find(docs, "ConfigMap", "otel-collector")["data"]["config.yaml"])
    assert collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == f"0.0.0.0:{port}"
    tempo_host, tempo_port = collector["exporters"]["otlp/tempo"]["endpoint"].split(":")
    assert int(tempo_port) in [p["port"] for p in find(docs, "Service", tempo_host)["spec"]["ports"]]
    tempo = yaml.safe_load(find(docs, "ConfigMap", "tempo")["data"]["tempo.yaml"])
    otlp = tempo["distributor"]["receivers"]["otlp"]["protocols"]
    # Tempo >= 2.7 binds OTLP to localhost unless told: both receivers must say 0.0.0.0
    assert otlp["grpc"]["endpoint"] == f"0.0.0.0:{tempo_port}" and otlp["http"]["endpoint"].startswith(
        "0.0.0.0:"
    )


def test_prometheus_scrapes_the_port_ray_exports_metrics_on():
    docs = overlay("prod")
    rs = find(docs, "RayService")
    for group in ray_pods(rs):
        port = int(group["rayStartParams"]["metrics-export-port"])
        ports = {p["name"]: p["containerPort"] for p in group["template"]["spec"]["containers"][0]["ports"]}
        assert ports["metrics"] == port
    prom = yaml.safe_load(find(docs, "ConfigMap", "prometheus")["data"]["prometheus.yml"])
    relabels = prom["scrape_configs"][0]["relabel_configs"]
    assert {
        "source_labels": ["__meta_kubernetes_pod_container_port_name"],
        "regex": "metrics",
        "action": "keep",
    } in [
        {k: r[k] for k in ("source_labels", "regex", "action")} for r in relabels if r.get("action") == "keep"
    ]
    binding = find(docs, "RoleBinding", "prometheus")
    assert binding["subjects"][0]["namespace"] == "tracewise"


def dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for path in (K8S / "base" / "dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            for t in panel.get("targets", []):
                if "expr" in t:
                    out.append((panel["title"], t["expr"]))
    return out


def test_every_dashboard_query_names_a_metric_the_service_exports():
    queries = dashboard_queries()
    assert len(queries) >= 10
    exported = exported_names()
    used = set()
    for title, expr in queries:
        names = set(re.findall(r"\b(ray_[a-z_]+)\b", expr))
        assert names, f"{title}: no metric in {expr}"
        assert names <= exported, f"{title}: {names - exported} is not exported"
        used |= names
    # every metric family appears on the dashboard
    families = {n.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for n in used}
    assert {n.removesuffix("_total") for n in families} >= {
        "ray_tracewise_requests",
        "ray_tracewise_request_seconds",
        "ray_tracewise_ssim_gain",
        "ray_tracewise_fallbacks",
        "ray_tracewise_router_confidence",
        "ray_tracewise_cache",
        "ray_tracewise_inflight",
    }


def test_grafana_datasources_match_the_dashboard_uids():
    docs = overlay("dev")
    ds = yaml.safe_load(find(docs, "ConfigMap", "grafana-provisioning")["data"]["datasources.yaml"])
    uids = {d["uid"]: d for d in ds["datasources"]}
    dash = json.loads(find(docs, "ConfigMap", "grafana-dashboards")["data"]["tracewise.json"])
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] in uids
    assert (
        uids["tempo"]["url"].startswith("http://tempo:")
        and uids["prometheus"]["url"] == "http://prometheus:9090"
    )


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl not installed: the offline renderer alone"
)
@pytest.mark.parametrize("name", OVERLAYS)
def test_offline_renderer_agrees_with_kustomize(name):
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / name)], capture_output=True, text=True, check=True
    ).stdout

    def key(d):
        return (d["kind"], d["metadata"]["name"])

    theirs = {key(d): d for d in yaml.safe_load_all(out) if d}
    ours = {key(d): d for d in overlay(name)}
    assert theirs == ours


def test_every_alert_names_a_metric_the_service_or_ray_exports():
    rules = yaml.safe_load((K8S / "base" / "alerts" / "tracewise-rules.yaml").read_text())["groups"]
    exported = exported_names()
    for rule in (r for g in rules for r in g["rules"]):
        names = set(re.findall(r"\b(ray_[a-z_]+)\b", rule["expr"]))
        ours = {n for n in names if n.startswith("ray_tracewise_")}
        assert ours <= exported, f"{rule.get('alert') or rule['record']}: {ours - exported} is not exported"
        # Ray Serve's own (the e2e alert run sees it fire)
        assert names - ours <= {"ray_serve_replica_startup_latency_ms_count"}


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_prometheus_loads_the_rules_it_mounts(tmp_path):
    """The rendered prometheus.yml passes promtool with the rules where the Deployment mounts them."""
    docs = overlay("prod")
    prom = yaml.safe_load(find(docs, "ConfigMap", "prometheus")["data"]["prometheus.yml"])
    deployment = find(docs, "Deployment", "prometheus")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in deployment["containers"][0]["volumeMounts"]}
    volume = next(v for v in deployment["volumes"] if v["name"] == "rules")
    rules = find(docs, "ConfigMap", volume["configMap"]["name"])
    (pattern,) = prom["rule_files"]
    assert pattern == f"{mounts['rules']}/*.yaml" and set(rules["data"]) == {"tracewise-rules.yaml"}
    (tmp_path / "rules").mkdir()
    for name, text in rules["data"].items():
        (tmp_path / "rules" / name).write_text(text)
    prom["rule_files"] = [str(tmp_path / "rules" / "*.yaml")]
    prom["scrape_configs"][0].pop("kubernetes_sd_configs")  # needs a cluster; the rest is checked
    prom["scrape_configs"][0]["static_configs"] = [{"targets": ["localhost:8080"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom))
    out = subprocess.run(
        [PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    count = sum(len(g["rules"]) for g in yaml.safe_load(rules["data"]["tracewise-rules.yaml"])["groups"])
    assert out.returncode == 0 and f"{count} rules found" in out.stdout, out.stdout + out.stderr
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    find(docs, "Service", "alertmanager")


def test_alertmanager_routes_every_severity_to_a_webhook(tmp_path):
    docs = overlay("prod")
    rules = yaml.safe_load((K8S / "base" / "alerts" / "tracewise-rules.yaml").read_text())["groups"]
    severities = {r["labels"]["severity"] for g in rules for r in g["rules"] if "alert" in r}
    text = find(docs, "ConfigMap", "alertmanager")["data"]["alertmanager.yml"]
    config = yaml.safe_load(text)
    receivers = {r["name"]: r for r in config["receivers"]}
    routed = {"ticket": config["route"]["receiver"]}
    for route in config["route"]["routes"]:
        (matcher,) = route["matchers"]
        routed[matcher.split("=")[1].strip('"')] = route["receiver"]
    assert severities == {"page", "ticket"} and routed == {"page": "pager", "ticket": "tickets"}
    pod = find(docs, "Deployment", "alertmanager")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    secret = next(v for v in pod["volumes"] if v["name"] == "webhooks")["secret"]["secretName"]
    assert secret == "alertmanager-webhooks"
    for name in routed.values():
        (hook,) = receivers[name]["webhook_configs"]
        assert hook["url_file"].startswith(mounts["webhooks"] + "/") and hook["send_resolved"]
    amtool = shutil.which("amtool")
    if amtool:  # Debian's amtool (0.25) predates url_file (Alertmanager 0.26): checked with a url
        plain = text.replace("url_file: /etc/alertmanager-webhooks/", "url: http://hooks.invalid/")
        (tmp_path / "am.yml").write_text(plain)
        out = subprocess.run(
            [amtool, "check-config", str(tmp_path / "am.yml")], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_ray_pod_ships_its_log_folder_to_the_collector(name):
    from tests.support import logship

    docs = overlay(name)
    for group in ray_pods(find(docs, "RayService")):
        spec = group["template"]["spec"]
        ray = spec["containers"][0]
        shipper = next(c for c in spec["containers"] if c["name"] == "log-shipper")
        volumes = {v["name"]: v for v in spec["volumes"]}
        ray_mount = {m["mountPath"]: m["name"] for m in ray["volumeMounts"]}
        ship_mount = {m["mountPath"]: m for m in shipper["volumeMounts"]}
        # the same volume at Ray's session folder in both, read-only for the sidecar
        assert "emptyDir" in volumes[ray_mount["/tmp/ray"]]
        assert ship_mount["/tmp/ray"]["name"] == ray_mount["/tmp/ray"] and ship_mount["/tmp/ray"]["readOnly"]
        config_volume = volumes[ship_mount["/etc/otelcol"]["name"]]
        assert config_volume["configMap"]["name"] == "ray-log-shipper"
        assert "file_storage" in logship.config()["extensions"]  # offsets kept across restarts
        state = logship.config()["extensions"]["file_storage"]["directory"]
        assert state in ship_mount and "emptyDir" in volumes[ship_mount[state]["name"]]
    find(docs, "ConfigMap", "ray-log-shipper")
    for rx in logship.receivers().values():
        assert all(glob.startswith(logship.RAY_LOGS + "/") for glob in rx["include"])


def test_logs_flow_from_the_sidecars_through_the_collector_to_loki():
    from tests.support import logship

    docs = overlay("prod")
    shipper = logship.config()
    assert set(shipper["service"]["pipelines"]["logs"]["receivers"]) == set(logship.receivers())
    (out,) = shipper["service"]["pipelines"]["logs"]["exporters"]
    assert shipper["exporters"][out]["endpoint"] == "otel-collector:4317"
    collector = yaml.safe_load(find(docs, "ConfigMap", "otel-collector")["data"]["config.yaml"])
    (to_loki,) = collector["service"]["pipelines"]["logs"]["exporters"]
    loki = find(docs, "Service", "loki")
    assert (
        collector["exporters"][to_loki]["endpoint"] == f"http://loki:{loki['spec']['ports'][0]['port']}/otlp"
    )
    deploy = find(docs, "Deployment", "loki")
    volume = deploy["spec"]["template"]["spec"]["volumes"]
    claim = next(v["persistentVolumeClaim"]["claimName"] for v in volume if "persistentVolumeClaim" in v)
    find(docs, "PersistentVolumeClaim", claim)
    loki_cfg = yaml.safe_load(find(docs, "ConfigMap", "loki")["data"]["loki.yaml"])
    assert loki_cfg["limits_config"]["allow_structured_metadata"]  # trace_id / span_id arrive as that


def test_access_log_lines_parse_into_log_records_with_their_trace_ids():
    """The shipper's parsing applied to a line the access log writes (the e2e run checks real files)."""
    from opentelemetry.sdk.trace import TracerProvider

    from tests.support import logship
    from tracewise_serve import access_log
    from tracewise_serve.served import Served

    with TracerProvider().get_tracer("t").start_as_current_span("request") as span:
        served = Served("rid1", "auto", {"method": "mapping", "ssim": 0.9, "svg_bytes": 10, "svg": "<svg/>"})
        line = json.dumps(access_log.record("Vectorize", "rid1", "auto", served, "OK", 0.5))
        ctx = span.get_span_context()
    got = logship.parse("filelog/replicas", line)
    assert got["trace_id"] == f"{ctx.trace_id:032x}" and got["span_id"] == f"{ctx.span_id:016x}"
    assert got["attributes"]["request_id"] == "rid1" and got["timestamp"] is not None
    plain = logship.parse("filelog/replicas", "Traceback (most recent call last):")
    assert plain["attributes"] == {} and plain["trace_id"] is None  # shipped as text
    assert logship.receiver_for("worker-abc-01000000-123.err") == "filelog/replicas"
    assert logship.receiver_for("serve/replica_tracewise_Ingress_x.log") == "filelog/serve"
    assert logship.receiver_for("raylet.out") is None


def test_grafana_links_log_lines_to_traces_and_traces_to_lines():
    docs = overlay("dev")
    ds = yaml.safe_load(find(docs, "ConfigMap", "grafana-provisioning")["data"]["datasources.yaml"])
    uids = {d["uid"]: d for d in ds["datasources"]}
    (field,) = uids["loki"]["jsonData"]["derivedFields"]
    assert field["datasourceUid"] == "tempo" and field["matcherType"] == "label"
    assert field["matcherRegex"] == "trace_id"  # Loki's name for an OTLP log record's trace id
    to_logs = uids["tempo"]["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == "loki" and to_logs["filterByTraceID"]
    assert uids["loki"]["url"] == "http://loki:3100"


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("name", OVERLAYS)
def test_served_results_go_to_one_store_on_a_volume_backed_up_nightly(name):
    docs = overlay(name)
    sts = find(docs, "StatefulSet", "tracewise-store")
    assert sts["spec"]["replicas"] == 1  # one writer
    (store,) = sts["spec"]["template"]["spec"]["containers"]
    cmd = store["command"]
    db = Path(cmd[cmd.index("--db") + 1])
    mounts = {m["mountPath"]: m["name"] for m in store["volumeMounts"]}
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert mounts[str(db.parent)] == claim["metadata"]["name"]  # the file is on the claimed volume
    assert "/tmp" in mounts and store["securityContext"]["readOnlyRootFilesystem"]  # snapshots in /tmp
    port = int(cmd[cmd.index("--port") + 1])
    service = find(docs, "Service", "tracewise-store")
    assert service["spec"]["ports"][0]["port"] == port
    url = f"http://tracewise-store:{port}"
    for group in ray_pods(find(docs, "RayService")):
        env = _env(group["template"]["spec"]["containers"][0])
        assert env["TRACEWISE_RESULTS_URL"] == url and "TRACEWISE_RESULTS_DB" not in env
        assert env["TRACEWISE_STORE_TOKEN"]["secretKeyRef"]["name"] == "tracewise-store-token"
    job = find(docs, "CronJob", "tracewise-backup")
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (backup,) = pod["containers"]
    args = backup["command"]
    assert args[:2] == ["tracewise", "backup"] and args[args.index("--from-url") + 1] == url
    assert int(args[args.index("--keep") + 1]) >= 7
    out = args[args.index("--output") + 1]
    claim_of = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
    backup_volume = {m["mountPath"]: m["name"] for m in backup["volumeMounts"]}[out]
    find(docs, "PersistentVolumeClaim", claim_of[backup_volume])
    # the same parser the job runs accepts these arguments
    from tracewise.backup import main as backup_main

    with pytest.raises(SystemExit) as info:
        backup_main([*args[2:], "--help"])
    assert info.value.code == 0
