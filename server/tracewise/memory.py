"""Keep large temporary arrays off mmap: measured 3x faster SSIM here.

glibc serves allocations above its mmap threshold (128 KiB, raised only after some frees)
with fresh mmap()s, so every evaluation's multi-megabyte temporaries page-fault anew: colour
SSIM at 256 px took 6.7 ms that way and 2.1 ms with the threshold raised. Raising it once per
process (engine import, worker start) lets freed memory be reused; the trim threshold keeps
the heap from shrinking and re-growing between evaluations. Linux/glibc only; a no-op elsewhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
THRESHOLD = 256 * 1024 * 1024

_done = False


def tune_malloc() -> bool:
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD) == 1 and libc.mallopt(M_TRIM_THRESHOLD, THRESHOLD) == 1
    except (OSError, AttributeError):
        ok = False
    _done = ok
    return ok
