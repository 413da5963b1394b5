"""The Ray Serve application: a gRPC ingress and one autoscaled deployment per method.

    SDK -> Ray gRPC proxy -> Ingress (protobuf <-> domain) -> DataPlane -> MethodWorker -> engine

The ingress only converts: protobuf to domain types (convert.py), a call to the data plane
(dataplane.py: cache, decision, budget, fallbacks, recording), the answer back to protobuf, and
every failure to a gRPC status with rich details (status.py). Health is health.py, API keys
auth.py, the method replicas worker.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from tracewise.decode import DEFAULT_MAX_PIXELS, Encoded, Picture
from tracewise.methods import DEFAULT_BUDGET_S, METHODS, WORK_BOUNDED
from tracewise.objective import Objective
from tracewise.store import open_store
from tracewise_client.v1 import vectorize_pb2 as pb

from . import access_log, convert, http_api
from .auth import ApiKeys
from .dataplane import MAX_REQUEST_BYTES, Backpressure, DataPlane, Progress, ReplicaLost, Request
from .health import Health, services
from .lane import Lane, WithLane
from .metrics import Metrics
from .status import DETAILS_KEY, to_status
from .worker import MethodWorker

VERSION = "0.1.0"
# Ray's gRPC proxy copies a streaming handler's context (status, details, trailers) onto the call
# only with a yielded message: a stream that ends on an error without one reaches the client as OK
# with no messages. So an error is followed by this empty message (neither progress nor result),
# which carries the status; the SDK skips it.
STATUS_CARRIER = pb.VectorizeStreamResponse()


class ServeMethods:
    """The method deployments behind Ray handles, as the data plane calls them."""

    def __init__(self, handles: dict[str, DeploymentHandle[Any]]) -> None:
        self.handles = handles

    async def run(
        self, method: str, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> dict[str, Any]:
        response = self.handles[method].run.remote(picture, objective, deadline)
        try:
            answer: dict[str, Any] = await response
            return answer
        except BackPressureError as exc:
            raise Backpressure(str(exc)) from exc
        except RayActorError as exc:  # the replica died or is unreachable (ActorDiedError, ...)
            raise ReplicaLost(type(exc).__name__) from exc
        except asyncio.CancelledError:
            response.cancel()  # type: ignore[no-untyped-call]  # the caller gave up: stop the replica's work too, not only the wait
            raise

    async def stream(
        self, method: str, picture: Picture | Encoded, objective: Objective, deadline: float
    ) -> AsyncIterator[dict[str, Any]]:
        gen: Any = self.handles[method].options(stream=True).run_stream.remote(picture, objective, deadline)
        try:
            async for event in gen:
                yield event
        except BackPressureError as exc:
            raise Backpressure(str(exc)) from exc


def _metadata(ctx: Any) -> dict[str, str]:
    try:
        return {k: v for k, v in (ctx.invocation_metadata() or [])}
    except Exception:  # noqa: BLE001 - a context without metadata has none
        return {}


@serve.deployment
class Ingress:
    """The gRPC ingress: one method per RPC, plus ``grpc.health.v1.Health``."""

    def __init__(
        self,
        workers: dict[str, DeploymentHandle[Any]],
        max_pixels: int = DEFAULT_MAX_PIXELS,
        inflight_limits: dict[str, int] | None = None,
        colocated: dict[str, Any] | None = None,
    ) -> None:
        """``colocated``: ``{"methods": [...], "processes": N}``, work-bounded methods this replica
        runs in its own engine processes (lane.py) instead of through their deployments."""
        self.lane = Lane(list(colocated["methods"]), int(colocated["processes"])) if colocated else None
        self.methods = [m for m in METHODS if m in workers or (self.lane is not None and m in self.lane)]
        self.keys = ApiKeys()
        self.health = Health()
        methods: Any = ServeMethods(workers)
        if self.lane is not None:
            methods = WithLane(methods, self.lane)
            self.health.local = self.lane.snapshot  # its methods' replicas: this replica's processes
            self.lane.open()  # Serve runs the replica once its engine processes are ready
        self.plane = DataPlane(
            methods, self.methods, Metrics(), inflight_limits, max_pixels, open_store(),
            replicas=self._replicas,  # admission's room follows each method's running replicas
            ingresses=self.health.ingresses,  # and its estimate of the queue, the ingresses sharing it
        )  # fmt: skip

    def _replicas(self, method: str) -> int | None:
        """``method``'s running replicas as admission counts them. A lane's processes take calls
        from this replica alone, so each counts once per ingress replica: it gets the room and
        the queue a method replica gets from all of them (``inflight_limits`` is per replica,
        from each ingress)."""
        running = self.health.running(method)
        if self.lane is None or method not in self.lane or running is None:
            return running
        return running * (self.health.ingresses() or 1)

    def _request(self, request: Any, ctx: Any, rid: str, started: float) -> Request:
        self.health.start()  # the replicas' view, kept fresh from the first request on
        md = _metadata(ctx)
        self.keys.check(md)
        requested = convert.method_from_pb(request.options.method)
        objective = convert.objective_from_pb(request.options)
        return Request(rid, request.image, objective, requested, convert.timeout_from(md), started)

    def _fail(self, ctx: Any, exc: BaseException, rid: str) -> str:
        """Set the status for ``exc`` with its rich details; returns the status name (metrics)."""
        code, message, details = to_status(exc, rid, self.plane.retry_after())
        if ctx is not None:
            ctx.set_code(code)
            ctx.set_details(message)
            ctx.set_trailing_metadata([("request_id", rid), (DETAILS_KEY, details)])
        return str(code.name)

    @staticmethod
    def _start() -> tuple[str, float]:
        rid = uuid.uuid4().hex[:16]
        access_log.REQUEST_ID.set(rid)  # every log line of this request carries it
        return rid, time.monotonic()

    async def Vectorize(self, request: pb.VectorizeRequest, grpc_context: Any = None) -> pb.VectorizeResponse:
        rid, started = self._start()
        requested, served, status = "unknown", None, "OK"
        try:
            req = self._request(request, grpc_context, rid, started)
            requested = req.requested
            served = await self.plane.vectorize(req)
            if grpc_context is not None:
                grpc_context.set_trailing_metadata([("request_id", rid)])
            return convert.response_to_pb(served)
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        except BaseException as exc:  # noqa: BLE001 - every error becomes a status here
            status = self._fail(grpc_context, exc, rid)
        finally:
            self.plane.answered("Vectorize", rid, requested, served, status, time.monotonic() - started)
        return pb.VectorizeResponse()

    async def VectorizeStream(
        self, request: pb.VectorizeStreamRequest, grpc_context: Any = None
    ) -> AsyncIterator[pb.VectorizeStreamResponse]:
        rid, started = self._start()
        requested, served, status = "unknown", None, "OK"
        try:
            req = self._request(request, grpc_context, rid, started)
            requested = req.requested
            async for event in self.plane.stream(req):
                if isinstance(event, Progress):
                    progress = pb.Progress(
                        stage=event.stage, best_score=event.best_score, fraction=event.fraction
                    )
                    yield pb.VectorizeStreamResponse(progress=progress)
                    continue
                served = event
                if grpc_context is not None:
                    grpc_context.set_trailing_metadata([("request_id", rid)])
                yield pb.VectorizeStreamResponse(result=convert.response_to_pb(served))
        except (asyncio.CancelledError, GeneratorExit):
            status = "CANCELLED"
            raise
        except BaseException as exc:  # noqa: BLE001
            status = self._fail(grpc_context, exc, rid)
            yield STATUS_CARRIER
        finally:
            self.plane.answered("VectorizeStream", rid, requested, served, status, time.monotonic() - started)

    async def Route(self, request: pb.RouteRequest, grpc_context: Any = None) -> pb.RouteResponse:
        rid, started = self._start()
        status = "OK"
        try:
            decision = await self.plane.route(self._request(request, grpc_context, rid, started))
            return pb.RouteResponse(
                method=convert.METHOD_TO_PB[decision.method],
                confidence=decision.confidence,
                logo_type=decision.logo_type,
                model_version=decision.model_version,
                seconds=time.monotonic() - started,
                method_budget_seconds=decision.budget_s or 0.0,
            )
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        except BaseException as exc:  # noqa: BLE001
            status = self._fail(grpc_context, exc, rid)
        finally:
            self.plane.answered("Route", rid, "auto", None, status, time.monotonic() - started)
        return pb.RouteResponse()

    async def GetServiceInfo(
        self, request: pb.GetServiceInfoRequest, grpc_context: Any = None
    ) -> pb.GetServiceInfoResponse:
        try:
            self.keys.check(_metadata(grpc_context))  # every RPC but the health check needs a key
        except Exception as exc:  # noqa: BLE001
            self._fail(grpc_context, exc, uuid.uuid4().hex[:16])
            return pb.GetServiceInfoResponse()
        return await self.service_info()

    async def service_info(self) -> pb.GetServiceInfoResponse:
        """The service's description (GetServiceInfo, and the HTTP API's /v1/info)."""
        from tracewise.methods.mapping import default_model
        from tracewise.router import default_router

        await self.health.fresh()
        return pb.GetServiceInfoResponse(
            version=VERSION,
            methods=[
                pb.MethodInfo(
                    method=convert.METHOD_TO_PB[m],
                    default_budget_seconds=DEFAULT_BUDGET_S[m],
                    ready=self.health.method_ready(m),
                )
                for m in self.methods
            ],
            max_pixels=self.plane.max_pixels,
            max_request_bytes=MAX_REQUEST_BYTES,
            mapping_model_version=default_model().version,
            router_model_version=default_router().model.version,
        )

    async def __call__(self, request: Any) -> Any:
        """Ray's HTTP proxy (``http_options``) routes every HTTP request here: the HTTP/JSON API."""
        self.health.start()
        return await http_api.handle(self, request)

    # --- grpc.health.v1 (health.py) ------------------------------------------------------
    async def Check(
        self, request: health_pb2.HealthCheckRequest, grpc_context: Any = None
    ) -> health_pb2.HealthCheckResponse:
        await self.health.fresh()
        status = self.health.status(request.service)
        if status is None:
            if grpc_context is not None:
                grpc_context.set_code(grpc.StatusCode.NOT_FOUND)
                grpc_context.set_details(f"unknown service {request.service!r}")
            return health_pb2.HealthCheckResponse()
        return health_pb2.HealthCheckResponse(status=status)

    async def List(
        self, request: health_pb2.HealthListRequest, grpc_context: Any = None
    ) -> health_pb2.HealthListResponse:
        await self.health.fresh()
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name in services()
                if (status := self.health.status(name)) is not None
            }
        )

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, grpc_context: Any = None
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        async for status in self.health.watch(request.service):
            yield health_pb2.HealthCheckResponse(status=status)

    def __del__(self) -> None:
        """Serve calls this when it shuts the replica down: NOT_SERVING while requests drain."""
        health = getattr(self, "health", None)
        if health is not None:
            health.drain()


