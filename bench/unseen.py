"""The quality benchmark on logos the project never saw: other brands, another source.

Logos come from the npm package ``@iconify-json/logos`` (gilbarbara's brand logos, CC0; fetched
with ``npm pack`` into ``bench/out/unseen`` on first use, never committed). A seeded sample
(names that also occur among the dev logos left out) is rendered with its long side at
``--size`` px, once as a transparent PNG and once on white as a JPEG (quality 70: the artefacts
of a logo grabbed from a web page). Every row runs on the same pictures in the same run:
VTracer's defaults, the peers (VTracer 1.0 ``cutout`` and Potrace multi-colour), the best fixed
configuration of the training pool, and the methods with the shipped models (trained on the dev
logos only).

    python bench/unseen.py [--n 40] [--size 256] [--methods default,cutout,potrace,fixed,mapping,search]
                           [--search-budget 5] [--markdown bench/out/unseen.md]
    python bench/unseen.py --methods default,mapping,search,auto   # what the router saves, at what cost

With ``mapping``, ``search`` and ``auto`` (the router deciding, as a user's request meets it) the
run also reports the router on these logos: how often auto's result is as good as the better of
mapping and search (``training.router.assess``: within 0.002 SSIM), its regret, and the compute it
saves against always searching (CPU seconds: search's wall time on its workers, mapping's own).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import resvg_py
from PIL import Image

from tracewise import peers
from tracewise.benchmark import machine, markdown, run_one, summarise
from tracewise.dataset import Logo, logos
from tracewise.decode import decode, encode
from tracewise.methods.mapping import default_model
from tracewise.params import Params
from tracewise.training import mapping as training

PACKAGE = "@iconify-json/logos@1.2.19"
OUT = Path("bench/out/unseen")


def _icons() -> dict[str, tuple[str, int, int]]:
    """name -> (standalone SVG text, width, height), from the npm package (fetched once)."""
    OUT.mkdir(parents=True, exist_ok=True)
    tgz = next(OUT.glob("iconify-json-logos-*.tgz"), None)
    if tgz is None:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=OUT, check=True, timeout=300)
        tgz = next(OUT.glob("iconify-json-logos-*.tgz"))
    with tarfile.open(tgz) as tar:
        data = json.load(tar.extractfile("package/icons.json"))  # type: ignore[arg-type]
    w0, h0 = data.get("width", 16), data.get("height", 16)
    out = {}
    for name, icon in data["icons"].items():
        w, h = icon.get("width", w0), icon.get("height", h0)
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
            f"{icon['body']}</svg>"
        )
        out[name] = (svg, int(w), int(h))
    return out


def sample(n: int, seed: int = 20261201) -> dict[str, tuple[str, int, int]]:
    icons = _icons()
    dev = {lg.name for lg in logos()}
    dev_words = {w for name in dev for w in name.split("-") if len(w) > 3}
    names = sorted(k for k in icons if not any(w in dev_words for w in k.split("-")))
    rng = np.random.default_rng(seed)
    return {k: icons[k] for k in sorted(rng.choice(names, n, replace=False))}


def pictures(svgs: dict[str, tuple[str, int, int]], size: int) -> list[tuple[Logo, bytes, str]]:
    """(Logo, encoded image, kind) per logo and kind (png, jpeg); the SVG is written beside."""
    out = []
    folder = OUT / f"svg{size}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (svg, w, h) in svgs.items():
        path = folder / f"{name}.svg"
        path.write_text(svg)
        width = size if w >= h else max(8, round(size * w / h))
        rgba = np.asarray(Image.open(io.BytesIO(bytes(resvg_py.svg_to_bytes(svg_string=svg, width=width)))))
        rgba = np.asarray(Image.fromarray(rgba).convert("RGBA"))
        if min(rgba.shape[:2]) < 8:
            continue
        a = rgba[:, :, 3:4] / 255.0
        white = (rgba[:, :, :3] * a + 255 * (1 - a)).astype(np.uint8)
        for kind, data in (("png", encode(rgba)), ("jpeg", encode(white, "JPEG", quality=70))):
            out.append((Logo(name, kind, path, path, 0), data, kind))
    return out


def run_row(logo: Logo, data: bytes, method: str, fixed: Params, budgets: dict) -> dict:
    row = run_one(logo, method, default_model(), fixed, budgets, picture=decode(data))
    row["logo"] = f"{logo.name}/{logo.category}"
    del row["svg"]
    return row


def _cpu(row: dict) -> float:
    """CPU seconds of a row: search and regional keep every worker busy for their wall time."""
    from tracewise.evaluate import default_workers

    method = row["method"] if row["method"] != "auto" else row["source"].split("@")[0]
    return row["seconds"] * (1 if method == "mapping" else max(1, default_workers()))


def router_summary(rows: list[dict]) -> str:
    """auto against the better of mapping and search on the same pictures: near-best rate,
    regret, what it ran, and the compute and wall time it saved against always searching."""
    from collections import Counter

    from tracewise.training.router import assess

    by: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        by.setdefault((r["logo"], r.get("variant", "")), {})[r["method"]] = r
    near, regret, arms, cpu, cpu_search, wall, wall_search = [], [], Counter(), 0.0, 0.0, 0.0, 0.0
    for methods in by.values():
        res = {m: {"ssim": methods[m]["ssim"], "score": methods[m]["score"], "bytes": methods[m]["bytes"],
                   "cost": 0.0} for m in ("mapping", "search", "auto")}  # fmt: skip
        cap = methods["auto"]["cap"]
        judged = assess(res, {m: res[m] for m in ("mapping", "search")}, cap=cap)
        near.append(judged["auto"]["near"])
        regret.append(judged["auto"]["regret"])
        arms[methods["auto"]["source"]] += 1
        cpu += _cpu(methods["auto"])
        cpu_search += _cpu(methods["search"])
        wall += methods["auto"]["seconds"]
        wall_search += methods["search"]["seconds"]
    lines = [
        "| router on these pictures | |",
        "|---|---|",
        f"| auto as good as the better of mapping and search (within 0.002 SSIM) | {np.mean(near):.1%} |",
        f"| mean regret | {np.mean(regret):.5f} SSIM |",
        f"| compute saved against always search (CPU seconds) | {1 - cpu / cpu_search:.0%} |",
        f"| wall time saved against always search | {1 - wall / wall_search:.0%} |",
        f"| what auto ran | {', '.join(f'{k} {v}' for k, v in sorted(arms.items()))} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--methods", default="default,cutout,potrace,fixed,mapping,search")
    ap.add_argument("--search-budget", type=float, default=5.0)
    ap.add_argument("--table", type=Path, default=Path("data/mapping_table.npz"))
    ap.add_argument("--markdown", type=Path, default=None)
    a = ap.parse_args(argv)
    methods = [m for m in a.methods.split(",") if m]
    if "potrace" in methods and not peers.potrace_available():
        print("potrace row skipped: the potrace program is not installed (Debian: apt-get install potrace)")
        methods.remove("potrace")
    table = training.load(a.table)
    pool = [Params.from_dict(d) for d in json.loads(str(table["pool"]))]
    u = training.utility(table)
    fixed = pool[training.best_fixed(u, training.allowed(table, None))]
    print(f"machine: {machine()}; {PACKAGE}, {a.n} logos at {a.size} px (png and jpeg)")
    t0 = time.perf_counter()
    rows = []
    cases = pictures(sample(a.n), a.size)
    for i, (logo, data, _) in enumerate(cases):
        budgets = {"search": a.search_budget, "auto": a.search_budget}
        done = [run_row(logo, data, m, fixed, budgets) for m in methods]
        rows += done
        print(
            f"[{i + 1}/{len(cases)}] {logo.category:4s} {logo.name[:30]:30s} "
            + " ".join(f"{d['method']}={d['ssim']:.4f}/{d['bytes']}" for d in done),
            flush=True,
        )
    summary = summarise(rows, methods, ("png", "jpeg"))
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, {a.n} unseen logos ({PACKAGE}) at "
        f"{a.size} px, png and jpeg, search {a.search_budget:g} s, wall {time.perf_counter() - t0:.0f} s"
    )
    md = markdown(summary, header)
    if {"mapping", "search", "auto"} <= set(methods):
        md += "\n\n" + router_summary(rows)
    print(md)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"rows{a.size}.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    if a.markdown:
        a.markdown.write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
