"""A method deployment: runs one engine method on a picture, in a thread that stops when the
caller goes away. Typed engine errors come back as data (pickled by class and fields), not as a
raised exception with its traceback logged: a bad input is not a replica failure."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import ray
from ray import serve

from tracewise.decode import Encoded, Picture
from tracewise.objective import Objective

from .lane import budget_until, check_tracer, execute


@serve.deployment
class MethodWorker:
    """Runs one engine method. CPU work runs in a thread that stops when the caller goes away."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.node_id = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
        # One engine call at a time: its work holds the GIL, so two at once on one replica each ran
        # at half speed. Calls beyond it wait here, in order, and start the moment the previous one
        # ends; a work-bounded method's max_ongoing_requests covers all the room admission gives
        # it, so Ray's router hands a busy replica its next call instead of probing and retrying
        # with backoff until one frees (serve_config.yaml, bench/serving.py).
        self.engine_slot = asyncio.Semaphore(1)
        if method in ("mapping", "search", "regional"):
            from tracewise.methods.mapping import default_model

            default_model()  # load the ONNX model now, not in the first request

    def check_health(self) -> None:
        """Serve calls this every few seconds (health_check_period_s): a tiny real trace, so a
        replica whose tracer no longer works is replaced, not only one that died."""
        check_tracer()

    async def run(self, picture: Picture | Encoded, objective: Objective, deadline: float) -> dict[str, Any]:
        """The answer, with ``timing``: (seconds waiting for the engine slot, seconds from taking
        it to the answer), so the ingress can tell the replica's queue, its work and the way
        there and back apart (``tracewise_method_seconds``)."""
        arrived = time.monotonic()
        cancel = threading.Event()
        async with self.engine_slot:
            began = time.monotonic()
            objective = budget_until(objective, deadline)  # the budget left after waiting its turn
            try:
                answer = await asyncio.to_thread(self._guarded, picture, objective, cancel)
            except asyncio.CancelledError:
                cancel.set()  # the thread stops at its next evaluation boundary
                raise
        answer["timing"] = (began - arrived, time.monotonic() - began)
        return answer

    def _guarded(
        self, picture: Picture | Encoded, objective: Objective, cancel: threading.Event, progress: Any = None
    ) -> dict[str, Any]:
        return execute(self.method, picture, objective, cancel, progress, self.node_id)

    async def run_stream(
        self, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> AsyncIterator[dict[str, Any]]:
        arrived = time.monotonic()
        async with self.engine_slot:
            began = time.monotonic()
            async for event in self._stream(picture, objective, deadline):
                if "result" in event:  # as run's answer: the slot's wait and the run
                    event["result"]["timing"] = (began - arrived, time.monotonic() - began)
                yield event

    async def _stream(
        self, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> AsyncIterator[dict[str, Any]]:
        objective = budget_until(objective, deadline)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        cancel = threading.Event()

        def progress(stage: str, score: float, fraction: float) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, {"progress": (stage, score, fraction)})

        task = asyncio.ensure_future(asyncio.to_thread(self._guarded, picture, objective, cancel, progress))
        try:
            while not task.done() or not queue.empty():
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                else:
                    getter.cancel()
            yield {"result": task.result()}
        except asyncio.CancelledError:
            cancel.set()
            raise
