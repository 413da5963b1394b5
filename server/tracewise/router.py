"""The router: which method to run for this image and request, and for how long.

A RandomForestClassifier (served with ONNX Runtime) over the image features plus the request's
fields (time budget, byte cap, quality target, style, colour limit) predicts, for each *arm* (a
method and the seconds it runs: ``ARMS``, cheapest first), the odds that it is the cheapest arm
whose result is within the tolerance of the best the request allows (trained on real runs:
``training.router``). The decision is the cheapest arm that fits the budget whose cumulative odds
reach the model's threshold for that budget (``meta["thresholds"]``, chosen by the trainer on logos
it held out): "no more work than this is needed, with odds >= threshold".
Around the model:
- only arms that fit the budget are eligible (an arm's seconds <= the request's budget);
- a saturated method (load >= 1, supplied by the serving layer) degrades to the costliest arm of
  the next cheaper method, and the decision says so (``degraded``).
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
from typing import Any

import numpy as np

from .errors import Unavailable
from .features import FEATURE_NAMES, LOGOTYPE_FEATURE_NAMES, analysis_copy, features, logotype_features
from .params import DEFAULT_STYLE, STYLES


@dataclass(frozen=True)
class Arm:
    """A method and the seconds it runs (``budget_s`` 0 for mapping, which is bounded by work)."""

    method: str
    budget_s: float

    @property
    def name(self) -> str:
        return self.method if self.method == "mapping" else f"{self.method}@{self.budget_s:g}"

    def fits(self, budget_s: float) -> bool:
        return self.budget_s <= budget_s


# The router's choices, cheapest first: one owner (the trainer labels them, the service runs them).
ARMS: tuple[Arm, ...] = (
    Arm("mapping", 0.0),
    Arm("search", 0.5),
    Arm("search", 1.0),
    Arm("search", 2.0),
    Arm("search", 5.0),
    Arm("regional", 30.0),
)
ROUTED = tuple(dict.fromkeys(a.method for a in ARMS))  # the methods, cheapest first
MIN_BUDGET_S = {m: min(a.budget_s for a in ARMS if a.method == m) for m in ROUTED}
# The request budgets the router's runs label (below 0.5 s only mapping fits: no label needed);
# the model has a threshold for each (``bucket``).
BUDGETS = (1.0, 5.0, 30.0)
MAX_BUDGET_FEATURE_S = 60.0
ARM_BY_NAME = {a.name: a for a in ARMS}


def bucket(budget_s: float) -> str:
    """The labelled budget a request's budget is decided with: the largest of ``BUDGETS`` at or
    below it (the smallest for less)."""
    return f"{max([b for b in BUDGETS if b <= budget_s] or [BUDGETS[0]]):g}"


def eligible(budget_s: float) -> list[Arm]:
    return [a for a in ARMS if a.fits(budget_s)]


def colour_limit(max_colors: int | None = None, palette: tuple[str, ...] = ()) -> int:
    """How many colours the request allows (0: no limit)."""
    limits = [n for n in (max_colors or 0, len(palette)) if n]
    return min(limits) if limits else 0


def request_features(
    budget_s: float,
    max_svg_bytes: int | None = None,
    target_ssim: float | None = None,
    style: str = DEFAULT_STYLE,
    colours: int = 0,
) -> list[float]:
    """The request's fields as the router sees them (``REQUEST_FEATURE_NAMES``); no cap, no
    target and no colour limit are 0."""
    return [
        math.log2(max(0.05, min(budget_s, MAX_BUDGET_FEATURE_S))),
        math.log2(max_svg_bytes) if max_svg_bytes else 0.0,
        float(target_ssim or 0.0),
        float(STYLES.index(style)),
        math.log2(colours) if colours else 0.0,
    ]


REQUEST_FEATURE_NAMES = ("log2_budget_s", "log2_max_svg_bytes", "target_ssim", "style", "log2_colours")


def _session(path: Path) -> Any:
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
    confidence: float  # the model's cumulative odds that the chosen arm is enough
    logo_type: str
    model_version: str
    seconds: float
    budget_s: float | None = None  # what the chosen method runs for (None: mapping, bounded by work)
    probabilities: dict[str, float] = field(default_factory=dict)  # per eligible arm
    degraded: bool = False
    reasons: list[str] = field(default_factory=list)
    features: list[float] = field(default_factory=list)  # the image features it decided on

    @property
    def arm(self) -> str:
        return Arm(self.method, self.budget_s or 0.0).name


def choose(probs: dict[str, float], arms: list[Arm], threshold: float) -> tuple[Arm, float]:
    """The cheapest of ``arms`` whose cumulative odds (renormalised over ``arms``) reach
    ``threshold``, and those odds; the costliest when none does (rounding)."""
    mass = sum(probs.get(a.name, 0.0) for a in arms)
    total = 0.0
    for a in arms:
        total += probs.get(a.name, 0.0) / mass if mass > 0 else 1.0 / len(arms)
        if total >= threshold - 1e-9:
            return a, min(1.0, total)
    return arms[-1], 1.0


class Router:
    def __init__(self, router_path: Path | None = None, logotype_path: Path | None = None) -> None:
        self.model = OnnxClassifier(router_path or _model_path("router.onnx"))
        self.logotype = OnnxClassifier(logotype_path or _model_path("logotype.onnx"))
        if tuple(self.model.meta["feature_names"]) != FEATURE_NAMES + REQUEST_FEATURE_NAMES:
            raise Unavailable("router model was trained on other features; retrain it")
        if not set(self.model.labels) <= set(ARM_BY_NAME):
            raise Unavailable("router model was trained on other arms; retrain it")
        if tuple(self.logotype.meta["feature_names"]) != LOGOTYPE_FEATURE_NAMES:
            raise Unavailable("logo-type model was trained on other features; retrain it")
        self.thresholds: dict[str, float] = {k: float(v) for k, v in self.model.meta["thresholds"].items()}
        if set(self.thresholds) != {bucket(b) for b in BUDGETS}:
            raise Unavailable("router model has no threshold for every labelled budget; retrain it")

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
        colours: int = 0,
        small: np.ndarray | None = None,
    ) -> Decision:
        """``feats`` and ``small`` (``features.analysis_copy(rgba)``): when the caller has them."""
        t = time.perf_counter()
        if small is None:
            small = analysis_copy(rgba)  # once, for the features and the logo-type extras
        f = features(rgba, small) if feats is None else feats
        kind = self.logo_type(small, f)
        request = request_features(budget_s, max_svg_bytes, target_ssim, style, colours)
        x = np.concatenate([f, np.asarray(request, np.float32)])
        raw = dict(zip(self.model.labels, self.model.proba(x)))
        arms = eligible(budget_s)
        threshold = self.thresholds[bucket(budget_s)]
        arm, confidence = choose(raw, arms, threshold)
        mass = sum(raw.get(a.name, 0.0) for a in arms) or 1.0
        reasons = [f"model: {arm.name} (cumulative odds {confidence:.2f} >= {threshold:.2f})"]
        degraded = False
        load = load or {}
        while load.get(arm.method, 0.0) >= 1.0 and arm.method != ROUTED[0]:
            cheaper = ROUTED[ROUTED.index(arm.method) - 1]
            fallback = [a for a in arms if a.method == cheaper][-1]
            reasons.append(f"{arm.method} saturated (load {load[arm.method]:.2f}): {fallback.name}")
            arm, degraded = fallback, True
        return Decision(
            method=arm.method,
            confidence=float(confidence),
            logo_type=kind,
            model_version=self.model.version,
            seconds=time.perf_counter() - t,
            budget_s=None if arm.method == "mapping" else arm.budget_s,
            probabilities={a.name: round(float(raw.get(a.name, 0.0) / mass), 4) for a in arms},
            degraded=degraded,
            reasons=reasons,
            features=[float(v) for v in f],
        )


@lru_cache(maxsize=1)
def default_router() -> Router:
    return Router()
