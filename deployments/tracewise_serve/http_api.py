"""The HTTP/JSON API on Ray Serve's HTTP proxy: the same data plane as gRPC, another protocol.

    POST /v1/vectorize?method=mapping&style=spline&budget_seconds=2&max_colors=8&palette=%23fff
         body: the image bytes (PNG, JPEG, WebP, GIF)
         -> image/svg+xml, or with ``Accept: application/json`` {"svg": ..., "report": {...}}
            (the proto's field names); the request id is in ``x-request-id`` either way
    GET  /v1/info      the service (GetServiceInfo as JSON)
    GET  /healthz      200 while the process answers
    GET  /readyz       200 when the service can answer (grpc.health.v1's "" status), else 503
    GET  /v1/openapi.json

Query parameters are the proto's ``Options`` fields; ``method`` and ``style`` take names
(``mapping``, ``polygon``) or the proto's enum names; ``palette`` repeats or is comma-separated.
API keys, admission, fallbacks, the cache, metrics and the access log are the data plane's, as for
gRPC. Errors: the status map (status.py) once more as HTTP (``HTTP_STATUS``), with a JSON body
carrying the same reason, request id, field violations and retry delay as the gRPC details.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from starlette.responses import Response

from tracewise.errors import ImageTooLarge, InvalidParameter
from tracewise_client import rich_details
from tracewise_client.v1 import vectorize_pb2 as pb

from . import access_log, convert
from .dataplane import Request
from .status import to_status

JSON = "application/json"
SVG = "image/svg+xml"
# gRPC status -> HTTP status: the one place the HTTP API maps errors
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,  # shed: retry later (a picture over the limits is 413, below)
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "INTERNAL": 500,
    "UNKNOWN": 500,
}
ENUMS: dict[str, Any] = {"method": pb.Method, "style": pb.Style}
REPEATED = {"palette"}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Tracewise", "version": "1", "description": "Raster logos to compact, faithful SVG."},
    "paths": {
        "/v1/vectorize": {
            "post": {
                "summary": "Vectorise one image",
                "parameters": [
                    {"name": f.name, "in": "query", "required": False, "schema": {"type": "string"}}
                    for f in pb.Options.DESCRIPTOR.fields
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/octet-stream": {}, "image/png": {}, "image/jpeg": {}},
                },
                "responses": {
                    "200": {"description": "the SVG (or, with Accept: application/json, SVG and report)"},
                    "400": {"description": "not an image, or a bad option"},
                    "401": {"description": "missing or wrong API key"},
                    "413": {"description": "the picture is over the pixel or byte limit"},
                    "429": {"description": "overloaded: retry after Retry-After seconds"},
                    "503": {"description": "no method could answer: retry after Retry-After seconds"},
                    "504": {"description": "the deadline left no time"},
                },
            }
        },
        "/v1/info": {"get": {"summary": "The service", "responses": {"200": {"description": "JSON"}}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
        "/readyz": {
            "get": {
                "summary": "Readiness (as grpc.health.v1 computes it)",
                "responses": {"200": {"description": "serving"}, "503": {"description": "not serving"}},
            }
        },
        "/v1/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": {"description": "JSON"}}}
        },
    },
}


class BadQuery(InvalidParameter):
    """A query parameter that is not an Options field or has the wrong form (INVALID_ARGUMENT,
    with the parameter as the field at fault)."""


def options_from_query(items: list[tuple[str, str]]) -> pb.Options:
    """The proto's Options from query parameters (validated later, as gRPC's are)."""
    fields = {f.name: f for f in pb.Options.DESCRIPTOR.fields}
    raw: dict[str, Any] = {}
    for name, value in items:
        if name not in fields:
            raise BadQuery(name, value, f"one of the Options fields {sorted(fields)}")
        if name in REPEATED:
            raw.setdefault(name, []).extend(v for v in value.split(",") if v)
        elif name in ENUMS:
            raw[name] = _enum(name, value)
        else:
            raw[name] = value
    try:
        return json_format.ParseDict(raw, pb.Options())
    except json_format.ParseError as exc:
        field = next((n for n in raw if n in str(exc)), "query")
        raise BadQuery(field, raw.get(field), f"a value of the field's type ({exc})") from None


def _enum(name: str, value: str) -> str | int:
    """``mapping``, ``METHOD_MAPPING``, ``auto`` or the enum's number (as the proto's JSON allows)."""
    if value.lstrip("-").isdigit():
        return int(value)
    prefix = "METHOD_" if name == "method" else "STYLE_"
    key = "METHOD_UNSPECIFIED" if (name, value.lower()) == ("method", "auto") else value.upper()
    key = key if key.startswith(prefix) else prefix + key
    if key in ENUMS[name].keys():
        return key
    names = [k.removeprefix(prefix).lower() for k in ENUMS[name].keys() if not k.endswith("UNSPECIFIED")]
    raise BadQuery(name, value, f"one of {names} (or the enum's number)")


def error_body(
    exc: BaseException, rid: str, retry_after: float
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(HTTP status, JSON body, headers) for ``exc``: the gRPC answer's code and details, as HTTP."""
    code, message, details = to_status(exc, rid, retry_after)
    reason, violations, retry = rich_details(details)  # what a gRPC client reads from the same answer
    body: dict[str, Any] = {"code": code.name, "message": message, "request_id": rid, "reason": reason}
    headers: dict[str, str] = {"x-request-id": rid}
    if violations:
        body["field_violations"] = [{"field": f, "description": d} for f, d in violations]
    if retry is not None:
        body["retry_after_seconds"] = retry
        headers["retry-after"] = str(max(1, round(retry)))  # HTTP's is whole seconds
    http = 413 if isinstance(exc, ImageTooLarge) else HTTP_STATUS.get(code.name, 500)
    return http, body, headers


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def report_json(response: pb.VectorizeResponse) -> dict[str, Any]:
    """The proto's JSON mapping with its field names, but 64-bit integers as JSON numbers (the
    mapping writes them as strings; sizes here are far below 2**53)."""
    out = json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _numbers(out, response.DESCRIPTOR)


