"""Tracing and metrics plumbing that needs no cluster: engine spans, Ray's env vars, metric names."""

from __future__ import annotations

import pytest

from tracewise import engine
from tracewise.objective import Objective
from tracewise_client.client import _metadata
from tracewise_serve.metrics import SPEC, exported_names, reason_kind
from tracewise_serve.tracing import EXPORTER_PATH, span_processors, tracing_env


def test_engine_spans_form_a_tree_with_results(spans, wordmark_png):
    result = engine.vectorize(wordmark_png, "search", Objective(budget_s=0.5))
    got = {s.name: s for s in spans.get_finished_spans()}
    method = got["tracewise.method.search"]
    assert method.attributes["tracewise.ssim"] == result.quality.ssim
    assert method.attributes["tracewise.evaluations"] == result.evaluations
    evals = [s for s in spans.get_finished_spans() if s.name == "tracewise.evaluate"]
    assert evals and all(s.parent.span_id == method.context.span_id for s in evals)
    assert all(s.context.trace_id == method.context.trace_id for s in evals)


def test_auto_traces_features_route_and_method(spans, wordmark_png):
    result = engine.vectorize(wordmark_png, "auto", Objective(budget_s=0.3))
    names = [s.name for s in spans.get_finished_spans()]
    assert "tracewise.features" in names and "tracewise.route" in names
    route = next(s for s in spans.get_finished_spans() if s.name == "tracewise.route")
    assert route.attributes["tracewise.method"] == result.method
    assert route.attributes["tracewise.logo_type"] == result.decision.logo_type


def test_every_result_reports_vtracers_defaults(wordmark_png):
    d = engine.vectorize(wordmark_png, "mapping").to_dict()
    assert 0.5 < d["defaults_ssim"] < 1.0 and d["defaults_svg_bytes"] <= d["cap_bytes"]
    assert d["ssim"] >= d["defaults_ssim"] - 1e-9


def test_client_sends_traceparent_of_the_current_span(tracer_provider):
    from opentelemetry import trace

    assert not any(k == "traceparent" for k, _ in _metadata(None, 1.0))  # no span: nothing to send
    with trace.get_tracer("t").start_as_current_span("op") as span:
        md = dict(_metadata("k", 1.0))
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert md["traceparent"].split("-")[1] == trace_id and md["authorization"] == "Bearer k"


def test_tracing_env_is_off_without_an_endpoint_and_validates_sampling():
    assert tracing_env({}) == {}
    env = tracing_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo:4317", "TRACEWISE_TRACE_SAMPLING": "0.05"}
    )
    assert env["RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH"] == EXPORTER_PATH
    assert env["RAY_SERVE_TRACING_SAMPLING_RATIO"] == "0.05" and env["OTEL_SERVICE_NAME"] == "tracewise"
    with pytest.raises(ValueError, match="TRACEWISE_TRACE_SAMPLING"):
        tracing_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "x", "TRACEWISE_TRACE_SAMPLING": "2"})


def test_span_processors_satisfy_rays_contract(monkeypatch):
    from opentelemetry.sdk.trace import SpanProcessor

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    procs = span_processors()
    assert procs and all(isinstance(p, SpanProcessor) for p in procs)
    for p in procs:
        p.shutdown()


def test_metric_names_and_bounded_reason_labels():
    names = exported_names()
    assert "ray_tracewise_requests_total" in names and "ray_tracewise_ssim_gain_bucket" in names
    assert len(SPEC) >= 8
    assert reason_kind("DEADLINE_EXCEEDED: ran out") == "DEADLINE_EXCEEDED"
    assert reason_kind("overloaded: search is saturated") == "overloaded"
    assert reason_kind("something odd 1234") == "other"
