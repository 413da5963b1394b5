"""The CLI in-process (no server): JSON report, files, exit codes."""

import json

from tracewise_cli import main


def test_convert_json_and_file(tmp_path, capsys, dev_logos):
    out = tmp_path / "out.svg"
    assert main(["convert", str(dev_logos[0].png), "-o", str(out), "--method", "mapping", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("method", "params", "ssim", "svg_bytes", "paths", "seconds", "evaluations"):
        assert key in report
    assert report["method"] == "mapping" and out.read_text().startswith("<svg")
    assert report["svg_bytes"] == len(out.read_bytes())


def test_default_method_and_stdout(capsys, dev_logos):
    assert main(["convert", str(dev_logos[1].png), "--method", "default"]) == 0
    assert "VTracer" in capsys.readouterr().out


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert main(["convert", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracewise: ") and err.count("\n") == 1


def test_bad_option_exits_2(capsys, dev_logos):
    assert main(["convert", str(dev_logos[0].png), "--target-ssim", "3"]) == 2
    assert "target_ssim" in capsys.readouterr().err


def test_missing_file_exits_1(capsys):
    assert main(["convert", "/nonexistent/x.png"]) == 1


def test_serve_and_bench_take_their_own_options(capsys):
    import pytest

    for command, option in (("serve", "--address"), ("bench", "--regional-budget")):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0 and option in capsys.readouterr().out


def test_route_takes_the_request_fields(capsys, dev_logos):
    png = str(dev_logos[5].png)
    assert main(["route", png, "--budget", "0.2", "--json"]) == 0
    fast = json.loads(capsys.readouterr().out)
    assert fast["method"] == "mapping" and set(fast["probabilities"]) == {"mapping"}
    args = [
        "route",
        png,
        "--budget",
        "5",
        "--max-bytes",
        "900",
        "--target-ssim",
        "0.95",
        "--style",
        "polygon",
    ]
    assert main([*args, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["method"] in ("mapping", "search") and d["logo_type"] and d["decision_ms"] < d["total_ms"] + 1e-9
    assert abs(sum(d["probabilities"].values()) - 1) < 1e-3  # each rounded to 4 decimals
    assert set(d["probabilities"]) == {"mapping", "search@0.5", "search@1", "search@2", "search@5"}
    assert d["arm"] in d["probabilities"] and (d["budget_s"] is None) == (d["arm"] == "mapping")
    assert main(["route", png, "--budget", "60", "--max-colors", "4", "--json"]) == 0
    assert "regional@30" in json.loads(capsys.readouterr().out)["probabilities"]