WIDE = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}  # fmt: skip


def _numbers(data: dict[str, Any], descriptor: Any) -> dict[str, Any]:
    for f in descriptor.fields:
        if f.name not in data:
            continue
        value = data[f.name]
        if f.message_type is not None:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    _numbers(item, f.message_type)
        elif f.type in WIDE:
            data[f.name] = [int(v) for v in value] if isinstance(value, list) else int(value)
    return data


async def handle(ingress: Any, request: Any) -> Any:
    """One HTTP request (a Starlette ``Request`` from Ray's HTTP proxy) through the ingress's data
    plane. ``ingress``: the Ingress replica (its keys, data plane and health)."""
    path, verb = request.url.path.rstrip("/") or "/", request.method
    rid = uuid.uuid4().hex[:16]
    access_log.REQUEST_ID.set(rid)
    started = time.monotonic()

    def answer(status: int, body: Any, kind: str = JSON, headers: dict[str, str] | None = None) -> Response:
        data = body if isinstance(body, bytes) else json_bytes(body)
        return Response(
            data, status_code=status, media_type=kind, headers={"x-request-id": rid, **(headers or {})}
        )

    if verb == "GET" and path == "/healthz":
        return answer(200, {"status": "alive"})
    if verb == "GET" and path == "/readyz":
        await ingress.health.fresh()
        ready = ingress.health.status("") == 1  # SERVING
        return answer(200 if ready else 503, {"status": "SERVING" if ready else "NOT_SERVING"})
    if verb == "GET" and path == "/v1/openapi.json":
        return answer(200, OPENAPI)
    md = {k.lower(): v for k, v in request.headers.items()}
    if verb == "GET" and path == "/v1/info":
        try:
            ingress.keys.check(md)
        except Exception as exc:  # noqa: BLE001 - mapped like every other error
            status, body, headers = error_body(exc, rid, ingress.plane.retry_after())
            return answer(status, body, headers=headers)
        info = await ingress.service_info()
        return answer(200, json_format.MessageToDict(info, preserving_proto_field_name=True))
    if path != "/v1/vectorize":
        return answer(
            404, {"code": "NOT_FOUND", "message": f"no such path: {verb} {path}", "request_id": rid}
        )
    if verb != "POST":
        return answer(405, {"code": "METHOD_NOT_ALLOWED", "message": "POST the image", "request_id": rid})
    requested, served, status_name = "unknown", None, "OK"
    try:
        ingress.keys.check(md)
        options = options_from_query(list(request.query_params.multi_items()))
        requested = convert.method_from_pb(options.method)
        objective = convert.objective_from_pb(options)
        timeout = float(md["x-tracewise-timeout"]) if "x-tracewise-timeout" in md else None
        image = await request.body()
        served = await ingress.plane.vectorize(Request(rid, image, objective, requested, timeout, started))
        response = convert.response_to_pb(served)
        if JSON in md.get("accept", ""):
            return answer(200, report_json(response))
        return answer(200, response.svg.encode(), SVG)
    except Exception as exc:  # noqa: BLE001 - every error becomes a status here
        status, body, headers = error_body(exc, rid, ingress.plane.retry_after())
        status_name = body["code"]
        return answer(status, body, headers=headers)
    finally:
        ingress.plane.answered(
            "HTTP/Vectorize", rid, requested, served, status_name, time.monotonic() - started
        )
