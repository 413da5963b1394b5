"""The HTTP/JSON API on Ray Serve's HTTP proxy: the same data plane as gRPC, another protocol.

    POST /v1/vectorize?method=mapping&style=spline&budget_seconds=2&max_colors=8&palette=%23fff
         body: the image bytes (PNG, JPEG, WebP, GIF), or multipart/form-data with an ``image``
         file and optionally an ``options`` part (the Options message as proto JSON)
         -> image/svg+xml, or with ``Accept: application/json`` {"svg": ..., "report": {...}}
            (the proto's field names); the request id is in ``x-request-id`` either way
    POST /v1/vectorize/stream   the same request; server-sent events: ``progress`` while the method
         runs (as gRPC's VectorizeStream), then ``result`` (the JSON answer) or ``error``
    GET  /v1/info      the service (GetServiceInfo as JSON)
    GET  /healthz      200 while the process answers
    GET  /readyz       200 when the service can answer (grpc.health.v1's "" status), else 503
    GET  /v1/openapi.json
    GET  /             the web page (web.py)

Query parameters are the proto's ``Options`` fields; ``method`` and ``style`` take names
(``mapping``, ``polygon``) or the proto's enum names; ``palette`` repeats or is comma-separated.
API keys, admission, fallbacks, the cache, metrics and the access log are the data plane's, as for
gRPC; a W3C ``traceparent`` header joins the caller's trace (Ray's HTTP proxy reads it). Errors:
the status map (status.py) once more as HTTP (``HTTP_STATUS``), with a JSON body carrying the same
reason, request id, field violations and retry delay as the gRPC details. An error after a stream
has begun is its ``error`` event (the status line has gone by then).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import Response, StreamingResponse

from tracewise.errors import ImageTooLarge, InvalidParameter
from tracewise_client import rich_details
from tracewise_client.v1 import vectorize_pb2 as pb

from . import access_log, convert, web
from .dataplane import MAX_REQUEST_BYTES, Progress, Request
from .openapi import OPENAPI
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


class BadQuery(InvalidParameter):
    """A query parameter that is not an Options field or has the wrong form (INVALID_ARGUMENT,
    with the parameter as the field at fault)."""


def query_options(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Options fields from query parameters, as the proto's JSON (validated later, as gRPC's are)."""
    fields = {f.name for f in pb.Options.DESCRIPTOR.fields}
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
    return raw


