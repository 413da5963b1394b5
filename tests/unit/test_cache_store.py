import multiprocessing as mp
import threading

from tracewise.cache import LRUCache, cache_key
from tracewise.store import ResultsStore


def test_lru_evicts_least_recently_used():
    c = LRUCache(size=2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1
    c.put("c", 3)
    assert c.get("b") is None and c.get("a") == 1 and c.get("c") == 3
    assert c.hits == 3 and c.misses == 1


def test_key_depends_on_bytes_and_options():
    assert cache_key(b"x", method="search") == cache_key(b"x", method="search")
    assert cache_key(b"x", method="search") != cache_key(b"x", method="mapping")
    assert cache_key(b"x") != cache_key(b"y")


def _row(i: int) -> dict:
    return {
        "request_id": f"r{i}",
        "features": [0.5, 1.0],
        "options": {"budget_s": 5},
        "method_used": "mapping",
        "params": {"path_precision": 2},
        "ssim": 0.95,
        "svg_bytes": 1000,
        "seconds": 0.03,
    }


def _write_many(path: str, start: int, n: int) -> None:
    store = ResultsStore(path)
    for i in range(start, start + n):
        store.append(_row(i))


def test_store_round_trip_and_wal(tmp_path):
    s = ResultsStore(tmp_path / "r.db")
    s.append(
        {**_row(1), "decision": "mapping", "confidence": 0.9, "fallback": [{"from": "search", "reason": "x"}]}
    )
    (row,) = s.rows()
    assert row["features"] == [0.5, 1.0] and row["fallback"][0]["from"] == "search"
    mode = s._conn().execute("PRAGMA journal_mode").fetchone()[0]  # noqa: SLF001
    assert mode == "wal"


def test_concurrent_writers_lose_no_row(tmp_path):
    path = str(tmp_path / "r.db")
    ResultsStore(path)
    procs = [mp.get_context("spawn").Process(target=_write_many, args=(path, k * 100, 100)) for k in range(4)]
    threads = [threading.Thread(target=_write_many, args=(path, 1000 + k * 50, 50)) for k in range(4)]
    for p in procs:
        p.start()
    for t in threads:
        t.start()
    for p in procs:
        p.join(60)
    for t in threads:
        t.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert ResultsStore(path).count() == 600


def test_a_version_1_store_is_migrated_in_place(tmp_path):
    import sqlite3

    from tracewise.store import SCHEMA

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as c:  # a store written before the report's columns existed
        c.executescript(SCHEMA)
        c.execute(
            "INSERT INTO results VALUES ('r1', 1.0, 'abc', '[1.0]', '{}', NULL, NULL, NULL, 'mapping',"
            " 'null', 0.95, 1000, 0.05, '[]')"
        )
    store = ResultsStore(path)
    store.append(dict(_row(2), cached=True, defaults_ssim=0.93, method_requested="auto"))
    rows = {r["request_id"]: r for r in store.rows()}
    assert rows["r1"]["cached"] == 0 and rows["r1"]["defaults_ssim"] is None
    new = next(r for r in rows.values() if r["request_id"] != "r1")
    assert new["cached"] == 1 and new["defaults_ssim"] == 0.93 and new["method_requested"] == "auto"
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 2
