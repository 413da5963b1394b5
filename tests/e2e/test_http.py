"""The HTTP/JSON API on Ray Serve's HTTP proxy, against the real service: the same data plane as
gRPC (same answer for the same request), the bad-input corpus as HTTP statuses, keys, probes."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support.corpus import cases
from tracewise_client import Client

from .conftest import KEY

pytestmark = pytest.mark.e2e
HTTP_FOR = {"OK": 200, "INVALID_ARGUMENT": 400, "OUT_OF_RANGE": 400, "RESOURCE_EXHAUSTED": 413,
            "DEADLINE_EXCEEDED": 504}  # fmt: skip


def call(stack, path, data=None, query=None, headers=None, key=KEY):
    url = stack.http + path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
    hdrs = {"authorization": f"Bearer {key}"} if key else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, headers=hdrs, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_vectorize_over_http_is_the_same_answer_as_over_grpc(stack, dev_logos):
    png = dev_logos[57].png.read_bytes()
    status, headers, body = call(stack, "/v1/vectorize", png, {"method": "mapping", "style": "polygon"})
    assert status == 200 and headers["content-type"].startswith("image/svg+xml")
    assert body.startswith(b"<svg") and len(headers["x-request-id"]) == 16
    status, _, body_json = call(
        stack, "/v1/vectorize", png, {"method": "mapping", "style": "polygon"}, {"accept": "application/json"}
    )
    answer = json.loads(body_json)
    assert status == 200 and answer["svg"].encode() == body
    report = answer["report"]
    assert report["method_used"] == "METHOD_MAPPING" and report["svg_bytes"] == len(body)
    assert report["defaults_ssim"] > 0 and "request_id" in report  # the proto's field names
    with Client(stack.grpc, api_key=KEY, timeout=60) as c:
        grpc_answer = c.vectorize(png, method="mapping", style="polygon")
    assert grpc_answer.svg.encode() == body  # the same data plane: byte for byte


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_the_bad_input_corpus_over_http(stack, case):
    query = {}
    for name, value in case.options.items():
        query[name] = value if not isinstance(value, float) or value == value else "nan"
    headers = {"x-tracewise-timeout": str(case.timeout)} if case.timeout else {}
    status, hdrs, body = call(stack, "/v1/vectorize", case.image, query or None, headers)
    assert status != 500, body[:200]
    assert status in {HTTP_FOR[c] for c in case.expect}, (status, body[:200])
    if status != 200:
        err = json.loads(body)
        assert err["request_id"] == hdrs["x-request-id"] and err["reason"]
        assert case.word.lower() in err["message"].lower(), err
        assert "Traceback" not in err["message"] and "/home" not in err["message"]


def test_keys_probes_info_and_the_openapi_document(stack):
    status, _, body = call(stack, "/v1/vectorize", b"x", key=None)
    assert status == 401 and json.loads(body)["reason"] == "UNAUTHENTICATED"
    assert call(stack, "/healthz", key=None)[0] == 200
    status, _, body = call(stack, "/readyz", key=None)
    assert status == 200 and json.loads(body)["status"] == "SERVING"
    assert call(stack, "/v1/info", key=None)[0] == 401
    status, _, body = call(stack, "/v1/info")
    assert status == 200 and len(json.loads(body)["methods"]) == 4
    status, _, body = call(stack, "/v1/openapi.json", key=None)
    spec = json.loads(body)
    assert set(spec["paths"]) == {
        "/v1/vectorize", "/v1/vectorize/stream", "/v1/info", "/healthz", "/readyz", "/v1/openapi.json", "/",
    }  # fmt: skip
    for path in spec["paths"]:  # every documented path is served
        assert call(stack, path, b"" if "post" in spec["paths"][path] else None)[0] != 404
    assert call(stack, "/nowhere")[0] == 404
    assert call(stack, "/v1/vectorize")[0] == 405  # GET


def test_a_traceparent_header_joins_the_callers_trace(stack, wordmark_png):
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    headers = {"traceparent": f"00-{trace_id}-{parent}-01"}
    status, hdrs, _ = call(
        stack, "/v1/vectorize", wordmark_png, {"method": "mapping", "budget_seconds": "3"}, headers
    )
    assert status == 200
    deadline = time.monotonic() + 20
    while True:
        spans = stack.traces.trace(trace_id)
        names = {s.name for s in spans}
        if "tracewise.method.mapping" in names or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert "tracewise.method.mapping" in names, f"the trace has only {sorted(names)}"
    proxy = next(s for s in spans if s.name.startswith("proxy_http_request"))
    assert proxy.parent_id == parent, "the HTTP proxy continues the caller's span"
    ingress = next(s for s in spans if s.name.startswith("replica_handle_request Ingress"))
    assert ingress.attributes["tracewise.request_id"] == hdrs["x-request-id"]
