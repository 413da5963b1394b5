"""make bench-check's comparison (bench/check.py): what moves the wrong way beyond the tolerance fails."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check():
    spec = importlib.util.spec_from_file_location("bench_check", ROOT / "bench" / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_baseline_passes_itself_and_regressions_fail():
    check = _check()
    baseline = json.loads((ROOT / "bench" / "baseline.json").read_text())
    same = {**baseline, "worse_than_defaults": []}
    assert check.compare(same, baseline) == []
    worse = json.loads(json.dumps(same))
    worse["mapping"]["error_reduction"] -= 2 * check.TOLERANCE["error_reduction"]
    worse["search"]["bytes_ratio"] *= 1 + 2 * check.TOLERANCE["bytes_ratio"]
    failures = check.compare(worse, baseline)
    assert (
        len(failures) == 2
        and "mapping error_reduction" in failures[0]
        and "search bytes_ratio" in failures[1]
    )
    better = json.loads(json.dumps(same))
    better["mapping"]["error_reduction"] += 0.2  # moving the right way never fails
    better["mapping"]["time_ratio"] *= 0.5
    assert check.compare(better, baseline) == []
    floor = {**same, "worse_than_defaults": ["mapping on x: 0.9 < defaults 0.95"]}
    assert check.compare(floor, baseline) == ["mapping on x: 0.9 < defaults 0.95"]
