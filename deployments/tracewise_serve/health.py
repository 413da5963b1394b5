"""``grpc.health.v1`` that tells the truth: per method, from Serve's own view of its replicas.

Service names: ``""`` and ``tracewise.v1.VectorizeService`` (the service as a whole) and
``tracewise.v1.VectorizeService/<method>`` (one method). A method is SERVING while it or one of
its cheaper fallbacks has a running replica (its requests still get an answer); the whole service
while any method does. Everything is NOT_SERVING while this ingress replica drains.

The view comes from Serve's controller (replica states per deployment), refreshed in the background
every ``REFRESH_S`` from the first request on; admission scales its limits by the running replicas
(``running``). It reads the controller's answer as plain data: ``serve.status()`` builds pydantic
models from it (and cloudpickles each deployment's request router class), about 80 ms of CPU a call
against 2 ms, which once a second in each ingress replica took a tenth of the service's throughput
on 2 cores (bench/serving.py). Serve checks each method replica's health every few seconds
(``check_health``: a tiny real trace; ``health_check_period_s`` in serve_config.yaml), so a dead
method shows within about five seconds. ``Watch`` pushes each change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from grpc_health.v1 import health_pb2

from tracewise.methods import CHEAPER, METHODS

SERVICE_NAME = "tracewise.v1.VectorizeService"
REFRESH_S = 1.0
SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

INGRESS = "Ingress"  # the ingress deployment's name (app.py's class)

# deployment name -> number of RUNNING replicas
Snapshot = dict[str, int]


def serve_snapshot(app: str = "tracewise") -> Snapshot:
    """Running replicas per deployment of ``app``, as Serve's controller sees them (blocking): the
    controller's answer behind ``serve.status()``, read as the plain dict it is (the same counts:
    tests/e2e/test_serve.py)."""
    from ray.serve.context import _get_global_client

    client = _get_global_client(raise_if_no_controller_running=True)  # raises when Serve is gone
    assert client is not None
    deployments = client.get_serve_details()["applications"][app]["deployments"]
    # a replica's state is a ReplicaState, a str enum: equal to its name
    return {name: sum(r["state"] == "RUNNING" for r in d["replicas"]) for name, d in deployments.items()}


def services() -> list[str]:
    return ["", SERVICE_NAME, *(f"{SERVICE_NAME}/{m}" for m in METHODS)]


class Health:
    def __init__(
        self, source: Callable[[], Snapshot] = serve_snapshot, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._source = source
        self._clock = clock
        self._running: Snapshot | None = None
        self._at = -1e9
        self.draining = False
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.error: str | None = None
        # running "replicas" this replica holds itself (the colocated lane's processes, lane.py),
        # over Serve's view
        self.local: Callable[[], Snapshot] = dict

    # --- the view ----------------------------------------------------------------------
    def running(self, method: str) -> int | None:
        """``method``'s running replicas as last seen, or None while nothing is known (admission
        scales its limits by this)."""
        if not self._running:
            return None
        return self._running.get(f"method-{method}", 0)

    def ingresses(self) -> int | None:
        """The running ingress replicas as last seen (None while nothing is known)."""
        if not self._running:
            return None
        return self._running.get(INGRESS)

    def method_ready(self, method: str) -> bool:
        """``method`` itself has a running replica."""
        return (self.running(method) or 0) > 0

    def method_answers(self, method: str) -> bool:
        """``method`` or a cheaper fallback can answer its requests."""
        current: str | None = method
        while current is not None:
            if self.method_ready(current):
                return True
            current = CHEAPER[current]
        return False

    def status(self, service: str) -> int | None:
        """The status of ``service``, or None when no such service exists."""
        if service in ("", SERVICE_NAME):
            ok = any(self.method_answers(m) for m in METHODS)
        elif service.startswith(SERVICE_NAME + "/") and service.split("/", 1)[1] in METHODS:
            ok = self.method_answers(service.split("/", 1)[1])
        else:
            return None
        return SERVING if ok and not self.draining else NOT_SERVING

    def _all(self) -> tuple[int | None, ...]:
        return tuple(self.status(s) for s in services())

    # --- keeping it fresh --------------------------------------------------------------
    async def refresh(self) -> None:
        before = self._all()
        self._at = self._clock()  # under way: a caller meanwhile does not start another
        try:
            self._running = {**await asyncio.to_thread(self._source), **self.local()}
            self.error = None
        except Exception as exc:  # noqa: BLE001 - the controller unreachable: nothing is known to run
            self._running = {}
            self.error = f"{type(exc).__name__}: {exc}"
        self._at = self._clock()
        if self._all() != before:
            self._changed.set()

    def start(self) -> None:
        """Keep the view fresh in the background, from now on (see the module for how often)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop refreshing (the server this replica's view serves is stopping)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def fresh(self) -> None:
        """Refresh now if the view is older than ``REFRESH_S``; keep refreshing in the background."""
        self.start()
        if self._clock() - self._at > REFRESH_S:
            await self.refresh()

    async def _loop(self) -> None:
        while True:
            if self._clock() - self._at >= REFRESH_S:
                await self.refresh()
            await asyncio.sleep(REFRESH_S)

    def drain(self) -> None:
        self.draining = True
        self._changed.set()

    async def watch(self, service: str) -> AsyncIterator[int]:
        """The status of ``service`` now, then each time it changes (until the caller stops)."""
        await self.fresh()
        first = self.status(service)
        yield SERVICE_UNKNOWN if first is None else first
        if first is None:
            return
        last: int = first
        while True:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=REFRESH_S)
            except TimeoutError:
                pass
            await self.fresh()
            now = self.status(service)
            if now is not None and now != last:
                last = now
                yield now
