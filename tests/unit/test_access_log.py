"""The access log: one JSON line per answered request, with its trace's ids and no image or key."""

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from tracewise_serve import access_log
from tracewise_serve.served import Served


def test_one_json_line_carries_the_request_and_its_span(capfd):
    tracer = TracerProvider().get_tracer("test")
    result = {"method": "search", "svg_bytes": 812, "ssim": 0.97123456, "svg": "<svg>secret drawing</svg>"}
    out = Served(
        "abc123", "auto", result, arm="search@1", fallbacks=({"from": "regional", "reason": "timed out"},)
    )
    with tracer.start_as_current_span("request") as span:
        access_log.emit("Vectorize", "abc123", "auto", out, "OK", 1.23456)
        ctx = span.get_span_context()
    (line,) = [x for x in capfd.readouterr().err.splitlines() if x.strip()]
    got = json.loads(line)
    assert got["trace_id"] == f"{ctx.trace_id:032x}" and got["span_id"] == f"{ctx.span_id:016x}"
    assert got["request_id"] == "abc123" and got["rpc"] == "Vectorize" and got["status"] == "OK"
    assert got["method_requested"] == "auto" and got["method_used"] == "search" and got["arm"] == "search@1"
    assert got["seconds"] == 1.2346 and got["ssim"] == 0.971235 and got["svg_bytes"] == 812
    assert got["fallbacks"] == [{"from": "regional", "reason": "timed out"}]
    assert "svg" not in got and "secret" not in line  # never the drawing, the image or a key
    assert not logging.getLogger(access_log.LOGGER).propagate  # bare lines, not Ray's formatted ones


def test_a_failed_request_has_a_line_too(capfd):
    access_log.emit("Route", "r2", "auto", None, "INVALID_ARGUMENT", 0.01)
    got = json.loads(capfd.readouterr().err.strip().splitlines()[-1])
    assert got["status"] == "INVALID_ARGUMENT" and got["method_used"] is None and got["trace_id"] is None


def test_serving_warnings_are_json_lines_with_the_request_and_trace_ids(capfd):
    tracer = TracerProvider().get_tracer("test")
    log = access_log.structured("tracewise.test-warnings")
    token = access_log.REQUEST_ID.set("req-42")
    try:
        with tracer.start_as_current_span("request") as span:
            log.warning("method %s failed: %r", "search", RuntimeError("replica died"))
            ctx = span.get_span_context()
    finally:
        access_log.REQUEST_ID.reset(token)
    log.warning("outside any request")
    first, second = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.strip()]
    assert first["message"] == "method search failed: RuntimeError('replica died')"
    assert first["level"] == "WARNING" and first["log"] == "tracewise.test-warnings"
    assert first["request_id"] == "req-42" and first["trace_id"] == f"{ctx.trace_id:032x}"
    assert first["span_id"] == f"{ctx.span_id:016x}"
    assert second["request_id"] is None and second["trace_id"] is None
