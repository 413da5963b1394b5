"""The router: which method to run for this image, request and load.

A RandomForestClassifier (served with ONNX Runtime) over the image features plus the request's
fields (time budget, byte cap, quality target, style) predicts the cheapest method that gets
(nearly) the best result the request allows.
Around the model:
- only methods that fit the budget are eligible (``MIN_BUDGET_S``);
- low confidence with spare budget moves to the costlier eligible method;
- a saturated method (load >= 1, supplied by the serving layer) degrades to the next cheaper
  eligible one, and the decision says so (``degraded``).
The logo-type classifier runs beside it and is reported with every decision.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import Unavailable
from .features import FEATURE_NAMES, LOGOTYPE_FEATURE_NAMES, features, logotype_features
from .params import DEFAULT_STYLE, STYLES

ROUTED = ("mapping", "search", "regional")  # cheapest first
MIN_BUDGET_S = {"mapping": 0.0, "search": 0.5, "regional": 10.0}
# A choice less confident than this moves up to the next costlier method. Cross-validated on the
# router tables (5760 examples over budgets, caps, targets, styles and picture sizes; BENCHMARKS.md):
# no rule -> accuracy 0.794, regret 0.00091 SSIM, 32% compute saved, 15 byte-cap misses; 0.55 ->
# 0.785, 0.00073, 28%, 13 misses; 0.6 -> 0.778, 0.00051, 25%, 7 misses; 0.7 -> 0.750, 0.00028,
# 19%. "Always search" is 0.628, 0.00018, 15%, 17 misses. 0.6 keeps the regret near half the 0.001
# target and saves more than always-search (session 5; 0.55 did that on 4960 examples without the
# pixel style, whose mapping misses cost more).
LOW_CONFIDENCE = 0.6
MAX_BUDGET_FEATURE_S = 60.0


def request_features(
    budget_s: float,
    max_svg_bytes: int | None = None,
    target_ssim: float | None = None,
    style: str = DEFAULT_STYLE,
) -> list[float]:
    """The request's fields as the router sees them (``REQUEST_FEATURE_NAMES``); no cap and no
    target are 0."""
    return [
        math.log2(max(0.05, min(budget_s, MAX_BUDGET_FEATURE_S))),
        math.log2(max_svg_bytes) if max_svg_bytes else 0.0,
        float(target_ssim or 0.0),
        float(STYLES.index(style)),
    ]


REQUEST_FEATURE_NAMES = ("log2_budget_s", "log2_max_svg_bytes", "target_ssim", "style")


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise Unavailable(f"model {path.name} could not be loaded") from exc


def _model_path(name: str) -> Path:
    return Path(str(resources.files("tracewise") / "models" / name))


class OnnxClassifier:
    """A scikit-learn classifier exported with skl2onnx (zipmap off) plus its JSON metadata."""

    def __init__(self, path: Path) -> None:
        meta_path = path.with_suffix(".json")
        if not path.exists() or not meta_path.exists():
            raise Unavailable(f"model {path.name} is missing; retrain it")
        self.meta = json.loads(meta_path.read_text())
        self.session = _session(path)
        self.input = self.session.get_inputs()[0].name
        self.labels: list[str] = self.meta["labels"]
        self.version: str = self.meta["version"]

    def proba(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input: np.asarray(x, np.float32).reshape(1, -1)})
        return np.asarray(out[1], np.float64).reshape(-1)


@dataclass
class Decision:
    method: str
    confidence: float
    logo_type: str
    model_version: str
    seconds: float
    probabilities: dict[str, float] = field(default_factory=dict)
    degraded: bool = False
    reasons: list[str] = field(default_factory=list)
    features: list[float] = field(default_factory=list)  # the image features it decided on


class Router:
    def __init__(self, router_path: Path | None = None, logotype_path: Path | None = None) -> None:
        self.model = OnnxClassifier(router_path or _model_path("router.onnx"))
        self.logotype = OnnxClassifier(logotype_path or _model_path("logotype.onnx"))
        if tuple(self.model.meta["feature_names"]) != FEATURE_NAMES + REQUEST_FEATURE_NAMES:
            raise Unavailable("router model was trained on other features; retrain it")
        if tuple(self.logotype.meta["feature_names"]) != LOGOTYPE_FEATURE_NAMES:
            raise Unavailable("logo-type model was trained on other features; retrain it")

    def logo_type(self, rgba: np.ndarray, feats: np.ndarray | None = None) -> str:
        """simple / text / gradient / complex (``feats``: the 14 image features, if computed)."""
        p = self.logotype.proba(logotype_features(rgba, feats))
        return self.logotype.labels[int(np.argmax(p))]

    def decide(
        self,
        rgba: np.ndarray,
        budget_s: float,
        load: dict[str, float] | None = None,
        feats: np.ndarray | None = None,
        *,
        max_svg_bytes: int | None = None,
        target_ssim: float | None = None,
        style: str = DEFAULT_STYLE,
    ) -> Decision:
        t = time.perf_counter()
        f = features(rgba) if feats is None else feats
        kind = self.logo_type(rgba, f)
        request = request_features(budget_s, max_svg_bytes, target_ssim, style)
        x = np.concatenate([f, np.asarray(request, np.float32)])
        raw = dict(zip(self.model.labels, self.model.proba(x)))
        eligible = [m for m in ROUTED if budget_s >= MIN_BUDGET_S[m]]
        mass = sum(raw.get(m, 0.0) for m in eligible)
        probs = {m: (raw.get(m, 0.0) / mass if mass > 0 else 1.0 / len(eligible)) for m in eligible}
        method = max(eligible, key=lambda m: (probs[m], -ROUTED.index(m)))
        confidence = probs[method]
        reasons = [f"model: {method} ({confidence:.2f})"]
        if confidence < LOW_CONFIDENCE and method != eligible[-1]:
            method = eligible[eligible.index(method) + 1]
            reasons.append(f"low confidence with budget to spare: {method}")
        degraded = False
        load = load or {}
        while load.get(method, 0.0) >= 1.0 and eligible.index(method) > 0:
            cheaper = eligible[eligible.index(method) - 1]
            reasons.append(f"{method} saturated (load {load[method]:.2f}): {cheaper}")
            method, degraded = cheaper, True
        return Decision(
            method=method,
            confidence=float(confidence),
            logo_type=kind,
            model_version=self.model.version,
            seconds=time.perf_counter() - t,
            probabilities={k: round(float(v), 4) for k, v in probs.items()},
            degraded=degraded,
            reasons=reasons,
            features=[float(v) for v in f],
        )


@lru_cache(maxsize=1)
def default_router() -> Router:
    return Router()
