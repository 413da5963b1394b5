"""Traces and metrics from the real stack: one request is one trace tree; metrics reach Prometheus."""

from __future__ import annotations

import time
import urllib.request

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tracewise_client import Client, TracewiseError
from tracewise_serve.metrics import SPEC, exported_names

from .conftest import KEY

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client_tracing(stack, tracer_provider):
    """The application's own tracer provider, exporting to the same receiver as the service."""
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{stack.traces.port}", insecure=True)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


def _wait_for(fn, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > end:
            return got
        time.sleep(0.25)


def test_one_request_is_one_trace_from_client_to_evaluations(stack, client_tracing, wordmark_png):
    with Client(stack.grpc, api_key=KEY, timeout=60) as c:
        tracer = trace.get_tracer("tests")
        with tracer.start_as_current_span("user-operation") as root:
            r = c.vectorize(wordmark_png, method="auto", budget_seconds=2)
    trace_id = format(root.get_span_context().trace_id, "032x")
    method_span = f"tracewise.method.{r.method_used}"

    def complete():
        spans = stack.traces.trace(trace_id)
        names = {s.name for s in spans}
        return spans if method_span in names and "tracewise.route" in names else None

    spans = _wait_for(complete)
    assert spans, f"no complete trace; got {[s.name for s in stack.traces.trace(trace_id)]}"
    time.sleep(1.0)  # late batches of the same trace
    spans = stack.traces.trace(trace_id)
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if s.parent_id not in by_id]
    assert [s.name for s in roots] == ["user-operation"], "one tree, rooted at the caller's span"

    def ancestors(s):
        chain = []
        while s.parent_id in by_id:
            s = by_id[s.parent_id]
            chain.append(s.name)
        return chain

    names = [s.name for s in spans]
    client_span = next(s for s in spans if s.name == "tracewise.v1.VectorizeService/Vectorize")
    assert client_span.service == "tracewise-tests"
    proxy = next(s for s in spans if s.name.startswith("proxy_grpc_request"))
    assert proxy.parent_id == client_span.span_id, "the proxy continues the client's traceparent"
    ingress = next(s for s in spans if s.name.startswith("replica_handle_request Ingress"))
    assert ingress.attributes["tracewise.method_used"] == r.method_used
    assert ingress.attributes["tracewise.request_id"] == r.request_id
    route = next(s for s in spans if s.name == "tracewise.route")
    assert route.attributes["tracewise.logo_type"] == r.logo_type
    assert isinstance(route.attributes["tracewise.feature.log_colours"], float)
    method = next(s for s in spans if s.name == method_span)
    assert method.service == "tracewise"
    assert method.attributes["tracewise.ssim"] == pytest.approx(r.ssim, abs=1e-6)
    assert method.attributes["tracewise.svg_bytes"] == r.svg_bytes
    # proxy -> ingress -> route, and the method replica's span hangs under the ingress's attempt
    assert "user-operation" in ancestors(method) and proxy.name in ancestors(method)
    assert ingress.name in ancestors(route) and "tracewise.attempt" in ancestors(method)
    if r.method_used in ("search", "regional"):
        evals = [s for s in spans if s.name == "tracewise.evaluate"]
        assert evals and all(method_span in ancestors(s) for s in evals)
        assert sum(s.attributes["tracewise.evaluated"] for s in evals) <= r.evaluations
    assert len(names) >= 6


