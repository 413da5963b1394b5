"""Protobuf <-> engine types, in one place. No image logic here."""

from __future__ import annotations

from typing import Any

from tracewise.errors import InvalidParameter
from tracewise.methods import METHODS
from tracewise.objective import Objective
from tracewise.params import Params
from tracewise_client.client import TIMEOUT_KEY
from tracewise_client.v1 import vectorize_pb2 as pb

from .served import Served

# the engine's methods by their proto enum (METHOD_<NAME>); "auto" is METHOD_UNSPECIFIED
METHOD_TO_PB = {"auto": pb.METHOD_UNSPECIFIED} | {m: pb.Method.Value(f"METHOD_{m.upper()}") for m in METHODS}
PB_TO_METHOD = {v: k for k, v in METHOD_TO_PB.items()}
STYLE_FROM_PB = {
    pb.STYLE_UNSPECIFIED: "spline",
    pb.STYLE_SPLINE: "spline",
    pb.STYLE_POLYGON: "polygon",
    pb.STYLE_PIXEL: "pixel",
}


class UnknownEnum(ValueError):
    """An enum number this server does not know (a newer client)."""

    def __init__(self, field: str, value: int) -> None:
        super().__init__(f"{field}={value} is not a known value")
        self.field = field
        self.value = value


def method_from_pb(value: int) -> str:
    if value not in PB_TO_METHOD:
        raise UnknownEnum("options.method", value)
    return str(PB_TO_METHOD[value])


def objective_from_pb(opts: pb.Options) -> Objective:
    """Validated engine objective (raises ``InvalidParameter`` for bad values)."""
    if opts.style not in STYLE_FROM_PB:
        raise UnknownEnum("options.style", opts.style)
    return Objective(
        style=STYLE_FROM_PB[opts.style],
        max_svg_bytes=int(opts.max_svg_bytes) if opts.HasField("max_svg_bytes") else None,
        target_ssim=float(opts.target_ssim) if opts.HasField("target_ssim") else None,
        budget_s=float(opts.budget_seconds) if opts.HasField("budget_seconds") else None,
        max_colors=int(opts.max_colors) if opts.HasField("max_colors") else None,
        palette=tuple(opts.palette),
    )


def params_to_pb(p: dict[str, Any]) -> pb.Params:
    return pb.Params(**p)


def params_from_pb(p: pb.Params) -> Params:
    values = {f.name: getattr(p, f.name) for f in pb.Params.DESCRIPTOR.fields}
    values["palette"] = list(p.palette)
    return Params.from_dict(values)


def response_to_pb(served: Served) -> pb.VectorizeResponse:
    """The wire form of what the data plane served."""
    result = served.result
    report = pb.Report(
        method_requested=METHOD_TO_PB[served.requested],
        method_used=METHOD_TO_PB[served.method],
        ssim=result["ssim"],
        svg_bytes=result["svg_bytes"],
        paths=result["paths"],
        seconds=result["seconds"],
        evaluations=result["evaluations"],
        cap_bytes=result["cap_bytes"],
        cut_short=result["cut_short"],
        request_id=served.request_id,
        cached=served.cached,
        fallbacks=[
            pb.Fallback(from_method=METHOD_TO_PB[f["from"]], reason=f["reason"]) for f in served.fallbacks
        ],
        regions=[
            pb.Region(
                x=r["x"],
                y=r["y"],
                width=r["width"],
                height=r["height"],
                params=params_to_pb(r["params"]) if r.get("params") else None,
            )
            for r in result.get("regions") or []
        ],
    )
    if result.get("params"):
        report.params.CopyFrom(params_to_pb(result["params"]))
    if result.get("alpha_ssim") is not None:
        report.alpha_ssim = result["alpha_ssim"]
    if served.confidence is not None:
        report.confidence = served.confidence
    if result.get("defaults_ssim") is not None:
        report.defaults_ssim = result["defaults_ssim"]
        report.defaults_svg_bytes = result["defaults_svg_bytes"]
    if result.get("unconstrained_ssim") is not None:
        report.unconstrained_ssim = result["unconstrained_ssim"]
    report.notes.extend(result.get("notes") or [])
    report.node_id = result.get("node_id", "")
    report.logo_type = served.logo_type or ""
    report.degraded = served.degraded
    return pb.VectorizeResponse(svg=served.svg, report=report)


def timeout_from(metadata: dict[str, str]) -> float | None:
    """The client's deadline in seconds (``x-tracewise-timeout``: gRPC metadata or an HTTP header;
    Ray's proxies pass neither protocol's own deadline on), or None."""
    if TIMEOUT_KEY not in metadata:
        return None
    try:
        return float(metadata[TIMEOUT_KEY])
    except ValueError:
        raise InvalidParameter(TIMEOUT_KEY, metadata[TIMEOUT_KEY], "seconds") from None
