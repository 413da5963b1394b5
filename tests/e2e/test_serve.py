"""The whole real stack: Ray Serve with its gRPC proxy on loopback, called through the SDK."""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tracewise_client import Client, TracewiseError
from tracewise_client.v1 import vectorize_pb2 as pb
from tracewise_client.v1 import vectorize_pb2_grpc as pb_grpc

from .conftest import INGRESS_REPLICAS, KEY

pytestmark = pytest.mark.e2e


def test_the_replicas_view_reads_the_same_counts_as_serve_status(service):
    """health.serve_snapshot reads the controller's answer as plain data (40 times cheaper than
    serve.status(), which builds models from it): the same running replicas per deployment."""
    from ray import serve

    from tracewise_serve.health import serve_snapshot

    deployments = serve.status().applications["tracewise"].deployments
    expected = {name: d.replica_states.get("RUNNING", 0) for name, d in deployments.items()}
    assert serve_snapshot() == expected
    assert expected["Ingress"] == INGRESS_REPLICAS and expected["method-mapping"] >= 1


def test_health_serving_and_unknown_service(service):
    with grpc.insecure_channel(service) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        assert (
            stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status
            == health_pb2.HealthCheckResponse.SERVING
        )
        with pytest.raises(grpc.RpcError) as info:
            stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        for method in ("default", "mapping", "search", "regional"):  # one service name per method
            name = f"tracewise.v1.VectorizeService/{method}"
            assert stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status == (
                health_pb2.HealthCheckResponse.SERVING
            )


def test_vectorize_shared_logo(client, wordmark_png):
    r = client.vectorize(wordmark_png, method="mapping")
    assert r.svg.startswith("<svg") and r.method_used == "mapping"
    assert r.ssim > 0.9 and r.svg_bytes <= r.cap_bytes and r.params["path_precision"] <= 8
    assert len(r.request_id) == 16 and not r.fallbacks


def test_auto_is_routed_and_beats_default(client, wordmark_png):
    auto = client.vectorize(wordmark_png, budget_seconds=2.0)
    base = client.vectorize(wordmark_png, method="default")
    assert auto.method_requested == "auto" and auto.method_used in ("mapping", "search")
    assert auto.logo_type in ("simple", "text", "gradient", "complex") and 0 < auto.confidence <= 1
    assert auto.ssim > base.ssim


def test_repeated_request_is_cached(client, dev_logos):
    # Each ingress replica (two) keeps its own cache: at most one miss per replica, then hits.
    data = dev_logos[3].png.read_bytes()
    results = [client.vectorize(data, method="mapping") for _ in range(4)]
    misses = [r for r in results if not r.cached]
    assert 1 <= len(misses) <= INGRESS_REPLICAS and not results[0].cached  # (in any order)
    assert all(r.svg == results[0].svg for r in results)
    assert len({r.request_id for r in results}) == 4


def test_route_rpc(client, wordmark_png):
    d = client.route(wordmark_png, budget_seconds=0.2)
    assert d["method"] == "mapping" and d["model_version"] and d["logo_type"] and d["method_budget_s"] is None
    d = client.route(wordmark_png, budget_seconds=60)
    assert d["method"] in ("search", "regional") or d["method_budget_s"] is None
    assert d["method_budget_s"] is None or 0.5 <= d["method_budget_s"] <= 30


def test_api_key_required_but_health_open(service, wordmark_png):
    for key in (None, "wrong"):
        with Client(service, api_key=key, timeout=30) as c:
            with pytest.raises(TracewiseError) as info:
                c.vectorize(wordmark_png, method="default")
            assert info.value.code == "UNAUTHENTICATED"
            assert c.health() == "SERVING"