def test_metrics_reach_prometheus(stack, client, wordmark_png):
    for _ in range(3):  # at most one miss per ingress replica (two): a cache hit among them
        client.vectorize(wordmark_png, method="mapping")
    with pytest.raises(Exception):  # noqa: B017 - any error status counts as an answered request
        client.vectorize(b"not an image")

    def scrape():
        text = urllib.request.urlopen(stack.metrics_url, timeout=5).read().decode()
        lines = [ln for ln in text.splitlines() if ln.startswith("ray_tracewise_")]
        ok = any('status="INVALID_ARGUMENT"' in ln for ln in lines) and any(
            'result="hit"' in ln for ln in lines
        )
        return lines if ok else None

    lines = _wait_for(scrape, 30)
    assert lines, "service metrics did not reach Ray's Prometheus endpoint"
    names = {ln.split("{")[0].split(" ")[0] for ln in lines}
    assert names <= exported_names(), names - exported_names()
    for must in (
        "tracewise_requests",
        "tracewise_request_seconds",
        "tracewise_method_seconds",
        "tracewise_ssim_gain",
        "tracewise_cache",
    ):
        kind = SPEC[must][0]
        series = f"ray_{must}_total" if kind == "counter" else f"ray_{must}_count"
        assert series in names, series
    ok = [
        ln for ln in lines if ln.startswith("ray_tracewise_requests_total") and 'method_used="mapping"' in ln
    ]
    assert ok and all('application="tracewise"' in ln for ln in ok)
    assert sum(float(ln.rsplit(" ", 1)[1]) for ln in ok) >= 2


def _ray_log_lines(marker: str) -> list[tuple[str, str]]:
    """(file relative to Ray's logs folder, line) for every line holding ``marker``, as written."""
    from pathlib import Path

    import ray

    logs = Path(ray._private.worker._global_node.get_logs_dir_path())  # noqa: SLF001
    out = []
    for path in logs.rglob("*"):
        if not path.is_file() or path.suffix not in (".err", ".out", ".log"):
            continue
        for line in path.read_text(errors="replace").splitlines():
            if marker in line:
                out.append((str(path.relative_to(logs)), line))
    return out


def _access_lines() -> list[dict]:
    """Every access-log line the service's replicas wrote (Ray keeps their stderr in its logs)."""
    import json

    return [json.loads(line) for _, line in _ray_log_lines('"log":"tracewise.access"')]


def test_every_request_has_one_access_log_line_joined_to_its_trace(stack, client_tracing, wordmark_png):
    tracer = trace.get_tracer("tests")
    answers = []
    with Client(stack.grpc, api_key=KEY, timeout=60) as c:
        for method in ("mapping", "default", "auto"):
            with tracer.start_as_current_span("user-operation") as root:
                r = c.vectorize(wordmark_png, method=method, budget_seconds=1)
            answers.append((r, format(root.get_span_context().trace_id, "032x")))
        with pytest.raises(TracewiseError):
            c.vectorize(b"not an image")

    def lines():
        got = _access_lines()
        ids = {x["request_id"] for x in got}
        return got if all(r.request_id in ids for r, _ in answers) else None

    got = _wait_for(lines)
    assert got, "no access-log line for some request"
    for r, trace_id in answers:
        (line,) = [x for x in got if x["request_id"] == r.request_id]  # exactly one per request
        assert line["trace_id"] == trace_id and line["status"] == "OK" and line["rpc"] == "Vectorize"
        assert line["method_used"] == r.method_used and line["svg_bytes"] == r.svg_bytes

        def the_span(trace_id=trace_id, span_id=line["span_id"]):
            return [s for s in stack.traces.trace(trace_id) if s.span_id == span_id]

        spans = _wait_for(the_span)
        assert spans, "the line's span is one of its trace's spans"
    assert any(x["status"] == "INVALID_ARGUMENT" for x in got)
    assert not any("image" in k for x in got for k in x)  # no image bytes, no keys


def test_the_log_shipper_config_tails_and_parses_the_real_files(stack, client, wordmark_png):
    """k8s/base/log-shipper.yaml against the files this Ray wrote: each access line is in a file
    the replicas receiver tails, is JSON from its first byte, and yields its trace and span ids."""
    from tests.support import logship

    client.vectorize(wordmark_png, method="default")
    found = _wait_for(lambda: _ray_log_lines('"log":"tracewise.access"'))
    assert found
    for relative, line in found:
        assert logship.receiver_for(relative) == "filelog/replicas", relative
        record = logship.parse("filelog/replicas", line)
        assert record["attributes"]["log"] == "tracewise.access", line[:80]
        assert record["timestamp"] is not None and record["trace_id"] == record["attributes"]["trace_id"]
    serve_logs = {r for r, _ in _ray_log_lines("tracewise") if r.startswith("serve/")}
    assert serve_logs and all(logship.receiver_for(r) == "filelog/serve" for r in serve_logs)
