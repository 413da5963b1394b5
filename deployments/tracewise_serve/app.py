"""The Ray Serve application: a gRPC ingress (router) and one autoscaled deployment per method.

    SDK -> Ray gRPC proxy -> Ingress (validate, decide, convert) -> MethodWorker -> engine

The ingress holds no image logic: it decodes once to validate and to pick the method, asks
the method deployment through a ``DeploymentHandle``, falls back to a cheaper method when a
method fails, times out or is saturated (recording each fallback in the report), and maps
every error to a gRPC status in ``status.py``.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hashlib
import hmac
import os
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2
from opentelemetry import trace
from ray import serve
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from tracewise import engine
from tracewise.cache import LRUCache, cache_key
from tracewise.decode import DEFAULT_MAX_PIXELS, Picture, decode
from tracewise.errors import InvalidImage, TracewiseError, Unavailable
from tracewise.methods import CHEAPER, DEFAULT_BUDGET_S, METHODS
from tracewise.objective import Objective
from tracewise.router import Arm
from tracewise.store import open_store
from tracewise.telemetry import annotate, span
from tracewise_client.v1 import vectorize_pb2 as pb

from . import access_log, convert
from .admission import FAST_SHED_S, Admission
from .health import Health
from .metrics import Metrics
from .status import DETAILS_KEY, DeadlineTooShort, Overloaded, Unauthenticated, to_status

log = access_log.structured("tracewise.serve")  # JSON lines with the request and trace ids

TIMEOUT_KEY = "x-tracewise-timeout"
MAX_REQUEST_BYTES = 20 * 1024 * 1024
# Time kept back from the client's deadline for the trip back (at least this, or 10%).
DEADLINE_MARGIN_S = 0.15
MAX_PENDING_RECORDS = 256  # results waiting to be written to the store; beyond this one is dropped
VERSION = "0.1.0"
# Exploration (with a results store): this share of routed requests also runs one other eligible
# method in the background, after the answer, when that method has room. The store then holds the
# same image and request served by two methods: the labels ``tracewise router retrain`` learns
# from. Without it the store only pairs results when clients happen to ask twice.
EXPLORE_ENV = "TRACEWISE_EXPLORE"
DEFAULT_EXPLORE = "0.02"


def _api_keys() -> list[bytes]:
    raw = os.environ.get("TRACEWISE_API_KEYS", "")
    return [k.strip().encode() for k in raw.split(",") if k.strip()]


def _metadata(ctx: Any) -> dict[str, str]:
    try:
        return {k: v for k, v in (ctx.invocation_metadata() or [])}
    except Exception:  # noqa: BLE001 - a context without metadata has none
        return {}


@serve.deployment
class MethodWorker:
    """Runs one engine method. CPU work runs in a thread that stops when the caller goes away."""

    def __init__(self, method: str) -> None:
        self.method = method
        if method in ("mapping", "search", "regional"):
            from tracewise.methods.mapping import default_model

            default_model()  # load the ONNX model now, not in the first request

    def check_health(self) -> None:
        """Serve calls this every few seconds (health_check_period_s): a tiny real trace, so a
        replica whose tracer no longer works is replaced, not only one that died."""
        from tracewise.trace import vtracer_svg

        rgba = np.zeros((16, 16, 4), np.uint8)
        rgba[..., 3] = 255
        rgba[4:12, 4:12, 0] = 255
        if "<path" not in vtracer_svg(rgba, None):
            raise RuntimeError("VTracer traced no path on the health-check picture")

    def _run(self, picture: Picture, objective: Objective, cancel: threading.Event, progress=None) -> dict:
        # every result carries VTracer's defaults on the same image: the floor it was checked against
        result = engine.vectorize(picture, self.method, objective, progress=progress, cancel=cancel)
        out = result.to_dict()
        out["svg"] = result.svg
        return out

    @staticmethod
    def _until(objective: Objective, deadline: float) -> Objective:
        """The budget left at this replica: the ingress's wall-clock deadline minus transit."""
        left = max(0.01, deadline - time.time())
        return dataclasses.replace(objective, budget_s=left)

    async def run(self, picture: Picture, objective: Objective, deadline: float) -> dict:
        objective = self._until(objective, deadline)
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self._guarded, picture, objective, cancel)
        except asyncio.CancelledError:
            cancel.set()  # the thread stops at its next evaluation boundary
            raise

    def _guarded(
        self, picture: Picture, objective: Objective, cancel: threading.Event, progress=None
    ) -> dict:
        try:
            return self._run(picture, objective, cancel, progress)
        except TracewiseError as exc:  # returned, not raised: no traceback logged for a bad input
            return {"error": exc}  # pickled by class and fields (TracewiseError.__reduce__)

    async def run_stream(
        self, picture: Picture, objective: Objective, deadline: float
    ) -> AsyncIterator[dict]:
        objective = self._until(objective, deadline)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict] = asyncio.Queue()
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