def test_results_are_stored(client, store_path, dev_logos):
    from tracewise.store import ResultsStore

    png = dev_logos[23].png.read_bytes()
    results = [client.vectorize(png, method="mapping") for _ in range(INGRESS_REPLICAS + 1)]
    first, again = results[0], next(r for r in results if r.cached)
    assert not first.cached and first.defaults_ssim is not None
    deadline = time.monotonic() + 30  # recorded after the answer, through the store server
    while time.monotonic() < deadline:
        rows = {r["request_id"]: r for r in ResultsStore(store_path).rows()}
        if {r.request_id for r in results} <= set(rows):
            break
        time.sleep(0.25)
    row = rows[first.request_id]
    assert row["method_requested"] == row["method_used"] == "mapping" and len(row["features"]) > 5
    assert row["defaults_ssim"] == pytest.approx(first.defaults_ssim) and row["cached"] == 0
    assert row["logo_type"] in ("simple", "text", "gradient", "complex")  # stored even when not routed
    assert row["ssim"] == pytest.approx(first.ssim, abs=1e-6) and row["svg_bytes"] == first.svg_bytes
    hit = rows[again.request_id]
    assert hit["cached"] == 1 and hit["features"] == [] and hit["ssim"] == pytest.approx(first.ssim)


def test_routed_requests_are_explored_into_training_labels(client, store_path, dev_logos):
    import hashlib

    from tracewise.store import ResultsStore
    from tracewise.training.router import examples_from_store

    png = dev_logos[41].png.read_bytes()
    answer = client.vectorize(png, budget_seconds=1.0)  # auto: mapping and search both fit
    assert answer.method_requested == "auto"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = {r["request_id"]: r for r in ResultsStore(store_path).rows()}
        if f"{answer.request_id}-x" in rows:
            break
        time.sleep(0.25)
    explored = rows[f"{answer.request_id}-x"]  # KeyError here: no exploration within 30 s
    served = rows[answer.request_id]
    assert explored["method_requested"] == "explore" and explored["decision"] is None
    arms = {explored["options"]["arm"], served["options"]["arm"]}
    assert len(arms) == 2 and arms <= {"mapping", "search@0.5", "search@1"}  # what fits 1 s
    assert served["decision"] == served["options"]["arm"]
    assert explored["image_sha256"] == served["image_sha256"] == hashlib.sha256(png).hexdigest()
    same = {k: v for k, v in explored["options"].items() if k != "arm"}
    assert same == {k: v for k, v in served["options"].items() if k != "arm"}
    assert len(explored["features"]) == len(served["features"])
    (mine,) = [e for e in examples_from_store(store_path) if e["logo"] == served["image_sha256"]]
    assert set(mine["one"]) == arms and mine["budget_s"] == 1.0 and mine["label1"] in arms


@pytest.mark.parametrize(
    "image,match",
    [(b"\x00garbage bytes, not an image", "not a supported"), (b"", "empty"), (b"<svg/>", "SVG")],
)
def test_bad_images_are_invalid_argument(client, image, match):
    with pytest.raises(TracewiseError) as info:
        client.vectorize(image)
    assert info.value.code == "INVALID_ARGUMENT"
    assert match in info.value.message and "Traceback" not in info.value.message
    assert info.value.request_id
    # the rich details passed Ray's proxy: the reason and the field at fault
    assert info.value.reason == "INVALID_IMAGE" and info.value.violations[0][0] == "image"


def test_absurd_options_are_invalid_argument(client, service, wordmark_png):
    with pytest.raises(TracewiseError) as info:
        client.vectorize(wordmark_png, target_ssim=2.0)
    assert info.value.code == "INVALID_ARGUMENT" and "target_ssim" in info.value.message
    with grpc.insecure_channel(service) as ch:
        stub = pb_grpc.VectorizeServiceStub(ch)
        req = pb.VectorizeRequest(image=wordmark_png, options=pb.Options(method=99))
        with pytest.raises(grpc.RpcError) as err:
            stub.Vectorize(req, timeout=30, metadata=[("authorization", f"Bearer {KEY}")])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "method" in err.value.details()


def test_deadline_becomes_budget(client, wordmark_png):
    # search's own budget is 5 s: a 3 s deadline must still get its result (no DEADLINE_EXCEEDED)
    t = time.monotonic()
    r = client.vectorize(wordmark_png, method="search", timeout=3.0)
    assert time.monotonic() - t < 3.0
    assert r.method_used == "search" and r.evaluations > 1 and r.seconds < 3.0


def test_expired_deadline(client, wordmark_png):
    with pytest.raises(TracewiseError) as info:
        client.vectorize(wordmark_png, method="search", timeout=0.1)
    assert info.value.code == "DEADLINE_EXCEEDED"


