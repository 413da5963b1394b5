"""Can candidates be ranked at a working resolution instead of the picture's own?

For dev logos rendered from their SVGs at 512/1024/2048 px, a fixed set of configurations from
the mapping table's pool (seeded, data-independent) is traced at full resolution and measured
twice: at full resolution, and at a working resolution (the SVG rendered with its long side at
``--work`` px against the picture area-averaged to that size). Reported per size: the Spearman
rank correlation of the two scores across configurations (mean over logos), how often the best
at working resolution is the best at full resolution, the full-resolution SSIM lost by choosing
at working resolution (mean and worst), and the seconds of one measurement each way.

    python bench/working_resolution.py [--logos 12] [--configs 16] [--work 512]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from scipy.stats import spearmanr

from tracewise.dataset import CATEGORIES, logos, render_svg_file
from tracewise.decode import from_array, prepare, working
from tracewise.quality import Reference, render
from tracewise.trace import trace
from tracewise.training.table import config_pool


def measure_at(svg: str, ref: Reference) -> float:
    out = render(svg, ref.width, ref.height)
    return ref.compare(svg, out).score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logos", type=int, default=12)
    ap.add_argument("--configs", type=int, default=16)
    ap.add_argument("--work", type=int, default=512)
    ap.add_argument("--sizes", default="512,1024,2048")
    a = ap.parse_args()
    machine = f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus"
    print(f"machine: {machine}, Python {platform.python_version()}")
    rng = np.random.default_rng(0)
    pool = config_pool()
    configs = [pool[i] for i in sorted(rng.choice(len(pool), a.configs, replace=False))]
    per_cat = max(1, a.logos // len(CATEGORIES))
    chosen = [lg for cat in CATEGORIES for lg in [x for x in logos() if x.category == cat][:per_cat]]
    print(
        "| size | logos x configs | rank correlation | same best | SSIM lost (mean / worst) "
        "| full ms | working ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for size in (int(s) for s in a.sizes.split(",")):
        rhos, same, lost, t_full, t_work = [], 0, [], [], []
        for lg in chosen:
            pic = from_array(render_svg_file(lg.svg, size))
            prep = prepare(pic)
            full_ref = Reference(pic.rgba)
            small = working(pic, a.work * a.work * pic.height // max(pic.width, 1))
            work_ref = Reference(small.rgba)
            full, work = [], []
            for p in configs:
                svg = trace(prep, p)
                t = time.perf_counter()
                full.append(measure_at(svg, full_ref))
                t_full.append(time.perf_counter() - t)
                t = time.perf_counter()
                work.append(measure_at(svg, work_ref))
                t_work.append(time.perf_counter() - t)
            full_a, work_a = np.array(full), np.array(work)
            rhos.append(spearmanr(full_a, work_a).statistic)
            same += int(np.argmax(work_a) == np.argmax(full_a))
            lost.append(float(full_a.max() - full_a[np.argmax(work_a)]))
        print(
            f"| {size} | {len(chosen)} x {len(configs)} | {np.nanmean(rhos):.3f} | {same}/{len(chosen)} "
            f"| {np.mean(lost):.4f} / {np.max(lost):.4f} | {1e3 * np.median(t_full):.0f} "
            f"| {1e3 * np.median(t_work):.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
