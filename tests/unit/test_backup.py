"""Backup and restore of the results store and models: a round trip under live writers, and refusal
of anything damaged."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading

import pytest

from tracewise.backup import BackupError, backup, read_archive, restore
from tracewise.store import ResultsStore
from tracewise_cli import main


def _row(i: int) -> dict:
    return {
        "request_id": f"r{i:05d}",
        "features": [0.1 * i, 1.0],
        "options": {"budget_s": 5},
        "method_used": "search",
        "params": {"path_precision": 2},
        "ssim": 0.9 + i * 1e-5,
        "svg_bytes": 1000 + i,
        "seconds": 0.5,
        "defaults_ssim": 0.9,
    }


def test_round_trip_while_writers_keep_writing(tmp_path):
    db = tmp_path / "results.db"
    store = ResultsStore(db)
    for i in range(200):
        store.append(_row(i))
    stop = threading.Event()

    def writer(start: int) -> None:
        s = ResultsStore(db)
        i = start
        while not stop.is_set():
            s.append(_row(i))
            i += 1

    threads = [threading.Thread(target=writer, args=(10_000 * (k + 1),)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        before = {r["request_id"]: r for r in ResultsStore(db).rows()}
        manifest = backup(tmp_path / "b.tar.gz", db, None)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert manifest["rows"] >= len(before) >= 200
    restored = tmp_path / "restored" / "results.db"
    restore(tmp_path / "b.tar.gz", restored, None)
    got = {r["request_id"]: r for r in ResultsStore(restored).rows()}
    assert len(got) == manifest["rows"]
    for rid, row in before.items():  # every row committed before the backup, unchanged
        assert got[rid] == row


def test_models_round_trip_through_the_cli(tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    (models / "router.onnx").write_bytes(b"\x08\x07onnx-bytes")
    (models / "router.json").write_text('{"version": "1"}')
    (models / "notes.txt").write_text("not a model")
    archive = tmp_path / "m.tar.gz"
    assert main(["backup", "-o", str(archive), "--models", str(models)]) == 0
    out = tmp_path / "out"
    assert main(["restore", str(archive), "--models", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["router.json", "router.onnx"]
    for name in ("router.json", "router.onnx"):
        assert (
            hashlib.sha256((out / name).read_bytes()).digest()
            == hashlib.sha256((models / name).read_bytes()).digest()
        )
    assert "2 files verified" in capsys.readouterr().out


def test_restore_refuses_damage_and_overwrites(tmp_path):
    db = tmp_path / "results.db"
    ResultsStore(db).append(_row(1))
    archive = tmp_path / "b.tar.gz"
    backup(archive, db, None)
    with pytest.raises(BackupError, match="exists"):
        restore(archive, db, None)
    restore(archive, db, None, force=True)
    # a tampered archive: same manifest, different bytes
    manifest, files = read_archive(archive)
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(bad, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name == "results.db":
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(BackupError, match="corrupt"):
        restore(bad, tmp_path / "new.db", None)
    assert not (tmp_path / "new.db").exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(BackupError, match="not a readable backup"):
        read_archive(tmp_path / "junk.tar.gz")
    with pytest.raises(BackupError, match="no results store"):
        backup(tmp_path / "x.tar.gz", tmp_path / "missing.db", None)
