"""``tracewise store serve``: the results store behind a small HTTP server, for a cluster.

SQLite wants one host (WAL needs shared memory; its locks are unreliable on network file systems),
and a Ray cluster's ingress replicas run on many pods, and two clusters run at once while KubeRay
switches a RayService blue-green. So in Kubernetes one process owns the file on a volume (a
one-replica StatefulSet) and every ingress sends it rows (``RemoteStore``, chosen by
``TRACEWISE_RESULTS_URL``); locally the ingress writes the file itself (``TRACEWISE_RESULTS_DB``).

    POST /v1/rows      one row as JSON (what ``ResultsStore.append`` takes): 204
    GET  /v1/snapshot  a consistent copy of the store (SQLite's online backup): the backup job's input
    GET  /healthz      {"rows": N}

With ``TRACEWISE_STORE_TOKEN`` set, every path but /healthz wants ``authorization: Bearer <token>``.
Errors are JSON ``{"error": ...}`` with 400 (not a row), 401, 404, 413 (over 1 MiB) or 500.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .backup import BackupError, snapshot
from .store import ResultsStore

MAX_ROW_BYTES = 1024 * 1024
TOKEN_ENV = "TRACEWISE_STORE_TOKEN"


class StoreServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], db: Path, token: str | None = None) -> None:
        self.db = db
        self.store = ResultsStore(db)
        self.token = token.encode() if token else None
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests, embedding); ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="store-server", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: StoreServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # one line per row would drown the pod's log; errors are answered, not logged

    def _answer(self, status: HTTPStatus, body: bytes = b"", kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._answer(status, json.dumps({"error": message}).encode())

    def _authorised(self) -> bool:
        if self.server.token is None:
            return True
        auth = self.headers.get("authorization", "")
        token = auth[7:].encode() if auth.startswith("Bearer ") else b""
        if hmac.compare_digest(token, self.server.token):
            return True
        self._error(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token")
        return False

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/healthz":
            self._answer(HTTPStatus.OK, json.dumps({"rows": self.server.store.count()}).encode())
        elif self.path == "/v1/snapshot":
            if self._authorised():
                try:
                    data = snapshot(self.server.db)
                except (BackupError, OSError) as exc:
                    self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"snapshot failed: {exc}")
                    return
                self._answer(HTTPStatus.OK, data, "application/vnd.sqlite3")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such path: {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path != "/v1/rows":
            self._error(HTTPStatus.NOT_FOUND, f"no such path: {self.path}")
            return
        try:
            length = int(self.headers.get("content-length", ""))
        except ValueError:
            self._error(HTTPStatus.LENGTH_REQUIRED, "content-length is required")
            return
        if length > MAX_ROW_BYTES:
            if length <= 8 * MAX_ROW_BYTES:  # read and drop it, so the client sees this answer
                self.rfile.read(length)
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a row is at most {MAX_ROW_BYTES} bytes")
            return
        body = self.rfile.read(length)
        if not self._authorised():
            return
        try:
            row = json.loads(body)
            if not isinstance(row, dict):
                raise ValueError("a row is a JSON object")
            self.server.store.append(row)
        except (ValueError, KeyError, TypeError) as exc:  # not JSON, or a field missing or of the wrong type
            self._error(HTTPStatus.BAD_REQUEST, f"not a results row: {type(exc).__name__}: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - the database itself: say so, keep serving
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"the store failed: {type(exc).__name__}: {exc}")
            return
        self._answer(HTTPStatus.NO_CONTENT)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tracewise store serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, required=True, help="the SQLite file (created when missing)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    a = ap.parse_args(argv)
    server = StoreServer((a.host, a.port), a.db, os.environ.get(TOKEN_ENV) or None)
    print(f"results store {a.db} on {server.url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
