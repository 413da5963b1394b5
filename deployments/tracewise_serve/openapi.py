"""The HTTP API's OpenAPI description (served at ``/v1/openapi.json``; a test holds the routes to it).

The query parameters and the form's ``options`` part are the proto's ``Options`` fields, read from
the descriptor, so this document cannot drift from the gRPC API's options.
"""

from __future__ import annotations

from typing import Any

from tracewise_client.v1 import vectorize_pb2 as pb

OPTIONS = [
    {"name": f.name, "in": "query", "required": False, "schema": {"type": "string"}}
    for f in pb.Options.DESCRIPTOR.fields
]
IMAGE_BODY = {
    "required": True,
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {},
        "image/jpeg": {},
        "image/webp": {},
        "image/gif": {},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "options": {"type": "string", "description": "the Options message as proto JSON"},
                },
            }
        },
    },
}
ERRORS = {
    "400": {"description": "not an image, or a bad option"},
    "401": {"description": "missing or wrong API key"},
    "413": {"description": "the picture is over the pixel or byte limit"},
    "429": {"description": "overloaded: retry after Retry-After seconds"},
    "503": {"description": "no method could answer: retry after Retry-After seconds"},
    "504": {"description": "the deadline left no time"},
}


def _get(summary: str, responses: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": responses or {"200": {"description": "JSON"}}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Tracewise", "version": "1", "description": "Raster logos to compact, faithful SVG."},
    "paths": {
        "/v1/vectorize": {
            "post": {
                "summary": "Vectorise one image",
                "parameters": OPTIONS,
                "requestBody": IMAGE_BODY,
                "responses": {
                    "200": {"description": "the SVG (or, with Accept: application/json, SVG and report)"},
                    **ERRORS,
                },
            }
        },
        "/v1/vectorize/stream": {
            "post": {
                "summary": "Vectorise one image, with progress (server-sent events)",
                "parameters": OPTIONS,
                "requestBody": IMAGE_BODY,
                "responses": {
                    "200": {
                        "description": "text/event-stream: `progress` events, then one `result` "
                        "(as the JSON answer) or one `error` (as an error body)"
                    },
                    **ERRORS,
                },
            }
        },
        "/v1/info": _get("The service"),
        "/healthz": _get("Liveness", {"200": {"description": "alive"}}),
        "/readyz": _get(
            "Readiness (as grpc.health.v1 computes it)",
            {"200": {"description": "serving"}, "503": {"description": "not serving"}},
        ),
        "/v1/openapi.json": _get("This document"),
        "/": _get("The web page", {"200": {"description": "text/html"}}),
    },
}
