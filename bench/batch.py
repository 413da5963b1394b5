"""Batch conversion throughput: ``tracewise convert DIR -o OUT/`` with 1 and with 2 local worker
processes over the same files, in one run (target: 2 workers >= 1.7x one on 2 cores).

    python bench/batch.py [--method mapping] [--markdown F]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from loadgen import emit, machine

from tracewise.dataset import logos
from tracewise_cli import main as cli


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="mapping")
    ap.add_argument("--markdown", type=Path, default=None)
    a = ap.parse_args(argv)
    files = [lg.png for lg in logos()]
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        cli(["convert", *map(str, files[:4]), "-o", f"{tmp}/warm/", "--method", a.method, "-q"])
        for jobs in (1, 2):
            t = time.perf_counter()
            code = cli(["convert", *map(str, files), "-o", f"{tmp}/{jobs}/", "--method", a.method,
                        "--jobs", str(jobs), "-q"])  # fmt: skip
            walls[jobs] = time.perf_counter() - t
            if code != 0:
                raise SystemExit(f"the batch with {jobs} workers failed")
    n = len(files)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; {n} dev logos "
        f"(256 px), method {a.method}, the whole command (its process start and its workers' imports "
        "included).",
        "",
        "| workers | seconds | files/s | vs 1 worker |",
        "|---|---|---|---|",
    ]
    for jobs, wall in walls.items():
        lines.append(f"| {jobs} | {wall:.1f} | {n / wall:.1f} | {walls[1] / wall:.2f}x |")
    lines.append("")
    lines.append(f"2 workers: {walls[1] / walls[2]:.2f}x one (target >= 1.7x).")
    emit(lines, a.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
