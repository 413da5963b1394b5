"""``tracewise report --db results.db -o report.html``: what the service did, from its results store.

One self-contained HTML file (inline SVG charts, no scripts, no network): quality gain over VTracer's
defaults by method and logo type and over time, latency percentiles, router confidence, fallbacks
and degradations, cache hits. Every chart has its numbers in a table beneath it.
"""

from __future__ import annotations

import argparse
import html
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .methods import METHODS
from .store import ResultsStore

COLOURS = {"default": "#8c8c8c", "mapping": "#4c78a8", "search": "#f58518", "regional": "#54a24b"}
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d"]


# --- numbers -----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def logo_type(row: dict[str, Any]) -> str:
    """The logo type the service stored with the row ("unknown" in stores from before it did)."""
    return row.get("logo_type") or "unknown"


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every figure the report shows, as plain data (tested without reading HTML). Exploration
    rows (another method run in the background for the router's labels) are not requests: they
    are only counted."""
    explorations = sum(1 for r in rows if r.get("method_requested") == "explore")
    rows = [r for r in rows if r.get("method_requested") != "explore"]
    served = [r for r in rows if not r.get("cached")]
    measured = [r for r in served if r.get("defaults_ssim") is not None]
    gain: dict[tuple[str, str], list[float]] = defaultdict(list)
    ratio: dict[str, list[float]] = defaultdict(list)
    for r in measured:
        gain[(r["method_used"], logo_type(r))].append(r["ssim"] - r["defaults_ssim"])
        if r.get("defaults_svg_bytes"):
            ratio[r["method_used"]].append(r["svg_bytes"] / r["defaults_svg_bytes"])
    latency: dict[str, list[float]] = defaultdict(list)
    for r in served:
        latency[r["method_used"]].append(r["seconds"])
    routed = [r for r in served if r.get("confidence") is not None]
    fallbacks: dict[str, int] = defaultdict(int)
    for r in served:
        for f in r.get("fallback") or []:
            fallbacks[f"{f['from']}: {f['reason'].split(':', 1)[0]}"] += 1
    return {
        "requests": len(rows),
        "explorations": explorations,
        "first": min((r["time"] for r in rows), default=math.nan),
        "last": max((r["time"] for r in rows), default=math.nan),
        "cache_hit_rate": (len(rows) - len(served)) / len(rows) if rows else math.nan,
        "fallback_rate": sum(1 for r in served if r.get("fallback")) / len(served) if served else math.nan,
        "degraded_rate": sum(1 for r in routed if r.get("degraded")) / len(routed) if routed else math.nan,
        "cut_short_rate": sum(1 for r in served if r.get("cut_short")) / len(served) if served else math.nan,
        "methods": {m: sum(1 for r in served if r["method_used"] == m) for m in METHODS},
        "gain": {k: (len(v), statistics.fmean(v), statistics.median(v)) for k, v in sorted(gain.items())},
        "bytes_ratio": {m: statistics.median(v) for m, v in ratio.items()},
        "latency": {
            m: (len(v), percentile(v, 50), percentile(v, 90), percentile(v, 99)) for m, v in latency.items()
        },
        "confidence": [r["confidence"] for r in routed],
        "fallbacks": dict(sorted(fallbacks.items(), key=lambda kv: -kv[1])),
        "gain_over_time": over_time(
            measured,
            lambda r: r["method_used"],
            lambda rs: statistics.fmean(r["ssim"] - r["defaults_ssim"] for r in rs),
        ),
        "cache_over_time": over_time(
            rows, lambda r: "hit rate", lambda rs: sum(1 for r in rs if r.get("cached")) / len(rs)
        ),
    }


def over_time(
    rows: list[dict[str, Any]],
    series: Callable[[dict[str, Any]], str],
    value: Callable[[list[dict[str, Any]]], float],
    buckets: int = 12,
) -> dict[str, list[tuple[float, float]]]:
    """``value`` of each series in equal time buckets (empty buckets left out)."""
    if not rows:
        return {}
    t0 = min(r["time"] for r in rows)
    width = max((max(r["time"] for r in rows) - t0) / buckets, 1e-9)
    groups: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        groups[series(r)][min(buckets - 1, int((r["time"] - t0) / width))].append(r)
    return {
        s: [(t0 + (b + 0.5) * width, value(rs)) for b, rs in sorted(bs.items())]
        for s, bs in sorted(groups.items())
    }


# --- SVG charts ----------------------------------------------------------------------------
W, H, PAD = 640, 260, 48


def _axis(lo: float, hi: float, fmt: str) -> str:
    out = []
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        y = H - PAD - (H - 2 * PAD) * i / 4
        out.append(
            f'<line x1="{PAD}" y1="{y:.1f}" x2="{W - 10}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{PAD - 6}" y="{y + 4:.1f}" text-anchor="end">{format(v, fmt)}</text>'
        )
    return "".join(out)


def _svg(body: str, title: str) -> str:
    return (
        f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{html.escape(title)}" '
        f'font-family="system-ui, sans-serif" font-size="11">{body}</svg>'
    )


def bar_chart(groups: list[str], series: list[str], value: dict[tuple[str, str], float], fmt: str) -> str:
    """Grouped bars: one group per ``groups`` entry, one bar per series."""
    values = [v for v in value.values() if not math.isnan(v)]
    if not values:
        return "<p>No data.</p>"
    lo, hi = min(0.0, min(values)), max(values) * 1.1 or 1.0
    gw = (W - PAD - 10) / max(1, len(groups))
    bw = gw * 0.8 / max(1, len(series))

    def y(v: float) -> float:
        return H - PAD - (H - 2 * PAD) * (v - lo) / (hi - lo)

    body = [_axis(lo, hi, fmt)]
    for gi, g in enumerate(groups):
        x0 = PAD + gi * gw + gw * 0.1
        for si, s in enumerate(series):
            v = value.get((g, s))
            if v is None or math.isnan(v):
                continue
            colour = COLOURS.get(s, PALETTE[si % len(PALETTE)])
            top, base = y(max(v, 0.0)), y(min(v, 0.0))
            tip = html.escape(f"{g} / {s}: {format(v, fmt)}")
            body.append(
                f'<rect x="{x0 + si * bw:.1f}" y="{top:.1f}" width="{bw * 0.92:.1f}" '
                f'height="{max(base - top, 0.5):.1f}" fill="{colour}"><title>{tip}</title></rect>'
            )
        body.append(
            f'<text x="{x0 + gw * 0.4:.1f}" y="{H - PAD + 16}" text-anchor="middle">{html.escape(g)}</text>'
        )
    body.append(_legend(series))
    return _svg("".join(body), "bar chart")


def line_chart(series: dict[str, list[tuple[float, float]]], fmt: str) -> str:
    points = [p for pts in series.values() for p in pts]
    if not points:
        return "<p>No data.</p>"
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    lo, hi = min(0.0, min(p[1] for p in points)), max(p[1] for p in points) * 1.1 or 1.0
    span = max(t1 - t0, 1e-9)
    body = [_axis(lo, hi, fmt)]
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS.get(name, PALETTE[i % len(PALETTE)])
        xy = [
            (PAD + (W - PAD - 20) * (t - t0) / span, H - PAD - (H - 2 * PAD) * (v - lo) / (hi - lo))
            for t, v in pts
        ]
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>')
        body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in xy]
    for t, anchor in ((t0, "start"), (t1, "end")):
        x = PAD + (W - PAD - 20) * (t - t0) / span
        stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))
        body.append(f'<text x="{x:.1f}" y="{H - PAD + 16}" text-anchor="{anchor}">{stamp}</text>')
    body.append(_legend(list(series)))
    return _svg("".join(body), "line chart")


def histogram(values: list[float], lo: float, hi: float, bins: int = 10) -> str:
    if not values:
        return "<p>No routed requests.</p>"
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    labels = [f"{edges[i]:.1f}" for i in range(bins)]
    return bar_chart(
        labels, ["requests"], {(lab, "requests"): float(c) for lab, c in zip(labels, counts)}, ".0f"
    )


def _legend(series: Iterable[str]) -> str:
    out = []
    for i, s in enumerate(series):
        colour = COLOURS.get(s, PALETTE[i % len(PALETTE)])
        out.append(
            f'<rect x="{PAD + i * 110}" y="8" width="10" height="10" fill="{colour}"/>'
            f'<text x="{PAD + 14 + i * 110}" y="17">{html.escape(s)}</text>'
        )
    return "".join(out)


# --- HTML ------------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{100 * v:.1f}%"


def render(s: dict[str, Any], db: str) -> str:
    kinds = sorted({k for _, k in s["gain"]})
    methods = [m for m in METHODS if any(mm == m for mm, _ in s["gain"])]
    when = (
        "no requests"
        if not s["requests"]
        else f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(s['first']))} to "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(s['last']))} UTC"
    )
    conf = s["confidence"]
    parts = [
        f"<h1>Tracewise service report</h1><p class=sub>{html.escape(db)}: {s['requests']} requests, {when}. "
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.</p>",
        "<div class=cards>"
        + "".join(
            f"<div><b>{v}</b><span>{k}</span></div>"
            for k, v in [
                ("requests", s["requests"]),
                ("cache hit rate", _pct(s["cache_hit_rate"])),
                ("fallback rate", _pct(s["fallback_rate"])),
                ("degraded (routed)", _pct(s["degraded_rate"])),
                ("cut short by deadline", _pct(s["cut_short_rate"])),
                ("median router confidence", "n/a" if not conf else f"{statistics.median(conf):.2f}"),
                ("router explorations", s["explorations"]),
            ]
        )
        + "</div>",
        "<h2>Quality gain over VTracer's defaults, by logo type and method</h2>"
        "<p>Mean SSIM of the result minus SSIM of VTracer's default parameters on the same image.</p>",
        bar_chart(kinds, methods, {(k, m): v[1] for (m, k), v in s["gain"].items()}, ".3f"),
        _table(
            ["method", "logo type", "requests", "mean gain", "median gain"],
            [[m, k, n, f"{mean:+.4f}", f"{med:+.4f}"] for (m, k), (n, mean, med) in s["gain"].items()],
        ),
        "<h2>Gain over time</h2>",
        line_chart(s["gain_over_time"], ".3f"),
        "<h2>Latency by method</h2>",
        bar_chart(
            [m for m in METHODS if m in s["latency"]],
            ["p50", "p90", "p99"],
            {
                (m, q): s["latency"][m][i + 1]
                for m in s["latency"]
                for i, q in enumerate(["p50", "p90", "p99"])
            },
            ".2f",
        ),
        _table(
            ["method", "requests", "p50 s", "p90 s", "p99 s", "median bytes vs defaults"],
            [
                [m, n, f"{a:.3f}", f"{b:.3f}", f"{c:.3f}", f"{s['bytes_ratio'].get(m, math.nan):.2f}"]
                for m, (n, a, b, c) in s["latency"].items()
            ],
        ),
        "<h2>Router confidence</h2>",
        histogram(conf, 0.0, 1.0),
        "<h2>Fallbacks</h2>",
        _table(["from: reason", "count"], [[k, v] for k, v in s["fallbacks"].items()])
        if s["fallbacks"]
        else "<p>No fallbacks.</p>",
        "<h2>Cache hit rate over time</h2>",
        line_chart(s["cache_over_time"], ".2f"),
        _table(["method", "requests served (not cached)"], [[m, n] for m, n in s["methods"].items()]),
    ]
    style = (
        "body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#222}"
        "h2{margin-top:2em;border-bottom:1px solid #ddd}.sub{color:#666}"
        "table{border-collapse:collapse;margin:1em 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;"
        "text-align:right}td:first-child,th:first-child{text-align:left}"
        ".cards{display:flex;flex-wrap:wrap;gap:10px}.cards div{border:1px solid #ddd;border-radius:6px;"
        "padding:8px 12px;min-width:120px}.cards b{display:block;font-size:1.4em}.cards span{color:#666}"
    )
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>Tracewise report</title>"
        f"<style>{style}</style><body>{''.join(parts)}</body></html>\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tracewise report", description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, required=True, help="the results store (TRACEWISE_RESULTS_DB)")
    ap.add_argument("-o", "--output", type=Path, default=Path("report.html"))
    a = ap.parse_args(argv)
    if not a.db.exists():
        print(f"tracewise report: no results store at {a.db}", file=sys.stderr)
        return 1
    summary = summarise(ResultsStore(a.db).rows())
    a.output.write_text(render(summary, str(a.db)))
    print(f"wrote {a.output} ({summary['requests']} requests)")
    return 0
