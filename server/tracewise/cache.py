"""A bounded LRU of results, keyed by the image's content hash plus the request's options.

A repeated request (same bytes, same options) costs a hash and a dictionary lookup.
Thread-safe; the size is configurable (``TRACEWISE_CACHE_SIZE``, default 256 entries).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

V = TypeVar("V")


def cache_key(image: bytes, **options: Any) -> str:
    h = hashlib.sha256(image)
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    return h.hexdigest()


class LRUCache(Generic[V]):
    def __init__(self, size: int | None = None) -> None:
        self.size = int(os.environ.get("TRACEWISE_CACHE_SIZE", "256")) if size is None else size
        self._data: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> V | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key: str, value: V) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
