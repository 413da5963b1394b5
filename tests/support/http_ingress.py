"""The real Ingress's HTTP side on a plain ASGI server (uvicorn, loopback), no Ray: the method
replicas' own class runs the real engine in-process behind the data plane. For the integration
tier (the HTTP API's protocol: multipart, server-sent events, routes, the page's assets)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.requests import Request

from tracewise_serve import app
from tracewise_serve.health import Health
from tracewise_serve.worker import MethodWorker

METHODS = ("default", "mapping", "search", "regional")


class InProcess:
    """The data plane's ``Methods`` on the method replicas' own class, in this process."""

    def __init__(self) -> None:
        self.workers = {m: MethodWorker.func_or_class(m) for m in METHODS}  # type: ignore[attr-defined]

    async def run(self, method: str, picture: Any, objective: Any, deadline: float) -> dict:
        return await self.workers[method].run(picture, objective, deadline)

    async def stream(self, method: str, picture: Any, objective: Any, deadline: float) -> AsyncIterator[dict]:
        async for event in self.workers[method].run_stream(picture, objective, deadline):
            yield event


class Metrics:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None


@contextmanager
def serving(monkeypatch: Any, api_keys: str = "") -> Iterator[tuple[str, Any]]:
    """(base URL, ingress) for the Ingress's HTTP handler on a free loopback port."""
    monkeypatch.setenv("TRACEWISE_API_KEYS", api_keys)
    monkeypatch.delenv("TRACEWISE_RESULTS_DB", raising=False)
    monkeypatch.delenv("TRACEWISE_RESULTS_URL", raising=False)
    monkeypatch.setattr(app, "Metrics", Metrics)
    monkeypatch.setattr(app, "Health", lambda: Health(lambda: {f"method-{m}": 1 for m in METHODS}))
    ingress = app.Ingress.func_or_class({m: None for m in METHODS})  # type: ignore[attr-defined]
    ingress.plane.methods = InProcess()

    async def asgi(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        response = await ingress(Request(scope, receive))
        await response(scope, receive, send)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test HTTP server did not start")
        threading.Event().wait(0.05)
    try:
        yield f"http://127.0.0.1:{port}", ingress
    finally:
        server.should_exit = True
        thread.join(30)
