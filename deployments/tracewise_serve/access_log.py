"""The access log: one JSON line per answered request, joined to its trace.

Each line carries the request id (the one in the report and the trailer), the trace and span ids
of the request's span (so a log line leads to its trace in Tempo, and a trace to its line), the
RPC, the method asked for and used, the arm the router chose, the gRPC status, seconds, the
result's size and SSIM and the fallbacks. Never the image, the SVG or an API key. The logger
("tracewise.access") writes bare JSON lines to stderr, which Ray keeps in the replica's log files
(rotated by ``RAY_ROTATION_MAX_BYTES`` / ``RAY_ROTATION_BACKUP_COUNT``); a collector ships them.

The serving layer's own warnings (``structured``) are JSON lines on the same stream with the same
ids: the request being served (``REQUEST_ID``, set by each RPC) and the current span.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from .metrics import reason_kind

if TYPE_CHECKING:
    from .served import Served

LOGGER = "tracewise.access"
# The request the current task serves (each RPC sets it; asyncio tasks and to_thread inherit it).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("tracewise_request_id", default=None)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """Whatever ``sys.stderr`` is when a line is written (Ray and test runners replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _ids() -> dict[str, str | None]:
    ctx = trace.get_current_span().get_span_context()
    return {
        "trace_id": f"{ctx.trace_id:032x}" if ctx.is_valid else None,
        "span_id": f"{ctx.span_id:016x}" if ctx.is_valid else None,
    }


class _JSONLines(logging.Formatter):
    """A warning as one JSON line with the request and span it happened in."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "log": record.name,
            "level": record.levelname,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
            **_ids(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))


def _bare(name: str, formatter: logging.Formatter, level: int) -> logging.Logger:
    log = logging.getLogger(name)
    if not log.handlers:
        handler = _Stderr()
        handler.setFormatter(formatter)
        log.addHandler(handler)
        log.setLevel(level)
        log.propagate = False  # bare lines, not also Ray's formatted ones
    return log


def logger() -> logging.Logger:
    """The access logger: bare JSON lines on stderr, not passed up to Ray's formatted handlers."""
    return _bare(LOGGER, logging.Formatter("%(message)s"), logging.INFO)


def structured(name: str) -> logging.Logger:
    """A logger whose lines are JSON with the request id and the trace and span ids."""
    return _bare(name, _JSONLines(), logging.INFO)


def record(
    rpc: str, rid: str, requested: str, served: Served | None, status: str, seconds: float
) -> dict[str, Any]:
    """The line for one answered request (``served``: None when there is no result)."""
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "log": LOGGER,
        "request_id": rid,
        **_ids(),
        "rpc": rpc,
        "method_requested": requested,
        "method_used": served.method if served else None,
        "arm": served.arm if served else None,
        "status": status,
        "seconds": round(seconds, 4),
        "svg_bytes": served.svg_bytes if served else None,
        "ssim": round(served.ssim, 6) if served else None,
        "cached": bool(served and served.cached),
        "fallbacks": [
            {"from": f["from"], "reason": reason_kind(f["reason"])}
            for f in (served.fallbacks if served else ())
        ],
    }


def emit(rpc: str, rid: str, requested: str, served: Served | None, status: str, seconds: float) -> None:
    logger().info(json.dumps(record(rpc, rid, requested, served, status, seconds), separators=(",", ":")))
