"""Sync and async clients for ``tracewise.v1.VectorizeService``.

- Deadlines: ``timeout`` (seconds) is the gRPC deadline and is also sent as the
  ``x-tracewise-timeout`` metadata key, because Ray Serve's proxy does not pass the gRPC
  deadline on; the service turns it into the method's time budget.
- Retries: ``RetryPolicy`` retries ``UNAVAILABLE``, ``RESOURCE_EXHAUSTED`` and ``INTERNAL`` (a
  replica that died mid-request) with jittered exponential backoff, within the call's deadline.
  Done here, not by gRPC's service-config retries: Ray Serve's proxy commits every call before
  answering, so gRPC never retries through it (measured: backpressure answers came back in
  under 0.1 s with retries configured).
- Auth: ``api_key`` is sent as ``authorization: Bearer <key>``.
- TLS: ``secure=True`` (optionally with ``root_certificates``) for a TLS-terminating ingress.
- Several proxies: ``target`` may list several ``host:port`` (a list, or commas): one channel
  spreads calls over them and leaves out one that goes away (``channel_target``); with retries,
  a node lost mid-call costs the caller a retry, not an error.
- Tracing: each call runs in a CLIENT span (OpenTelemetry API; a no-op unless the application
  installed an SDK) and sends W3C ``traceparent`` in the metadata, so the service's spans (proxy,
  router, method, evaluations) join the caller's trace.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .v1 import vectorize_pb2 as pb
from .v1 import vectorize_pb2_grpc as pb_grpc

TIMEOUT_KEY = "x-tracewise-timeout"
# names from the proto's enums (METHOD_SEARCH -> "search"; METHOD_UNSPECIFIED is "auto")
METHODS = {
    ("auto" if name == "METHOD_UNSPECIFIED" else name.removeprefix("METHOD_").lower()): number
    for name, number in pb.Method.items()
}
METHOD_NAMES = {v: k for k, v in METHODS.items()}
STYLES = {name.removeprefix("STYLE_").lower(): n for name, n in pb.Style.items() if n != pb.STYLE_UNSPECIFIED}
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How calls are retried. Every RPC of this service is idempotent (same image and options,
    same answer), so retrying is safe; INTERNAL is included because Ray Serve's proxy answers
    INTERNAL ("actor died") when a replica dies mid-request. Backoff before attempt n+1 is random
    in [0, min(max_backoff, initial * multiplier**(n-1))]: up to 0.2, 0.6, 1.8, 5 s by default."""

    attempts: int = 5
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    multiplier: float = 3.0
    codes: frozenset[str] = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL"})

    def backoff(self, attempt: int) -> float:
        return random.uniform(
            0.0, min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        )

    def pause(self, attempt: int, retry_after: float | None) -> float:
        """Before attempt ``attempt + 1``: the server's ``RetryInfo`` delay when it sent one (up
        to 20% later, so shed clients do not come back together; at most ``max_backoff``),
        else the jittered backoff."""
        if retry_after is not None:
            return min(self.max_backoff, retry_after) * random.uniform(1.0, 1.2)
        return self.backoff(attempt)


NO_RETRY = RetryPolicy(attempts=1)


