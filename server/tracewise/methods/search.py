"""``search``: anytime, budgeted black-box search over VTracer's parameters.

A (1+lambda) evolution strategy in the normalised search box, warm-started from the mapping
model's ranked configurations and the floor (VTracer's defaults), with lambda = 2 x workers so
that every worker stays busy, a step size adapted by success (the 1/5 rule), and occasional random
restarts. The floor and mapping's own answer (its checked ranks, its walk to the byte cap) come
first, whatever the clock says (bounded by work: search never returns less than mapping would, on
any machine); the rest runs until the deadline and returns the best result so far. Candidates are
evaluated at full resolution: half-resolution screening was measured to rank them poorly (rank
correlation 0.59 at 256 px).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..evaluate import Evaluator, pool
from ..objective import Candidate, Job
from ..params import CATEGORICAL, DIM, Params, from_vector, to_vector
from ..telemetry import annotate, span
from .base import Result, finish
from .mapping import MappingModel, choose, ranked_params

SIGMA0 = 0.15
SIGMA_MIN = 0.02
SIGMA_MAX = 0.5
P_RANDOM = 0.1
# Stop this long before the deadline, so that the answer is back in time.
MARGIN_S = 0.05


def _mutate(rng: np.random.Generator, parent: np.ndarray, sigma: float) -> np.ndarray:
    if rng.random() < P_RANDOM:
        return rng.random(DIM)
    child = parent + rng.normal(0.0, sigma, DIM)
    # Categorical coordinates: flip now and then rather than drift.
    for i in CATEGORICAL:
        child[i] = parent[i] if rng.random() > 0.15 else 1.0 - parent[i]
    return np.clip(child, 0.0, 1.0)


class SearchState:
    """Best-so-far bookkeeping shared with ``regional``."""

    def __init__(self, job: Job, evaluator: Evaluator) -> None:
        self.job = job
        self.evaluator = evaluator
        self.best: Candidate | None = None
        self.seen: set[Params] = set()
        self.history: list[Candidate] = []

    def start_from_floor(self) -> None:
        """The floor (VTracer's defaults) is the first best; its configuration is not traced again."""
        for c in self.job.floor_candidates():
            self.offer(c)
            if c.params is not None:
                self.seen.add(c.params)

    def start_from_mapping(self, model: MappingModel | None = None) -> int:
        """Mapping's own answer (``mapping.choose``: bounded by work, like the floor) is offered
        before the search starts: search never returns less than mapping would, on any machine.
        Returns mapping's evaluations."""
        best, evaluations, _ = choose(self.job, model)
        self.offer(best)
        if best.params is not None:
            self.seen.add(best.params)
        return evaluations

    def offer(self, c: Candidate) -> bool:
        before = self.best
        self.best = self.job.better(self.best, c)
        self.history.append(c)
        return self.best is not before

    def evaluate(self, params: Iterable[Params], label: str, until: float) -> bool:
        """Evaluate unseen params until ``until`` (on the job's clock); True if any improved the best."""
        fresh = [p for p in params if p not in self.seen]
        self.seen.update(fresh)
        improved = False
        timeout = self.job.until(until)
        if timeout <= 0 or not fresh:
            return False
        before = self.evaluator.count
        with span("tracewise.evaluate", stage=label, batch=len(fresh)) as s:
            for p, svg, q in self.evaluator.map(fresh, timeout=timeout, cancel=self.job.cancel):
                improved |= self.offer(Candidate(p, svg, q, label))
            annotate(
                s,
                evaluated=self.evaluator.count - before,
                improved=improved,
                best_score=None if self.best is None else self.best.quality.score,
            )
        return improved


def optimise(state: SearchState, starts: list[Params], until: float, seed: int = 0) -> None:
    """Run the evolution strategy from ``starts`` until the monotonic time ``until``."""
    job = state.job
    style = job.objective.style
    colormode = starts[0].colormode if starts else "color"
    state.evaluate(starts, "search-start", until)
    if state.best is None:
        return
    rng = np.random.default_rng(seed)
    sigma = SIGMA0
    lam = max(2, 2 * state.evaluator.parallelism)
    while job.until(until) > MARGIN_S:
        parent = to_vector(state.best.params) if state.best.params is not None else rng.random(DIM)
        children = [
            job.objective.params(from_vector(_mutate(rng, parent, sigma), style, colormode))
            for _ in range(lam)
        ]
        if all(c in state.seen for c in children):
            sigma = min(SIGMA_MAX, sigma * 1.5)
            continue
        improved = state.evaluate(children, "search", until)
        sigma = min(SIGMA_MAX, sigma * 1.5) if improved else max(SIGMA_MIN, sigma * 0.85)


def starting_points(job: Job, n_mapped: int = 3, model: MappingModel | None = None) -> list[Params]:
    """Warm start: the mapping model's best-ranked configurations, then VTracer's defaults (at
    three precisions) and its cutout mosaic."""
    starts = ranked_params(job, model)[:n_mapped]
    variants = (Params(), Params(path_precision=1), Params(hierarchical="cutout"))
    for p in (job.objective.params(v) for v in variants):
        if p not in starts:
            starts.append(p)
    return starts


def run(
    job: Job, evaluator: Evaluator | None = None, seed: int = 0, model: MappingModel | None = None
) -> Result:
    evaluator = evaluator or Evaluator(job.prepared, job.reference, pool(), clock=job.clock)
    state = SearchState(job, evaluator)
    state.start_from_floor()
    mapped = state.start_from_mapping(model)
    optimise(state, starting_points(job, model=model), job.deadline - MARGIN_S, seed)
    assert state.best is not None
    return finish("search", job, state.best, evaluator.count + mapped, cut_short=job.cancel.is_set())
