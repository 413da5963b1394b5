"""The colocated lane: work-bounded methods run in engine processes that the ingress replica owns,
instead of behind a second Ray hop to their own deployment.

    Ingress -> DataPlane -> Lane (one queue) -> an idle engine process (a pipe each way)

Measured on 2 cores (bench/serving.py --colocated, BENCHMARKS.md "Serving"): the hop to a method
replica and back costs a 256 px mapping call 6-7 ms alone and ~19 ms under load, and its Ray
machinery a share of the CPU; a pipe to a process costs well under a millisecond. The price is
what the method's own deployment gives: its replicas scale with the ingress replicas instead of on
their own, and sit where the ingress sits. So it is for one machine (the local config can turn it
on), not the cluster, where the methods run on the worker nodes.

- **One queue per ingress replica**, first come first served, for its processes: a call waits
  only while every process is busy (no replica picked on a stale view: routing.py's problem).
- **Processes, not threads**: VTracer holds the GIL, so an engine call in the ingress's own
  process would stall its event loop for every other request.
- **Cancellation**: a call whose caller goes away sets its process's flag; the engine stops at
  its next evaluation boundary (as a replica's thread does) before the process takes another.
- **A dead process** fails its call with ``ReplicaLost`` (the data plane tries once more, on
  another process, then falls back) and is replaced at once; while none is alive its methods
  count no running replica (health NOT_SERVING, admission's room one call).
- **Health**: a process is ready once it has loaded the models and traced a tiny picture
  (``check_tracer``, the same check a method replica runs).

``execute`` is one engine call as a method replica and a lane process both make it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from tracewise import engine
from tracewise.decode import DEFAULT_MAX_PIXELS, Encoded, Picture, decode
from tracewise.errors import TracewiseError
from tracewise.methods import WORK_BOUNDED
from tracewise.objective import Objective

from .dataplane import ReplicaLost

log = logging.getLogger("tracewise.serve")

START_TIMEOUT_S = 120.0  # imports, the ONNX model, the first trace: seconds on a loaded box
RESTART_MAX_S = 30.0  # the longest pause before starting again a process that died starting


class Cancelled:
    """The engine's cancel flag (``is_set``) over a byte shared with the parent."""

    def __init__(self, flag: Any) -> None:
        self.flag = flag

    def is_set(self) -> bool:
        return bool(self.flag.value)


def check_tracer() -> None:
    """A tiny real trace: raises when VTracer no longer traces (a method replica's health check
    and a lane process's first act)."""
    from tracewise.trace import vtracer_svg

    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[4:12, 4:12, 0] = 255
    if "<path" not in vtracer_svg(rgba, None):
        raise RuntimeError("VTracer traced no path on the health-check picture")


def execute(
    method: str,
    picture: Picture | Encoded,
    objective: Objective,
    cancel: Any,
    progress: Callable[[str, float, float], None] | None = None,
    node_id: str = "",
) -> dict[str, Any]:
    """One engine call, as the wire needs it: the result's fields and its SVG, or a typed engine
    error as data (``{"error": exc}``: a bad input is not a failure of the process)."""
    try:
        if isinstance(picture, Encoded):  # the ingress checked the header; the pixels are decoded here
            picture = decode(picture, max(DEFAULT_MAX_PIXELS, picture.width * picture.height))
        # every result carries VTracer's defaults on the same image: the floor it was checked against
        result = engine.vectorize(picture, method, objective, progress=progress, cancel=cancel)
    except TracewiseError as exc:
        return {"error": exc}  # pickled by class and fields (TracewiseError.__reduce__)
    out = result.to_dict()
    out["svg"] = result.svg
    out["node_id"] = node_id
    return out


def _serve(conn: Connection, flag: Any) -> None:
    """A lane process: load the models, check the tracer, then one call at a time from the pipe.
    It ends when the ingress's end of the pipe closes (the ingress stopped, or died)."""
    from tracewise.methods.mapping import default_model

    default_model()
    check_tracer()
    conn.send(("ready", os.getpid()))
    cancel = Cancelled(flag)
    while True:
        try:
            method, picture, objective, budget_end, streamed = conn.recv()
        except (EOFError, OSError):
            return

        def progress(stage: str, score: float, fraction: float) -> None:
            conn.send(("progress", (stage, score, fraction)))

        # the budget left once this process took the call (the ingress's wall-clock end)
        objective = budget_until(objective, budget_end)
        out = execute(method, picture, objective, cancel, progress if streamed else None)
        conn.send(("result", out))


