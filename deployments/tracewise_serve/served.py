"""One typed result from the method replica to the wire: what the data plane served.

``result`` is what the method replica returned (the engine's ``Result.to_dict()`` plus the SVG;
the fields below read it); the rest is what serving added: who asked for what, the router's
decision, the fallbacks taken, whether it came from the cache. ``convert.response_to_pb``, the
metrics, the access log and the results store all read this, and nothing changes it after the
data plane made it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from tracewise.router import Decision


@dataclass(frozen=True)
class Served:
    request_id: str
    requested: str  # "auto" or the method the client named
    result: dict[str, Any]  # the replica's answer: Result.to_dict() plus "svg"
    arm: str | None = None  # what ran (method@seconds), as the router's labels name it
    decision: Decision | None = None  # the router's, for "auto"
    fallbacks: tuple[dict[str, str], ...] = field(default_factory=tuple)  # {from, reason}, in order
    cached: bool = False

    @property
    def method(self) -> str:
        return str(self.result["method"])

    @property
    def svg(self) -> str:
        return str(self.result["svg"])

    @property
    def ssim(self) -> float:
        return float(self.result["ssim"])

    @property
    def svg_bytes(self) -> int:
        return int(self.result["svg_bytes"])

    @property
    def logo_type(self) -> str | None:
        return self.decision.logo_type if self.decision is not None else self.result.get("logo_type")

    @property
    def confidence(self) -> float | None:
        return self.decision.confidence if self.decision is not None else self.result.get("confidence")

    @property
    def degraded(self) -> bool:
        return bool(self.decision.degraded) if self.decision is not None else False

    @property
    def defaults_ssim(self) -> float | None:
        return self.result.get("defaults_ssim")

    @property
    def defaults_svg_bytes(self) -> int | None:
        return self.result.get("defaults_svg_bytes")

    @property
    def cut_short(self) -> bool:
        return bool(self.result.get("cut_short", False))

    @property
    def evaluations(self) -> int:
        return int(self.result.get("evaluations", 0))

    def hit(self, request_id: str) -> Served:
        """This answer again, from the cache, for another request."""
        return dataclasses.replace(self, request_id=request_id, cached=True)