# Ray's gRPC proxy copies a streaming handler's context (status, details, trailers) onto the call
# only with a yielded message: a stream that ends on an error without one reaches the client as OK
# with no messages. So an error is followed by this empty message (neither progress nor result),
# which carries the status; the SDK skips it.
STATUS_CARRIER = pb.VectorizeStreamResponse()


@serve.deployment
class Ingress:
    """The gRPC ingress: one method per RPC, plus ``grpc.health.v1.Health``."""

    def __init__(
        self,
        workers: dict[str, DeploymentHandle],
        max_pixels: int = DEFAULT_MAX_PIXELS,
        inflight_limits: dict[str, int] | None = None,
    ) -> None:
        self.workers = workers
        self.max_pixels = max_pixels
        self.keys = _api_keys()
        self.cache: LRUCache[bytes] = LRUCache()
        self.store = open_store()  # a store server (a cluster), a local file, or none
        self.metrics = Metrics()
        self.admission = Admission(
            list(workers),
            inflight_limits,
            lambda method, held: self.metrics.set("tracewise_inflight", held, {"method": method}),
        )
        self.explore_rate = float(os.environ.get(EXPLORE_ENV, DEFAULT_EXPLORE)) if self.store else 0.0
        self._exploring: set[asyncio.Task] = set()
        self._recording: set[asyncio.Task] = set()
        self.health = Health()
        self.answer_seconds = 0.5  # recent answer time (moving average), for RetryInfo

    # --- helpers -----------------------------------------------------------------------
    def _authorise(self, md: dict[str, str]) -> None:
        if not self.keys:
            return
        auth = md.get("authorization", "")
        token = auth[7:].encode() if auth.startswith("Bearer ") else b""
        ok = False
        for key in self.keys:  # constant-time per key, and every key is tried
            ok |= hmac.compare_digest(token, key)
        if not ok:
            raise Unauthenticated()

    def _budget(
        self, objective: Objective, method: str, md: dict[str, str], t0: float, decision: Any
    ) -> float:
        budget = engine.method_budget(method, objective.budget_s, decision)
        if TIMEOUT_KEY in md:
            try:
                timeout = float(md[TIMEOUT_KEY])
                left = timeout - (time.monotonic() - t0) - max(DEADLINE_MARGIN_S, 0.1 * timeout)
            except ValueError:
                raise InvalidImage(f"{TIMEOUT_KEY} must be seconds") from None
            if left <= 0.02:
                raise DeadlineTooShort("the deadline leaves no time to work")
            budget = min(budget, left)
        return budget

    async def _prepare(self, request: Any, md: dict[str, str]) -> tuple[Picture, Objective, str]:
        """Authorise, validate and decode; returns the picture, objective and requested method."""
        self._authorise(md)
        if not request.image:
            raise InvalidImage("empty request: no image bytes")
        if len(request.image) > MAX_REQUEST_BYTES:
            from tracewise.errors import ImageTooLarge

            raise ImageTooLarge(f"image is {len(request.image)} bytes; the limit is {MAX_REQUEST_BYTES}")
        requested = convert.method_from_pb(request.options.method)
        objective = convert.objective_from_pb(request.options)
        if requested != "auto" and self.admission.chain_saturated(requested):
            raise Overloaded(f"{requested} and every cheaper method are saturated")
        # decoding is CPU work: off the event loop, which keeps shedding load and answering health
        picture = await asyncio.to_thread(decode, request.image, self.max_pixels)
        return picture, objective, requested

    async def _decide(self, picture: Picture, objective: Objective, requested: str) -> tuple[str, Any]:
        if requested != "auto":
            return requested, None
        decision = await asyncio.to_thread(engine.route, picture, objective, self.admission.load())
        return decision.method, decision

    @staticmethod
    def _trailer(ctx: Any, rid: str) -> None:
        if ctx is not None:
            ctx.set_trailing_metadata([("request_id", rid)])

    def _record(
        self,
        rid: str,
        image: bytes,
        picture: Picture | None,
        objective: Objective,
        out: dict,
        decision: Any,
        requested: str,
        feats: list[float] | None = None,
    ) -> None:
        """Append the served result to the results store (the router retrains from it; the
        report reads it). Cache hits are recorded too, marked, without features. ``feats``: the
        image features when already computed (an exploration reuses the router's)."""
        from tracewise.features import features

        assert self.store is not None
        cached = bool(out.get("cached"))
        logo_type = out.get("logo_type") or None
        if cached or picture is None:
            feats = []
        else:
            if feats is None:  # routed requests reuse the router's features instead of computing them again
                feats = decision.features if decision else features(picture.rgba).tolist()
            if logo_type is None:  # every stored row carries its logo type (the report groups by it)
                from tracewise.router import default_router

                logo_type = default_router().logo_type(picture.rgba, np.asarray(feats, np.float32))
        row = {
            "request_id": rid,
            "image_sha256": hashlib.sha256(image).hexdigest(),
            "features": feats,
            "options": {
                "style": objective.style,
                "max_svg_bytes": objective.max_svg_bytes,
                "target_ssim": objective.target_ssim,
                "budget_s": objective.budget_s,
                "max_colors": objective.max_colors,
                "palette": list(objective.palette),
                "arm": out.get("arm"),  # what ran: the method and its seconds (the router's labels)
            },
            "decision": decision.arm if decision else None,
            "confidence": out.get("confidence"),
            "logo_type": logo_type,
            "method_requested": requested,
            "method_used": out["method"],
            "params": out.get("params"),
            "ssim": out["ssim"],
            "svg_bytes": out["svg_bytes"],
            "seconds": out["seconds"],
            "fallback": out.get("fallbacks", []),
            "cached": cached,
            "defaults_ssim": out.get("defaults_ssim"),
            "defaults_svg_bytes": out.get("defaults_svg_bytes"),
            "cut_short": out.get("cut_short", False),
            "degraded": out.get("degraded", False),
        }
        self.store.append(row)

    def _record_later(self, rid: str, *args: Any) -> None:
        """Record a served result after the answer, off its path (features, logo type and the
        write take milliseconds, a remote store's network more). A row that cannot be written,
        or one beyond ``MAX_PENDING_RECORDS`` waiting, is counted and logged: never an error for
        the request, which is already answered."""
        if self.store is None:
            return
        if len(self._recording) >= MAX_PENDING_RECORDS:
            self.metrics.inc("tracewise_store_errors", {"error": "backlog"})
            log.warning("request %s not recorded: %d rows already waiting", rid, len(self._recording))
            return

        def write() -> None:
            try:
                self._record(rid, *args)
            except Exception as exc:  # noqa: BLE001 - counted and logged with the request's ids
                self.metrics.inc("tracewise_store_errors", {"error": type(exc).__name__})
                log.warning("request %s not recorded in the results store: %s", rid, exc)

        task = asyncio.create_task(asyncio.to_thread(write))
        self._recording.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._recording.discard)

    def _explore_later(
        self, rid: str, image: bytes, picture: Picture, objective: Objective, decision: Any, out: dict
    ) -> None:
        """Maybe run one other eligible arm (a method and its seconds) on this routed request,
        after the answer: the same image and request served two ways is a label."""
        if decision is None or out["fallbacks"] or random.random() >= self.explore_rate:
            return
        from tracewise.router import eligible

        budget = objective.budget_s if objective.budget_s is not None else engine.AUTO_BUDGET_S
        busy = self.admission.load()
        free = [
            a
            for a in eligible(budget)
            if a.name != decision.arm
            and a.method in self.workers
            and a.method not in busy
            and self.admission.room_to_explore(a.method)
        ]
        if not free:
            self.metrics.inc("tracewise_explorations", {"method": "none", "outcome": "no_room"})
            return
        # A fresh context: the exploration is its own trace (tagged with the request id), not a
        # child of a request that has already been answered.
        task = asyncio.create_task(
            self._explore(rid, image, picture, objective, random.choice(free), decision),
            context=contextvars.Context(),
        )
        self._exploring.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._exploring.discard)

    async def _explore(
        self, rid: str, image: bytes, picture: Picture, objective: Objective, arm: Any, decision: Any
    ) -> None:
        method = arm.method
        if not self.admission.room_to_explore(method):
            self.metrics.inc("tracewise_explorations", {"method": method, "outcome": "no_room"})
            return  # checked again: an exploration must never be what marks a method saturated
        explored = dataclasses.replace(decision, method=method, budget_s=arm.budget_s or None)
        budget = engine.method_budget(method, objective.budget_s, explored)
        try:
            with span("tracewise.explore", method=method, budget_s=budget, request_id=rid):
                out = await self._call(method, picture, objective, budget, exploring=True)
        except Exception as exc:  # noqa: BLE001 - nobody waits for it: count it, log it
            log.info("exploration with %s failed: %r", method, exc)
            self.metrics.inc("tracewise_explorations", {"method": method, "outcome": "failed"})
            return
        out["fallbacks"] = []
        out["arm"] = arm.name
        out["logo_type"] = decision.logo_type  # the same image: the router's features and logo type
        self._record_later(f"{rid}-x", image, picture, objective, out, None, "explore", decision.features)
        self.metrics.inc("tracewise_explorations", {"method": method, "outcome": "recorded"})

    def _answered(
        self, rpc: str, rid: str, requested: str, out: dict | None, status: str, seconds: float
    ) -> None:
        """Every answered request: its metrics and its one access-log line (in the request's span)."""
        if status == "OK":  # a moving average of answer times: when shed requests may come back
            self.answer_seconds += 0.1 * (seconds - self.answer_seconds)
        self.metrics.request(rpc, requested, out, status, seconds)
        access_log.emit(rpc, rid, requested, out, status, seconds)

    def _fail(self, ctx: Any, exc: BaseException, rid: str) -> str:
        """Set the status for ``exc`` on the call, with its rich details (status.py); returns the
        status name (for metrics). A shed request is told to come back after the service's recent
        answer time, at least the fast-shedding window."""
        retry_after = min(5.0, max(FAST_SHED_S, self.answer_seconds))
        code, message, details = to_status(exc, rid, retry_after)
        if ctx is not None:
            ctx.set_code(code)
            ctx.set_details(message)
            ctx.set_trailing_metadata([("request_id", rid), (DETAILS_KEY, details)])
        return code.name

    async def _call(
        self, method: str, picture: Picture, objective: Objective, budget: float, exploring: bool = False
    ) -> dict:
        """Call one method deployment; raise on failure so the caller can fall back. Backpressure
        marks the method saturated, except for an exploration (its own queueing says nothing
        about the room requests have)."""
        with self.admission.admit(method, picture, exploring):
            response = self.workers[method].run.remote(picture, objective, time.time() + budget)
            try:
                out = await asyncio.wait_for(response, timeout=budget + 2.0)
            except (TimeoutError, asyncio.CancelledError):
                # the caller went away or the method overran: stop the replica's work too (it
                # stops at its next evaluation boundary), not only our wait for it
                response.cancel()
                raise
            except BackPressureError as exc:
                if not exploring:
                    self.admission.pushed_back(method)
                raise Overloaded(f"{method} is saturated") from exc
        if "error" in out:
            raise out["error"]
        return out

    async def _with_fallbacks(
        self, method: str, picture: Picture, objective: Objective, budget: float, deadline: float
    ) -> dict:
        fallbacks: list[dict[str, str]] = []
        current: str | None = method
        while current is not None:
            try:
                with span("tracewise.attempt", method=current, budget_s=budget) as s:
                    try:
                        out = await self._call(current, picture, objective, budget)
                    except BaseException as exc:
                        annotate(s, outcome=type(exc).__name__)
                        raise
                    annotate(s, outcome="ok", ssim=out["ssim"], svg_bytes=out["svg_bytes"])
                out["fallbacks"] = fallbacks
                return out
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
            budget = max(0.05, min(budget, deadline - time.monotonic()))
        reasons = "; ".join(f["reason"] for f in fallbacks)
        if all(f["reason"].startswith("overloaded") for f in fallbacks):
            # backpressure everywhere: say so (RESOURCE_EXHAUSTED), so clients back off and retry
            raise Overloaded(f"every method is saturated ({reasons})")
        raise Unavailable("every method failed: " + reasons)

    # --- RPCs --------------------------------------------------------------------------
    async def Vectorize(self, request: pb.VectorizeRequest, grpc_context: Any = None) -> pb.VectorizeResponse:
        rid = uuid.uuid4().hex[:16]
        access_log.REQUEST_ID.set(rid)
        t0 = time.monotonic()
        md = _metadata(grpc_context)
        requested, out, status = "unknown", None, "OK"
        try:
            picture, objective, requested = await self._prepare(request, md)
            key = cache_key(request.image, options=request.options.SerializeToString(deterministic=True))
            hit = self.cache.get(key)
            self.metrics.inc("tracewise_cache", {"result": "miss" if hit is None else "hit"})
            if hit is not None:
                response = pb.VectorizeResponse.FromString(hit)
                response.report.cached = True
                response.report.request_id = rid
                self._trailer(grpc_context, rid)
                out = _cached_out(response.report, time.monotonic() - t0)
                self._record_later(rid, request.image, None, objective, out, None, requested)
                return response
            method, decision = await self._decide(picture, objective, requested)
            budget = self._budget(objective, method, md, t0, decision)
            out = await self._with_fallbacks(method, picture, objective, budget, t0 + budget)
            _annotate(out, decision, requested, rid, budget)
            response = convert.response_to_pb(out, requested, rid)
            full = engine.method_budget(method, objective.budget_s, decision)
            if budget >= full and not out["fallbacks"] and not out["cut_short"]:
                # Only what the options alone produce: not a result cut short by this caller's deadline.
                self.cache.put(key, response.SerializeToString())
            self._trailer(grpc_context, rid)
            if self.store is not None:
                self._record_later(rid, request.image, picture, objective, out, decision, requested)
                self._explore_later(rid, request.image, picture, objective, decision, out)
            return response
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        except BaseException as exc:  # noqa: BLE001 - every error becomes a status here
            status = self._fail(grpc_context, exc, rid)
        finally:
            self._answered("Vectorize", rid, requested, out, status, time.monotonic() - t0)
        return pb.VectorizeResponse()

    async def VectorizeStream(
        self, request: pb.VectorizeStreamRequest, grpc_context: Any = None
    ) -> AsyncIterator[pb.VectorizeStreamResponse]:
        rid = uuid.uuid4().hex[:16]
        access_log.REQUEST_ID.set(rid)
        t0 = time.monotonic()
        md = _metadata(grpc_context)
        requested, method, out, status = "unknown", "unknown", None, "OK"
        try:
            picture, objective, requested = await self._prepare(request, md)
            method, decision = await self._decide(picture, objective, requested)
            budget = self._budget(objective, method, md, t0, decision)
            gen = (
                self.workers[method]
                .options(stream=True)
                .run_stream.remote(picture, objective, time.time() + budget)
            )
            async for event in gen:
                if "progress" in event:
                    stage, score, fraction = event["progress"]
                    yield pb.VectorizeStreamResponse(
                        progress=pb.Progress(stage=stage, best_score=score, fraction=fraction)
                    )
                    continue
                result = event["result"]
                if "error" in result:
                    raise result["error"]
                out = result
                out["fallbacks"] = []
                _annotate(out, decision, requested, rid, budget)
                self._trailer(grpc_context, rid)
                yield pb.VectorizeStreamResponse(result=convert.response_to_pb(out, requested, rid))
        except BackPressureError:
            status = self._fail(grpc_context, Overloaded(f"{method} is saturated"), rid)
            yield STATUS_CARRIER
        except (asyncio.CancelledError, GeneratorExit):
            status = "CANCELLED"
            raise
        except BaseException as exc:  # noqa: BLE001
            status = self._fail(grpc_context, exc, rid)
            yield STATUS_CARRIER
        finally:
            self._answered("VectorizeStream", rid, requested, out, status, time.monotonic() - t0)

    async def Route(self, request: pb.RouteRequest, grpc_context: Any = None) -> pb.RouteResponse:
        rid = uuid.uuid4().hex[:16]
        access_log.REQUEST_ID.set(rid)
        t0 = time.perf_counter()
        status = "OK"
        try:
            picture, objective, _ = await self._prepare(request, _metadata(grpc_context))
            decision = await asyncio.to_thread(engine.route, picture, objective, self.admission.load())
            return pb.RouteResponse(
                method=convert.METHOD_TO_PB[decision.method],
                confidence=decision.confidence,
                logo_type=decision.logo_type,
                model_version=decision.model_version,
                seconds=time.perf_counter() - t0,
                method_budget_seconds=decision.budget_s or 0.0,
            )
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        except BaseException as exc:  # noqa: BLE001
            status = self._fail(grpc_context, exc, rid)
        finally:
            self._answered("Route", rid, "auto", None, status, time.perf_counter() - t0)
        return pb.RouteResponse()

    async def GetServiceInfo(self, request: pb.GetServiceInfoRequest, grpc_context: Any = None):
        from tracewise.methods.mapping import default_model
        from tracewise.router import default_router

        try:
            self._authorise(_metadata(grpc_context))  # every RPC but the health check needs a key
        except Unauthenticated as exc:
            self._fail(grpc_context, exc, uuid.uuid4().hex[:16])
            return pb.GetServiceInfoResponse()
        await self.health.fresh()
        return pb.GetServiceInfoResponse(
            version=VERSION,
            methods=[
                pb.MethodInfo(
                    method=convert.METHOD_TO_PB[m],
                    default_budget_seconds=DEFAULT_BUDGET_S[m],
                    ready=self.health.method_ready(m),
                )
                for m in self.workers
            ],
            max_pixels=self.max_pixels,
            max_request_bytes=MAX_REQUEST_BYTES,
            mapping_model_version=default_model().version,
            router_model_version=default_router().model.version,
        )

    async def __call__(self, request: Any) -> Any:
        """Ray's HTTP proxy (``http_options``) routes every HTTP request here. The HTTP/JSON API is
        not built yet: answer with a status and a message that says where the API is, not Ray's
        bare 500."""
        from starlette.responses import JSONResponse

        return JSONResponse(
            {
                "code": "UNIMPLEMENTED",
                "message": "Tracewise has no HTTP API yet; use gRPC (tracewise.v1.VectorizeService) "
                "on the service's gRPC port",
            },
            status_code=501,
        )

    # --- grpc.health.v1 (health.py) ------------------------------------------------------
    async def Check(self, request: health_pb2.HealthCheckRequest, grpc_context: Any = None):
        await self.health.fresh()
        status = self.health.status(request.service)
        if status is None:
            if grpc_context is not None:
                grpc_context.set_code(grpc.StatusCode.NOT_FOUND)
                grpc_context.set_details(f"unknown service {request.service!r}")
            return health_pb2.HealthCheckResponse()
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: health_pb2.HealthCheckRequest, grpc_context: Any = None):
        async for status in self.health.watch(request.service):
            yield health_pb2.HealthCheckResponse(status=status)

    def __del__(self) -> None:
        """Serve calls this when it shuts the replica down: NOT_SERVING while requests drain."""
        health = getattr(self, "health", None)
        if health is not None:
            health.drain()


