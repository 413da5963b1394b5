"""``mapping``: features to parameters in one shot.

A RandomForest (scikit-learn, served with ONNX Runtime) predicts, from the image's features,
how well each entry of a small codebook of VTracer configurations will do; the best-ranked
configuration is traced and measured. When it scores below ``CHECK_BELOW`` SSIM the model may
have ranked badly, so the next ``CHECK_RANKS - 1`` configurations are measured too and the best
kept. The check is bounded by evaluations, never by time: the same picture gets the same answer
on any machine. Only when the result breaks the byte cap does it walk down the ranking to the
first configuration that fits (tracing is cheap; only that one is measured). Like every method,
the answer is never below the floor (VTracer's defaults, ``Job.floor``).
Retrain with ``python -m tracewise.training.mapping``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import Unavailable
from ..features import FEATURE_NAMES
from ..objective import Candidate, Job
from ..params import Params
from ..trace import trace
from .base import Result, finish

CHECK_BELOW = 0.95  # SSIM under which the best-ranked result is checked against the next ranks
CHECK_RANKS = 4  # how many ranked configurations are measured then (the first included)


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
    out: list[Params] = []
    for p in model.rank(job.features):
        p = job.objective.params(p)
        if p not in out:
            out.append(p)
    return out


def _walk(job: Job, ranked: list[Params]) -> Iterator[tuple[int, Params, str]]:
    """(rank, configuration, SVG) down the ranking after the first, traced (not measured); bounded
    by the codebook's size, not by time (only a cancelled request stops early)."""
    for rank, p in enumerate(ranked[1:], start=2):
        if job.cancel.is_set():
            return
        yield rank, p, trace(job.prepared, p)


def _check(job: Job, ranked: list[Params], best: Candidate) -> tuple[Candidate, int]:
    """``best`` (the first rank) scored low: measure the next ranks up to ``CHECK_RANKS`` (only a
    cancelled request stops early) and keep the best as the engine ranks results. Returns it and
    how many were measured."""
    measured = 0
    for rank, p in enumerate(ranked[1:CHECK_RANKS], start=2):
        if job.cancel.is_set():
            break
        svg = trace(job.prepared, p)
        best = job.better(best, Candidate(p, svg, job.reference.measure(svg), f"mapping rank {rank}"))
        measured += 1
    return best, measured


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
        if job.cancel.is_set():
            break
        candidate = Candidate(p, svg, job.reference.measure(svg), f"mapping rank {rank}")
        if candidate.quality.score >= target:
            return job.better(best, candidate), traced
    return best, traced


def run(job: Job, model: MappingModel | None = None) -> Result:
    """Mapping's answer (``choose``), checked against the floor."""
    best, evaluations, notes = choose(job, model)
    return finish("mapping", job, best, evaluations, notes=notes)


def choose(job: Job, model: MappingModel | None = None) -> tuple[Candidate, int, list[str]]:
    """Trace the best-ranked configuration; below ``CHECK_BELOW`` SSIM, measure the next ranks
    too and keep the best. Over the byte cap, walk down the ranking tracing (not measuring)
    until one fits and measure that one; if none does, the floor, and failing that the smallest
    SVG seen, said in the notes. With a quality target the first one reaches, the smallest
    configuration of the ranking that also reaches it. Bounded by work, never by time. Returns
    the candidate, the evaluations and the notes (``search`` starts from it)."""
    ranked = ranked_params(job, model)
    first = ranked[0]
    svg = trace(job.prepared, first)
    best = Candidate(first, svg, job.reference.measure(svg), "mapping")
    evaluations, notes = 1, []
    if best.quality.svg_bytes <= job.cap:
        if best.quality.ssim < CHECK_BELOW:
            first_ssim = best.quality.ssim
            best, checked = _check(job, ranked, best)
            evaluations += checked
            if best.params != first:
                notes.append(
                    f"the best-ranked configuration scored {first_ssim:.3f}; {best.label} did better"
                )
        target = job.objective.target_ssim
        if target is not None and best.quality.score >= target:
            before = best.params
            best, traced = _smallest_reaching(job, ranked, best, target)
            evaluations += traced
            if best.params != before:
                notes.append(f"the target is reached with fewer bytes by {best.label}")
        return best, evaluations, notes
    smallest: tuple[int, Params, str] = (len(svg), first, svg)
    for rank, p, svg in _walk(job, ranked):
        evaluations += 1
        if len(svg) <= job.cap:
            best = job.better(best, Candidate(p, svg, job.reference.measure(svg), "mapping"))
            notes.append(f"the best-ranked configuration exceeded the byte cap; used rank {rank}")
            return best, evaluations, notes
        smallest = min(smallest, (len(svg), p, svg), key=lambda t: t[0])
    best = job.better(best, job.floor())
    if best.quality.svg_bytes > job.cap and smallest[0] < best.quality.svg_bytes:
        _, p, svg = smallest
        best = job.better(best, Candidate(p, svg, job.reference.measure(svg), "mapping"))
    if best.quality.svg_bytes > job.cap:
        notes.append(f"no configuration fits the byte cap ({job.cap}); this is the smallest found")
    else:
        notes.append("mapped configurations exceeded the byte cap; used VTracer's defaults")
    return best, evaluations, notes
