"""The results store behind ``tracewise store serve`` (real HTTP on loopback): rows in through
``RemoteStore``, refusals with a clear status, and a scheduled backup from it restored into an
empty store."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from tracewise.store import RemoteStore, ResultsStore, StoreUnavailable, open_store
from tracewise.store_server import MAX_ROW_BYTES, StoreServer
from tracewise_cli import main


def _row(i: int) -> dict:
    return {
        "request_id": f"r{i:04d}",
        "features": [0.5, float(i)],
        "options": {"budget_s": 1.0, "arm": "search@1"},
        "method_used": "search",
        "ssim": 0.95,
        "svg_bytes": 900 + i,
        "seconds": 0.8,
    }


@pytest.fixture
def server(tmp_path):
    srv = StoreServer(("127.0.0.1", 0), tmp_path / "results.db", token="s3cret")
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _status(url: str, data: bytes | None = None, token: str | None = "s3cret") -> tuple[int, dict]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=5) as r:
            body = r.read()
            return r.status, json.loads(body) if body and r.headers[
                "content-type"
            ] == "application/json" else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_rows_sent_over_http_land_in_the_store(server):
    remote = RemoteStore(server.url, token="s3cret")
    for i in range(5):
        remote.append(_row(i))
    rows = ResultsStore(server.db).rows()
    assert [r["request_id"] for r in rows] == [f"r{i:04d}" for i in range(5)]
    assert rows[3]["options"]["arm"] == "search@1" and rows[3]["svg_bytes"] == 903
    assert _status(server.url + "/healthz", token=None) == (200, {"rows": 5})  # open for probes


def test_refusals_say_why_and_are_not_retried(server):
    with pytest.raises(StoreUnavailable, match="HTTP 401"):
        RemoteStore(server.url, token="wrong").append(_row(1))
    with pytest.raises(StoreUnavailable, match="HTTP 400.*not a results row"):
        RemoteStore(server.url, token="s3cret").append({"request_id": "x"})  # no method_used, ssim...
    assert _status(server.url + "/v1/rows", b"{not json", "s3cret")[0] == 400
    assert _status(server.url + "/v1/rows", b"[1, 2]", "s3cret")[0] == 400
    code, body = _status(server.url + "/v1/rows", b"x" * (MAX_ROW_BYTES + 1), "s3cret")
    assert code == 413 and "at most" in body["error"]
    assert _status(server.url + "/v1/nothing")[0] == 404
    assert _status(server.url + "/v1/snapshot", token=None)[0] == 401
    assert ResultsStore(server.db).count() == 0


def test_an_unreachable_store_is_an_error_after_a_second_try():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(StoreUnavailable, match="did not take the row"):
        RemoteStore(f"http://127.0.0.1:{port}", timeout=1).append(_row(1))


def test_the_service_writes_to_a_server_a_file_or_nowhere(tmp_path):
    assert isinstance(open_store({"TRACEWISE_RESULTS_URL": "http://store:8080"}), RemoteStore)
    assert isinstance(open_store({"TRACEWISE_RESULTS_DB": str(tmp_path / "r.db")}), ResultsStore)
    assert open_store({}) is None


def test_scheduled_backups_from_the_server_keep_the_newest_and_restore_into_an_empty_store(
    server, tmp_path, monkeypatch, capsys
):
    import time

    remote = RemoteStore(server.url, token="s3cret")
    folder = tmp_path / "backups"
    folder.mkdir()
    monkeypatch.setenv("TRACEWISE_STORE_TOKEN", "s3cret")
    for run in range(3):
        remote.append(_row(run))
        assert main(["backup", "--from-url", server.url, "-o", str(folder), "--keep", "2"]) == 0
        time.sleep(1.05)  # archive names are to the second
    archives = sorted(folder.glob("tracewise-*.tar.gz"))
    assert len(archives) == 2 and "removed" in capsys.readouterr().out
    empty = tmp_path / "restored.db"
    assert main(["restore", str(archives[-1]), "--db", str(empty)]) == 0
    assert ResultsStore(empty).rows() == ResultsStore(server.db).rows()  # all three rows, as served
    assert [r["request_id"] for r in ResultsStore(empty).rows()] == ["r0000", "r0001", "r0002"]
    monkeypatch.setenv("TRACEWISE_STORE_TOKEN", "wrong")
    assert main(["backup", "--from-url", server.url, "-o", str(folder)]) == 1
    assert "HTTP 401" in capsys.readouterr().err


def test_a_row_the_store_does_not_take_is_counted_and_logged_not_raised(caplog):
    from tracewise.objective import Objective
    from tracewise_serve import access_log
    from tracewise_serve.admission import Admission
    from tracewise_serve.recording import MAX_PENDING_RECORDS, Recorder
    from tracewise_serve.served import Served

    counted: list[dict] = []

    class Unreachable:
        def append(self, row):
            assert row["request_id"] == "rid-1" and row["method_used"] == "mapping"
            raise StoreUnavailable("http://store:8080 did not take the row (ConnectionRefusedError)")

    metrics = SimpleNamespace(inc=lambda name, tags: counted.append({name: tags}))
    recorder = Recorder(Unreachable(), metrics, Admission(["mapping"]), ["mapping"])
    result = {"method": "mapping", "ssim": 0.95, "svg_bytes": 900, "seconds": 0.3, "svg": "<svg/>"}
    served = Served("rid-1", "mapping", result, arm="mapping", cached=True)
    log = logging.getLogger("tracewise.serve")
    access_log.structured("tracewise.serve")
    log.propagate = True  # let caplog see the JSON line too

    async def run() -> None:
        recorder.record_later(served, b"png", None, Objective())
        await asyncio.gather(*recorder._recording)
        recorder._recording.update(range(MAX_PENDING_RECORDS))  # a full backlog
        recorder.record_later(served, b"png", None, Objective())

    try:
        with caplog.at_level(logging.WARNING, logger="tracewise.serve"):
            asyncio.run(run())
    finally:
        log.propagate = False
    assert counted == [
        {"tracewise_store_errors": {"error": "StoreUnavailable"}},
        {"tracewise_store_errors": {"error": "backlog"}},
    ]
    assert any("rid-1 not recorded" in r.getMessage() for r in caplog.records)