def _annotate(out: dict, decision: Any, requested: str, rid: str, budget: float) -> None:
    """Copy the router's decision into the result that becomes the report, and onto the span."""
    if decision is not None:
        out["confidence"] = decision.confidence
        out["logo_type"] = decision.logo_type
        out["degraded"] = decision.degraded
    if not out.get("fallbacks"):  # what ran, as the router's labels name it (method@seconds)
        out.setdefault("arm", decision.arm if decision is not None else Arm(out["method"], budget).name)
    annotate(
        trace.get_current_span(),
        request_id=rid,
        method_requested=requested,
        method_used=out["method"],
        ssim=out["ssim"],
        svg_bytes=out["svg_bytes"],
        evaluations=out.get("evaluations"),
        fallbacks=len(out.get("fallbacks", [])),
        logo_type=out.get("logo_type"),
        confidence=out.get("confidence"),
    )


def _cached_out(report: pb.Report, seconds: float) -> dict:
    """The result dict of a cache hit, from the cached report (for metrics and the store)."""
    return {
        "method": convert.PB_TO_METHOD[report.method_used],
        "cached": True,
        "ssim": report.ssim,
        "svg_bytes": report.svg_bytes,
        "seconds": seconds,
        "logo_type": report.logo_type,
        "confidence": report.confidence if report.HasField("confidence") else None,
        "defaults_ssim": report.defaults_ssim if report.HasField("defaults_ssim") else None,
        "defaults_svg_bytes": report.defaults_svg_bytes if report.HasField("defaults_svg_bytes") else None,
    }


def build_app(args: dict[str, Any] | None = None, overrides: dict[str, dict[str, Any]] | None = None):
    """The application for ``serve run``/``serve deploy`` (import path ``tracewise_serve.app:build_app``).

    ``serve deploy`` applies the config file's per-deployment settings itself; ``tracewise
    serve`` passes them as ``overrides`` (deployment name -> options), from the same file.
    """
    args = args or {}
    overrides = overrides or {}
    workers = {
        m: MethodWorker.options(name=f"method-{m}", **overrides.get(f"method-{m}", {})).bind(m)
        for m in METHODS
    }
    ingress = Ingress.options(**overrides.get("Ingress", {}))
    limits = {str(k): int(v) for k, v in (args.get("inflight_limits") or {}).items()}
    unknown = set(limits) - set(METHODS)
    if unknown:
        raise ValueError(f"inflight_limits names unknown methods: {sorted(unknown)}")
    return ingress.bind(workers, int(args.get("max_pixels", DEFAULT_MAX_PIXELS)), limits)
