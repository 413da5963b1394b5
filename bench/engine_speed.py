"""Engine micro-benchmark, in one run: features, SSIM (ours vs scikit-image), one evaluation.

    python bench/engine_speed.py [--repeat 3] [--size 1024]

Over every dev logo (256 px, or its SVG rendered at ``--size``): feature extraction; the router
(ONNX alone, and the whole decision with features and the logo-type model); colour SSIM with our
OpenCV box-filter implementation against ``skimage.metrics.structural_similarity`` on the same
pairs (ratio, and the largest difference); the parts of one evaluation (trace, render, measure).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
from skimage.metrics import structural_similarity

from tracewise.dataset import logos, render_svg_file
from tracewise.decode import from_array, prepare
from tracewise.features import features
from tracewise.params import Params
from tracewise.quality import Reference, on_white, render, ssim
from tracewise.trace import trace


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def _skimage_ssim(x: np.ndarray, y: np.ndarray) -> float:
    return structural_similarity(x, y, channel_axis=-1, data_range=255)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=None, help="render the dev SVGs at this width")
    a = ap.parse_args(argv)
    from tracewise.router import default_router, request_features

    router = default_router()
    t_feat, t_ours, t_sk, t_trace, t_render, t_measure, diffs = [], [], [], [], [], [], []
    t_onnx, t_route = [], []
    for _ in range(a.repeat):
        for logo in logos():
            pic = logo.picture() if a.size is None else from_array(render_svg_file(logo.svg, a.size))
            dt, f = timed(features, pic.rgba)
            t_feat.append(dt)
            x = np.concatenate([f, np.asarray(request_features(5.0), np.float32)])
            t_onnx.append(timed(router.model.proba, x)[0])
            t_route.append(timed(router.decide, pic.rgba, 5.0)[0])
            prep = prepare(pic)
            dt, svg = timed(trace, prep, Params())
            t_trace.append(dt)
            dt, out = timed(render, svg, pic.width, pic.height)
            t_render.append(dt)
            x, y = on_white(pic.rgba), on_white(out)
            dt, ours = timed(ssim, x, y)
            t_ours.append(dt)
            dt, ref = timed(_skimage_ssim, x, y)
            t_sk.append(dt)
            diffs.append(abs(ours - ref))
            reference = Reference(pic.rgba)
            t_measure.append(timed(reference.measure, svg)[0])

    def ms(xs: list[float], q: float) -> float:
        return float(np.percentile(xs, q) * 1000)

    size = a.size or 256
    where = f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus"
    print(f"machine: {where}; {len(t_feat)} samples at {size} px")
    print("| step | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, xs in [
        ("features", t_feat),
        ("trace (VTracer, pre-processed)", t_trace),
        ("render (resvg)", t_render),
        ("colour SSIM, ours", t_ours),
        ("colour SSIM, scikit-image", t_sk),
        ("measure (render + colour + alpha SSIM)", t_measure),
        ("router ONNX inference alone", t_onnx),
        ("router decision: features + router + logo type", t_route),
    ]:
        print(f"| {name} | {ms(xs, 50):.3f} | {ms(xs, 95):.3f} | {ms(xs, 99):.3f} |")
    print(
        f"SSIM ours / scikit-image time (p50): {np.median(t_ours) / np.median(t_sk):.2f}x; "
        f"largest |difference| {max(diffs):.2e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
