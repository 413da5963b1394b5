"""``tracewise convert IN... -o DIR/``: folders and files in parallel, bad files reported and the
rest converted, nothing overwritten without --force, one JSON line per file, a summary."""

from __future__ import annotations

import json

from tracewise.decode import encode
from tracewise_cli import main


def _tree(tmp_path, two_squares):
    src = tmp_path / "logos"
    (src / "nested").mkdir(parents=True)
    (src / "a.png").write_bytes(encode(two_squares))
    (src / "nested" / "b.png").write_bytes(encode(two_squares[::-1]))
    (src / "nested" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (src / "notes.txt").write_text("not an image: not even tried")
    single = tmp_path / "c.jpg"
    single.write_bytes(encode(two_squares[:, :, :3], "JPEG"))
    return src, single


def test_a_batch_converts_what_it_can_and_says_what_it_could_not(tmp_path, two_squares, capsys):
    src, single = _tree(tmp_path, two_squares)
    out = tmp_path / "out"
    argv = ["convert", str(src), str(single), "-o", f"{out}/", "--method", "default", "--jobs", "2", "--json"]
    assert main(argv) == 1  # one file failed
    captured = capsys.readouterr()
    lines = {json.loads(x)["input"]: json.loads(x) for x in captured.out.splitlines()}
    assert len(lines) == 4  # the .txt is not an image file: not part of the batch
    assert "<svg" in (out / "a.svg").read_text() and (out / "nested" / "b.svg").exists()
    assert (out / "c.svg").exists() and not (out / "nested" / "broken.svg").exists()
    bad = lines[str(src / "nested" / "broken.png")]
    assert not bad["ok"] and bad["error"].startswith("INVALID_ARGUMENT")
    good = lines[str(src / "a.png")]
    assert good["ok"] and good["method"] == "default" and good["svg_bytes"] > 0
    assert "converted 3 of 4 files" in captured.err and "broken.png" in captured.err
    assert "against VTracer's defaults" in captured.err

    before = (out / "a.svg").stat().st_mtime_ns
    assert main(argv) == 1
    again = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert sum(x["error"].startswith("exists") for x in again) == 3  # nothing overwritten
    assert (out / "a.svg").stat().st_mtime_ns == before
    assert main([*argv, "--force"]) == 1
    assert (out / "a.svg").stat().st_mtime_ns > before


def test_a_clean_batch_exits_zero_and_clashing_outputs_are_refused(tmp_path, two_squares, capsys):
    src, single = _tree(tmp_path, two_squares)
    (src / "nested" / "broken.png").unlink()
    other = tmp_path / "again"
    other.mkdir()
    (other / "a.png").write_bytes(encode(two_squares))
    try:
        main(["convert", str(src / "a.png"), str(other / "a.png"), "-o", f"{tmp_path}/clash/"])
    except SystemExit as exc:
        assert "would both write" in str(exc)
    else:
        raise AssertionError("two inputs writing one SVG were not refused")
    assert main(["convert", str(src), "-o", f"{tmp_path}/clean/", "--method", "default"]) == 0
