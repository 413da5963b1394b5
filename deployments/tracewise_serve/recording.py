"""The results store and exploration: what the data plane does after an answer, off its path.

Each served result becomes a row (features, options, what ran, quality, the floor it was checked
against) written in the background: the features, the logo type and the write take milliseconds,
a store server's network more, and none of it is the client's time. A row the store does not take,
or one beyond ``MAX_PENDING_RECORDS`` waiting, is counted (``tracewise_store_errors``) and logged:
never an error for a request that is already answered.

Exploration (with a store): a share of routed requests (``TRACEWISE_EXPLORE``) also runs one other
eligible arm, after the answer, when that method has room. The store then holds the same image and
request served two ways: the labels ``tracewise router retrain`` learns from.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hashlib
import logging
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from tracewise import engine
from tracewise.decode import DEFAULT_MAX_PIXELS, Encoded, Picture, decode
from tracewise.objective import Objective
from tracewise.router import Arm, eligible
from tracewise.telemetry import span

from .admission import Admission
from .served import Served

log = logging.getLogger("tracewise.serve")

MAX_PENDING_RECORDS = 256  # results waiting to be written to the store; beyond this one is dropped
EXPLORE_ENV = "TRACEWISE_EXPLORE"
DEFAULT_EXPLORE = "0.02"

# (method, picture, objective, seconds) -> the replica's answer; what an exploration runs
RunArm = Callable[[str, Picture, Objective, float], Awaitable[dict[str, Any]]]


class Recorder:
    def __init__(self, store: Any, metrics: Any, admission: Admission, methods: list[str]) -> None:
        self.store = store
        self.metrics = metrics
        self.admission = admission
        self.methods = methods
        self.explore_rate = float(os.environ.get(EXPLORE_ENV, DEFAULT_EXPLORE)) if store else 0.0
        self._recording: set[asyncio.Task[None]] = set()
        self._exploring: set[asyncio.Task[None]] = set()

    # --- the store ---------------------------------------------------------------------
    def row(
        self,
        served: Served,
        image: bytes,
        picture: Picture | Encoded | None,
        objective: Objective,
        feats: list[float] | None = None,
        requested: str | None = None,
    ) -> dict[str, Any]:
        """The store's row for ``served``. Cache hits are rows too, marked, without features.
        ``feats``: the image features when already computed (an exploration reuses the router's)."""
        from tracewise.features import features

        decision = served.decision
        logo_type = served.logo_type or None
        if served.cached or picture is None:
            feats = []
        else:
            if isinstance(picture, Encoded):  # a named method's request: decoded here, off its path
                picture = decode(picture, max(DEFAULT_MAX_PIXELS, picture.width * picture.height))
            if feats is None:  # routed requests reuse the router's features
                feats = decision.features if decision else features(picture.rgba).tolist()
            if logo_type is None:  # every stored row carries its logo type (the report groups by it)
                from tracewise.router import default_router

                logo_type = default_router().logo_type(picture.rgba, np.asarray(feats, np.float32))
        r = served.result
        return {
            "request_id": served.request_id,
            "image_sha256": hashlib.sha256(image).hexdigest(),
            "features": feats,
            "options": {
                "style": objective.style,
                "max_svg_bytes": objective.max_svg_bytes,
                "target_ssim": objective.target_ssim,
                "budget_s": objective.budget_s,
                "max_colors": objective.max_colors,
                "palette": list(objective.palette),
                "arm": served.arm,  # what ran: the method and its seconds (the router's labels)
            },
            "decision": decision.arm if decision else None,
            "confidence": served.confidence,
            "logo_type": logo_type,
            "method_requested": requested or served.requested,
            "method_used": served.method,
            "params": r.get("params"),
            "ssim": served.ssim,
            "svg_bytes": served.svg_bytes,
            "seconds": r["seconds"],
            "fallback": list(served.fallbacks),
            "cached": served.cached,
            "defaults_ssim": served.defaults_ssim,
            "defaults_svg_bytes": served.defaults_svg_bytes,
            "cut_short": served.cut_short,
            "degraded": served.degraded,
        }

    def record_later(
        self,
        served: Served,
        image: bytes,
        picture: Picture | Encoded | None,
        objective: Objective,
        feats: list[float] | None = None,
        requested: str | None = None,
    ) -> None:
        if self.store is None:
            return
        rid = served.request_id
        if len(self._recording) >= MAX_PENDING_RECORDS:
            self.metrics.inc("tracewise_store_errors", {"error": "backlog"})
            log.warning("request %s not recorded: %d rows already waiting", rid, len(self._recording))
            return

        def write() -> None:
            try:
                self.store.append(self.row(served, image, picture, objective, feats, requested))
            except Exception as exc:  # noqa: BLE001 - counted and logged with the request's ids
                self.metrics.inc("tracewise_store_errors", {"error": type(exc).__name__})
                log.warning("request %s not recorded in the results store: %s", rid, exc)

        task = asyncio.create_task(asyncio.to_thread(write))
        self._recording.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._recording.discard)

    # --- exploration -------------------------------------------------------------------
    def explore_later(
        self, served: Served, image: bytes, picture: Picture | Encoded, objective: Objective, run: RunArm
    ) -> None:
        """Maybe run one other eligible arm (a method and its seconds) on this routed request."""
        decision = served.decision
        if decision is None or served.fallbacks or random.random() >= self.explore_rate:
            return
        assert isinstance(picture, Picture)  # routed: decoded for the router
        budget = objective.budget_s if objective.budget_s is not None else engine.AUTO_BUDGET_S
        busy = self.admission.load()
        free = [
            a
            for a in eligible(budget)
            if a.name != decision.arm
            and a.method in self.methods
            and a.method not in busy
            and self.admission.room_to_explore(a.method)
        ]
        if not free:
            self.metrics.inc("tracewise_explorations", {"method": "none", "outcome": "no_room"})
            return
        # A fresh context: the exploration is its own trace (tagged with the request id), not a
        # child of a request that has already been answered.
        task = asyncio.create_task(
            self._explore(served, image, picture, objective, random.choice(free), run),
            context=contextvars.Context(),
        )
        self._exploring.add(task)
        task.add_done_callback(self._exploring.discard)

    async def _explore(
        self, served: Served, image: bytes, picture: Picture, objective: Objective, arm: Arm, run: RunArm
    ) -> None:
        method, decision, rid = arm.method, served.decision, served.request_id
        assert decision is not None
        if not self.admission.room_to_explore(method):
            self.metrics.inc("tracewise_explorations", {"method": method, "outcome": "no_room"})
            return  # checked again: an exploration must never be what marks a method saturated
        explored = dataclasses.replace(decision, method=method, budget_s=arm.budget_s or None)
        seconds = engine.method_budget(method, objective.budget_s, explored)
        try:
            with span("tracewise.explore", method=method, budget_s=seconds, request_id=rid):
                result = await run(method, picture, objective, seconds)
        except Exception as exc:  # noqa: BLE001 - nobody waits for it: count it, log it
            log.info("exploration with %s failed: %r", method, exc)
            self.metrics.inc("tracewise_explorations", {"method": method, "outcome": "failed"})
            return
        # the same image: the router's features and logo type, but not its decision
        result = {**result, "logo_type": decision.logo_type}
        row = Served(f"{rid}-x", "explore", result, arm=arm.name)
        self.record_later(row, image, picture, objective, feats=decision.features, requested="explore")
        self.metrics.inc("tracewise_explorations", {"method": method, "outcome": "recorded"})