def json_options(text: str) -> dict[str, Any]:
    """Options fields from a form's ``options`` part: the message as proto JSON, with the same
    short enum names as the query (``{"method": "mapping", "max_colors": 8}``)."""
    try:
        raw = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise BadQuery("options", text[:80], f"the Options message as JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise BadQuery("options", text[:80], "a JSON object of Options fields")
    by_json = {f.json_name: f.name for f in pb.Options.DESCRIPTOR.fields}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = by_json.get(str(key), str(key))
        out[name] = _enum(name, str(value)) if name in ENUMS and isinstance(value, str) else value
    return out


def parse_options(query: dict[str, Any], form: dict[str, Any] | None = None) -> pb.Options:
    """The Options message from the query and the form's part; a field given in both is an error."""
    form = form or {}
    both = sorted(set(query) & set(form))
    if both:
        raise BadQuery(both[0], form[both[0]], "one place only: the query or the form's options part")
    raw = {**query, **form}
    try:
        options: pb.Options = json_format.ParseDict(raw, pb.Options())
        return options
    except json_format.ParseError as exc:
        field = next((n for n in raw if n in str(exc)), "options")
        raise BadQuery(field, raw.get(field), f"a value of the field's type ({exc})") from None


def options_from_query(items: list[tuple[str, str]]) -> pb.Options:
    return parse_options(query_options(items))


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


def sse(event: str, data: Any) -> bytes:
    """One server-sent event (the data is one line of JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass
class Call:
    """One HTTP request's context: its id, headers, start and how to answer it."""

    ingress: Any  # the Ingress replica: its keys, data plane and health
    request: Any  # Starlette's Request
    rid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.md = {k.lower(): v for k, v in self.request.headers.items()}

    def answer(
        self, status: int, body: Any, kind: str = JSON, headers: dict[str, str] | None = None
    ) -> Response:
        data = body if isinstance(body, bytes) else json_bytes(body)
        return Response(
            data, status_code=status, media_type=kind, headers={"x-request-id": self.rid, **(headers or {})}
        )

    def fail(self, exc: BaseException) -> tuple[Response, str]:
        status, body, headers = error_body(exc, self.rid, self.ingress.plane.retry_after())
        return self.answer(status, body, headers=headers), body["code"]

    async def vectorize_request(self) -> Request:
        """The data plane's request: key, options (query and form), image (raw body or form)."""
        self.ingress.keys.check(self.md)
        query = query_options(list(self.request.query_params.multi_items()))
        form: dict[str, Any] = {}
        if self.md.get("content-type", "").startswith("multipart/form-data"):
            image, form = await read_form(self.request)
        else:
            image = await self.request.body()
        options = parse_options(query, form)
        return Request(
            self.rid,
            image,
            convert.objective_from_pb(options),
            convert.method_from_pb(options.method),
            convert.timeout_from(self.md),
            self.started,
        )


async def read_form(request: Any) -> tuple[bytes, dict[str, Any]]:
    """(image bytes, Options fields) from a multipart/form-data body."""
    try:
        form = await request.form(max_files=1, max_fields=1, max_part_size=64 * 1024)
    except (MultiPartException, HTTPException) as exc:
        why = getattr(exc, "detail", None) or getattr(exc, "message", "")
        raise BadQuery("body", "multipart/form-data", f"a well-formed form ({why})") from None
    try:
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise BadQuery("image", type(upload).__name__, "a file part named image")
        if upload.size is not None and upload.size > MAX_REQUEST_BYTES:
            raise ImageTooLarge(f"image is {upload.size} bytes; the limit is {MAX_REQUEST_BYTES}")
        image = await upload.read()
        options = form.get("options")
        text = options if isinstance(options, str) else (await options.read()).decode() if options else ""
        return image, json_options(text)
    finally:
        await form.close()


async def handle(ingress: Any, request: Any) -> Response:
    """One HTTP request (a Starlette ``Request`` from Ray's HTTP proxy) through the ingress."""
    call = Call(ingress, request)
    access_log.REQUEST_ID.set(call.rid)
    path, verb = request.url.path.rstrip("/") or "/", request.method
    route = ROUTES.get(path)
    if route is None:
        return call.answer(
            404, {"code": "NOT_FOUND", "message": f"no such path: {path}", "request_id": call.rid}
        )
    if verb not in route:
        allowed = ", ".join(sorted(route))
        return call.answer(
            405,
            {"code": "METHOD_NOT_ALLOWED", "message": f"{path} takes {allowed}", "request_id": call.rid},
            headers={"allow": allowed},
        )
    return await route[verb](call)


async def healthz(call: Call) -> Response:
    return call.answer(200, {"status": "alive"})


async def readyz(call: Call) -> Response:
    await call.ingress.health.fresh()
    ready = call.ingress.health.status("") == 1  # SERVING
    return call.answer(200 if ready else 503, {"status": "SERVING" if ready else "NOT_SERVING"})


async def openapi(call: Call) -> Response:
    return call.answer(200, OPENAPI)


async def info(call: Call) -> Response:
    try:
        call.ingress.keys.check(call.md)
    except Exception as exc:  # noqa: BLE001 - mapped like every other error
        return call.fail(exc)[0]
    answer = await call.ingress.service_info()
    return call.answer(200, json_format.MessageToDict(answer, preserving_proto_field_name=True))


async def vectorize(call: Call) -> Response:
    requested, served, status = "unknown", None, "OK"
    try:
        req = await call.vectorize_request()
        requested = req.requested
        served = await call.ingress.plane.vectorize(req)
        response = convert.response_to_pb(served)
        if JSON in call.md.get("accept", ""):
            return call.answer(200, report_json(response))
        return call.answer(200, response.svg.encode(), SVG)
    except Exception as exc:  # noqa: BLE001 - every error becomes a status here
        answer, status = call.fail(exc)
        return answer
    finally:
        call.ingress.plane.answered(
            "HTTP/Vectorize", call.rid, requested, served, status, time.monotonic() - call.started
        )


async def vectorize_stream(call: Call) -> Response:
    """Server-sent events from the data plane's stream. Whatever fails before the first event
    (key, options, not an image, shedding) is an HTTP status; later, an ``error`` event."""
    requested = "unknown"
    try:
        req = await call.vectorize_request()
        requested = req.requested
        events = call.ingress.plane.stream(req)
        first = await anext(events)
    except Exception as exc:  # noqa: BLE001
        answer, status = call.fail(exc)
        call.ingress.plane.answered(
            "HTTP/VectorizeStream", call.rid, requested, None, status, time.monotonic() - call.started
        )
        return answer

    async def body() -> AsyncIterator[bytes]:
        served, status, event = None, "OK", first
        try:
            while True:
                if isinstance(event, Progress):
                    yield sse("progress", asdict(event))
                else:
                    served = event
                    yield sse("result", report_json(convert.response_to_pb(event)))
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    break
        except (asyncio.CancelledError, GeneratorExit):
            status = "CANCELLED"  # the client went away: the method's work is cancelled with it
            raise
        except Exception as exc:  # noqa: BLE001
            _, error, _ = error_body(exc, call.rid, call.ingress.plane.retry_after())
            status = error["code"]
            yield sse("error", error)
        finally:
            await events.aclose()
            call.ingress.plane.answered(
                "HTTP/VectorizeStream", call.rid, requested, served, status, time.monotonic() - call.started
            )

    headers = {"x-request-id": call.rid, "cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


ROUTES: dict[str, dict[str, Callable[[Call], Awaitable[Response]]]] = {
    "/healthz": {"GET": healthz},
    "/readyz": {"GET": readyz},
    "/v1/openapi.json": {"GET": openapi},
    "/v1/info": {"GET": info},
    "/v1/vectorize": {"POST": vectorize},
    "/v1/vectorize/stream": {"POST": vectorize_stream},
    **web.ROUTES,
}
