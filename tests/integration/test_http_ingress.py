"""The Ingress's HTTP side on a plain ASGI server, no Ray, the real engine in-process: multipart
bodies, server-sent events, routes and the page's assets (tests/support/http_ingress.py)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.http_ingress import METHODS, serving
from tracewise.decode import encode
from tracewise_serve.http_api import ROUTES
from tracewise_serve.openapi import OPENAPI


@pytest.fixture
def base(monkeypatch):
    with serving(monkeypatch) as (url, _):
        yield url


@pytest.fixture
def png(two_squares):
    return encode(two_squares)


def events(response):
    """(event, data) pairs from a text/event-stream body."""
    out = []
    for block in response.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_a_form_with_an_options_part_is_the_same_request_as_a_raw_body(base, png):
    raw = requests.post(f"{base}/v1/vectorize", data=png, params={"method": "mapping", "style": "polygon"})
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("image/svg+xml")
    options = json.dumps({"method": "mapping", "style": "STYLE_POLYGON"})
    form = requests.post(f"{base}/v1/vectorize", files={"image": ("a.png", png), "options": (None, options)})
    assert form.status_code == 200 and form.content == raw.content
    # options may also come in the query beside a form holding only the image
    both = requests.post(
        f"{base}/v1/vectorize", params={"method": "mapping", "style": "polygon"}, files={"image": png}
    )
    assert both.content == raw.content
    as_json = requests.post(
        f"{base}/v1/vectorize", files={"image": png, "options": (None, '{"maxColors": 2}')},
        headers={"accept": "application/json"},
    ).json()  # fmt: skip
    assert "unconstrained_ssim" in as_json["report"] and as_json["svg"].startswith("<svg")  # limited


@pytest.mark.parametrize(
    "files, params, field",
    [
        ({"picture": b"x"}, {}, "image"),  # no part named image
        ({"image": b"x", "options": (None, "{not json")}, {}, "options"),
        ({"image": b"x", "options": (None, "[1]")}, {}, "options"),
        ({"image": b"x", "options": (None, '{"method": "magic"}')}, {}, "method"),
        ({"image": b"x", "options": (None, '{"method": "mapping"}')}, {"method": "search"}, "method"),
    ],
)
def test_bad_forms_are_400_with_the_field_at_fault(base, files, params, field):
    r = requests.post(f"{base}/v1/vectorize", files=files, params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field_violations"][0]["field"] == field and body["request_id"] == r.headers["x-request-id"]


def test_a_broken_multipart_body_is_400(base):
    r = requests.post(
        f"{base}/v1/vectorize", data=b"--b\r\nnot a part", headers={"content-type": "multipart/form-data"}
    )
    assert r.status_code == 400 and r.json()["reason"] == "BAD_QUERY"


def test_the_stream_sends_progress_then_the_result(base, png):
    r = requests.post(
        f"{base}/v1/vectorize/stream",
        data=png,
        params={"method": "search", "budget_seconds": "1"},
        stream=True,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    got = events(r)
    kinds = [k for k, _ in got]
    assert kinds[-1] == "result" and kinds.count("result") == 1 and "progress" in kinds
    progress = [d for k, d in got if k == "progress"]
    assert all(0.0 <= p["fraction"] <= 1.0 and p["stage"] for p in progress)
    result = got[-1][1]
    assert result["svg"].startswith("<svg") and result["report"]["method_used"] == "METHOD_SEARCH"
    assert result["report"]["request_id"] == r.headers["x-request-id"]


def test_what_fails_before_the_stream_begins_is_an_http_status(base):
    r = requests.post(f"{base}/v1/vectorize/stream", data=b"not an image")
    assert r.status_code == 400 and r.json()["reason"] == "INVALID_IMAGE"
    r = requests.post(f"{base}/v1/vectorize/stream", data=b"x", params={"budget_seconds": "-1"})
    assert r.status_code == 400 and r.json()["field_violations"]
    r = requests.post(f"{base}/v1/vectorize", data=b"x", headers={"x-tracewise-timeout": "soon"})
    assert r.status_code == 400 and r.json()["field_violations"][0]["field"] == "x-tracewise-timeout"


def test_keys_hold_for_the_api_but_not_the_page(monkeypatch, png):
    with serving(monkeypatch, api_keys="k1") as (url, _):
        assert requests.post(f"{url}/v1/vectorize/stream", data=png).status_code == 401
        assert requests.post(f"{url}/v1/vectorize", files={"image": png}).status_code == 401
        ok = requests.post(f"{url}/v1/vectorize", data=png, headers={"authorization": "Bearer k1"})
        assert ok.status_code == 200
        page = requests.get(url + "/")
        assert page.status_code == 200 and '"needs_key": true' in page.text


def test_the_page_and_its_assets(base):
    page = requests.get(base + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    start = page.text.index('id="config">') + len('id="config">')
    config = json.loads(page.text[start : page.text.index("</script>", start)])
    assert [m["name"] for m in config["methods"]] == list(METHODS)
    assert config["styles"] == ["spline", "polygon", "pixel"] and not config["needs_key"]
    for asset, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        r = requests.get(f"{base}/ui/{asset}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind) and len(r.content) > 500
    for ref in ("/ui/app.js", "/ui/app.css"):
        assert ref in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no external asset


def test_routes_and_the_openapi_document_agree(base):
    assert set(OPENAPI["paths"]) == {p for p in ROUTES if not p.startswith("/ui/")}
    for path, verbs in ROUTES.items():
        if path in OPENAPI["paths"]:
            assert set(OPENAPI["paths"][path]) == {v.lower() for v in verbs}
    assert requests.get(base + "/v1/openapi.json").json() == OPENAPI
    missing = requests.get(base + "/nowhere")
    assert missing.status_code == 404 and missing.json()["request_id"]
    wrong = requests.get(base + "/v1/vectorize")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
