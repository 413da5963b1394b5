"""Evaluate parameter sets (trace + render + SSIM), in this process or in worker processes.

VTracer holds the GIL, so parallel evaluation needs processes. The pool is created once per
process (spawned, so it is safe under Ray and threads) and reused by every request; a
request's evaluations are submitted one per task so that a deadline can stop it between
evaluations (at most one evaluation late per worker).
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from .decode import Prepared
from .errors import EngineFailure, TracewiseError, Unavailable
from .params import Params
from .quality import Quality, Reference
from .trace import trace

_POOL: cf.ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def default_workers() -> int:
    env = os.environ.get("TRACEWISE_WORKERS")
    if env:
        return max(0, int(env))
    return os.cpu_count() or 1


def pool() -> cf.ProcessPoolExecutor | None:
    """The shared worker pool, or None when ``TRACEWISE_WORKERS=0`` (evaluate in-process)."""
    global _POOL
    n = default_workers()
    if n == 0:
        return None
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = cf.ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"))
            atexit.register(shutdown)
        return _POOL


def shutdown() -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=False, cancel_futures=True)
            _POOL = None


def warmup() -> None:
    """Start the workers now (they import VTracer and resvg once), not in the first request."""
    p = pool()
    if p is not None:
        list(p.map(_ping, range(p._max_workers)))  # type: ignore[attr-defined]  # noqa: SLF001


def _ping(_: int) -> int:
    return os.getpid()


def evaluate_one(prepared: Prepared, reference: Reference, params: Params) -> tuple[str, Quality]:
    svg = trace(prepared, params)
    return svg, reference.measure(svg)


def _worker_eval(
    prepared: Prepared, rgba: np.ndarray, params: Params
) -> tuple[str, Quality] | TracewiseError:
    try:
        return evaluate_one(prepared, Reference(rgba), params)
    except TracewiseError as exc:  # returned, not raised: keeps the typed error across processes
        return exc


class Evaluator:
    """Evaluates parameter sets for one image, in parallel where a pool exists."""

    def __init__(
        self,
        prepared: Prepared,
        reference: Reference,
        workers: cf.ProcessPoolExecutor | None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``clock``: what an in-process ``map`` measures its timeout on (the job's; wall time
        unless given). The pool's timeout is always wall time."""
        self.prepared = prepared
        self.reference = reference
        self.pool = workers
        self.clock = clock or time.monotonic
        self.count = 0

    @property
    def parallelism(self) -> int:
        return 1 if self.pool is None else self.pool._max_workers  # type: ignore[attr-defined]  # noqa: SLF001

    def map(
        self,
        params: Iterable[Params],
        timeout: float | None,
        cancel: threading.Event | None = None,
    ) -> Iterator[tuple[Params, str, Quality]]:
        """Yield results as they finish; stop (cancelling the rest) when ``timeout`` runs out or
        ``cancel`` is set, checked between evaluations: a cancelled request stops within one."""
        plist = list(params)
        if self.pool is None:
            end = None if timeout is None else self.clock() + timeout
            for p in plist:
                if (end is not None and self.clock() >= end) or (cancel is not None and cancel.is_set()):
                    return
                svg, q = evaluate_one(self.prepared, self.reference, p)
                self.count += 1
                yield p, svg, q
            return
        # Pixels travel with every task: ~1 ms of pickling at 256 px against ~25 ms of work.
        futures = {self.pool.submit(_worker_eval, self.prepared, self.reference.rgba, p): p for p in plist}
        try:
            for fut in cf.as_completed(futures, timeout=timeout):
                if cancel is not None and cancel.is_set():
                    return
                p = futures[fut]
                out = fut.result()
                if isinstance(out, TracewiseError):
                    raise out
                svg, q = out
                self.count += 1
                yield p, svg, q
        except cf.TimeoutError:
            return
        except cf.process.BrokenProcessPool as exc:
            shutdown()
            raise Unavailable("the evaluation worker pool broke; retry the request") from exc
        except TracewiseError:
            raise
        except Exception as exc:
            raise EngineFailure("evaluation failed") from exc
        finally:
            for fut in futures:
                fut.cancel()
