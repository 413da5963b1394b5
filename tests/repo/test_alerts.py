"""The alerting rules (k8s/base/alerts): promtool checks them, and every alert fires on a series
made for it and stays quiet on one just inside its threshold (``promtool test rules``, on a test
file built here from ``CASES`` with the annotations read from the rules themselves)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "k8s" / "base" / "alerts" / "tracewise-rules.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus; make system-tools)"
)

OK = 'ray_tracewise_requests_total{status="OK",method_used="mapping",method_requested="auto"}'
FAILED = 'ray_tracewise_requests_total{status="INTERNAL",method_used="mapping",method_requested="auto"}'
SHED = (
    'ray_tracewise_requests_total{status="RESOURCE_EXHAUSTED",method_used="mapping",method_requested="auto"}'
)
SEARCH_OK = 'ray_tracewise_requests_total{status="OK",method_used="search",method_requested="auto"}'


def _latency(top: str) -> dict[str, str]:
    """search's answers: all in the 5-10 s bucket (top="10") or in the 2.5-5 s one (top="5")."""
    name = 'ray_tracewise_request_seconds_bucket{status="OK",method_used="search",le="%s"}'
    out = {name % "2.5": "0+0x40"}
    out[name % "5"] = "0+10x40" if top == "5" else "0+0x40"
    out[name % "10"] = "0+10x40"
    out[name % "+Inf"] = "0+10x40"
    return out


def _gain(mean: float) -> dict[str, str]:
    return {
        'ray_tracewise_ssim_gain_sum{method_used="search",logo_type="text"}': f"0+{100 * mean:g}x150",
        'ray_tracewise_ssim_gain_count{method_used="search",logo_type="text"}': "0+100x150",
    }


def _bytes(mean: float) -> dict[str, str]:
    return {
        'ray_tracewise_bytes_ratio_sum{method_used="search",logo_type="text"}': f"0+{100 * mean:g}x150",
        'ray_tracewise_bytes_ratio_count{method_used="search",logo_type="text"}': "0+100x150",
    }


def _confidence(after: float) -> dict[str, str]:
    """A day of routed requests at mean confidence 0.8, then 150 minutes at ``after``."""
    base = 'ray_tracewise_router_confidence_%s{method="search",logo_type="text"}'
    day = 1440 * 80
    return {
        base % "sum": f"0+80x1440 {day + 100 * after:g}+{100 * after:g}x149",
        base % "count": "0+100x1590",
    }


# alert -> (eval time, labels the alert carries besides its rule's, series that fire it, series that do not)
CASES = {
    "TracewiseErrorBudgetBurnFast": (
        "70m",
        {},
        {OK: "0+100x90", FAILED: "0+10x90"},
        {OK: "0+100x90", FAILED: "0+1x90"},
    ),
    "TracewiseErrorBudgetBurnSlow": (
        "400m",
        {},
        {OK: "0+99x420", FAILED: "0+1x420"},
        {OK: "0+100x420", FAILED: "0+0.3x420"},
    ),
    "TracewiseShedding": ("20m", {}, {OK: "0+90x30", SHED: "0+10x30"}, {OK: "0+98x30", SHED: "0+2x30"}),
    "TracewiseMethodUnreachable": (
        "15m",
        {"method": "search"},
        # crash-looping: 5 failed calls a minute, a fresh replica answers one
        {
            'ray_tracewise_fallbacks_total{from_method="search",reason="failed"}': "0+5x30",
            OK: "0+10x30",
            SEARCH_OK: "0+1x30",
        },
        {
            'ray_tracewise_fallbacks_total{from_method="search",reason="failed"}': "0+5x30",
            OK: "0+10x30",
            SEARCH_OK: "0+10x30",
        },
    ),
    "TracewiseReplicaRestarting": (
        "35m",
        {"deployment": "method-search"},
        {'ray_serve_replica_startup_latency_ms_count{deployment="method-search"}': "1+1x40"},
        {'ray_serve_replica_startup_latency_ms_count{deployment="method-search"}': "3+0x40"},
    ),
    "TracewiseStoreFailing": (
        "35m",
        {},
        {'ray_tracewise_store_errors_total{error="StoreUnavailable"}': "0+2x40"},
        {'ray_tracewise_store_errors_total{error="StoreUnavailable"}': "5+0x40"},  # old errors, none now
    ),
    "TracewiseLatencyP99High": ("20m", {"method_used": "search"}, _latency("10"), _latency("5")),
    "TracewiseFallbacksHigh": (
        "40m",
        {},
        {OK: "0+100x50", 'ray_tracewise_fallbacks_total{from_method="search",reason="timed out"}': "0+10x50"},
        {OK: "0+100x50", 'ray_tracewise_fallbacks_total{from_method="search",reason="timed out"}': "0+1x50"},
    ),
    "TracewiseDegradedHigh": (
        "40m",
        {},
        {OK: "0+100x50", 'ray_tracewise_degraded_total{method="mapping"}': "0+30x50"},
        {OK: "0+100x50", 'ray_tracewise_degraded_total{method="mapping"}': "0+5x50"},
    ),
    "TracewiseQualityGainLow": ("100m", {}, _gain(0.002), _gain(0.02)),
    "TracewiseBytesRatioHigh": ("100m", {}, _bytes(1.2), _bytes(0.7)),
    "TracewiseRouterConfidenceLow": ("1590m", {}, _confidence(0.4), _confidence(0.75)),
}


def _alerts() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def _render(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)


def test_every_alert_has_a_case_and_a_runbook_entry():
    alerts = _alerts()
    assert set(alerts) == set(CASES)
    runbook = (ROOT / "docs" / "operations.md").read_text().lower()
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("page", "ticket")
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert anchor == name.lower() and f"### {name.lower()}" in runbook


@needs_promtool
def test_promtool_checks_the_rules():
    out = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_every_alert_fires_on_its_series_and_not_on_the_quiet_ones(tmp_path):
    alerts = _alerts()
    tests = []
    for name, (at, extra, firing, quiet) in CASES.items():
        rule = alerts[name]
        labels = {**rule["labels"], **extra}
        annotations = {k: _render(v, labels) for k, v in rule["annotations"].items()}
        for series, expected in (
            (firing, [{"exp_labels": labels, "exp_annotations": annotations}]),
            (quiet, []),
        ):
            tests.append(
                {
                    "interval": "1m",
                    "input_series": [{"series": s, "values": v} for s, v in series.items()],
                    "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": expected}],
                }
            )
    shutil.copy(RULES, tmp_path / RULES.name)
    spec = tmp_path / "tracewise-rules.test.yaml"
    spec.write_text(yaml.safe_dump({"rule_files": [RULES.name], "evaluation_interval": "1m", "tests": tests}))
    out = subprocess.run([PROMTOOL, "test", "rules", str(spec)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@needs_promtool
def test_a_wrong_expectation_fails(tmp_path):
    """The harness can fail: the quiet series of one alert expected to fire is reported."""
    rule = _alerts()["TracewiseShedding"]
    at, _, _, quiet = CASES["TracewiseShedding"]
    shutil.copy(RULES, tmp_path / RULES.name)
    spec = tmp_path / "t.yaml"
    expected = [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}]
    test = {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in quiet.items()],
        "alert_rule_test": [{"eval_time": at, "alertname": "TracewiseShedding", "exp_alerts": expected}],
    }
    spec.write_text(yaml.safe_dump({"rule_files": [RULES.name], "tests": [test]}))
    out = subprocess.run([PROMTOOL, "test", "rules", str(spec)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "TracewiseShedding" in out.stdout + out.stderr
