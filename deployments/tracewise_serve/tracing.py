"""OpenTelemetry for the serving layer: Ray Serve's native tracing, exported over OTLP/gRPC.

Ray 2.60 hands ``serve.start(tracing_config=...)`` to replicas but not to the gRPC proxy, so the
proxy would start a new trace and drop the client's ``traceparent``. The environment variables
below, set before ``ray.init()``, reach every Ray process (proxy, ingress, method replicas) and
make their spans join the client's trace. ``span_processors`` is what Ray imports to export them.

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (e.g. ``http://tempo:4317``) turns tracing on;
- ``TRACEWISE_TRACE_SAMPLING`` is the ratio of new traces kept (default 1.0 locally; the prod
  overlay sets 0.05). A sampled parent (the client's ``traceparent`` flag) is always honoured.
"""

from __future__ import annotations

import os
from typing import Any

EXPORTER_PATH = "tracewise_serve.tracing:span_processors"
DEFAULT_SAMPLING = "1.0"


def span_processors() -> list[Any]:
    """The span processors Ray Serve installs in each of its processes (no arguments: Ray's rule)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT / _HEADERS / _INSECURE itself; the batch
    # processor reads OTEL_BSP_* (queue size, delay), so operators tune it the standard way.
    return [BatchSpanProcessor(OTLPSpanExporter())]


def tracing_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The Ray Serve tracing variables to set before ``ray.init()``; empty when tracing is off."""
    env = os.environ if environ is None else environ
    if not env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return {}
    ratio = env.get("TRACEWISE_TRACE_SAMPLING", DEFAULT_SAMPLING)
    if not 0.0 <= float(ratio) <= 1.0:
        raise ValueError(f"TRACEWISE_TRACE_SAMPLING must be within [0, 1], got {ratio}")
    return {
        "RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH": EXPORTER_PATH,
        "RAY_SERVE_TRACING_SAMPLING_RATIO": ratio,
        "OTEL_SERVICE_NAME": env.get("OTEL_SERVICE_NAME", "tracewise"),
    }
