"""API keys (``TRACEWISE_API_KEYS``): every RPC but the health check needs one, when set."""

from __future__ import annotations

import hmac
import os

from .status import Unauthenticated

ENV = "TRACEWISE_API_KEYS"


class ApiKeys:
    def __init__(self, raw: str | None = None) -> None:
        raw = os.environ.get(ENV, "") if raw is None else raw
        self.keys = [k.strip().encode() for k in raw.split(",") if k.strip()]

    def check(self, metadata: dict[str, str]) -> None:
        """Raise ``Unauthenticated`` unless ``authorization: Bearer <key>`` names a key."""
        if not self.keys:
            return
        auth = metadata.get("authorization", "")
        token = auth[7:].encode() if auth.startswith("Bearer ") else b""
        ok = False
        for key in self.keys:  # constant-time per key, and every key is tried
            ok |= hmac.compare_digest(token, key)
        if not ok:
            raise Unauthenticated()
