"""Back up and restore an instance (备份与恢复): the database as a portable dump plus the media.

A backup is a folder: ``manifest.json``, the database (``database.dump`` from ``pg_dump -Fc`` on
PostgreSQL, ``database.sqlite3`` from SQLite's online backup API, both consistent snapshots taken
while the service runs) and ``media/``, the photos and thumbnails. The database is dumped first:
a photo uploaded while the media are copied is an orphan the media sweep forgets, while a photo
the dump names is never missing (the sweep removes only files no row names).

Restore goes into an empty database only (it never merges two histories) and copies the media
back, checking that every stored photo still has the sha256 its name says. Redis is not backed
up: the outbox rows in the database are the truth, and the reconciler sends any unfinished one
again once the restored instance runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from gridapp.core.db import make_engine

FORMAT = 1
MANIFEST = "manifest.json"
PG_DUMP = "database.dump"
SQLITE_COPY = "database.sqlite3"
# Tables an extension creates in a fresh database: their presence does not make it non-empty.
EXTENSION_TABLES = frozenset({"spatial_ref_sys"})


class BackupError(Exception):
    """A backup or a restore could not be made; the message says why (an operator's CLI)."""


@dataclass(frozen=True)
class BackupReport:
    directory: Path
    backend: str
    revision: str | None
    media_files: int
    media_bytes: int


def _backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


def _libpq_url(database_url: str) -> str:
    """Return the URL pg_dump and pg_restore understand (no SQLAlchemy driver suffix)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up or restored.")
    return Path(database)


def _revision(database_url: str) -> str | None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            revision = connection.scalar(text("SELECT version_num FROM alembic_version"))
            return None if revision is None else str(revision)
    finally:
        engine.dispose()


def _run(argv: list[str]) -> None:
    tool = shutil.which(argv[0])
    if tool is None:
        raise BackupError(f"{argv[0]} is missing (Debian: apt-get install postgresql-client).")
    result = subprocess.run([tool, *argv[1:]], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {result.stderr.strip()[-2000:]}")


def _copy_tree(source: Path, target: Path) -> tuple[int, int]:
    """Copy every file under ``source`` to ``target`` (existing files are kept); count them."""
    files = size = 0
    if not source.is_dir():
        return 0, 0
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.startswith((".thumb-", "upload-")):
            continue  # half-written files of a running upload or thumbnail job
        relative = path.relative_to(source)
        if relative.parts[0] == "tmp":
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if not destination.exists():
            shutil.copy2(path, destination)
        files += 1
        size += path.stat().st_size
    return files, size


def backup(database_url: str, media_dir: Path, directory: Path) -> BackupReport:
    """Write a backup of the database and the media store into ``directory`` (new or empty)."""
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: give a new folder for each backup.")
    directory.mkdir(parents=True, exist_ok=True)
    backend = _backend(database_url)
    revision = _revision(database_url)
    if backend == "postgresql":
        # Custom format: compressed, restorable table by table, portable across machines.
        _run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                f"--file={directory / PG_DUMP}",
                f"--dbname={_libpq_url(database_url)}",
            ]
        )
    else:
        source = sqlite3.connect(_sqlite_path(database_url))
        target = sqlite3.connect(directory / SQLITE_COPY)
        try:
            source.backup(target)  # a consistent snapshot, even while the service writes
        finally:
            target.close()
            source.close()
    files, size = _copy_tree(media_dir, directory / "media")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "backend": backend,
        "revision": revision,
        "database": PG_DUMP if backend == "postgresql" else SQLITE_COPY,
        "media_files": files,
        "media_bytes": size,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return BackupReport(directory, backend, revision, files, size)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory} holds no {MANIFEST}: not a gridapp backup.")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r}.")
    return manifest


def _is_empty(database_url: str) -> bool:
    if _backend(database_url) == "sqlite":
        path = _sqlite_path(database_url)
        if not path.exists():
            return True
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names()) - EXTENSION_TABLES
    finally:
        engine.dispose()
    return not tables


def restore(directory: Path, database_url: str, media_dir: Path) -> BackupReport:
    """Restore a backup into an empty database and copy its media back; check every photo."""
    manifest = read_manifest(directory)
    backend = _backend(database_url)
    if manifest["backend"] != backend:
        raise BackupError(
            f"This backup is of a {manifest['backend']} database; DATABASE_URL names {backend}."
        )
    if not _is_empty(database_url):
        raise BackupError(
            "The target database is not empty: restore into a new, empty database "
            "(createdb, or a new SQLite file), never over a running instance."
        )
    bad = _check_photos(directory / "media")
    if bad:
        raise BackupError(f"{len(bad)} photos in the backup do not match their sha256: {bad[:5]}")
    if backend == "postgresql":
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={_libpq_url(database_url)}",
                str(directory / PG_DUMP),
            ]
        )
    else:
        path = _sqlite_path(database_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(directory / SQLITE_COPY)
        target = sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    files, size = _copy_tree(directory / "media", media_dir)
    return BackupReport(directory, backend, manifest.get("revision"), files, size)


def _check_photos(media: Path) -> list[str]:
    """Return the stored originals (``ab/<sha256>``) whose bytes no longer hash to their name."""
    bad: list[str] = []
    if not media.is_dir():
        return bad
    for path in media.glob("??/*"):
        if path.is_file() and len(path.name) == 64 and file_sha256(path) != path.name:
            bad.append(str(path.relative_to(media)))
    return bad


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