def test_stream_progress_then_result(client, wordmark_png):
    events = []
    r = client.vectorize_stream(wordmark_png, method="search", budget_seconds=1.5, on_progress=events.append)
    assert events and all(0 <= e.fraction <= 1 for e in events)
    assert r.method_used == "search" and r.ssim >= max(e.best_score for e in events) - 0.05


def test_service_info(client):
    info = client.service_info()
    assert {m.method for m in info.methods} == {1, 2, 3, 4}
    assert all(m.ready for m in info.methods)  # every method has a running replica
    assert info.max_pixels == 50_000_000 and info.mapping_model_version


def test_cli_through_the_server(service, dev_logos, capsys):
    import json

    from tracewise_cli import main

    args = [
        "convert",
        str(dev_logos[0].png),
        "--server",
        service,
        "--api-key",
        KEY,
        "--method",
        "mapping",
        "--json",
    ]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "mapping" and report["request_id"] and report["ssim"] > 0.9


def test_a_batch_through_the_server(service, dev_logos, tmp_path, capsys):
    import json

    from tracewise_cli import main

    src = tmp_path / "in"
    src.mkdir()
    for lg in dev_logos[60:64]:
        (src / lg.png.name).write_bytes(lg.png.read_bytes())
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    argv = ["convert", str(src), "-o", f"{out}/", "--server", service, "--api-key", KEY,
            "--method", "mapping", "--jobs", "3", "--json"]  # fmt: skip
    assert main(argv) == 1  # the broken file
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert sum(x["ok"] for x in lines) == 4 and len(list(out.glob("*.svg"))) == 4
    (bad,) = [x for x in lines if not x["ok"]]
    assert bad["error"].startswith("INVALID_ARGUMENT")


def test_cli_health_probe(service, capsys):
    from tracewise_cli import main

    assert main(["health", "--server", service]) == 0
    assert capsys.readouterr().out.strip() == "SERVING"
    assert main(["health", "--server", service, "--service", "nope"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_a_2048_px_logo_converts_through_the_service(client):
    """Real exports are 1024-2048 px: a 2048 x 2048 PNG is converted, never refused, and is at
    least VTracer's defaults."""
    from tests.unit.test_decode import _big_logo
    from tracewise.decode import encode

    r = client.vectorize(encode(_big_logo(2048, 2048)), method="mapping", timeout=120)
    assert 'width="2048" height="2048"' in r.svg and r.method_used == "mapping" and not r.fallbacks
    assert r.defaults_ssim is not None and r.ssim >= r.defaults_ssim - 0.002


def test_palette_through_the_service(client, wordmark_png):
    r = client.vectorize(wordmark_png, method="mapping", palette=["#000000", "#FFF"], timeout=60)
    assert r.params["palette"] == ["#000000", "#ffffff"] and r.unconstrained_ssim is not None
    assert any("colour limits cost" in n for n in r.notes)
    for bad in ({"palette": ["red"]}, {"max_colors": 0}, {"max_colors": 999}):
        with pytest.raises(TracewiseError) as info:
            client.vectorize(wordmark_png, method="mapping", timeout=30, **bad)
        assert info.value.code == "INVALID_ARGUMENT"
        assert next(iter(bad)) in info.value.message


def test_reflection_lets_a_generic_client_discover_and_call_the_api(service):
    """What grpcurl does: list the services, describe one, build its messages from the served
    descriptors (no generated code) and call it; the call still needs an API key."""
    from google.protobuf import descriptor_pool, message_factory
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    with grpc.insecure_channel(service) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        names = set(db.get_services())
        assert {"tracewise.v1.VectorizeService", "grpc.health.v1.Health"} <= names
        pool = descriptor_pool.DescriptorPool(db)
        svc = pool.FindServiceByName("tracewise.v1.VectorizeService")
        assert {"Vectorize", "VectorizeStream", "Route", "GetServiceInfo"} <= {m.name for m in svc.methods}
        method = svc.FindMethodByName("GetServiceInfo")
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            "/tracewise.v1.VectorizeService/GetServiceInfo",
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        info = call(request_cls(), timeout=30, metadata=[("authorization", f"Bearer {KEY}")])
        assert info.version and len(info.methods) == 4 and info.max_pixels == 50_000_000
        with pytest.raises(grpc.RpcError) as refused:
            call(request_cls(), timeout=30)  # discovering the schema is open; calling is not
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
