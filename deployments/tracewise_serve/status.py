"""Errors to gRPC status, in exactly one place, with ``google.rpc.Status`` details.

Engine errors carry their code (``TracewiseError.grpc_code``); a few serving conditions are
added here. Anything else is ``INTERNAL`` with the request id and nothing more: no
traceback, path or address reaches a client.

Every error answer also carries, in the ``grpc-status-details-bin`` trailer (the standard
rich-error model; Ray's proxy passes it through), a ``google.rpc.Status`` with:
- ``ErrorInfo``: ``reason`` (the error class in UPPER_SNAKE, e.g. ``INVALID_IMAGE``,
  ``OVERLOADED``), ``domain`` ``tracewise.v1``, and the request id in ``metadata``;
- ``BadRequest`` field violations on ``INVALID_ARGUMENT`` (which field and why);
- ``RetryInfo`` on ``RESOURCE_EXHAUSTED`` (shed: retry after the service's recent answer time)
  and ``UNAVAILABLE`` (no method answered: retry after Serve has had time to replace replicas).
  A picture over the size limits is RESOURCE_EXHAUSTED too, but retrying cannot help: no RetryInfo.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2

from tracewise.errors import ImageTooLarge, InvalidImage, InvalidParameter, TracewiseError, reason_of

from .convert import UnknownEnum

log = logging.getLogger("tracewise.serve")

DOMAIN = "tracewise.v1"
DETAILS_KEY = "grpc-status-details-bin"
UNAVAILABLE_RETRY_S = 2.0  # Serve replaces a dead replica in seconds (health checked every 2 s)
# What Ray's proxy answers, RESOURCE_EXHAUSTED and no details, when its own queue for the ingress is
# full: refused before the service saw the request (no RetryInfo, not in tracewise's metrics)
RAY_PROXY_DROPPED = "Request dropped due to backpressure"


class Unauthenticated(Exception):
    """Missing or wrong API key."""


class Overloaded(Exception):
    """The method's replicas are saturated (Ray Serve backpressure)."""


class DeadlineTooShort(Exception):
    """The client's deadline leaves no time to work."""


class ErrorAnswer(NamedTuple):
    code: grpc.StatusCode
    message: str
    details: bytes  # a serialized google.rpc.Status, for the grpc-status-details-bin trailer


def _code_and_message(exc: BaseException, request_id: str) -> tuple[grpc.StatusCode, str, str]:
    if isinstance(exc, TracewiseError):
        return grpc.StatusCode[exc.grpc_code], exc.message, exc.reason
    if isinstance(exc, UnknownEnum):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc), "UNKNOWN_ENUM"
    if isinstance(exc, Unauthenticated):
        message = "missing or invalid API key (authorization: Bearer <key>)"
        return grpc.StatusCode.UNAUTHENTICATED, message, "UNAUTHENTICATED"
    if isinstance(exc, Overloaded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, f"{exc}; retry with backoff", "OVERLOADED"
    if isinstance(exc, (DeadlineTooShort, asyncio.TimeoutError, TimeoutError)):
        message = str(exc) or "deadline exceeded before a result was ready"
        return grpc.StatusCode.DEADLINE_EXCEEDED, message, reason_of(type(exc))
    log.exception("request %s failed", request_id, exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error (request {request_id})", "INTERNAL"


def _violation(exc: BaseException, message: str) -> error_details_pb2.BadRequest.FieldViolation | None:
    if isinstance(exc, InvalidParameter):
        return error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=message)
    if isinstance(exc, UnknownEnum):
        return error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=message)
    if isinstance(exc, InvalidImage):
        return error_details_pb2.BadRequest.FieldViolation(field="image", description=message)
    return None


def to_status(exc: BaseException, request_id: str, retry_after_s: float | None = None) -> ErrorAnswer:
    """The status, message and rich details for ``exc``. ``retry_after_s``: when a shed request
    may come back (the caller knows the service's recent answer time)."""
    code, message, reason = _code_and_message(exc, request_id)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
    if request_id:
        info.metadata["request_id"] = request_id
    status.details.add().Pack(info)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violation = _violation(exc, message)
        if violation is not None:
            status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    retry = None
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and not isinstance(exc, ImageTooLarge):
        retry = retry_after_s if retry_after_s is not None else 1.0
    elif code == grpc.StatusCode.UNAVAILABLE:
        retry = UNAVAILABLE_RETRY_S
    if retry is not None:
        delay = Duration()
        delay.FromMilliseconds(max(1, round(retry * 1000)))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return ErrorAnswer(code, message, status.SerializeToString())
