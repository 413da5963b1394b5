"""``mapping``: features to parameters in one shot.

A RandomForest (scikit-learn, served with ONNX Runtime) predicts, from the image's features,
how well each entry of a small codebook of VTracer configurations will do; the best-ranked
configuration is traced and measured. When it scores below ``CHECK_BELOW`` SSIM the model may
have ranked badly (out of fold, on 960 logos, crops and rescales in three styles, one best-ranked
result in nine lost more than 0.05 SSIM to one of the next three; those all scored below the line),
so the next ``CHECK_RANKS - 1`` configurations are measured too and the best kept (~18 ms each at
256 px, on about a third of the logos), within ``CHECK_ALLOWANCE_S`` of mapping's time. Only when
the result breaks the byte cap does it walk down the ranking to the first configuration that fits
(tracing is cheap; only that one is measured), then
the size reference, which always fits the default cap. Retrain with ``python -m tracewise.training.mapping``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import Unavailable
from ..features import FEATURE_NAMES
from ..objective import Candidate, Job
from ..params import STYLE_TO_MODE, Params
from ..trace import trace
from .base import Result, finish, size_reference

CHECK_BELOW = 0.95  # SSIM under which the best-ranked result is checked against the next ranks
CHECK_RANKS = 4  # how many ranked configurations are measured then (the first included)
# The check keeps mapping a millisecond method: a further rank is measured only if mapping's time
# so far (its ranking, traces and measurements) plus the last evaluation's (the next one's
# estimate) stays within this. Slow pictures (large traces) are checked less or not at all; on a
# slower machine, fewer ranks are checked.
CHECK_ALLOWANCE_S = 0.08


class MappingModel:
    """The ONNX classifier plus its codebook; ``rank`` orders the codebook for one image."""

    def __init__(self, onnx_path: Path, meta: dict) -> None:
        import onnxruntime as ort

        if tuple(meta["feature_names"]) != FEATURE_NAMES:
            raise Unavailable("mapping model was trained on other features; retrain it")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise Unavailable("mapping model could not be loaded") from exc
        self.input = self.session.get_inputs()[0].name
        self.codebook = [Params.from_dict(d) for d in meta["codebook"]]
        self.classes = [int(c) for c in meta["classes"]]
        self.version = meta["version"]
        self.meta = meta

    @classmethod
    def load(cls, path: Path | None = None) -> MappingModel:
        if path is None:
            path = Path(str(resources.files("tracewise") / "models" / "mapping.onnx"))
        meta_path = path.with_suffix(".json")
        if not path.exists() or not meta_path.exists():
            raise Unavailable(
                f"mapping model missing ({path.name}); run python -m tracewise.training.mapping"
            )
        return cls(path, json.loads(meta_path.read_text()))

    def utilities(self, feats: np.ndarray) -> np.ndarray:
        """Predicted utility of each codebook entry, relative to the image's best (<= 0)."""
        x = np.asarray(feats, np.float32).reshape(1, -1)
        outputs = self.session.run(None, {self.input: x})
        return np.asarray(outputs[0], np.float64).reshape(-1)

    def rank(self, feats: np.ndarray) -> list[Params]:
        order = np.argsort(-self.utilities(feats), kind="stable")
        return [self.codebook[self.classes[i]] for i in order]


@lru_cache(maxsize=1)
def default_model() -> MappingModel:
    return MappingModel.load()


def ranked_params(job: Job, model: MappingModel | None = None) -> list[Params]:
    model = model or default_model()
    mode = STYLE_TO_MODE[job.objective.style]
    out: list[Params] = []
    for p in model.rank(job.features):
        p = p.with_style(job.objective.style) if p.mode != mode else p
        if p not in out:
            out.append(p)
    return out


def _walk(job: Job, ranked: list[Params]) -> Iterator[tuple[int, Params, str]]:
    """(rank, configuration, SVG) down the ranking after the first, traced (not measured) while
    the budget lasts."""
    for rank, p in enumerate(ranked[1:], start=2):
        if job.remaining() <= 0:
            return
        yield rank, p, trace(job.prepared, p)


