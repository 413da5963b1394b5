"""Errors to gRPC status, in exactly one place.

Engine errors carry their code (``TracewiseError.grpc_code``); a few serving conditions are
added here. Anything else is ``INTERNAL`` with the request id and nothing more: no
traceback, path or address reaches a client.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from tracewise.errors import TracewiseError

from .convert import UnknownEnum

log = logging.getLogger("tracewise.serve")


class Unauthenticated(Exception):
    """Missing or wrong API key."""


class Overloaded(Exception):
    """The method's replicas are saturated (Ray Serve backpressure)."""


class DeadlineTooShort(Exception):
    """The client's deadline leaves no time to work."""


def to_status(exc: BaseException, request_id: str) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, TracewiseError):
        return grpc.StatusCode[exc.grpc_code], exc.message
    if isinstance(exc, UnknownEnum):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED, "missing or invalid API key (authorization: Bearer <key>)"
    if isinstance(exc, Overloaded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, f"{exc}; retry with backoff"
    if isinstance(exc, (DeadlineTooShort, asyncio.TimeoutError, TimeoutError)):
        return grpc.StatusCode.DEADLINE_EXCEEDED, str(exc) or "deadline exceeded before a result was ready"
    log.exception("request %s failed", request_id, exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error (request {request_id})"