class TracewiseError(Exception):
    """A call failed; ``code`` is the gRPC status name, ``request_id`` the server's id if any.

    From the server's rich error details (``google.rpc.Status``): ``reason`` (e.g.
    ``INVALID_IMAGE``, ``OVERLOADED``), ``violations`` (field, description) on a bad request,
    and ``retry_after`` (seconds) when the server said when to come back."""

    def __init__(
        self,
        code: str,
        message: str,
        request_id: str = "",
        reason: str = "",
        violations: tuple[tuple[str, str], ...] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" + (f" (request {request_id})" if request_id else ""))
        self.code = code
        self.message = message
        self.request_id = request_id
        self.reason = reason
        self.violations = violations
        self.retry_after = retry_after


@dataclass(frozen=True)
class Result:
    svg: str
    method_requested: str
    method_used: str
    params: dict[str, Any] | None
    ssim: float
    alpha_ssim: float | None
    svg_bytes: int
    paths: int
    seconds: float
    evaluations: int
    cap_bytes: int
    cut_short: bool
    request_id: str
    confidence: float | None = None
    logo_type: str = ""
    degraded: bool = False
    cached: bool = False
    defaults_ssim: float | None = None  # VTracer's defaults on the same image: the floor checked
    defaults_svg_bytes: int | None = None
    unconstrained_ssim: float | None = None  # under colour limits: the same configuration without them
    notes: list[str] = field(default_factory=list)
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    regions: list[dict[str, Any]] = field(default_factory=list)
    node_id: str = ""  # the Ray node whose method replica made the SVG

    @classmethod
    def from_proto(cls, msg: pb.VectorizeResponse) -> Result:
        r = msg.report
        params = _params(r.params) if r.HasField("params") else None
        return cls(
            svg=msg.svg,
            method_requested=METHOD_NAMES.get(r.method_requested, "auto"),
            method_used=METHOD_NAMES.get(r.method_used, "auto"),
            params=params,
            ssim=r.ssim,
            alpha_ssim=r.alpha_ssim if r.HasField("alpha_ssim") else None,
            svg_bytes=r.svg_bytes,
            paths=r.paths,
            seconds=r.seconds,
            evaluations=r.evaluations,
            cap_bytes=r.cap_bytes,
            cut_short=r.cut_short,
            request_id=r.request_id,
            confidence=r.confidence if r.HasField("confidence") else None,
            logo_type=r.logo_type,
            degraded=r.degraded,
            cached=r.cached,
            defaults_ssim=r.defaults_ssim if r.HasField("defaults_ssim") else None,
            defaults_svg_bytes=r.defaults_svg_bytes if r.HasField("defaults_svg_bytes") else None,
            unconstrained_ssim=r.unconstrained_ssim if r.HasField("unconstrained_ssim") else None,
            notes=list(r.notes),
            fallbacks=[
                {"from": METHOD_NAMES.get(f.from_method, "?"), "reason": f.reason} for f in r.fallbacks
            ],
            regions=[
                {"x": g.x, "y": g.y, "width": g.width, "height": g.height, "params": _params(g.params)}
                for g in r.regions
            ],
            node_id=r.node_id,
        )


@dataclass(frozen=True)
class Progress:
    stage: str
    best_score: float
    fraction: float


def _event(msg: pb.VectorizeStreamResponse) -> Progress | Result | None:
    """The stream's event; None for the empty message that carries an error status through
    Ray's proxy (the status follows it)."""
    if msg.HasField("progress"):
        p = msg.progress
        return Progress(p.stage, p.best_score, p.fraction)
    if msg.HasField("result"):
        return Result.from_proto(msg.result)
    return None


def _params(p: pb.Params) -> dict[str, Any]:
    out = {f.name: getattr(p, f.name) for f in pb.Params.DESCRIPTOR.fields}
    out["palette"] = list(p.palette)
    return out


def build_request(
    image: bytes,
    method: str = "auto",
    style: str = "spline",
    max_svg_bytes: int | None = None,
    target_ssim: float | None = None,
    budget_seconds: float | None = None,
    max_colors: int | None = None,
    palette: list[str] | tuple[str, ...] = (),
    kind: type = pb.VectorizeRequest,
) -> Any:
    """The request message; the service validates the values (``INVALID_ARGUMENT`` naming the field)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}")
    opts = pb.Options(method=METHODS[method], style=STYLES[style])
    if max_svg_bytes is not None:
        opts.max_svg_bytes = max_svg_bytes
    if target_ssim is not None:
        opts.target_ssim = target_ssim
    if budget_seconds is not None:
        opts.budget_seconds = budget_seconds
    if max_colors is not None:
        opts.max_colors = max_colors
    if isinstance(palette, str):
        raise ValueError("palette must be a list of colours, e.g. ['#112233', '#ffffff']")
    opts.palette.extend(palette)
    return kind(image=image, options=opts)


def _channel_options() -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]


def channel_target(target: str | Sequence[str]) -> tuple[str, list[tuple[str, Any]]]:
    """The gRPC target and extra channel options for one address or several.

    Several addresses (a list, or one string with commas: the proxies of several Ray nodes)
    become one channel over all of them with gRPC's ``round_robin`` policy: calls are spread over
    the proxies that answer, a proxy that goes away leaves the rotation (its calls fail UNAVAILABLE
    and the retry goes to another), and it rejoins when it answers again. Names are resolved once,
    here, to their addresses.
    """
    addresses = [a.strip() for a in (target.split(",") if isinstance(target, str) else target) if a.strip()]
    if not addresses:
        raise ValueError("no address to connect to")
    if len(addresses) == 1:
        return addresses[0], []
    ips: list[str] = []
    families = set()
    for address in addresses:
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"{address!r}: several addresses must each be host:port")
        host = host.strip("[]")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = ipaddress.ip_address(socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0][4][0])
        families.add(ip.version)
        ips.append(f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}")
    if len(families) > 1:
        raise ValueError(f"{addresses}: IPv4 and IPv6 addresses cannot share one channel")
    scheme = "ipv6" if families == {6} else "ipv4"
    return f"{scheme}:{','.join(ips)}", [("grpc.lb_policy_name", "round_robin")]


_tracer = trace.get_tracer("tracewise_client")
SERVICE = "tracewise.v1.VectorizeService"


def _metadata(api_key: str | None, timeout: float | None) -> list[tuple[str, str]]:
    """Auth, the timeout the proxy does not pass on, and the current trace context."""
    md = []
    if api_key:
        md.append(("authorization", f"Bearer {api_key}"))
    if timeout is not None:
        md.append((TIMEOUT_KEY, f"{timeout:.3f}"))
    carrier: dict[str, str] = {}
    propagate.inject(carrier)  # traceparent (and tracestate/baggage) of the current span
    md.extend(carrier.items())
    return md


def _span(rpc: str) -> Any:
    """The CLIENT span of one call, named like gRPC instrumentation names it."""
    return _tracer.start_as_current_span(
        f"{SERVICE}/{rpc}",
        kind=SpanKind.CLIENT,
        attributes={"rpc.system": "grpc", "rpc.service": SERVICE, "rpc.method": rpc},
        record_exception=False,
        set_status_on_exception=False,
    )


def _gave_up(span: Any, last: TracewiseError | None) -> TracewiseError:
    """The error a call ends with once its attempts (or its deadline) are spent."""
    return _failed(span, last or TracewiseError("DEADLINE_EXCEEDED", "no time left for the call"))


def _failed(span: Any, err: TracewiseError) -> TracewiseError:
    span.set_attribute("rpc.grpc.status_code", err.code)
    span.set_status(Status(StatusCode.ERROR, err.code))
    return err


DETAILS_KEY = "grpc-status-details-bin"


def _error(exc: grpc.RpcError) -> TracewiseError:
    code = exc.code().name if exc.code() else "UNKNOWN"
    rid, details = "", b""
    for k, v in exc.trailing_metadata() or ():
        if k == "request_id":
            rid = str(v)
        elif k == DETAILS_KEY:
            details = bytes(v)
    reason, violations, retry_after = rich_details(details)
    message = exc.details() or ""
    return TracewiseError(code, message, rid, reason, violations, retry_after)


def rich_details(details: bytes) -> tuple[str, tuple[tuple[str, str], ...], float | None]:
    """ErrorInfo's reason, BadRequest's violations and RetryInfo's delay from a google.rpc.Status."""
    from google.protobuf.message import DecodeError
    from google.rpc import error_details_pb2, status_pb2

    reason, violations, retry_after = "", [], None
    if not details:
        return reason, (), retry_after
    try:
        status = status_pb2.Status.FromString(details)
    except DecodeError:
        return reason, (), retry_after  # not what it should be: the code and message still stand
    for item in status.details:
        if item.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            item.Unpack(info)
            reason = info.reason
        elif item.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            item.Unpack(bad)
            violations += [(v.field, v.description) for v in bad.field_violations]
        elif item.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            item.Unpack(retry)
            retry_after = retry.retry_delay.ToMilliseconds() / 1000.0
    return reason, tuple(violations), retry_after


def _credentials(secure: bool, root_certificates: bytes | None) -> grpc.ChannelCredentials | None:
    return grpc.ssl_channel_credentials(root_certificates) if secure else None


class _Channel:
    """What both clients share: the channel (TLS or not, retry policy), stub, key and timeout."""

    _grpc: Any = grpc

    def __init__(
        self,
        target: str | Sequence[str],
        api_key: str | None = None,
        secure: bool = False,
        root_certificates: bytes | None = None,
        timeout: float | None = 60.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        creds = _credentials(secure, root_certificates)
        target, extra = channel_target(target)
        opts = _channel_options() + extra
        g = self._grpc
        self.channel = g.secure_channel(target, creds, opts) if creds else g.insecure_channel(target, opts)
        self.stub = pb_grpc.VectorizeServiceStub(self.channel)  # type: ignore[no-untyped-call]  # generated
        self.api_key = api_key
        self.timeout = timeout
        self.retry = retry or RetryPolicy()

    def _attempts(self, timeout: float | None) -> _Attempts:
        return _Attempts(self.retry, timeout)

    def _retryable(self, err: TracewiseError, span: Any, attempts: _Attempts) -> bool:
        if err.code not in self.retry.codes:
            return False
        attempts.retry_after = err.retry_after
        span.add_event("retry", {"rpc.grpc.status_code": err.code, "retry_after_s": err.retry_after or 0.0})
        return True


class _Attempts:
    """Per attempt of one call: the pause to take first, then the timeout left of the call's
    deadline. Stops early when the next pause would run past the deadline. ``retry_after``: the
    last failure's RetryInfo delay, used for the next pause."""

    def __init__(self, policy: RetryPolicy, timeout: float | None) -> None:
        self.policy = policy
        self.end = None if timeout is None else time.monotonic() + timeout
        self.retry_after: float | None = None

    def __iter__(self) -> Iterator[tuple[float, float | None]]:
        pause = 0.0
        for attempt in range(1, self.policy.attempts + 1):
            if self.end is not None and time.monotonic() + pause >= self.end:
                return
            left = None if self.end is None else self.end - time.monotonic() - pause
            yield pause, left
            pause = self.policy.pause(attempt, self.retry_after)
            self.retry_after = None


class Client(_Channel):
    """Blocking client. ``with Client("localhost:9000") as c: c.vectorize(png_bytes)``."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(self, rpc: str, request: Any, timeout: float | None) -> Any:
        timeout = self.timeout if timeout is None else timeout
        last: TracewiseError | None = None
        with _span(rpc) as span:
            for pause, left in (attempts := self._attempts(timeout)):
                time.sleep(pause)
                try:
                    return getattr(self.stub, rpc)(
                        request, timeout=left, metadata=_metadata(self.api_key, left)
                    )
                except grpc.RpcError as exc:
                    last = _error(exc)
                    if not self._retryable(last, span, attempts):
                        break
            raise _gave_up(span, last) from None

    def vectorize(self, image: bytes, *, timeout: float | None = None, **options: Any) -> Result:
        return Result.from_proto(self._call("Vectorize", build_request(image, **options), timeout))

    def vectorize_stream(
        self,
        image: bytes,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        timeout: float | None = None,
        **options: Any,
    ) -> Result:
        req = build_request(image, kind=pb.VectorizeStreamRequest, **options)
        events = self.stream_events(req, timeout)
        try:
            for event in events:
                if isinstance(event, Progress):
                    if on_progress:
                        on_progress(event)
                else:
                    return event
        finally:
            events.close()  # type: ignore[attr-defined]  # a generator
        raise TracewiseError("UNKNOWN", "stream ended without a result")

    def stream_events(
        self, request: pb.VectorizeStreamRequest, timeout: float | None
    ) -> Iterator[Progress | Result]:
        timeout = self.timeout if timeout is None else timeout
        last: TracewiseError | None = None
        with _span("VectorizeStream") as span:
            for pause, left in (attempts := self._attempts(timeout)):
                time.sleep(pause)
                received = False  # once a message arrived, a retry would repeat it: no retry then
                call = self.stub.VectorizeStream(
                    request, timeout=left, metadata=_metadata(self.api_key, left)
                )
                try:
                    for msg in call:
                        event = _event(msg)
                        if event is not None:
                            received = True
                            yield event
                    return
                except grpc.RpcError as exc:
                    last = _error(exc)
                    if received or not self._retryable(last, span, attempts):
                        break
                finally:
                    call.cancel()  # a no-op once finished; stops the call if the caller stopped reading
            raise _gave_up(span, last) from None

    def route(self, image: bytes, *, timeout: float | None = None, **options: Any) -> dict[str, Any]:
        r = self._call("Route", build_request(image, kind=pb.RouteRequest, **options), timeout)
        return {
            "method": METHOD_NAMES.get(r.method, "auto"),
            "confidence": r.confidence,
            "logo_type": r.logo_type,
            "model_version": r.model_version,
            "seconds": r.seconds,
            # what the chosen method would run for; None for mapping (bounded by work, not time)
            "method_budget_s": r.method_budget_seconds or None,
        }

    def service_info(self, *, timeout: float | None = None) -> pb.GetServiceInfoResponse:
        info: pb.GetServiceInfoResponse = self._call("GetServiceInfo", pb.GetServiceInfoRequest(), timeout)
        return info

    def health(self, service: str = "", timeout: float = 5.0) -> str:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            raise _error(exc) from None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))

    def wait_ready(self, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while True:
            try:
                if self.health(timeout=2.0) == "SERVING":
                    return
            except TracewiseError:
                pass
            if time.monotonic() > end:
                raise TracewiseError("UNAVAILABLE", f"service not ready after {timeout:.0f} s")
            time.sleep(0.5)


class AsyncClient(_Channel):
    """asyncio client with the same calls: ``await c.vectorize(png_bytes)``."""

    _grpc = grpc.aio

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def vectorize(self, image: bytes, *, timeout: float | None = None, **options: Any) -> Result:
        timeout = self.timeout if timeout is None else timeout
        request = build_request(image, **options)
        last: TracewiseError | None = None
        with _span("Vectorize") as span:
            for pause, left in (attempts := self._attempts(timeout)):
                await asyncio.sleep(pause)
                try:
                    msg = await self.stub.Vectorize(
                        request, timeout=left, metadata=_metadata(self.api_key, left)
                    )
                    return Result.from_proto(msg)
                except grpc.RpcError as exc:
                    last = _error(exc)
                    if not self._retryable(last, span, attempts):
                        break
            raise _gave_up(span, last) from None

    async def vectorize_stream(
        self, image: bytes, *, timeout: float | None = None, **options: Any
    ) -> AsyncIterator[Progress | Result]:
        timeout = self.timeout if timeout is None else timeout
        request = build_request(image, kind=pb.VectorizeStreamRequest, **options)
        last: TracewiseError | None = None
        with _span("VectorizeStream") as span:
            for pause, left in (attempts := self._attempts(timeout)):
                await asyncio.sleep(pause)
                received = False  # retried only before the first message
                call = self.stub.VectorizeStream(
                    request, timeout=left, metadata=_metadata(self.api_key, left)
                )
                try:
                    async for msg in call:
                        event = _event(msg)
                        if event is not None:
                            received = True
                            yield event
                    return
                except grpc.RpcError as exc:
                    last = _error(exc)
                    if received or not self._retryable(last, span, attempts):
                        break
            raise _gave_up(span, last) from None