def _check(
    job: Job, ranked: list[Params], best: Candidate, started: float, last_s: float
) -> tuple[Candidate, int, bool]:
    """``best`` (the first rank) scored low: measure the next ranks up to ``CHECK_RANKS`` while
    the budget and ``CHECK_ALLOWANCE_S`` (from ``started``; ``last_s``: the first evaluation's
    seconds) last, and keep the best as the engine ranks results. Returns it, how many were
    measured and whether the allowance stopped the check early."""
    measured = 0
    for rank, p in enumerate(ranked[1:CHECK_RANKS], start=2):
        if job.remaining() <= 0:
            break
        t = time.monotonic()
        if t - started + last_s > CHECK_ALLOWANCE_S:
            return best, measured, True
        svg = trace(job.prepared, p)
        best = job.better(best, Candidate(p, svg, job.reference.measure(svg), f"mapping rank {rank}"))
        measured += 1
        last_s = time.monotonic() - t
    return best, measured, False


def _smallest_reaching(
    job: Job, ranked: list[Params], best: Candidate, target: float
) -> tuple[Candidate, int]:
    """``best`` reaches the target: trace the rest of the ranking (cheap) and measure the SVGs
    smaller than it, smallest first, until one reaches the target too."""
    smaller, traced = [], 0
    for rank, p, svg in _walk(job, ranked):
        traced += 1
        if len(svg) < best.quality.svg_bytes:
            smaller.append((len(svg), rank, p, svg))
    for _, rank, p, svg in sorted(smaller, key=lambda t: t[0]):
        if job.remaining() <= 0:
            break
        candidate = Candidate(p, svg, job.reference.measure(svg), f"mapping rank {rank}")
        if candidate.quality.score >= target:
            return job.better(best, candidate), traced
    return best, traced


def run(job: Job, model: MappingModel | None = None) -> Result:
    """Trace the best-ranked configuration; below ``CHECK_BELOW`` SSIM, measure the next ranks
    too and keep the best. Over the byte cap, walk down the ranking tracing
    (not measuring: ~8 ms each at 256 px) until one fits and measure that one; if none does,
    the size reference, and failing that the smallest SVG seen, said in the notes. With a
    quality target the first one reaches, the smallest configuration of the ranking that also
    reaches it (~0.1-0.2 s at 256 px instead of ~40 ms)."""
    _ = job.cap  # the default cap traces the size reference: not mapping's own time
    started = time.monotonic()
    ranked = ranked_params(job, model)
    first = ranked[0]
    svg = trace(job.prepared, first)
    best = Candidate(first, svg, job.reference.measure(svg), "mapping")
    evaluations, notes = 1, []
    if best.quality.svg_bytes <= job.cap:
        if best.quality.ssim < CHECK_BELOW:
            first_ssim = best.quality.ssim
            best, checked, cut = _check(job, ranked, best, started, time.monotonic() - started)
            evaluations += checked
            if best.params != first:
                notes.append(
                    f"the best-ranked configuration scored {first_ssim:.3f}; {best.label} did better"
                )
            if cut:
                notes.append(f"checked {checked} of the next {CHECK_RANKS - 1} ranks (time allowance)")
        target = job.objective.target_ssim
        if target is not None and best.quality.score >= target:
            before = best.params
            best, traced = _smallest_reaching(job, ranked, best, target)
            evaluations += traced
            if best.params != before:
                notes.append(f"the target is reached with fewer bytes by {best.label}")
        return finish("mapping", job, best, evaluations, notes=notes)
    smallest: tuple[int, Params, str] = (len(svg), first, svg)
    for rank, p, svg in _walk(job, ranked):
        evaluations += 1
        if len(svg) <= job.cap:
            best = job.better(best, Candidate(p, svg, job.reference.measure(svg), "mapping"))
            notes.append(f"the best-ranked configuration exceeded the byte cap; used rank {rank}")
            return finish("mapping", job, best, evaluations, notes=notes)
        smallest = min(smallest, (len(svg), p, svg), key=lambda t: t[0])
    reference = size_reference(job)
    evaluations += 1
    best = job.better(best, reference)
    if best.quality.svg_bytes > job.cap and smallest[0] < best.quality.svg_bytes:
        _, p, svg = smallest
        best = job.better(best, Candidate(p, svg, job.reference.measure(svg), "mapping"))
    if best.quality.svg_bytes > job.cap:
        notes.append(f"no configuration fits the byte cap ({job.cap}); this is the smallest found")
    else:
        notes.append("mapped configurations exceeded the byte cap; used the size reference")
    return finish("mapping", job, best, evaluations, notes=notes)
