"""``tracewise convert IN... -o OUTDIR/``: many files in one command.

Files and folders (recursively, image files only), converted in parallel: local worker processes
(``--jobs``, one per core by default), or ``--server`` with ``--jobs`` calls in flight through the
SDK. One bad file never stops the batch; nothing is overwritten without ``--force``. A progress
line on stderr (a terminal only) with counts and the time left; ``--json`` prints one line per
file; a summary at the end (converted, failed with why, mean SSIM and bytes against VTracer's
defaults). Exit status: 0 when every file converted, 1 when any failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


@dataclass
class Item:
    source: Path
    target: Path
    ok: bool = False
    error: str = ""
    report: dict[str, Any] = field(default_factory=dict)

    def line(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input": str(self.source), "output": str(self.target), "ok": self.ok}
        if self.error:
            out["error"] = self.error
        out.update(self.report)
        return out


def plan(inputs: list[str], outdir: Path) -> list[Item]:
    """Every image under ``inputs``, with its SVG's place under ``outdir`` (a folder's files keep
    their paths inside it). Two inputs that would write one SVG are an error before any work."""
    items: list[Item] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
                items.append(Item(f, outdir / f.relative_to(path).with_suffix(".svg")))
        else:
            items.append(Item(path, outdir / (path.stem + ".svg")))
    seen: dict[Path, Path] = {}
    for it in items:
        if it.target in seen:
            raise SystemExit(f"tracewise: {seen[it.target]} and {it.source} would both write {it.target}")
        seen[it.target] = it.source
    return items


def _local(source: str, method: str, objective: Any, max_pixels: int) -> tuple[str, dict[str, Any]]:
    """One file in a worker process: (svg, report) or raises a TracewiseError."""
    from tracewise import engine

    data = Path(source).read_bytes()
    result = engine.vectorize(data, method, objective, max_pixels=max_pixels)
    return result.svg, _summary(result.to_dict())


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("method", "ssim", "svg_bytes", "defaults_ssim", "defaults_svg_bytes", "seconds")
    return {k: r.get(k) for k in keys}


def _save(item: Item, svg: str, report: dict[str, Any]) -> None:
    """Write the SVG (atomically) and mark the item converted, or say why it could not be written."""
    try:
        item.target.parent.mkdir(parents=True, exist_ok=True)
        tmp = item.target.with_name(item.target.name + ".partial")
        tmp.write_text(svg)
        os.replace(tmp, item.target)
    except OSError as exc:
        item.error = f"could not write: {exc}"
        return
    item.report, item.ok = report, True


class Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.done = self.failed = 0
        self.start = time.monotonic()

    def step(self, item: Item) -> None:
        self.done += 1
        self.failed += not item.ok
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        left = elapsed / self.done * (self.total - self.done)
        sys.stderr.write(
            f"\r{self.done}/{self.total} converted, {self.failed} failed, "
            f"{elapsed:.0f} s elapsed, about {left:.0f} s left   "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            sys.stderr.write("\n")


def run(a: Any, objective: Any, options: dict[str, Any]) -> int:
    outdir = Path(a.output or ".")
    items = plan(a.input, outdir)
    if not items:
        print("tracewise: no image files in the inputs", file=sys.stderr)
        return 1
    todo = []
    for it in items:
        if it.target.exists() and not a.force:
            it.error = "exists (use --force to overwrite)"
        else:
            todo.append(it)
    progress = Progress(len(items), sys.stderr.isatty() and not a.quiet)
    for it in items:
        if it.error:
            _done(a, progress, it)
    t0 = time.monotonic()
    if a.server:
        asyncio.run(_remote(a, todo, options, progress))
    else:
        _locally(a, todo, objective, progress)
    progress.close()
    _report(items, time.monotonic() - t0)
    return 0 if all(it.ok for it in items) else 1


def _done(a: Any, progress: Progress, item: Item) -> None:
    if a.json:
        print(json.dumps(item.line()), flush=True)
    progress.step(item)


def _locally(a: Any, todo: list[Item], objective: Any, progress: Progress) -> None:
    from tracewise.errors import TracewiseError

    jobs = a.jobs or os.cpu_count() or 1
    with ProcessPoolExecutor(jobs) as pool:
        pending: dict[Future, Item] = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < 2 * jobs:  # bounded: a folder of 10,000 files is fine
                it = queue.pop(0)
                pending[pool.submit(_local, str(it.source), a.method, objective, a.max_pixels)] = it
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                it = pending.pop(fut)
                try:
                    svg, report = fut.result()
                except TracewiseError as exc:
                    it.error = f"{exc.grpc_code}: {exc.message}"
                except OSError as exc:
                    it.error = f"could not read: {exc}"
                else:
                    _save(it, svg, report)
                _done(a, progress, it)


async def _remote(a: Any, todo: list[Item], options: dict[str, Any], progress: Progress) -> None:
    from tracewise_client import AsyncClient, TracewiseError

    queue = list(todo)

    async def worker(client: AsyncClient) -> None:
        while queue:
            it = queue.pop(0)
            try:
                r = await client.vectorize(it.source.read_bytes(), **options)
            except TracewiseError as exc:
                it.error = f"{exc.code}: {exc.message}"
            except OSError as exc:
                it.error = f"could not read: {exc}"
            else:
                _save(it, r.svg, _summary({**vars(r), "method": r.method_used}))
            _done(a, progress, it)

    async with AsyncClient(a.server, api_key=a.api_key, timeout=a.timeout, secure=a.tls) as client:
        await asyncio.gather(*(worker(client) for _ in range(a.jobs or 4)))


def _report(items: list[Item], seconds: float) -> None:
    ok = [it for it in items if it.ok]
    failed = [it for it in items if not it.ok]
    lines = [f"converted {len(ok)} of {len(items)} files in {seconds:.1f} s"]
    gains = [it.report["ssim"] - it.report["defaults_ssim"] for it in ok if it.report.get("defaults_ssim")]
    ratios = [it.report["svg_bytes"] / it.report["defaults_svg_bytes"] for it in ok
              if it.report.get("defaults_svg_bytes")]  # fmt: skip
    if ok:
        mean_ssim = statistics.mean(it.report["ssim"] for it in ok)
        lines.append(
            f"mean SSIM {mean_ssim:.4f}"
            + (f" ({statistics.mean(gains):+.4f} against VTracer's defaults)" if gains else "")
            + (f", bytes {statistics.mean(ratios):.2f}x the defaults'" if ratios else "")
        )
    for it in failed:
        lines.append(f"failed: {it.source}: {it.error}")
    print("\n".join(lines), file=sys.stderr)
