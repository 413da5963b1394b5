"""Shared fixtures: real logos from ../shared/logos (read in place, never copied)."""

from __future__ import annotations

import numpy as np
import pytest

from tracewise.dataset import logos


@pytest.fixture(scope="session")
def dev_logos():
    return logos()


@pytest.fixture(scope="session")
def logo_by_category(dev_logos):
    out = {}
    for lg in dev_logos:
        out.setdefault(lg.category, lg)
    return out


@pytest.fixture(scope="session")
def wordmark_png(dev_logos) -> bytes:
    return next(lg for lg in dev_logos if lg.category == "text").png.read_bytes()


@pytest.fixture
def two_squares() -> np.ndarray:
    """Two coloured squares on a transparent background, far apart."""
    a = np.zeros((64, 96, 4), np.uint8)
    a[8:40, 8:40] = (200, 30, 30, 255)
    a[20:56, 56:90] = (20, 60, 220, 255)
    return a


@pytest.fixture(scope="session")
def tracer_provider():
    """The tests' global OpenTelemetry SDK provider (a process may set one only once)."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({"service.name": "tracewise-tests"}))
    trace.set_tracer_provider(provider)
    yield provider
    provider.shutdown()


@pytest.fixture
def spans(tracer_provider):
    """Spans finished during one test, in memory."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # later spans are dropped by this exporter
