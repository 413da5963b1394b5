"""More router labels from real runs: the 1 s scenario (mapping, or search for 1 s) on augmented
dev logos (rescaled from the SVG, on a background colour, JPEG-compressed), each method run by
models trained on the other fold. Writes ``data/router_table_aug.csv`` with the features of the
augmented picture, which ``tracewise.training.router`` adds to the shipped table.

    python -m tracewise.training.router_augment [--augs scale128,background,jpeg] [--budget 1]

About 1.1 s per augmented picture at --budget 1 (80 logos x 3: ~4 minutes), ~5 s at --budget 5
(~20 minutes; append its rows to the same file).
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

from ..benchmark import _fold_models
from ..dataset import augmentations, logos
from ..features import features
from ..methods import mapping, search
from ..objective import Job, Objective

OUT = Path("data/router_table_aug.csv")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--augs", default="scale128,background,jpeg")
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--table", type=Path, default=Path("data/mapping_table.npz"))
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    wanted = set(a.augs.split(","))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, open(a.out, "w", newline="") as fh:
        models, _ = _fold_models(a.table, Path(tmp))
        w = csv.writer(fh)
        w.writerow(["logo", "aug", "budget_s", "method", "ssim", "bytes", "seconds", "features"])
        for i, logo in enumerate(logos()):
            for aug, picture in augmentations(logo):
                if aug not in wanted:
                    continue
                feats = json.dumps([round(float(v), 6) for v in features(picture.rgba)])
                for method, run in (("mapping", mapping.run), ("search", search.run)):
                    job = Job(picture, Objective(budget_s=a.budget), a.budget)
                    t = time.perf_counter()
                    r = run(job, model=models[logo.fold])
                    w.writerow(
                        [
                            logo.name,
                            aug,
                            a.budget,
                            method,
                            f"{r.quality.ssim:.6f}",
                            r.quality.svg_bytes,
                            f"{time.perf_counter() - t:.4f}",
                            feats,
                        ]
                    )
            fh.flush()
            print(f"[{i + 1}/80] {logo.name} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
