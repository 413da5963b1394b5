"""The data plane: everything a request goes through between the protocol and the method
replicas, in plain Python (no Ray, no protobuf): unit-tested with fake method handles.

    prepare (size checks, fast shedding, decode) -> cache -> decide (the router, for auto)
    -> budget (budget.plan, once) -> the method, falling back to cheaper ones -> Served
    -> after the answer: the results store and exploration (recording.py)

Admission per method is admission.py; the time is budget.py; the rich status of a failure is
status.py (the ingress maps what this raises).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import trace

from tracewise import engine
from tracewise.cache import LRUCache, cache_key
from tracewise.decode import DEFAULT_MAX_PIXELS, Encoded, Picture, decode, probe
from tracewise.errors import ImageTooLarge, InvalidImage, TracewiseError, Unavailable
from tracewise.methods import CHEAPER
from tracewise.objective import Objective
from tracewise.router import Arm, Decision
from tracewise.telemetry import annotate, span

from . import access_log, budget
from .admission import FAST_SHED_S, Admission
from .recording import Recorder
from .served import Served
from .status import Overloaded

log = logging.getLogger("tracewise.serve")

MAX_REQUEST_BYTES = 20 * 1024 * 1024


class Backpressure(Exception):
    """A method's replicas refused the call (their queues are full)."""


class ReplicaLost(Exception):
    """The replica running the call died or became unreachable: another replica of the same
    method may answer it (the call is tried there once before falling back)."""


