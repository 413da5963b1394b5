"""``mapping``: features to parameters in one shot.

A RandomForest (scikit-learn, served with ONNX Runtime) predicts, from the image's features,
how well each entry of a small codebook of VTracer configurations will do; the best-ranked
configuration is traced once. Only
when that result breaks the byte cap does it try the next one (at most ``MAX_TRIES``), then
the size reference, which always fits. Retrain with ``python -m tracewise.training.mapping``.
"""

from __future__ import annotations

import json
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

MAX_TRIES = 2


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


def run(job: Job, model: MappingModel | None = None) -> Result:
    evaluations = 0
    best: Candidate | None = None
    for p in ranked_params(job, model)[:MAX_TRIES]:
        svg = trace(job.prepared, p)
        best = job.better(best, Candidate(p, svg, job.reference.measure(svg), "mapping"))
        evaluations += 1
        if best.quality.svg_bytes <= job.cap:
            break
    notes = []
    if best is None or best.quality.svg_bytes > job.cap:
        best = job.better(best, size_reference(job))
        evaluations += 1
        notes.append("mapped configurations exceeded the byte cap; used the size reference")
    return finish("mapping", job, best, evaluations, notes=notes)