def budget_until(objective: Objective, deadline: float) -> Objective:
    """``objective`` with the budget left until ``deadline`` (the ingress's wall-clock end): what
    is left for the engine once a replica or a lane process takes the call."""
    import dataclasses

    return dataclasses.replace(objective, budget_s=max(0.01, deadline - time.time()))


class ProcessLost(Exception):
    """The lane process running the call died (the data plane maps it to ``ReplicaLost``)."""


@dataclass
class _Call:
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)


class _Process:
    """One engine process, its pipe, its cancel flag, and a thread that reads its answers."""

    def __init__(
        self,
        index: int,
        loop: asyncio.AbstractEventLoop,
        on_ready: Callable[[_Process], None],
        on_exit: Callable[[_Process], None],
    ) -> None:
        ctx = mp.get_context("spawn")  # not fork: the ingress is a Ray worker with many threads
        self.index = index
        self.loop = loop
        self.on_ready = on_ready
        self.on_exit = on_exit
        self.flag = ctx.Value("b", 0, lock=False)
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_serve, args=(child, self.flag), name=f"tracewise-lane-{index}", daemon=True
        )
        self.process.start()
        child.close()
        self.pid: int | None = None
        self.started = threading.Event()  # it has loaded the models and traced once
        self.ended = threading.Event()
        self.call: _Call | None = None
        self.alive = True
        threading.Thread(target=self._read, name=f"tracewise-lane-{index}-reader", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "ready":
                self.pid = message[1]
                self.started.set()
            self._soon(self._deliver, message)
        self.process.join(5)
        self.ended.set()
        self._soon(self._exited)

    def _soon(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop has closed (the ingress stopped): nobody waits for it
            pass

    def _deliver(self, message: tuple[str, Any]) -> None:
        kind, payload = message
        if kind == "ready":
            self.on_ready(self)
        elif self.call is not None:
            self.call.events.put_nowait(message)

    def _exited(self) -> None:
        self.alive = False
        if self.call is not None:
            self.call.events.put_nowait(("lost", self.process.exitcode))
        self.on_exit(self)

    def send(self, message: tuple[Any, ...]) -> None:
        self.conn.send(message)

    def stop(self) -> None:
        self.alive = False
        self.conn.close()  # the process's recv ends: it exits
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()


class Lane:
    """Work-bounded ``methods`` in ``processes`` engine processes with one queue in front."""

    def __init__(self, methods: list[str], processes: int) -> None:
        unbounded = set(methods) - set(WORK_BOUNDED)
        if unbounded:
            raise ValueError(f"only work-bounded methods run in the lane, not {sorted(unbounded)}")
        if processes < 1:
            raise ValueError(f"the lane needs at least one process, got {processes}")
        self.methods = frozenset(methods)
        self.size = processes
        self._idle: asyncio.Queue[_Process] | None = None
        self._procs: dict[int, _Process] = {}
        self._stopped = False
        self._failed_starts: dict[int, int] = {}

    def __contains__(self, method: object) -> bool:
        return method in self.methods

    def alive(self) -> int:
        """The processes that have started and still run (health's and admission's replicas)."""
        return sum(p.alive and p.started.is_set() for p in self._procs.values())

    def snapshot(self) -> dict[str, int]:
        """Health's view of the lane's methods: their running replicas are its live processes."""
        alive = self.alive()
        return {f"method-{m}": alive for m in self.methods}

    def open(self) -> None:
        """Start the processes now and wait until each is ready, when an event loop runs here
        (Serve constructs the replica in one: the replica is not running, nor the app deployed,
        before its engine processes are); otherwise the first call starts them."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._start_all()
        self._wait_started()

    def _wait_started(self) -> None:
        end = time.monotonic() + START_TIMEOUT_S
        for proc in self._procs.values():
            while not proc.started.wait(0.05):
                if proc.ended.is_set() or time.monotonic() > end:
                    raise ProcessLost(
                        f"lane process {proc.index} did not start (exit code {proc.process.exitcode})"
                    )

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.alive and p.pid is not None]

    async def start(self) -> None:
        """Start the processes (once) and wait until each has loaded its models and traced once;
        later calls return at once (a call then waits in the queue for a ready process)."""
        if self._idle is not None:
            return
        self._start_all()
        await asyncio.to_thread(self._wait_started)

    def _start_all(self) -> None:
        self._idle = asyncio.Queue()
        for i in range(self.size):
            self._spawn(i)

    def _spawn(self, index: int) -> None:
        self._procs[index] = _Process(index, asyncio.get_running_loop(), self._became_ready, self._lost)

    def _became_ready(self, proc: _Process) -> None:
        if proc.alive and self._idle is not None:
            self._idle.put_nowait(proc)

    def _lost(self, proc: _Process) -> None:
        """A process exited: start another at once, or, when it died before it was ready (a
        start that keeps failing), after a pause that doubles up to ``RESTART_MAX_S``."""
        if self._stopped or self._procs.get(proc.index) is not proc:
            return
        if proc.started.is_set():
            self._failed_starts[proc.index] = 0
            pause = 0.0
        else:
            self._failed_starts[proc.index] = failed = self._failed_starts.get(proc.index, 0) + 1
            pause = min(RESTART_MAX_S, 0.5 * 2**failed)
        log.warning("lane process %s (pid %s) exited with %s: starting another in %.1f s",
                    proc.index, proc.pid, proc.process.exitcode, pause)  # fmt: skip
        asyncio.get_running_loop().call_later(pause, self._respawn, proc)

    def _respawn(self, proc: _Process) -> None:
        if not self._stopped and self._procs.get(proc.index) is proc:
            self._spawn(proc.index)

    async def _take(self) -> _Process:
        assert self._idle is not None, "Lane.start() first"
        while True:
            proc = await self._idle.get()
            if proc.alive:
                return proc

    def _give_back(self, proc: _Process) -> None:
        proc.call = None
        proc.flag.value = 0
        if proc.alive and self._idle is not None:
            self._idle.put_nowait(proc)

    def stream(
        self, method: str, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> AsyncIterator[dict[str, Any]]:
        """Progress events (``{"progress": (stage, score, fraction)}``) then ``{"result": ...}``,
        whose ``timing`` is (seconds waiting for a process, seconds from taking it to the answer)."""
        return self._call(method, picture, objective, deadline, True)

    async def run(
        self, method: str, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> dict[str, Any]:
        """The answer of one call, with its ``timing`` (no progress crosses the pipe)."""
        gen = self._call(method, picture, objective, deadline, False)
        try:
            async for event in gen:
                result: dict[str, Any] = event["result"]
                return result
        finally:
            await gen.aclose()
        raise ProcessLost("the lane ended the call without an answer")

    async def _call(
        self, method: str, picture: Picture | Encoded, objective: Objective, deadline: float, streamed: bool
    ) -> AsyncGenerator[dict[str, Any]]:
        await self.start()
        arrived = time.monotonic()
        proc = await self._take()
        began = time.monotonic()
        call = proc.call = _Call()
        finished = False
        try:
            try:
                await asyncio.to_thread(proc.send, (method, picture, objective, deadline, streamed))
            except OSError as exc:  # it died before its reader saw the pipe close
                proc.alive = False  # not given back: its reader's exit replaces it
                finished = True
                raise ProcessLost(f"lane process {proc.index} is gone ({type(exc).__name__})") from exc
            while True:
                kind, payload = await call.events.get()
                if kind == "progress":
                    yield {"progress": payload}
                    continue
                finished = True
                if kind == "lost":
                    raise ProcessLost(f"lane process {proc.index} exited with {payload}")
                payload["timing"] = (began - arrived, time.monotonic() - began)
                yield {"result": payload}
                return
        finally:
            if finished:
                self._give_back(proc)
            else:  # the caller went away: stop the engine, take the process back once it answers
                proc.flag.value = 1
                asyncio.get_running_loop().create_task(self._drain(proc, call))

    async def _drain(self, proc: _Process, call: _Call) -> None:
        while True:
            kind, _ = await call.events.get()
            if kind != "progress":
                break
        self._give_back(proc)

    async def stop(self) -> None:
        self._stopped = True
        for proc in self._procs.values():
            await asyncio.to_thread(proc.stop)


class WithLane:
    """The data plane's methods: the lane's in its processes, the others through ``remote`` (the
    method deployments' Ray handles)."""

    def __init__(self, remote: Any, lane: Lane) -> None:
        self.remote = remote
        self.lane = lane

    async def run(
        self, method: str, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> dict[str, Any]:
        if method not in self.lane:
            answer: dict[str, Any] = await self.remote.run(method, picture, objective, deadline)
            return answer
        try:
            return await self.lane.run(method, picture, objective, deadline)
        except ProcessLost as exc:
            raise ReplicaLost(str(exc)) from exc

    async def stream(
        self, method: str, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> AsyncIterator[dict[str, Any]]:
        source = self.lane.stream if method in self.lane else self.remote.stream
        try:
            async for event in source(method, picture, objective, deadline):
                yield event
        except ProcessLost as exc:
            raise ReplicaLost(str(exc)) from exc
