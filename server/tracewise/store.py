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


class ResultsStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        with self._conn() as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def append(self, row: dict[str, Any]) -> None:
        values = (
            row["request_id"],
            row.get("time", time.time()),
            row.get("image_sha256"),
            json.dumps([float(x) for x in row["features"]]),
            json.dumps(row.get("options", {})),
            row.get("decision"),
            row.get("confidence"),
            row.get("logo_type"),
            row["method_used"],
            json.dumps(row.get("params")),
            float(row["ssim"]),
            int(row["svg_bytes"]),
            float(row["seconds"]),
            json.dumps(row.get("fallback", [])),
        )
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values)
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
            for k in ("features", "options", "params", "fallback"):
                row[k] = json.loads(row[k]) if row[k] is not None else None
            out.append(row)
        return out

    def count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM results").fetchone()[0])