def build_app(args: dict[str, Any] | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Any:
    """The application for ``serve run``/``serve deploy`` (import path ``tracewise_serve.app:build_app``).

    ``serve deploy`` applies the config file's per-deployment settings itself; ``tracewise
    serve`` passes them as ``overrides`` (deployment name -> options), from the same file.
    """
    args = args or {}
    overrides = overrides or {}
    colocated = args.get("colocated") or None
    in_lane = set(colocated["methods"]) if colocated else set()
    unknown = in_lane - set(METHODS)
    if unknown:
        raise ValueError(f"colocated names unknown methods: {sorted(unknown)}")
    if in_lane - set(WORK_BOUNDED):
        raise ValueError(
            f"only work-bounded methods can be colocated, not {sorted(in_lane - set(WORK_BOUNDED))}"
        )
    workers = {
        m: MethodWorker.options(  # type: ignore[attr-defined]  # serve.deployment makes a Deployment
            name=f"method-{m}", **overrides.get(f"method-{m}", {})
        ).bind(m)
        for m in METHODS
        if m not in in_lane
    }
    ingress = Ingress.options(**overrides.get("Ingress", {}))  # type: ignore[attr-defined]
    limits = {str(k): int(v) for k, v in (args.get("inflight_limits") or {}).items()}
    unknown = set(limits) - set(METHODS)
    if unknown:
        raise ValueError(f"inflight_limits names unknown methods: {sorted(unknown)}")
    return ingress.bind(workers, int(args.get("max_pixels", DEFAULT_MAX_PIXELS)), limits, colocated)
