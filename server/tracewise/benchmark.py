"""The quality benchmark over ``../shared/logos``, all rows in one run.

    python bench/quality.py [--methods default,cutout,potrace,fixed,mapping,search,regional,search@peers]
                            [--search-budget 5] [--regional-budget 30] [--limit N] [--size 1024]
                            [--markdown BENCHMARKS-quality.md] [--sheet docs/contact_sheet.png]

Rows: VTracer's defaults (the baseline); the best free peers on the same pixels, VTracer 1.0's
``cutout`` with our pre-processing and Potrace multi-colour (``tracewise.peers``; skipped with a
message where the ``potrace`` program is missing); the best fixed configuration of the training
pool; each method; ``<method>@peers``: the method with the smaller of the peers' SVG sizes for
the picture as its byte cap (equal bytes). Every learned piece (mapping model, best fixed
configuration) is trained on one fold of logos and evaluated on the other (two-fold, by logo), so
no figure comes from a logo it trained on. ``--size`` renders the original SVGs at that width
instead of using the 256 px PNGs.
Prints the machine, the table per category and overall, and writes the per-image rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from . import peers
from .dataset import CATEGORIES, Logo, logos, render_svg_file
from .decode import Picture, from_array
from .evaluate import pool, warmup
from .methods import mapping, regional, search
from .methods.base import baseline
from .objective import Candidate, Job, Objective
from .params import Params
from .quality import on_white, render, ssim
from .trace import trace
from .training import mapping as training

ALL = ("default", "cutout", "potrace", "fixed", "mapping", "search", "regional")
PEERS = ("cutout", "potrace")
# A method at the peers' size: its byte cap is the smaller of the peers' SVGs for the same picture
# (their rows must come first in --methods), so beating them there is beating them at equal bytes.
AT_PEERS = tuple(f"{m}@peers" for m in ("mapping", "search", "regional"))
WORSE_BY = 0.002  # an image counts as worse than VTracer's defaults below their SSIM by more than this


def fidelity_4x(svg: str, logo: Logo, width: int) -> float:
    """SSIM of the SVG at 4x against the original SVG at 4x (both on white)."""
    truth = render_svg_file(logo.svg, 4 * width)
    ours = render(_resize(svg, 4))
    h = min(truth.shape[0], ours.shape[0])
    w = min(truth.shape[1], ours.shape[1])
    return ssim(on_white(truth[:h, :w]), on_white(ours[:h, :w]))


def _resize(svg: str, factor: int) -> str:
    """Scale the outer width/height (the viewBox keeps the drawing)."""

    def scale(m: re.Match[str]) -> str:
        return f'{m.group(1)}="{int(float(m.group(2)) * factor)}"'

    head_end = svg.index(">", svg.index("<svg"))
    head = re.sub(r'\b(width|height)="([0-9.]+)"', scale, svg[:head_end])
    if "viewBox" not in head:
        w = re.search(r'width="([0-9.]+)"', svg[:head_end]).group(1)  # type: ignore[union-attr]
        h = re.search(r'height="([0-9.]+)"', svg[:head_end]).group(1)  # type: ignore[union-attr]
        head += f' viewBox="0 0 {w} {h}"'
    return head + svg[head_end:]


def _fold_models(table_path: Path, tmp: Path) -> tuple[dict[int, mapping.MappingModel], dict[int, Params]]:
    table = training.load(table_path)
    u = training.utility(table)
    pool_params = [Params.from_dict(d) for d in json.loads(str(table["pool"]))]
    models, fixed = {}, {}
    for fold in (0, 1):
        train = np.flatnonzero(table["fold"] != fold)
        fitted = training.fit(table, train, held_out=fold)
        out = training.export(fitted, table, tmp / f"fold{fold}")
        models[fold] = mapping.MappingModel.load(out)
        fixed[fold] = pool_params[training.best_fixed(u[train], training.allowed(table, fold))]
    return models, fixed


def picture_of(logo: Logo, size: int | None) -> Picture:
    return logo.picture() if size is None else from_array(render_svg_file(logo.svg, size))


def run_one(
    logo: Logo,
    method: str,
    model: mapping.MappingModel,
    fixed: Params,
    budgets: dict,
    size: int | None = None,
    picture: Picture | None = None,
    cap: int | None = None,
) -> dict:
    """One row: ``method`` on the logo (its PNG, its SVG rendered at ``size``, or ``picture``),
    under the byte cap ``cap`` (default: the engine's)."""
    fidelity = size is None and picture is None
    picture = picture_of(logo, size) if picture is None else picture
    name, method = method, method.removesuffix("@peers")
    budget = budgets.get(method, 10.0)
    t = time.perf_counter()
    job = Job(picture, Objective(budget_s=budget, max_svg_bytes=cap), budget)
    notes: list[str]
    if method == "default":
        cand = baseline(job)
        evaluations, source, notes = 1, "", []
    elif method in PEERS:
        svg = peers.vtracer_cutout(picture) if method == "cutout" else peers.potrace_multicolour(picture)
        cand = Candidate(None, svg, job.reference.measure(svg))
        evaluations, source, notes = 1, "", []
    elif method == "fixed":
        svg = trace(job.prepared, fixed)
        cand = Candidate(fixed, svg, job.reference.measure(svg))
        evaluations, source, notes = 1, "", []
    elif method == "auto":  # the shipped router and models, as a user's request meets them
        from .engine import vectorize

        res = vectorize(picture, "auto", Objective(budget_s=budget, max_svg_bytes=cap))
        cand = Candidate(None, res.svg, res.quality)
        assert res.decision is not None
        evaluations, source, notes = res.evaluations, res.decision.arm, res.notes
    else:
        runner: Any = {"mapping": mapping.run, "search": search.run, "regional": regional.run}[method]
        res = runner(job, model=model)
        cand = Candidate(None, res.svg, res.quality)
        evaluations, source, notes = res.evaluations, res.source, res.notes
    seconds = time.perf_counter() - t
    q = cand.quality
    return {
        "logo": logo.name,
        "category": logo.category,
        "method": name,
        "ssim": q.ssim,
        "score": q.score,
        "bytes": q.svg_bytes,
        "cap": job.cap,
        "seconds": seconds,
        "evaluations": evaluations,
        "fidelity4x": fidelity_4x(cand.svg, logo, picture.width) if fidelity else None,
        "source": source,
        "notes": notes,
        "svg": cand.svg,
    }


def summarise(rows: list[dict], methods: list[str], categories: tuple[str, ...] = CATEGORIES) -> list[dict]:
    by = defaultdict(list)
    for r in rows:
        by[(r["method"], r["category"])].append(r)
        by[(r["method"], "all")].append(r)
    base = {(r["logo"]): r for r in rows if r["method"] == "default"}
    out = []
    for cat in (*categories, "all"):
        for m in methods:
            rs = by.get((m, cat), [])
            if not rs:
                continue
            s = np.array([r["ssim"] for r in rs])
            d = np.array([base[r["logo"]]["ssim"] for r in rs])
            ratio = np.array([r["bytes"] / base[r["logo"]]["bytes"] for r in rs])
            sec = np.array([r["seconds"] for r in rs])
            out.append(
                {
                    "category": cat,
                    "method": m,
                    "n": len(rs),
                    "mean_ssim": float(s.mean()),
                    "error_reduction": float(((1 - d) - (1 - s)).sum() / (1 - d).sum()),
                    "median_bytes_ratio": float(np.median(ratio)),
                    "within_cap": float(np.mean([r["bytes"] <= r["cap"] for r in rs])),
                    "p50_s": float(np.percentile(sec, 50)),
                    "p95_s": float(np.percentile(sec, 95)),
                    "worse": float(np.mean(s < d - WORSE_BY)),
                    "fidelity4x": None
                    if rs[0]["fidelity4x"] is None
                    else float(np.mean([r["fidelity4x"] for r in rs])),
                }
            )
    return out


def markdown(summary: list[dict], header: str) -> str:
    lines = [
        header,
        "",
        "| category | method | n | mean SSIM | error reduction | median bytes / default | within cap "
        "| worse than defaults | p50 s | p95 s | fidelity 4x |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        fid = "—" if s["fidelity4x"] is None else f"{s['fidelity4x']:.4f}"
        lines.append(
            f"| {s['category']} | {s['method']} | {s['n']} | {s['mean_ssim']:.4f} "
            f"| {s['error_reduction']:+.1%} "
            f"| {s['median_bytes_ratio']:.2f} | {s['within_cap']:.0%} | {s['worse']:.0%} "
            f"| {s['p50_s']:.3f} | {s['p95_s']:.3f} | {fid} |"
        )
    return "\n".join(lines)


def contact_sheet(rows: list[dict], methods: list[str], out: Path, per_category: int = 2) -> None:
    from PIL import Image, ImageDraw

    cell = 160
    chosen: list[str] = []
    for cat in CATEGORIES:
        chosen += sorted({r["logo"] for r in rows if r["category"] == cat})[:per_category]
    by = {(r["logo"], r["method"]): r for r in rows}
    src = {lg.name: lg for lg in logos()}
    cols = ["original", *methods]
    sheet = Image.new("RGB", (cell * len(cols), 18 + cell * len(chosen)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, c in enumerate(cols):
        draw.text((j * cell + 4, 3), c, fill="black")
    for i, name in enumerate(chosen):
        for j, c in enumerate(cols):
            if c == "original":
                rgba = np.asarray(Image.open(src[name].png).convert("RGBA"))
            elif (name, c) in by:
                rgba = render(by[(name, c)]["svg"])
            else:
                continue
            im = Image.fromarray(on_white(rgba).astype(np.uint8))
            im.thumbnail((cell - 8, cell - 8))
            sheet.paste(im, (j * cell + 4, 18 + i * cell + 4))
            if c != "original":
                r = by[(name, c)]
                draw.text(
                    (j * cell + 4, 18 + i * cell + cell - 14), f"{r['ssim']:.3f} {r['bytes']}B", fill="red"
                )
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default=",".join(ALL))
    ap.add_argument("--search-budget", type=float, default=5.0)
    ap.add_argument("--regional-budget", type=float, default=30.0)
    ap.add_argument("--limit", type=int, default=None, help="first N logos per category")
    ap.add_argument("--size", type=int, default=None, help="render the original SVGs at this width")
    ap.add_argument("--table", type=Path, default=Path("data/mapping_table.npz"))
    ap.add_argument("--json", type=Path, default=Path("bench/out/quality_rows.json"))
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--sheet", type=Path, default=None)
    a = ap.parse_args(argv)
    methods = [m for m in a.methods.split(",") if m]
    unknown = sorted(set(methods) - set(ALL) - set(AT_PEERS))
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {', '.join(ALL)}")
    first_peer = min((methods.index(p) for p in PEERS if p in methods), default=len(methods))
    if any(m in AT_PEERS and methods.index(m) < first_peer for m in methods):
        ap.error("an @peers row needs a peer row (cutout, potrace) before it in --methods")
    if "potrace" in methods and not peers.potrace_available():
        print("potrace row skipped: the potrace program is not installed (Debian: apt-get install potrace)")
        methods.remove("potrace")
    budgets = {"search": a.search_budget, "regional": a.regional_budget}
    chosen = logos()
    if a.limit:
        chosen = [lg for cat in CATEGORIES for lg in [x for x in chosen if x.category == cat][: a.limit]]
    workers = getattr(pool(), "_max_workers", 0)
    print(f"machine: {machine()}; workers: {workers}")
    warmup()
    with tempfile.TemporaryDirectory() as tmp:
        models, fixed = _fold_models(a.table, Path(tmp))
        rows = []
        t0 = time.perf_counter()
        for i, logo in enumerate(chosen):
            here: dict[str, dict] = {}
            for m in methods:  # models[fold] was trained on the other fold
                cap = min(here[p]["bytes"] for p in PEERS if p in here) if m in AT_PEERS else None
                here[m] = run_one(logo, m, models[logo.fold], fixed[logo.fold], budgets, a.size, cap=cap)
                rows.append(here[m])
            done = {m: next(r for r in rows[::-1] if r["method"] == m) for m in methods}
            print(
                f"[{i + 1}/{len(chosen)}] {logo.category:8s} {logo.name[:34]:34s} "
                + " ".join(f"{m}={d['ssim']:.4f}/{d['bytes']}" for m, d in done.items()),
                flush=True,
            )
    a.json.parent.mkdir(parents=True, exist_ok=True)
    raw = [{k: v for k, v in r.items() if k != "svg"} for r in rows]
    a.json.write_text(json.dumps({"rows": raw}, indent=1))  # first: hours of runs survive any later bug
    if "default" not in methods:
        print("(no summary: it compares against the default method; add it to --methods)")
        return 0
    summary = summarise(rows, methods)
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, {len(chosen)} logos "
        f"at {a.size or 'their 256'} px, "
        f"search {a.search_budget:g} s, regional {a.regional_budget:g} s, "
        f"wall {time.perf_counter() - t0:.0f} s"
    )
    md = markdown(summary, header)
    print(md)
    a.json.write_text(json.dumps({"summary": summary, "rows": raw}, indent=1))
    if a.markdown:
        a.markdown.write_text(md + "\n")
    if a.sheet:
        contact_sheet(rows, methods, a.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