class Methods(Protocol):
    """The method deployments as the data plane calls them (Ray handles in the service)."""

    async def run(
        self, method: str, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> dict[str, Any]: ...

    def stream(
        self, method: str, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> AsyncIterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class Request:
    request_id: str
    image: bytes
    objective: Objective
    requested: str  # "auto" or a method
    timeout_s: float | None  # the client's deadline, seconds from ``started``
    started: float  # monotonic


@dataclass(frozen=True)
class Progress:
    stage: str
    best_score: float
    fraction: float


class DataPlane:
    def __init__(
        self,
        methods: Methods,
        names: list[str],
        metrics: Any,
        inflight_limits: dict[str, int] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        store: Any = None,
        replicas: Callable[[str], int | None] = lambda method: None,
        ingresses: Callable[[], int | None] = lambda: None,
    ) -> None:
        """``inflight_limits``: work in flight per running replica of each method, from this
        ingress replica; ``replicas``: each method's running replicas now, ``ingresses``: the
        ingress replicas now (admission.py)."""
        self.methods = methods
        self.names = names
        self.metrics = metrics
        self.max_pixels = max_pixels
        self.admission = Admission(
            names,
            inflight_limits,
            lambda m, held: metrics.set("tracewise_inflight", held, {"method": m}),
            replicas=replicas,
            ingresses=ingresses,
        )
        self.recorder = Recorder(store, metrics, self.admission, names)
        self.cache: LRUCache[Served] = LRUCache()
        self.answer_seconds = 0.5  # recent answer time (moving average): when shed requests may return

    # --- steps -------------------------------------------------------------------------
    async def prepare(self, image: bytes, requested: str) -> Picture | Encoded:
        """Validate, shed at once when the whole fallback chain just pushed back, then read the
        header (a named method: its replica decodes, so only the bytes travel and the ingress
        does no pixel work) or decode (auto: the router needs the pixels)."""
        if not image:
            raise InvalidImage("empty request: no image bytes")
        if len(image) > MAX_REQUEST_BYTES:
            raise ImageTooLarge(f"image is {len(image)} bytes; the limit is {MAX_REQUEST_BYTES}")
        if requested != "auto" and self.admission.chain_saturated(requested):
            raise Overloaded(f"{requested} and every cheaper method are saturated")
        if requested != "auto":
            return probe(image, self.max_pixels)  # the header only: well under a millisecond
        # decoding is CPU work: off the event loop, which keeps shedding load and answering health
        return await asyncio.to_thread(decode, image, self.max_pixels)

    async def decide(
        self, picture: Picture | Encoded, objective: Objective, requested: str
    ) -> Decision | None:
        if requested != "auto" or isinstance(picture, Encoded):
            return None
        return await asyncio.to_thread(engine.route, picture, objective, self.admission.load())

    async def call(
        self,
        method: str,
        picture: Picture | Encoded,
        objective: Objective,
        seconds: float,
        exploring: bool = False,
    ) -> dict[str, Any]:
        """One call to a method deployment; raises so the caller can fall back. Its backpressure
        marks the method saturated, except for an exploration's. Its answer's time teaches
        admission the method's pace."""
        with self.admission.admit(method, picture, exploring, seconds):
            wait = budget.wait_s(method, seconds, picture.width * picture.height)
            sent = time.monotonic()
            try:
                result = await asyncio.wait_for(
                    self.methods.run(method, picture, objective, time.time() + seconds), timeout=wait
                )
            except Backpressure as exc:
                if not exploring:
                    self.admission.pushed_back(method)
                raise Overloaded(f"{method} is saturated") from exc
        self._timed(method, result, sent)
        if "error" in result:
            raise result["error"]  # a typed engine error, as the replica raised it
        self.admission.learn(method, picture, result["seconds"])
        return result

    def _timed(self, method: str, result: dict[str, Any], sent: float) -> None:
        """The call's parts to the metrics: the replica's (queued, run) seconds, taken out of its
        answer (they are not the result's), and the rest of the round trip since ``sent``."""
        timing = result.pop("timing", None)
        if timing is not None:
            queued, ran = timing
            self.metrics.method_call(method, queued, ran, max(0.0, time.monotonic() - sent - queued - ran))

    async def explore_call(
        self, method: str, picture: Picture, objective: Objective, seconds: float
    ) -> dict[str, Any]:
        return await self.call(method, picture, objective, seconds, exploring=True)

    async def with_fallbacks(
        self, method: str, picture: Picture | Encoded, objective: Objective, plan: budget.Budget
    ) -> tuple[dict[str, Any], tuple[dict[str, str], ...]]:
        fallbacks: list[dict[str, str]] = []
        retried: set[str] = set()
        current: str | None = method
        seconds = plan.seconds
        while current is not None:
            try:
                with span("tracewise.attempt", method=current, budget_s=seconds) as s:
                    try:
                        result = await self.call(current, picture, objective, seconds)
                    except BaseException as exc:
                        annotate(s, outcome=type(exc).__name__)
                        raise
                    annotate(s, outcome="ok", ssim=result["ssim"], svg_bytes=result["svg_bytes"])
                return result, tuple(fallbacks)
            except ReplicaLost as exc:
                if current not in retried:  # once more, on another replica of the same method
                    retried.add(current)
                    log.warning("method %s lost its replica (%s): trying another", current, exc)
                    trace.get_current_span().add_event("tracewise.retry", {"tracewise.method": current})
                    seconds = plan.left()
                    continue
                reason = "failed: replica lost twice"
            except TracewiseError as exc:
                if exc.grpc_code in ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"):
                    raise  # the request's fault: no other method helps
                reason = f"{exc.grpc_code}: {exc.message}"
            except Overloaded as exc:
                reason = f"overloaded: {exc}"
            except TimeoutError:
                reason = "timed out"
            except Exception as exc:  # noqa: BLE001 - a replica crash or a lost actor: fall back
                log.warning("method %s failed: %r", current, exc)
                reason = f"failed: {type(exc).__name__}"
            fallbacks.append({"from": current, "reason": reason})
            trace.get_current_span().add_event(
                "tracewise.fallback",
                {
                    "tracewise.from": current,
                    "tracewise.to": str(CHEAPER[current]),
                    "tracewise.reason": reason,
                },
            )
            current = CHEAPER[current]
            seconds = plan.left()
        reasons = "; ".join(f["reason"] for f in fallbacks)
        if all(f["reason"].startswith("overloaded") for f in fallbacks):
            # backpressure everywhere: say so (RESOURCE_EXHAUSTED), so clients back off and retry
            raise Overloaded(f"every method is saturated ({reasons})")
        raise Unavailable("every method failed: " + reasons)

    # --- RPCs --------------------------------------------------------------------------
    async def vectorize(self, req: Request) -> Served:
        picture = await self.prepare(req.image, req.requested)
        key = cache_key(req.image, options=f"{req.requested}|{req.objective!r}".encode())
        hit = self.cache.get(key)
        self.metrics.inc("tracewise_cache", {"result": "miss" if hit is None else "hit"})
        if hit is not None:
            served = hit.hit(req.request_id)
            self.recorder.record_later(served, req.image, None, req.objective)
            return served
        decision = await self.decide(picture, req.objective, req.requested)
        method = decision.method if decision is not None else req.requested
        plan = budget.plan(method, req.objective, decision, req.timeout_s, req.started)
        result, fallbacks = await self.with_fallbacks(method, picture, req.objective, plan)
        served = self._served(req, result, decision, fallbacks, plan.seconds)
        # Only what the options alone produce: not a fallback's, not one cut short, and not one
        # whose time the client's deadline cut (unless the method is bounded by work, not time).
        if not fallbacks and not served.cut_short and not plan.answer_cut_by_client:
            self.cache.put(key, served)
        self.recorder.record_later(served, req.image, picture, req.objective)
        self.recorder.explore_later(served, req.image, picture, req.objective, self.explore_call)
        return served

    async def stream(self, req: Request) -> AsyncIterator[Progress | Served]:
        """Progress from the method, then the result. No fallbacks: progress already sent belongs
        to the method that sent it."""
        picture = await self.prepare(req.image, req.requested)
        decision = await self.decide(picture, req.objective, req.requested)
        method = decision.method if decision is not None else req.requested
        plan = budget.plan(method, req.objective, decision, req.timeout_s, req.started)
        sent = time.monotonic()
        try:
            async for event in self.methods.stream(
                method, picture, req.objective, time.time() + plan.seconds
            ):
                if "progress" in event:
                    yield Progress(*event["progress"])
                    continue
                result = event["result"]
                self._timed(method, result, sent)
                if "error" in result:
                    raise result["error"]
                yield self._served(req, result, decision, (), plan.seconds)
        except Backpressure as exc:
            raise Overloaded(f"{method} is saturated") from exc

    async def route(self, req: Request) -> Decision:
        picture = await self.prepare(req.image, "auto")
        assert isinstance(picture, Picture)
        return await asyncio.to_thread(engine.route, picture, req.objective, self.admission.load())

    # --- bookkeeping -------------------------------------------------------------------
    def _served(
        self,
        req: Request,
        result: dict[str, Any],
        decision: Decision | None,
        fallbacks: tuple[dict[str, str], ...],
        seconds: float,
    ) -> Served:
        arm = None
        if not fallbacks:  # what ran, as the router's labels name it (method@seconds)
            arm = decision.arm if decision is not None else Arm(result["method"], seconds).name
        served = Served(req.request_id, req.requested, result, arm, decision, fallbacks)
        annotate(
            trace.get_current_span(),
            request_id=req.request_id,
            method_requested=req.requested,
            method_used=served.method,
            ssim=served.ssim,
            svg_bytes=served.svg_bytes,
            evaluations=served.evaluations,
            fallbacks=len(fallbacks),
            logo_type=served.logo_type,
            confidence=served.confidence,
        )
        return served

    def answered(
        self, rpc: str, rid: str, requested: str, served: Served | None, status: str, seconds: float
    ) -> None:
        """Every answered request: its metrics and its one access-log line (in the request's span)."""
        if status == "OK":
            self.answer_seconds += 0.1 * (seconds - self.answer_seconds)
        self.metrics.request(rpc, requested, served, status, seconds)
        access_log.emit(rpc, rid, requested, served, status, seconds)

    def retry_after(self) -> float:
        """When a shed request may come back: the recent answer time, within [FAST_SHED_S, 5 s]."""
        return min(5.0, max(FAST_SHED_S, self.answer_seconds))
