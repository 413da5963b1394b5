"""The router's runs on engine v2: mapping, and search's whole anytime trajectory, per picture and
request scenario, measured on a work clock so that the labels do not depend on how busy the
machine was.

Search is anytime: at every moment it holds the best result so far, and a run for 5 s passes
through exactly the states a run for 1 s ends in. So one run per (picture, scenario) gives search's
result at every budget up to ``HORIZON_S``: the best among the evaluations finished by then, as
the served search returns it (``search_curve``: every improvement and when; ``CHECKPOINTS_S``
spelled out). The budget is measured on ``WorkClock``: this
process's CPU seconds spread over ``LANES`` workers (the evaluation pool of a 2-core server;
search's batch is ``2 x LANES``, evaluated one after the other here). On an idle machine it
reads like wall time in the service; on a busy one the labels come out the same, only later.
The sequential parts (the floor, preparing the picture) are charged at 1 / ``LANES`` of their
cost: a few evaluations at most.

Each row: the picture (``dataset.augmentations``: the logo, rescales from the SVG 64-2048 px, a
background colour, JPEG, noise, a crop), the request scenario (``SCENARIOS``: byte cap, target,
style, colour limit), the router's inputs (image features), VTracer's defaults (the floor), what
mapping returned and what it cost in CPU seconds, and search's result at each checkpoint. Mapping
models are trained on the other fold of logos, so no run sees a model trained on its logo.
``--regional-from`` extracts regional's 30 s results on the logos from the quality benchmark's
rows (``REGIONAL``): regional is too costly to run per scenario.

    python -m tracewise.training.router_runs --procs 2          # the whole plan, resumable
    python -m tracewise.training.router_runs --limit 2 --out /tmp/runs.csv   # a quick look
    python -m tracewise.training.router_runs --regional-from bench/out/quality_rows.json
    python -m tracewise.training.router_runs --refresh-features   # after a change to features.py
    python -m tracewise.training.router_runs --seed 1 --scenarios default --out bench/out/runs_seed1.csv

About 10 CPU seconds per row (search's 5 s on two lanes); ``--procs`` runs rows in parallel and
every finished row is appended at once, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np

from ..dataset import augmentations, logos
from ..decode import Picture
from ..evaluate import Evaluator
from ..features import features
from ..methods import mapping
from ..methods.search import MARGIN_S, SearchState, optimise, starting_points
from ..objective import Candidate, Job, Objective

OUT = Path("data/router_runs.csv")
REGIONAL = Path("data/router_regional.csv")
MODELS = Path("bench/out/router_fold_models")
LANES = 2
HORIZON_S = 5.0
CHECKPOINTS_S = (0.5, 1.0, 2.0, 5.0)
SEED = 0  # search's seed, as served (``--seed``: how much the labels hang on it)
# name -> (byte cap as a fraction of the style's default cap, target SSIM, style, max colours)
SCENARIOS: dict[str, tuple[float | None, float | None, str, int | None]] = {
    "default": (None, None, "spline", None),
    "cap50": (0.5, None, "spline", None),
    "target90": (None, 0.90, "spline", None),
    "target95": (None, 0.95, "spline", None),
    "polygon": (None, None, "polygon", None),
    "pixel": (None, None, "pixel", None),
    "colors8": (None, None, "spline", 8),
}
PICTURES = (
    "jpeg", "background", "noise", "crop", "scale64", "scale128", "scale384", "scale1024", "scale2048",
)  # fmt: skip
EXTRA_PER_LOGO = 4  # (picture, scenario) pairs drawn per logo beside the logo in every scenario
COLUMNS = [
    "logo", "fold", "category", "aug", "scenario", "width", "height", "style", "max_svg_bytes",
    "target_ssim", "max_colors", "features", "defaults_ssim", "defaults_score", "defaults_bytes",
    "mapping_ssim", "mapping_score", "mapping_bytes", "mapping_cpu_s", "mapping_evaluations",
    "mapping_source",
    *(f"search{b:g}_{k}" for b in CHECKPOINTS_S for k in ("ssim", "score", "bytes")),
    "search_evaluations", "search_cpu_s", "search_curve",
]  # fmt: skip


class WorkClock:
    """Seconds of work: this process's CPU time over ``lanes`` (monotonic, unaffected by other
    processes on the machine)."""

    def __init__(self, lanes: int = LANES) -> None:
        self.lanes = lanes

    def __call__(self) -> float:
        return time.process_time() / self.lanes


class LaneEvaluator(Evaluator):
    """In-process evaluation that search sizes its batches for as if ``lanes`` workers ran them."""

    def __init__(self, job: Job, lanes: int = LANES) -> None:
        super().__init__(job.prepared, job.reference, None, clock=job.clock)
        self.lanes = lanes

    @property
    def parallelism(self) -> int:
        return self.lanes


class Trajectory(SearchState):
    """Search's state, remembering when (on the job's clock) each candidate was offered."""

    def __init__(self, job: Job, evaluator: Evaluator) -> None:
        super().__init__(job, evaluator)
        self.times: list[float] = []

    def offer(self, c: Candidate) -> bool:
        self.times.append(self.job.clock() - self.job.started)
        return super().offer(c)

    def curve(self) -> list[list[float]]:
        """Each time the best improved: [seconds on the job's clock, SSIM, score, bytes]; the
        floor's entries at 0 (it is always measured, whatever the budget)."""
        out, best = [], None
        floors = len(self.job.floor_candidates())
        for i, (c, t) in enumerate(zip(self.history, self.times)):
            better = self.job.better(best, c)
            if better is not best:
                best = better
                q = c.quality
                out.append(
                    [0.0 if i < floors else round(t, 4), round(q.ssim, 6), round(q.score, 6), q.svg_bytes]
                )
        return out

    def best_by(self, budget_s: float) -> Candidate:
        """What a search given ``budget_s`` returns: the best of what was finished by its deadline
        less the margin (the floor, offered first, always counts)."""
        best = None
        for i, (c, t) in enumerate(zip(self.history, self.times)):
            if t <= budget_s - MARGIN_S or i < len(self.job.floor_candidates()):
                best = self.job.better(best, c)
        assert best is not None
        return best


def plan(chosen: list, seed: int = 0) -> list[tuple[str, str, str]]:
    """(logo, picture, scenario) to run: every logo in every scenario first (so a partial run is
    useful), then ``EXTRA_PER_LOGO`` pairs per logo drawn from the other pictures x scenarios."""
    first = [(lg.name, "orig", s) for s in SCENARIOS for lg in chosen]
    rng = np.random.default_rng(seed)
    cells = [(p, s) for p in PICTURES for s in SCENARIOS]
    extra = []
    for lg in chosen:
        for i in rng.choice(len(cells), EXTRA_PER_LOGO, replace=False):
            extra.append((lg.name, *cells[int(i)]))
    return first + extra


def objective_for(scenario: str, picture: Picture) -> Objective:
    """The request a scenario stands for; a cap is a fraction of the style's default cap."""
    fraction, target, style, colours = SCENARIOS[scenario]
    cap = None
    if fraction is not None:
        cap = max(64, int(Job(picture, Objective(style=style), 1.0).cap * fraction))
    return Objective(
        style=style, max_svg_bytes=cap, target_ssim=target, max_colors=colours, budget_s=HORIZON_S
    )


_MODELS: dict[int, mapping.MappingModel] = {}


def _init(models_dir: str) -> None:
    os.environ["TRACEWISE_WORKERS"] = "0"
    for fold in (0, 1):
        _MODELS[fold] = mapping.MappingModel.load(Path(models_dir) / f"fold{fold}" / "mapping.onnx")


def run_one(item: tuple[str, str, str, int]) -> dict:
    """One row (``COLUMNS``): (logo, picture, scenario, search's seed)."""
    name, aug, scenario, seed = item
    logo = next(lg for lg in logos() if lg.name == name)
    picture = dict(augmentations(logo, kinds=(aug,)))[aug]
    objective = objective_for(scenario, picture)
    model = _MODELS[logo.fold]
    feats = features(picture.rgba)

    cpu = time.process_time()
    job = Job(picture, objective, HORIZON_S)
    job.features = feats
    m = mapping.run(job, model=model)
    mapping_cpu = time.process_time() - cpu
    floor = job.floor().quality

    cpu = time.process_time()
    sjob = Job(picture, objective, HORIZON_S, clock=WorkClock())
    sjob.features = feats
    evaluator = LaneEvaluator(sjob)
    state = Trajectory(sjob, evaluator)
    state.start_from_floor()
    optimise(state, starting_points(sjob, model=model), sjob.deadline - MARGIN_S, seed)
    search_cpu = time.process_time() - cpu

    row = {
        "logo": name,
        "fold": logo.fold,
        "category": logo.category,
        "aug": aug,
        "scenario": scenario,
        "width": picture.width,
        "height": picture.height,
        "style": objective.style,
        "max_svg_bytes": objective.max_svg_bytes or "",
        "target_ssim": objective.target_ssim or "",
        "max_colors": objective.max_colors or "",
        "features": json.dumps([round(float(v), 6) for v in feats]),
        "defaults_ssim": f"{floor.ssim:.6f}",
        "defaults_score": f"{floor.score:.6f}",
        "defaults_bytes": floor.svg_bytes,
        "mapping_ssim": f"{m.quality.ssim:.6f}",
        "mapping_score": f"{m.quality.score:.6f}",
        "mapping_bytes": m.quality.svg_bytes,
        "mapping_cpu_s": f"{mapping_cpu:.4f}",
        "mapping_evaluations": m.evaluations,
        "mapping_source": m.source,
        "search_evaluations": evaluator.count,
        "search_cpu_s": f"{search_cpu:.4f}",
        "search_curve": json.dumps(state.curve(), separators=(",", ":")),
    }
    for b in CHECKPOINTS_S:
        q = state.best_by(b).quality
        row.update(
            {
                f"search{b:g}_ssim": f"{q.ssim:.6f}",
                f"search{b:g}_score": f"{q.score:.6f}",
                f"search{b:g}_bytes": q.svg_bytes,
            }  # fmt: skip
        )
    return row


def done_keys(path: Path) -> set[tuple[str, str, str]]:
    if not path.exists():
        return set()
    with open(path, newline="") as fh:
        return {(r["logo"], r["aug"], r["scenario"]) for r in csv.DictReader(fh)}


def refresh_features(path: Path) -> int:
    """Measure every row's features again (after a change to ``features``): the pictures are
    made again, the runs are not."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_name = {lg.name: lg for lg in logos()}
    changed = 0
    for r in rows:
        picture = dict(augmentations(by_name[r["logo"]], kinds=(r["aug"],)))[r["aug"]]
        new = json.dumps([round(float(v), 6) for v in features(picture.rgba)])
        changed += new != r["features"]
        r["features"] = new
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return changed


def regional_from(rows_json: Path, out: Path = REGIONAL) -> int:
    """Regional's (and, beside it, search's) 30 s results on the logos from the quality benchmark."""
    rows = [r for r in json.loads(rows_json.read_text())["rows"] if r["method"] == "regional"]
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["logo", "aug", "scenario", "budget_s", "ssim", "score", "bytes", "seconds"])
        for r in sorted(rows, key=lambda r: r["logo"]):
            w.writerow([r["logo"], "orig", "default", 30.0, r["ssim"], r["score"], r["bytes"], r["seconds"]])
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="only the first N logos (a quick look)")
    ap.add_argument("--table", type=Path, default=Path("data/mapping_table.npz"))
    ap.add_argument("--models", type=Path, default=MODELS, help="where the fold models are kept")
    ap.add_argument("--regional-from", type=Path, default=None, help="quality_rows.json: regional's rows")
    ap.add_argument("--refresh-features", action="store_true", help="measure the rows' features again")
    ap.add_argument("--seed", type=int, default=SEED, help="search's seed (another seed: another --out)")
    ap.add_argument("--scenarios", default="", help="only these scenarios, on the logos themselves")
    a = ap.parse_args(argv)
    if a.refresh_features:
        print(f"{refresh_features(a.out)} rows' features changed in {a.out}")
        return 0
    if a.regional_from:
        print(f"{regional_from(a.regional_from)} regional rows -> {REGIONAL}")
        return 0
    chosen = logos()[: a.limit] if a.limit else logos()
    if a.seed != SEED and a.out == OUT:
        ap.error("another seed's runs go to another --out (the shipped runs are seed 0's)")
    wanted = plan(chosen)
    if a.scenarios:
        wanted = [k for k in wanted if k[1] == "orig" and k[2] in a.scenarios.split(",")]
    todo = [(*k, a.seed) for k in wanted if k not in done_keys(a.out)]
    print(f"{len(todo)} runs to do ({len(done_keys(a.out))} already in {a.out})", flush=True)
    if not (a.models / "fold1" / "mapping.onnx").exists():
        from ..benchmark import _fold_models

        _fold_models(a.table, a.models)
    fresh = not a.out.exists()
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    with open(a.out, "a", newline="") as fh, ctx.Pool(a.procs, _init, (str(a.models),)) as pool:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        if fresh:
            w.writeheader()
        for i, row in enumerate(pool.imap_unordered(run_one, todo, chunksize=1)):
            w.writerow(row)
            fh.flush()
            print(
                f"[{i + 1}/{len(todo)}] {row['logo']} {row['aug']} {row['scenario']} "
                f"mapping {row['mapping_ssim']} search@5 {row['search5_ssim']} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
