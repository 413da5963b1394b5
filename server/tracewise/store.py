"""The results store: one row per served request, in SQLite (a real file, WAL mode).

The router retrains from it (``tracewise.training.router``); the analytics report reads it.
Writers from many threads or processes are safe: each write is one short transaction, and
SQLite's busy timeout makes concurrent writers wait instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    request_id   TEXT PRIMARY KEY,
    time         REAL NOT NULL,
    image_sha256 TEXT,              -- groups requests for the same image (retraining labels)
    features     TEXT NOT NULL,     -- JSON list, FEATURE_NAMES order
    options      TEXT NOT NULL,     -- JSON: style, max_svg_bytes, target_ssim, budget_s
    decision     TEXT,              -- the router's choice (NULL when the client chose)
    confidence   REAL,
    logo_type    TEXT,
    method_used  TEXT NOT NULL,
    params       TEXT,              -- JSON
    ssim         REAL NOT NULL,
    svg_bytes    INTEGER NOT NULL,
    seconds      REAL NOT NULL,
    fallback     TEXT               -- JSON list of {from, reason}
);
CREATE INDEX IF NOT EXISTS results_time ON results(time);
"""
# Version 2: what the analytics report needs. Added to older stores in place (ALTER TABLE).
V2_COLUMNS = {
    "method_requested": "TEXT",  # auto, default, mapping, search or regional
    "cached": "INTEGER NOT NULL DEFAULT 0",  # 1: answered from the cache (no features, not a label)
    "defaults_ssim": "REAL",  # VTracer's defaults on the same image, when measured
    "defaults_svg_bytes": "INTEGER",
    "cut_short": "INTEGER NOT NULL DEFAULT 0",
    "degraded": "INTEGER NOT NULL DEFAULT 0",
}
SCHEMA_VERSION = 2
COLUMNS = (
    "request_id time image_sha256 features options decision confidence logo_type method_used params ssim "
    "svg_bytes seconds fallback"
).split() + list(V2_COLUMNS)
JSON_COLUMNS = ("features", "options", "params", "fallback")


class ResultsStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        c = self._conn()
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("BEGIN IMMEDIATE")  # two processes opening a new store must not both migrate
        try:
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if version < 2:
                have = {r[1] for r in c.execute("PRAGMA table_info(results)")}
                for name, decl in V2_COLUMNS.items():
                    if name not in have:
                        c.execute(f"ALTER TABLE results ADD COLUMN {name} {decl}")
                c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def append(self, row: dict[str, Any]) -> None:
        values = {
            "request_id": row["request_id"],
            "time": row.get("time", time.time()),
            "image_sha256": row.get("image_sha256"),
            "features": json.dumps([float(x) for x in row.get("features") or []]),
            "options": json.dumps(row.get("options", {})),
            "decision": row.get("decision"),
            "confidence": row.get("confidence"),
            "logo_type": row.get("logo_type"),
            "method_used": row["method_used"],
            "params": json.dumps(row.get("params")),
            "ssim": float(row["ssim"]),
            "svg_bytes": int(row["svg_bytes"]),
            "seconds": float(row["seconds"]),
            "fallback": json.dumps(row.get("fallback", [])),
            "method_requested": row.get("method_requested"),
            "cached": int(bool(row.get("cached", False))),
            "defaults_ssim": row.get("defaults_ssim"),
            "defaults_svg_bytes": row.get("defaults_svg_bytes"),
            "cut_short": int(bool(row.get("cut_short", False))),
            "degraded": int(bool(row.get("degraded", False))),
        }
        marks = ",".join("?" * len(COLUMNS))
        sql = f"INSERT OR REPLACE INTO results ({','.join(COLUMNS)}) VALUES ({marks})"
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(sql, [values[c] for c in COLUMNS])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def rows(self) -> list[dict[str, Any]]:
        cur = self._conn().execute("SELECT * FROM results ORDER BY time")
        names = [d[0] for d in cur.description]
        out = []
        for r in cur.fetchall():
            row = dict(zip(names, r))
            for k in JSON_COLUMNS:
                row[k] = json.loads(row[k]) if row[k] is not None else None
            out.append(row)
        return out

    def count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM results").fetchone()[0])


class StoreUnavailable(Exception):
    """The results store could not take a row; the message says why."""


class RemoteStore:
    """``ResultsStore.append`` over HTTP, to ``tracewise store serve`` (tracewise.store_server).

    Each row is one POST; a connection failure or a 5xx is tried once more, then raised as
    ``StoreUnavailable`` (the caller counts and logs it: a lost row must not fail a request).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 5.0, attempts: int = 2) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.attempts = attempts

    def append(self, row: dict[str, Any]) -> None:
        import urllib.error
        import urllib.request

        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        body = json.dumps(row).encode()
        last = ""
        for _ in range(self.attempts):
            request = urllib.request.Request(self.url + "/v1/rows", body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout):
                    return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}"
                if exc.code < 500:
                    break  # the row or the token is wrong: another try gives the same answer
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
        raise StoreUnavailable(f"{self.url} did not take the row ({last})")


def open_store(env: Any = None) -> ResultsStore | RemoteStore | None:
    """The store the service writes to: a store server (TRACEWISE_RESULTS_URL), a local file
    (TRACEWISE_RESULTS_DB), or none."""
    import os

    env = os.environ if env is None else env
    if env.get("TRACEWISE_RESULTS_URL"):
        return RemoteStore(env["TRACEWISE_RESULTS_URL"], env.get("TRACEWISE_STORE_TOKEN") or None)
    if env.get("TRACEWISE_RESULTS_DB"):
        return ResultsStore(env["TRACEWISE_RESULTS_DB"])
    return None
