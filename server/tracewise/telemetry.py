"""Spans for the engine's stages, through the OpenTelemetry *API* only.

The API is a no-op until a process installs an SDK tracer provider: Ray Serve does that in the
proxy and every replica when tracing is on (``tracewise_serve.tracing``), the CLI and tests may do
it themselves, and otherwise these calls cost well under a microsecond. Attribute names follow
``tracewise.*`` so a trace search (``{ .tracewise.method = "search" }`` in Tempo) finds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

_tracer = trace.get_tracer("tracewise")


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {f"tracewise.{k}": v for k, v in values.items() if v is not None}


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A child span of whatever is current (the replica's request span under Ray Serve)."""
    with _tracer.start_as_current_span(name, attributes=_attributes(attributes)) as s:
        yield s


def annotate(s: trace.Span, **attributes: Any) -> None:
    """Add ``tracewise.*`` attributes to a span once the values are known."""
    if s.is_recording():
        s.set_attributes(_attributes(attributes))
