"""How long the router takes to decide, at the sizes real logos come in, against the way it did it
before, in one run.

    python bench/router_speed.py [--sizes 256,1024,2048] [--repeat 3] [--logos 40]

For each dev logo rendered from its SVG at each width: the whole decision as served
(``Router.decide``: one analysis copy, the 14 features, the logo type, the forest in ONNX Runtime),
the ONNX forest alone, and the baseline: the features and logo-type extras each taking their own
copy with the tracing path's resize (``decode.working``), as before router v2. Prints p50 / p99 in
ms and the ratio to the baseline (these 2-core machines are shared: read the ratios).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from tracewise.dataset import logos, render_svg_file
from tracewise.decode import Picture, working
from tracewise.features import ANALYSIS_PIXELS, features, logotype_extra
from tracewise.router import default_router, request_features


def baseline(router, rgba: np.ndarray) -> None:
    """Before router v2: each of the features and the logo-type extras made its own copy."""

    def copy(x):
        return working(Picture(x, "array"), ANALYSIS_PIXELS).rgba

    small = copy(rgba)
    f = features(small)  # (the size features aside, as features() measured them)
    extra = logotype_extra(copy(rgba))
    router.logotype.proba(np.concatenate([f, extra]))
    router.model.proba(np.concatenate([f, np.asarray(request_features(5.0), np.float32)]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="256,1024,2048")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--logos", type=int, default=40)
    a = ap.parse_args(argv)
    router = default_router()
    chosen = logos()[:: max(1, len(logos()) // a.logos)][: a.logos]
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus; {len(chosen)} logos")
    print("| size | decision p50 ms | p99 ms | ONNX forest p50 ms | p99 ms | before v2 p50 ms | ratio |")
    print("|---|---|---|---|---|---|---|")
    for size in (int(s) for s in a.sizes.split(",")):
        pictures = [render_svg_file(lg.svg, size) for lg in chosen]
        decide, onnx, before = [], [], []
        for _ in range(a.repeat):
            for rgba in pictures:
                t = time.perf_counter()
                d = router.decide(rgba, 5.0)
                decide.append(time.perf_counter() - t)
                x = np.concatenate([np.asarray(d.features, np.float32), request_features(5.0)])
                t = time.perf_counter()
                router.model.proba(x)
                onnx.append(time.perf_counter() - t)
                t = time.perf_counter()
                baseline(router, rgba)
                before.append(time.perf_counter() - t)

        def ms(xs, q):
            return float(np.percentile(xs, q) * 1000)

        print(
            f"| {size} | {ms(decide, 50):.1f} | {ms(decide, 99):.1f} "
            f"| {ms(onnx, 50):.2f} | {ms(onnx, 99):.2f} "
            f"| {ms(before, 50):.1f} | {ms(decide, 50) / ms(before, 50):.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
