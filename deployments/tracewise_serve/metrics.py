"""Service metrics through ``ray.serve.metrics``, exported on Ray's Prometheus endpoint.

Ray prefixes every application metric with ``ray_`` and adds ``application``, ``deployment`` and
``replica`` tags; the Grafana dashboards in ``k8s/`` query these names (a test checks each
dashboard query against ``EXPORTED``). Created inside the replica (``Metrics()`` in ``__init__``),
never at import: the driver that builds the app has no metrics agent to talk to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .served import Served

LATENCY_BOUNDARIES = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80]
# A method call's parts: transit is milliseconds, a queue or a big picture's run seconds.
PART_BOUNDARIES = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80]
# Ray wants positive boundaries: the first bucket also holds gains <= 0 (_sum/_count stay exact).
GAIN_BOUNDARIES = [0.0005, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]
RATIO_BOUNDARIES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2]
CONFIDENCE_BOUNDARIES = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]

# name -> (kind, description, tag keys); the Prometheus names are "ray_" + name (+ suffixes).
SPEC: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "tracewise_requests": (
        "counter",
        "Requests answered, by RPC, method asked and used, gRPC status and logo type.",
        ("rpc", "method_requested", "method_used", "status", "logo_type"),
    ),
    "tracewise_request_seconds": (
        "histogram",
        "Seconds from the ingress receiving a request to its answer.",
        ("rpc", "method_used", "status"),
    ),
    "tracewise_method_seconds": (
        "histogram",
        "Where a call to a method replica (or a colocated engine process) spent its time: "
        "part=queued (waiting for its engine), run (the engine's work: decoding, the method), "
        "transit (the rest of the round trip from the ingress: Ray's routing, the hops there and "
        "back, serialization; a pipe when colocated).",
        ("method", "part"),
    ),
    "tracewise_ssim_gain": (
        "histogram",
        "SSIM of the result minus SSIM of VTracer's defaults on the same image.",
        ("method_used", "logo_type"),
    ),
    "tracewise_bytes_ratio": (
        "histogram",
        "SVG bytes of the result over VTracer's defaults on the same image.",
        ("method_used", "logo_type"),
    ),
    "tracewise_fallbacks": (
        "counter",
        "Fallbacks to a cheaper method, by the method that failed and why.",
        ("from_method", "reason"),
    ),
    "tracewise_router_confidence": (
        "histogram",
        "The router's confidence in its choice (auto requests).",
        ("method", "logo_type"),
    ),
    "tracewise_degraded": (
        "counter",
        "Auto requests degraded to a cheaper method because the better one was saturated.",
        ("method",),
    ),
    "tracewise_cache": ("counter", "Cache lookups by result (hit or miss).", ("result",)),
    "tracewise_store_errors": (
        "counter",
        "Served results the results store did not take (the request was answered; the row is lost).",
        ("error",),
    ),
    "tracewise_inflight": (
        "gauge",
        "Work the ingress has sent to each method and not had back (calls; a big picture counts more).",
        ("method",),
    ),
    "tracewise_explorations": (
        "counter",
        "Background runs of another method on routed requests (router training labels), by outcome.",
        ("method", "outcome"),
    ),
    "tracewise_evaluations": (
        "histogram",
        "Candidate SVGs traced and measured per request.",
        ("method_used",),
    ),
}
BOUNDARIES: dict[str, list[float]] = {
    "tracewise_request_seconds": LATENCY_BOUNDARIES,
    "tracewise_method_seconds": PART_BOUNDARIES,
    "tracewise_ssim_gain": GAIN_BOUNDARIES,
    "tracewise_bytes_ratio": RATIO_BOUNDARIES,
    "tracewise_router_confidence": CONFIDENCE_BOUNDARIES,
    "tracewise_evaluations": [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
}


def exported_names() -> set[str]:
    """Every Prometheus series name the service exports (what dashboards may query)."""
    names = set()
    for name, (kind, _, _) in SPEC.items():
        base = "ray_" + name
        if kind == "counter":
            names.add(base + "_total")
        elif kind == "histogram":
            names |= {base + "_bucket", base + "_sum", base + "_count"}
        else:
            names.add(base)
    return names


def reason_kind(reason: str) -> str:
    """A bounded label value from a fallback reason (the full reason goes to the trace)."""
    head = reason.split(":", 1)[0].strip()
    return head if head.isupper() or head in ("overloaded", "timed out", "failed") else "other"


class Metrics:
    """The metric objects, created in a replica."""

    def __init__(self) -> None:
        from ray.serve import metrics as m

        self._m: dict[str, Any] = {}
        for name, (kind, desc, keys) in SPEC.items():
            tags: Any = keys  # Ray types tag_keys as a 1-tuple
            if kind == "counter":
                self._m[name] = m.Counter(name, description=desc, tag_keys=tags)
            elif kind == "histogram":
                self._m[name] = m.Histogram(name, desc, boundaries=list(BOUNDARIES[name]), tag_keys=tags)
            else:
                self._m[name] = m.Gauge(name, description=desc, tag_keys=tags)

    def inc(self, name: str, tags: dict[str, str], value: float = 1.0) -> None:
        self._m[name].inc(value, tags=tags)

    def observe(self, name: str, value: float, tags: dict[str, str]) -> None:
        self._m[name].observe(value, tags=tags)

    def set(self, name: str, value: float, tags: dict[str, str]) -> None:
        self._m[name].set(value, tags=tags)

    def method_call(self, method: str, queued_s: float, run_s: float, transit_s: float) -> None:
        """One answered call to a method replica, in its three parts."""
        for part, seconds in (("queued", queued_s), ("run", run_s), ("transit", transit_s)):
            self.observe("tracewise_method_seconds", seconds, {"method": method, "part": part})

    def request(self, rpc: str, requested: str, served: Served | None, status: str, seconds: float) -> None:
        """Everything one answered request contributes."""
        used = served.method if served else "none"
        logo = (served.logo_type if served else None) or "unrouted"
        self.inc(
            "tracewise_requests",
            {
                "rpc": rpc,
                "method_requested": requested,
                "method_used": used,
                "status": status,
                "logo_type": logo,
            },
        )
        self.observe(
            "tracewise_request_seconds", seconds, {"rpc": rpc, "method_used": used, "status": status}
        )
        if served is None or served.cached:
            return
        self.observe("tracewise_evaluations", served.evaluations, {"method_used": used})
        if served.defaults_ssim is not None:
            tags = {"method_used": used, "logo_type": logo}
            self.observe("tracewise_ssim_gain", served.ssim - served.defaults_ssim, tags)
            if served.defaults_svg_bytes:
                self.observe("tracewise_bytes_ratio", served.svg_bytes / served.defaults_svg_bytes, tags)
        for f in served.fallbacks:
            self.inc("tracewise_fallbacks", {"from_method": f["from"], "reason": reason_kind(f["reason"])})
        if served.confidence is not None:
            self.observe(
                "tracewise_router_confidence", served.confidence, {"method": used, "logo_type": logo}
            )
        if served.degraded:
            self.inc("tracewise_degraded", {"method": used})
