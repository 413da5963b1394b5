"""deployments/serve_config.yaml is a valid Ray Serve config and matches the app's deployments."""

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from tracewise.methods import METHODS as METHOD_NAMES
from tracewise.methods import WORK_BOUNDED

CONFIG = Path(__file__).resolve().parents[2] / "deployments" / "serve_config.yaml"


def test_config_parses_with_rays_schema():
    cfg = yaml.safe_load(CONFIG.read_text())
    schema = (
        ServeDeploySchema.model_validate(cfg)
        if hasattr(ServeDeploySchema, "model_validate")
        else ServeDeploySchema.parse_obj(cfg)
    )
    assert len(schema.applications) == 1  # one app: probes cannot send application metadata


def test_every_deployment_is_configured_and_fits_two_cores():
    cfg = yaml.safe_load(CONFIG.read_text())
    app = cfg["applications"][0]
    names = {d["name"] for d in app["deployments"]}
    assert names == {"Ingress", *(f"method-{m}" for m in METHOD_NAMES)}
    total = 0.0
    for d in app["deployments"]:
        replicas = d.get("autoscaling_config", {}).get("max_replicas", d.get("num_replicas", 1))
        total += replicas * d["ray_actor_options"]["num_cpus"]
        assert "max_queued_requests" in d and "max_ongoing_requests" in d
    assert total <= 2.0 + 1e-9
    servicers = cfg["grpc_options"]["grpc_servicer_functions"]
    assert any("add_HealthServicer_to_server" in s for s in servicers)


def test_inflight_limits_are_per_method_and_validated():
    from tracewise_serve.app import build_app

    cfg = yaml.safe_load(CONFIG.read_text())
    limits = cfg["applications"][0]["args"]["inflight_limits"]
    assert set(limits) <= set(METHOD_NAMES) and all(int(v) >= 1 for v in limits.values())
    build_app(cfg["applications"][0]["args"])
    with pytest.raises(ValueError, match="unknown methods"):
        build_app({"inflight_limits": {"mapping": 4, "magic": 2}})


def test_a_work_bounded_methods_replicas_take_all_the_room_admission_gives():
    """Admission bounds the work; Ray's router must not hold back what it let through (it probes
    the replicas and retries with backoff while they are full, which cost the ingress a third of
    its CPU at 8 in flight: bench/serving.py)."""
    from tracewise_serve.admission import replica_room

    cfg = yaml.safe_load(CONFIG.read_text())
    app = cfg["applications"][0]
    deployments = {d["name"]: d for d in app["deployments"]}
    ingresses = deployments["Ingress"]["num_replicas"]
    for method in WORK_BOUNDED:
        share = app["args"]["inflight_limits"][method]
        room = replica_room(ingresses, share)
        assert deployments[f"method-{method}"]["max_ongoing_requests"] >= room, method


def test_a_work_bounded_methods_calls_are_routed_by_a_fresh_look_and_the_others_by_rays_default():
    """Their replicas queue what they take (above), so a call routed on a stale view waits behind
    another while a replica idles (routing.py); a time-bounded method's replica takes one call and
    refuses the next, which Ray's default router handles."""
    from tracewise_serve.routing import ROUTER_PATH, FreshLookRouter

    cfg = yaml.safe_load(CONFIG.read_text())
    deployments = {d["name"]: d for d in cfg["applications"][0]["deployments"]}
    for method in METHOD_NAMES:
        d = deployments[f"method-{method}"]
        routing = d.get("request_router_config")
        if method in WORK_BOUNDED:
            assert routing is not None and routing["request_router_class"] == ROUTER_PATH, method
            FreshLookRouter.checked_kwargs(**routing["request_router_kwargs"])
        else:
            assert routing is None and d["max_ongoing_requests"] == 1, method


def test_the_colocated_layout_drops_the_work_bounded_deployments_and_still_parses():
    from tracewise_serve.app import build_app
    from tracewise_serve.local import colocated_config, load_config, overrides

    cfg = load_config(CONFIG)
    colocated = colocated_config(cfg, 2)
    app = colocated["applications"][0]
    assert app["args"]["colocated"] == {"methods": list(WORK_BOUNDED), "processes": 2}
    names = {d["name"] for d in app["deployments"]}
    assert names == {"Ingress", *(f"method-{m}" for m in METHOD_NAMES if m not in WORK_BOUNDED)}
    assert {d["name"] for d in cfg["applications"][0]["deployments"]} > names  # the original is kept
    ServeDeploySchema.model_validate(colocated)
    build_app(app["args"], overrides(app))
    with pytest.raises(ValueError, match="at least one process"):
        colocated_config(cfg, 0)
    with pytest.raises(ValueError, match="unknown methods"):
        build_app({"colocated": {"methods": ["magic"], "processes": 1}})
    with pytest.raises(ValueError, match="work-bounded"):
        build_app({"colocated": {"methods": ["search"], "processes": 1}})
