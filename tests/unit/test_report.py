"""The analytics report, on a generated results store whose figures are known in advance."""

from __future__ import annotations

import math
import re

import pytest

from tracewise.features import features
from tracewise.report import render, summarise
from tracewise.store import ResultsStore
from tracewise_cli import main

T0 = 1_790_000_000.0


def _rows(dev_logos):
    text = next(lg for lg in dev_logos if lg.category == "text")
    feats = features(text.picture().rgba).tolist()
    rows = []
    for i in range(40):
        method = ["mapping", "search"][i % 2]
        gain = 0.01 if method == "mapping" else 0.03
        rows.append(
            {
                "request_id": f"r{i}",
                "time": T0 + 60 * i,
                "features": feats,
                "method_requested": "auto",
                "method_used": method,
                "logo_type": "text",
                "confidence": 0.5 + i / 100,
                "ssim": 0.95,
                "defaults_ssim": 0.95 - gain,
                "svg_bytes": 500,
                "defaults_svg_bytes": 2000,
                "seconds": 0.05 if method == "mapping" else 5.0,
                "fallback": [{"from": "regional", "reason": "timed out"}] if i == 3 else [],
                "degraded": i == 5,
            }
        )
    # ten cache hits and one row from an old store without a logo type
    for i in range(10):
        rows.append(dict(rows[i], request_id=f"c{i}", cached=True, features=[], time=T0 + 2400 + i))
    rows.append(dict(rows[0], request_id="x", logo_type=None, confidence=None, method_requested="mapping"))
    # three explorations (another method run for the router's labels): counted, not requests
    for i in range(3):
        rows.append(
            dict(rows[i], request_id=f"r{i}-x", method_requested="explore", seconds=99.0, confidence=None)
        )
    return rows


@pytest.fixture
def store(tmp_path, dev_logos):
    s = ResultsStore(tmp_path / "results.db")
    for r in _rows(dev_logos):
        s.append(r)
    return tmp_path / "results.db"


def test_summary_figures_are_the_ones_put_in(store):
    s = summarise(ResultsStore(store).rows())
    assert s["requests"] == 51 and s["explorations"] == 3
    assert s["cache_hit_rate"] == pytest.approx(10 / 51)
    assert s["fallback_rate"] == pytest.approx(1 / 41)
    assert s["degraded_rate"] == pytest.approx(1 / 40)
    n, mean, _ = s["gain"][("search", "text")]
    assert n == 20 and mean == pytest.approx(0.03)
    assert s["gain"][("mapping", "text")][1] == pytest.approx(0.01)
    assert s["bytes_ratio"]["search"] == pytest.approx(0.25)
    assert s["latency"]["search"][1] == pytest.approx(5.0)
    assert s["fallbacks"] == {"regional: timed out": 1}
    assert len(s["confidence"]) == 40
    # the row without a logo type is grouped as "unknown", not guessed
    assert s["gain"][("mapping", "unknown")][0] == 1
    assert {k for _, k in s["gain"]} == {"text", "unknown"}
    assert all(not math.isnan(v) for _, v in s["gain_over_time"]["search"])


def test_html_has_charts_and_the_numbers(store, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(store), "-o", str(out)]) == 0
    page = out.read_text()
    assert page.count("<svg") >= 5 and "<script" not in page
    assert "+0.0300" in page and "19.6%" in page  # search's mean gain, the cache hit rate
    assert re.search(r"<td>search</td><td>20</td><td>5\.000</td>", page)
    assert "51 requests" in capsys.readouterr().out


def test_empty_and_missing_stores(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    ResultsStore(empty)
    assert "No data" in render(summarise([]), str(empty))
    assert main(["report", "--db", str(tmp_path / "nope.db"), "-o", str(tmp_path / "r.html")]) == 1
    assert "no results store" in capsys.readouterr().err
