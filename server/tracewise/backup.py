"""``tracewise backup`` / ``tracewise restore``: the results store and the router models, in one archive.

The store is copied with SQLite's online backup API, so a backup taken while the service writes
is a consistent snapshot (every committed row, no torn page). The archive carries a manifest with
each file's SHA-256; restore checks every hash before it touches anything, writes next to the
target and renames into place, and refuses to overwrite an existing store without ``--force``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sqlite3
import sys
import tarfile
import tempfile
import time
from importlib import resources
from pathlib import Path

FORMAT = "tracewise-backup/1"
MODEL_SUFFIXES = (".onnx", ".json")


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why."""


def default_models_dir() -> Path:
    return Path(str(resources.files("tracewise") / "models"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(db: Path) -> bytes:
    """A consistent copy of a live SQLite store (WAL included), as bytes."""
    if not db.exists():
        raise BackupError(f"no results store at {db}")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "results.db"
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
            src.close()
        return copy.read_bytes()


def fetch_snapshot(url: str, token: str | None = None, timeout: float = 300.0) -> bytes:
    """A consistent copy of the store behind ``tracewise store serve`` at ``url``."""
    import urllib.error
    import urllib.request

    headers = {"authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url.rstrip("/") + "/v1/snapshot", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise BackupError(f"{url} refused the snapshot: HTTP {exc.code} {exc.read()[:200]!r}") from exc
    except OSError as exc:
        raise BackupError(f"{url} is unreachable: {exc}") from exc


ARCHIVE_PREFIX = "tracewise-"


def archive_path(output: Path) -> Path:
    """``output`` itself, or in a folder a new name by the UTC time (what a scheduled job writes)."""
    if output.is_dir():
        return output / time.strftime(f"{ARCHIVE_PREFIX}%Y%m%dT%H%M%SZ.tar.gz", time.gmtime())
    return output


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` archives this command named in ``folder``; returns them."""
    archives = sorted(folder.glob(f"{ARCHIVE_PREFIX}*.tar.gz"))  # the names sort by time
    old = archives[: max(0, len(archives) - keep)]
    for path in old:
        path.unlink()
    return old


def backup(output: Path, db: Path | None, models: Path | None, db_bytes: bytes | None = None) -> dict:
    files: dict[str, bytes] = {}
    if db is not None:
        files["results.db"] = snapshot(db)
    elif db_bytes is not None:
        files["results.db"] = db_bytes
    if models is not None:
        for p in sorted(models.iterdir()):
            if p.suffix in MODEL_SUFFIXES and p.is_file():
                files[f"models/{p.name}"] = p.read_bytes()
        if not any(k.startswith("models/") for k in files):
            raise BackupError(f"no model files in {models}")
    if not files:
        raise BackupError("nothing to back up: give --db and/or --models")
    manifest: dict[str, object] = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {name: {"sha256": _sha256(data), "bytes": len(data)} for name, data in files.items()},
    }
    if "results.db" in files:
        manifest["rows"] = _rows_in(files["results.db"])
    tmp = output.with_name(output.name + ".partial")
    with tarfile.open(tmp, "w:gz") as tar:
        for name, data in [("manifest.json", json.dumps(manifest, indent=2).encode()), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, output)
    return manifest


def _rows_in(data: bytes) -> int:
    with tempfile.NamedTemporaryFile(suffix=".db") as f:
        f.write(data)
        f.flush()
        with sqlite3.connect(f.name) as c:
            return int(c.execute("SELECT COUNT(*) FROM results").fetchone()[0])


def read_archive(path: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest and files of an archive, every hash checked."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            if "manifest.json" not in members:
                raise BackupError(f"{path} has no manifest: not a Tracewise backup")
            manifest = json.loads(tar.extractfile(members["manifest.json"]).read())  # type: ignore[union-attr]
            if manifest.get("format") != FORMAT:
                raise BackupError(f"unknown backup format {manifest.get('format')!r}")
            files = {}
            for name, meta in manifest["files"].items():
                if name not in members or ".." in Path(name).parts or Path(name).is_absolute():
                    raise BackupError(f"{name} is missing from the archive or has an unsafe name")
                data = tar.extractfile(members[name]).read()  # type: ignore[union-attr]
                if _sha256(data) != meta["sha256"]:
                    raise BackupError(f"{name} is corrupt (SHA-256 differs from the manifest)")
                files[name] = data
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError) as exc:
        raise BackupError(f"{path} is not a readable backup: {exc}") from exc
    return manifest, files


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".restoring")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def restore(archive: Path, db: Path | None, models: Path | None, force: bool = False) -> dict:
    manifest, files = read_archive(archive)  # nothing is written unless every hash matches
    if db is not None:
        if "results.db" not in files:
            raise BackupError("the backup holds no results store")
        if db.exists() and not force:
            raise BackupError(f"{db} exists; pass --force to replace it")
        for suffix in ("-wal", "-shm"):  # a stale WAL would be replayed over the restored file
            Path(str(db) + suffix).unlink(missing_ok=True)
        _write_atomic(db, files["results.db"])
        with sqlite3.connect(db) as c:
            if c.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{db} failed SQLite's integrity check after restore")
    if models is not None:
        names = [n for n in files if n.startswith("models/")]
        if not names:
            raise BackupError("the backup holds no models")
        for name in names:
            _write_atomic(models / Path(name).name, files[name])
    return manifest


def main(argv: list[str] | None = None, command: str = "backup") -> int:
    ap = argparse.ArgumentParser(prog=f"tracewise {command}", description=__doc__.split("\n\n")[0])
    if command == "backup":
        ap.add_argument(
            "-o", "--output", type=Path, required=True, help="archive to write (.tar.gz), or a folder"
        )
        ap.add_argument(
            "--from-url", default=None, help="the store behind `tracewise store serve` at this URL"
        )
        ap.add_argument(
            "--keep", type=int, default=None, help="with a folder: keep only the newest N archives"
        )
    else:
        ap.add_argument("archive", type=Path)
        ap.add_argument("--force", action="store_true", help="replace an existing results store")
    ap.add_argument("--db", type=Path, default=None, help="the results store (TRACEWISE_RESULTS_DB)")
    ap.add_argument(
        "--models",
        type=Path,
        nargs="?",
        const=default_models_dir(),
        default=None,
        help="model folder (without a value: the installed package's models)",
    )
    a = ap.parse_args(argv)
    try:
        if command == "backup":
            if a.db is not None and a.from_url:
                raise BackupError("give --db or --from-url, not both")
            if a.keep is not None and (a.keep < 1 or not a.output.is_dir()):
                raise BackupError("--keep takes a number >= 1 and a folder as --output")
            remote = (
                fetch_snapshot(a.from_url, os.environ.get("TRACEWISE_STORE_TOKEN")) if a.from_url else None
            )
            output = archive_path(a.output)
            m = backup(output, a.db, a.models, remote)
            print(f"wrote {output}: {len(m['files'])} files" + (f", {m['rows']} rows" if "rows" in m else ""))
            if a.keep is not None:
                for old in prune(a.output, a.keep):
                    print(f"removed {old} (keeping the newest {a.keep})")
        else:
            if a.db is None and a.models is None:
                raise BackupError("say what to restore: --db PATH and/or --models [DIR]")
            m = restore(a.archive, a.db, a.models, a.force)
            print(f"restored {a.archive} (created {m['created']}): {len(m['files'])} files verified")
    except BackupError as exc:
        print(f"tracewise {command}: {exc}", file=sys.stderr)
        return 1
    return 0
