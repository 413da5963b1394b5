"""The web page at ``/``: plain HTML, CSS and JS shipped in the package (``web/``), no build step and
no external assets. The page calls the HTTP API (``/v1/vectorize/stream``) like any other client.

The page's lists (methods, styles) and limits come from their owners (the method registry, the
proto's enums, the data plane) as a JSON block rendered into the HTML, so the page never drifts
from the service. A strict Content-Security-Policy allows only the page's own script and style;
results are shown as ``<img>`` of a blob URL, so nothing in an SVG can run.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from tracewise.methods import DEFAULT_BUDGET_S
from tracewise_client.v1 import vectorize_pb2 as pb

from .dataplane import MAX_REQUEST_BYTES

if TYPE_CHECKING:
    from .http_api import Call

ASSETS = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self' blob:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


@cache
def asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("web", name).read_bytes()


def page_config(ingress: Any) -> dict[str, Any]:
    """What the page needs to build its form, from the lists' owners."""
    styles = [k.removeprefix("STYLE_").lower() for k in pb.Style.keys() if not k.endswith("UNSPECIFIED")]
    return {
        "methods": [{"name": m, "default_budget_seconds": DEFAULT_BUDGET_S[m]} for m in ingress.methods],
        "styles": styles,
        "max_request_bytes": MAX_REQUEST_BYTES,
        "max_pixels": ingress.plane.max_pixels,
        "needs_key": bool(ingress.keys.keys),
    }


def render(config: dict[str, Any]) -> bytes:
    # JSON inside <script type="application/json">: never run, and every "<" escaped (JSON's
    # \u003c) so nothing in it can close the element
    block = json.dumps(config).replace("<", "\\u003c")
    return asset("index.html").replace(b"{{CONFIG}}", block.encode())


async def page(call: Call) -> Response:
    return Response(render(page_config(call.ingress)), media_type="text/html", headers=HEADERS)


def _static(name: str) -> Any:
    async def serve(call: Call) -> Response:
        return Response(asset(name), media_type=ASSETS[name], headers=HEADERS)

    return serve


ROUTES = {"/": {"GET": page}, **{f"/ui/{n}": {"GET": _static(n)} for n in ASSETS if n != "index.html"}}
