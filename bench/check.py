"""Regression check: a short quality and speed run on a fixed slice of the dev logos, compared with
a committed baseline by ratios to VTracer's defaults measured in the same run.

    python bench/check.py              # against bench/baseline.json; exit 1 beyond the tolerance
    python bench/check.py --update     # write the baseline from this run (say why in the commit)
    (make bench-check)

The slice is every 8th dev logo (10 logos) with the shipped models: a regression check of what
ships, not a held-out figure (BENCHMARKS.md has those). Rows: VTracer's defaults, mapping, search
for 1 s. Figures, each relative to the defaults on the same pictures in the same run, so that a
slower or busier machine does not move them: the mean SSIM error reduction over the defaults
(1 - (1 - SSIM) / (1 - SSIM of the defaults)), the median bytes over the defaults', and mapping's
median time over the defaults'. A result below VTracer's defaults fails at once (the floor).
``TOLERANCE`` says how far each may move the wrong way.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from tracewise.benchmark import machine
from tracewise.dataset import logos
from tracewise.engine import vectorize
from tracewise.objective import Objective

BASELINE = Path(__file__).with_name("baseline.json")
SLICE = slice(None, None, 8)
SEARCH_BUDGET_S = 1.0
# how far a figure may move the wrong way before the check fails
TOLERANCE = {"error_reduction": 0.03, "bytes_ratio": 0.10, "time_ratio": 0.5}


def measure() -> dict:
    picked = logos()[SLICE]
    rows: dict[str, list[dict]] = {"default": [], "mapping": [], "search": []}
    worse = []
    for lg in picked:
        data = lg.png.read_bytes()
        for method in rows:
            objective = Objective(budget_s=SEARCH_BUDGET_S) if method == "search" else None
            t = time.perf_counter()
            r = vectorize(data, method, objective)
            rows[method].append(
                {
                    "ssim": r.quality.ssim,
                    "score": r.quality.score,
                    "bytes": r.quality.svg_bytes,
                    "seconds": time.perf_counter() - t,
                }  # fmt: skip
            )
            if method != "default" and r.defaults is not None and r.quality.score < r.defaults.score - 1e-9:
                worse.append(
                    f"{method} on {lg.name}: {r.quality.score:.4f} < defaults {r.defaults.score:.4f}"
                )
    base = rows["default"]
    out: dict = {"logos": len(picked), "worse_than_defaults": worse}
    for method in ("mapping", "search"):
        ours = rows[method]
        out[method] = {
            "error_reduction": statistics.mean(
                1 - (1 - o["ssim"]) / max(1e-9, 1 - b["ssim"]) for o, b in zip(ours, base)
            ),
            "bytes_ratio": statistics.median(o["bytes"] / b["bytes"] for o, b in zip(ours, base)),
        }
    out["mapping"]["time_ratio"] = statistics.median(
        r["seconds"] for r in rows["mapping"]
    ) / statistics.median(r["seconds"] for r in base)
    return out


def compare(now: dict, baseline: dict) -> list[str]:
    """What moved the wrong way beyond ``TOLERANCE`` (empty: the check passes)."""
    failures = list(now["worse_than_defaults"])
    for method in ("mapping", "search"):
        for name, value in now[method].items():
            was = baseline[method][name]
            if name == "error_reduction":
                bad = value < was - TOLERANCE[name]
            else:  # ratios: relative moves up are worse
                bad = value > was * (1 + TOLERANCE[name])
            if bad:
                failures.append(
                    f"{method} {name}: {value:.4f} against {was:.4f} (tolerance {TOLERANCE[name]})"
                )
    return failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--update", action="store_true", help="write the baseline from this run")
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    a = ap.parse_args(argv)
    now = measure()
    print(f"machine: {machine()}; {now['logos']} dev logos, search {SEARCH_BUDGET_S:g} s")
    for method in ("mapping", "search"):
        print(f"{method:8s} " + "  ".join(f"{k} {v:.4f}" for k, v in now[method].items()))
    if a.update:
        a.baseline.write_text(
            json.dumps({k: v for k, v in now.items() if k != "worse_than_defaults"}, indent=1)
        )
        print(f"wrote {a.baseline}")
        return 1 if now["worse_than_defaults"] else 0
    failures = compare(now, json.loads(a.baseline.read_text()))
    for f in failures:
        print(f"REGRESSION {f}")
    print("bench-check: " + ("failed" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
