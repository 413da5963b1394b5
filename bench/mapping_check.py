"""How far below the best of its first ranks mapping's best-ranked configuration falls, and what
checking the next ranks below an SSIM floor buys (``methods.mapping.CHECK_BELOW``).

    python bench/mapping_check.py [--markdown bench/out/mapping_check.md]

Every dev logo as it is, rescaled to 128 and 64 px and cropped, in the spline, polygon and pixel
styles, ranked by the mapping model trained on the other fold of logos; the first
``CHECK_RANKS`` configurations are each traced and measured (no byte cap). For each floor: how
often the first rank scores below it, mean SSIM when the best of the ranks is kept then, mean
milliseconds, and how many results still lose more than 0.02 / 0.05 SSIM to the best of the
ranks. The baseline (the first rank alone, no floor) is the first row of the same run. The check
is bounded by evaluations (``CHECK_RANKS``), never by time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tracewise.benchmark import _fold_models
from tracewise.dataset import augmentations, logos
from tracewise.methods import mapping
from tracewise.objective import Job, Objective
from tracewise.trace import trace

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import emit, machine  # noqa: E402

KINDS = ("orig", "scale128", "crop", "scale64")
STYLES = ("spline", "polygon", "pixel")
FLOORS = (0.9, 0.93, 0.95, 0.97, 1.01)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", type=Path, default=None)
    a = ap.parse_args(argv)
    k = mapping.CHECK_RANKS
    ssim, ms, kind = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        models, _ = _fold_models(Path("data/mapping_table.npz"), Path(tmp))
        for logo in logos():
            for aug, picture in augmentations(logo, kinds=KINDS):
                for style in STYLES:
                    job = Job(picture, Objective(style=style), 10.0)
                    s, t = [], []
                    for p in mapping.ranked_params(job, models[logo.fold])[:k]:
                        t0 = time.perf_counter()
                        s.append(job.reference.measure(trace(job.prepared, p)).ssim)
                        t.append(time.perf_counter() - t0)
                    s += [s[-1]] * (k - len(s))  # a style can merge codebook entries
                    t += [0.0] * (k - len(t))
                    ssim.append(s)
                    ms.append(t)
                    kind.append(aug)
    S, T = np.array(ssim), np.array(ms) * 1000
    best = S.max(axis=1)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {machine()}; {len(S)} pictures x styles, "
        f"first {k} ranks (shipped floor {mapping.CHECK_BELOW}).",
        "",
        "| floor | first rank below it | mean SSIM | gain | mean ms | orig: below / gain "
        "| lose > 0.02 | lose > 0.05 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    orig = np.array(kind) == "orig"
    for floor in (None, *FLOORS):
        low = S[:, 0] < floor if floor is not None else np.zeros(len(S), bool)
        kept = np.where(low, best, S[:, 0])
        cost = np.where(low, T.sum(axis=1), T[:, 0])
        name = "first rank only (baseline)" if floor is None else f"{floor:g}"
        lines.append(
            f"| {name} | {low.mean():.0%} | {kept.mean():.4f} | {kept.mean() - S[:, 0].mean():+.4f} "
            f"| {cost.mean():.0f} | {low[orig].mean():.0%} / {kept[orig].mean() - S[orig, 0].mean():+.4f} "
            f"| {int((best - kept > 0.02).sum())} | {int((best - kept > 0.05).sum())} |"
        )
    emit(lines, a.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
