"""Candidate configurations found by search, added to the mapping table's pool.

The seeded pool (``table.config_pool``) is data-independent, and its oracle (the best entry per
image) bounds what mapping can reach. Search finds configurations fitted to one picture; many are
good for pictures like it. This module

1. runs ``search`` on every dev logo (and its JPEG variant), keeping the best configuration of
   each run with the logo and fold it came from (``found``: ``data/mapping_search_configs.json``,
   written as it goes), then
2. evaluates those configurations on every row of the table and appends them as pool columns,
   with ``pool_fold`` naming the fold each column came from (-1: the seeded pool) (``extend``).

A model scored on fold f may only pick its codebook from columns whose ``pool_fold`` is not f
(``training.mapping.allowed``), so no held-out figure uses a configuration found on a logo it is
scored on.

    python -m tracewise.training.search_pool --budget 1.5 [--augs orig,jpeg] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from ..dataset import augmentations, logos
from ..decode import prepare, working
from ..evaluate import pool
from ..methods import search
from ..objective import Job, Objective
from ..params import Params
from ..quality import Reference
from .table import measure_pool, table_hash

CONFIGS = Path("data/mapping_search_configs.json")


def found(budget: float, augs: tuple[str, ...], out: Path = CONFIGS) -> list[dict]:
    done: list[dict] = json.loads(out.read_text()) if out.exists() else []
    seen = {(d["logo"], d["aug"]) for d in done}
    pool()  # start the workers once
    t = time.perf_counter()
    for logo in logos():
        for aug, picture in augmentations(logo, kinds=augs):
            if (logo.name, aug) in seen:
                continue
            job = Job(picture, Objective(budget_s=budget), budget)
            result = search.run(job)
            if result.params is not None:
                done.append({"logo": logo.name, "fold": int(logo.fold), "aug": aug, "params": result.params})
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(done, indent=0))  # partial results survive an interruption
        print(f"{logo.name}: {len(done)} configurations, {time.perf_counter() - t:.0f} s", flush=True)
    return done


def _columns(args: tuple) -> tuple[int, list[float], list[float], list[int]]:
    i, picture, configs = args
    picture = working(picture)
    return i, *measure_pool(prepare(picture), Reference(picture.rgba), configs)


def extend(table_path: Path, configs_path: Path = CONFIGS, jobs: int = 2) -> None:
    with np.load(table_path) as t:
        table = {k: t[k] for k in t.files}
    pool_dicts = json.loads(str(table["pool"]))
    pool_fold = list(table.get("pool_fold", np.full(len(pool_dicts), -1)))
    known = {json.dumps(d, sort_keys=True) for d in pool_dicts}
    new: list[Params] = []
    for d in json.loads(configs_path.read_text()):
        key = json.dumps(d["params"], sort_keys=True)
        if key in known:
            continue
        known.add(key)
        new.append(Params.from_dict(d["params"]))
        pool_fold.append(d["fold"])
    if not new:
        print("no new configurations")
        return
    pictures = {(lg.name, aug): pic for lg in logos() for aug, pic in augmentations(lg)}
    tasks = [
        (i, pictures[(str(n), str(a))], new) for i, (n, a) in enumerate(zip(table["name"], table["aug"]))
    ]
    cols = {k: np.zeros((len(tasks), len(new))) for k in ("score", "ssim")}
    sizes = np.zeros((len(tasks), len(new)), np.int64)
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(jobs) as workers:
        for n, (i, sc, ss, by) in enumerate(workers.imap_unordered(_columns, tasks), start=1):
            cols["score"][i], cols["ssim"][i], sizes[i] = sc, ss, by
            if n % 40 == 0:
                print(f"{n}/{len(tasks)} rows, {time.perf_counter() - t:.0f} s", flush=True)
    table["score"] = np.concatenate([table["score"], cols["score"]], axis=1)
    table["ssim"] = np.concatenate([table["ssim"], cols["ssim"]], axis=1)
    table["bytes"] = np.concatenate([table["bytes"], sizes], axis=1)
    table["pool"] = np.array(json.dumps(pool_dicts + [p.to_dict() for p in new]))
    table["pool_fold"] = np.array(pool_fold, np.int8)
    np.savez_compressed(table_path, **table)
    print(f"{len(new)} configurations added ({len(pool_fold)} in the pool) -> {table_path}")
    print(f"sha256 {table_hash(table_path)}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=1.5)
    ap.add_argument("--augs", default="orig,jpeg")
    ap.add_argument("--table", type=Path, default=Path("data/mapping_table.npz"))
    ap.add_argument("--configs", type=Path, default=CONFIGS)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    found(a.budget, tuple(a.augs.split(",")), a.configs)
    extend(a.table, a.configs, a.jobs)


if __name__ == "__main__":
    main()
