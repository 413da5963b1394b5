"""More router labels from real runs: request scenarios (a tight byte cap, a quality target, the
polygon and pixel styles) and augmented pictures (``dataset.AUGMENTATIONS`` and ``MORE_AUGMENTATIONS``:
rescaled from the SVG to 64-1024 px, on a background colour, JPEG-compressed, noisy, cropped),
each method run with the request's own options by mapping models trained on the other fold.
Rows carry the picture's features and the request's fields, and
``tracewise.training.router`` adds them to the shipped table.

    python -m tracewise.training.router_augment --budget 1 [--augs scale128,background,jpeg]
    python -m tracewise.training.router_augment --budget 1 --augs orig,scale128,background,jpeg \\
        --scenarios cap50,target90,target95,polygon --append

About 1.1 s per picture and scenario at --budget 1, ~5 s at --budget 5. ``--append`` adds to the
file instead of replacing it (the header is written once); ``--replace`` with ``--methods`` runs
only those methods and replaces their rows in the file (after a change to one method).
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from functools import partial
from pathlib import Path

from ..benchmark import _fold_models
from ..dataset import augmentations, check_augmentations, logos
from ..features import features
from ..methods import mapping, search
from ..objective import Job, Objective
from .router import run_key

OUT = Path("data/router_table_aug.csv")
COLUMNS = [
    "logo", "aug", "scenario", "budget_s", "max_svg_bytes", "target_ssim", "style",
    "method", "ssim", "score", "bytes", "seconds", "features",
]  # fmt: skip
# name -> (byte cap as a fraction of the default cap, target SSIM, style)
SCENARIOS: dict[str, tuple[float | None, float | None, str]] = {
    "default": (None, None, "spline"),
    "cap50": (0.5, None, "spline"),
    "target90": (None, 0.90, "spline"),
    "target95": (None, 0.95, "spline"),
    "polygon": (None, None, "polygon"),
    "pixel": (None, None, "pixel"),
}


def objective_for(scenario: str, picture, budget: float) -> Objective:
    """The request a scenario stands for; a cap is a fraction of this picture's default cap."""
    fraction, target, style = SCENARIOS[scenario]
    cap = None
    if fraction is not None:
        default_cap = Job(picture, Objective(style=style), budget).cap
        cap = max(64, int(default_cap * fraction))
    return Objective(style=style, max_svg_bytes=cap, target_ssim=target, budget_s=budget)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--augs", default="scale128,background,jpeg", help="orig: the logos themselves; see dataset"
    )
    ap.add_argument("--scenarios", default="default", help=", ".join(SCENARIOS))
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--table", type=Path, default=Path("data/mapping_table.npz"))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--append", action="store_true")
    ap.add_argument("--methods", default="mapping,search")
    ap.add_argument("--replace", action="store_true", help="replace these methods' rows in --out")
    ap.add_argument("--limit", type=int, default=0, help="only the first N logos (a quick check)")
    ap.add_argument("--seed", type=int, default=0, help="search's seed (how much do labels depend on it?)")
    a = ap.parse_args(argv)
    wanted = list(dict.fromkeys(a.augs.split(",")))
    try:  # before minutes of fold models
        check_augmentations(wanted)
    except ValueError as exc:
        ap.error(str(exc))
    scenarios = a.scenarios.split(",")
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    runners = (("mapping", mapping.run), ("search", partial(search.run, seed=a.seed)))
    methods = [m for m in runners if m[0] in a.methods.split(",")]
    if a.replace:
        return _replace(a, wanted, scenarios, methods)
    fresh = not (a.append and a.out.exists())
    t0 = time.perf_counter()
    with open(a.out, "w" if fresh else "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        if fresh:
            w.writeheader()

        def done(i: int, n: int, name: str) -> None:
            fh.flush()
            print(f"[{i}/{n}] {name} ({time.perf_counter() - t0:.0f} s)", flush=True)

        w.writerows(_runs(a, wanted, scenarios, methods, on_logo=done))
    return 0


def _runs(
    a: argparse.Namespace, wanted: list[str], scenarios: list[str], methods: list, only=None, on_logo=None
):
    """One row (``COLUMNS``) per run of each method on each wanted picture and scenario; with
    ``only``, just the runs whose (logo, aug, scenario, budget, method) it holds."""
    chosen = logos()[: a.limit] if a.limit else logos()
    with tempfile.TemporaryDirectory() as tmp:
        models, _ = _fold_models(a.table, Path(tmp))
        for i, logo in enumerate(chosen):
            for aug, picture in augmentations(logo, kinds=tuple(wanted)):
                feats = json.dumps([round(float(v), 6) for v in features(picture.rgba)])
                for scenario in scenarios:
                    todo = [
                        (method, run)
                        for method, run in methods
                        if only is None or (logo.name, aug, scenario, a.budget, method) in only
                    ]
                    if not todo:  # nothing to re-run here: no objective (a cap traces the picture)
                        continue
                    objective = objective_for(scenario, picture, a.budget)
                    for method, run in todo:
                        t = time.perf_counter()
                        r = run(Job(picture, objective, a.budget), model=models[logo.fold])
                        yield {
                            "logo": logo.name,
                            "aug": aug,
                            "scenario": scenario,
                            "budget_s": a.budget,
                            "max_svg_bytes": objective.max_svg_bytes or "",
                            "target_ssim": objective.target_ssim or "",
                            "style": objective.style,
                            "method": method,
                            "ssim": f"{r.quality.ssim:.6f}",
                            "score": f"{r.quality.score:.6f}",
                            "bytes": r.quality.svg_bytes,
                            "seconds": f"{time.perf_counter() - t:.4f}",
                            "features": feats,
                        }
            if on_logo is not None:
                on_logo(i + 1, len(chosen), logo.name)


def _replace(a: argparse.Namespace, wanted: list[str], scenarios: list[str], methods: list) -> int:
    """Run ``methods`` again where the file has them (same logo, picture, scenario, budget) and
    write the file back with those rows replaced."""
    with open(a.out, newline="") as fh:
        rows = list(csv.DictReader(fh))

    index = {run_key(r): i for i, r in enumerate(rows)}
    replaced = 0
    for new in _runs(a, wanted, scenarios, methods, only=index):
        old = rows[index[run_key(new)]]
        old.update({k: new[k] for k in ("ssim", "score", "bytes", "seconds")})
        replaced += 1
    with open(a.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    print(f"replaced {replaced} rows in {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
