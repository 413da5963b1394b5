"""What VTracer 1.0's ``optimize`` levels and our ``compact`` each save, on the same traces.

    python bench/compaction.py

Every dev logo, pre-processed, in four configurations (VTracer's defaults, cutout with simplify,
polygon, pixel): median bytes of VTracer's output at ``optimize`` 0 and 1 against 2, of
``compact`` applied to ``optimize=2`` against 2 itself, and the largest SSIM difference between
the levels and the compacted SVG (0: the drawing does not change).
"""

from __future__ import annotations

import numpy as np

from tracewise.benchmark import machine
from tracewise.dataset import logos
from tracewise.decode import prepare
from tracewise.params import Params
from tracewise.quality import Reference
from tracewise.trace import compact, vtracer_svg

CONFIGS = {
    "defaults": Params(),
    "cutout+simplify": Params(hierarchical="cutout", filter_speckle=1, simplify=0.5, path_precision=1),
    "polygon": Params(mode="polygon"),
    "pixel": Params(mode="none"),
}


def main() -> None:
    print(f"machine: {machine()}")
    ratios: dict[str, list[float]] = {"opt0": [], "opt1": [], "compact": []}
    worst = 0.0
    for logo in logos():
        pic = logo.picture()
        prep = prepare(pic)
        ref = Reference(pic.rgba)
        for p in CONFIGS.values():
            raw = {
                o: vtracer_svg(prep.rgba, Params(**{**p.to_dict(), "optimize": o, "palette": ()}))
                for o in (0, 1, 2)
            }
            small = compact(raw[2], pic.width, pic.height, prep.pad)
            ratios["opt0"].append(len(raw[0]) / len(raw[2]))
            ratios["opt1"].append(len(raw[1]) / len(raw[2]))
            ratios["compact"].append(len(small) / len(raw[2]))
            scores = [ref.measure(compact(raw[o], pic.width, pic.height, prep.pad)).ssim for o in (0, 1, 2)]
            worst = max(worst, max(scores) - min(scores), abs(ref.measure(small).ssim - scores[2]))
    print("| output | median bytes / optimize=2 | min | max |")
    print("|---|---|---|---|")
    for name, label in (
        ("opt0", "optimize=0"),
        ("opt1", "optimize=1 (VTracer's default)"),
        ("compact", "compact(optimize=2)"),
    ):
        r = np.array(ratios[name])
        print(f"| {label} | {np.median(r):.3f} | {r.min():.3f} | {r.max():.3f} |")
    print(f"largest SSIM difference between them: {worst:.2e} ({len(ratios['opt0'])} traces)")


if __name__ == "__main__":
    main()
