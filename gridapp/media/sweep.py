"""Media housekeeping (照片清理): photos never attached to a case, and files no row refers to.

Two kinds of leftovers build up on disk. A phone may upload photos (``POST /media``) and never
send the report that would claim them: those rows are forgotten after ``media_unclaimed_days``,
as citizens' photos that became no case should not be kept for ever. And a file may outlive its
row: an upload whose transaction rolled back after the file was renamed into place, a worker
killed mid-upload (``tmp/``), or a row forgotten above.

Rows go first, in their own committed transaction; files are removed afterwards, only when no
row names their sha256 and they have not been written for ``ORPHAN_GRACE``. Storage is content
addressed, and an upload (or the thumbnail job) that reuses an existing file refreshes its
mtime before its row commits. A file is therefore renamed aside, checked again, and put back
if it was refreshed meanwhile: a concurrent upload never loses the file its new row names.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gridapp.core.config import Config
from gridapp.media.models import Attachment

ORPHAN_GRACE = timedelta(hours=1)
BATCH = 500
_SHA = re.compile(r"[0-9a-f]{64}")
_THUMB = re.compile(r"([0-9a-f]{64})-\d+\.jpg")


@dataclass(frozen=True)
class OrphanFiles:
    """What a file sweep removed."""

    files: int
    bytes: int
    stale_uploads: int


def forget_unclaimed(session: Session, config: Config, now: datetime | None = None) -> int:
    """Delete attachment rows no case claimed within ``media_unclaimed_days``; return how many."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=config.media_unclaimed_days)
    result = session.execute(
        delete(Attachment)
        .where(Attachment.case_id.is_(None), Attachment.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def remove_orphan_files(
    session: Session, config: Config, now: datetime | None = None
) -> OrphanFiles:
    """Remove originals and thumbnails no attachment names, and abandoned temporary uploads.

    Run it after the rows it should honour are committed; it never removes a file written in
    the last ``ORPHAN_GRACE``, nor a file whose name it does not recognise.
    """
    now = now or datetime.now(UTC)
    cutoff = (now - ORPHAN_GRACE).timestamp()
    removed = freed = 0
    batch: list[tuple[str, Path]] = []

    def flush_batch() -> None:
        nonlocal removed, freed
        shas = {sha for sha, _ in batch}
        kept = set(session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(shas))))
        for sha, path in batch:
            if sha not in kept:
                size = _remove_if_untouched(path, cutoff)
                if size is not None:
                    removed, freed = removed + 1, freed + size
        batch.clear()

    for sha, path in _stored_files(config.media_dir):
        if _mtime(path) > cutoff:
            continue
        batch.append((sha, path))
        if len(batch) >= BATCH:
            flush_batch()
    if batch:
        flush_batch()
    stale = 0
    tmp_dir = config.media_dir / "tmp"
    if tmp_dir.is_dir():
        for path in tmp_dir.glob("upload-*"):
            if _mtime(path) <= cutoff and _remove_if_untouched(path, cutoff) is not None:
                stale += 1
    return OrphanFiles(removed, freed, stale)


def _stored_files(media_dir: Path) -> Iterator[tuple[str, Path]]:
    """Yield (sha256, path) of every original (``ab/<sha>``) and thumbnail under media_dir."""
    if not media_dir.is_dir():
        return
    for shard in sorted(media_dir.iterdir()):
        if shard.is_dir() and re.fullmatch(r"[0-9a-f]{2}", shard.name):
            for path in shard.iterdir():
                if _SHA.fullmatch(path.name) and path.name.startswith(shard.name):
                    yield path.name, path
    thumbs = media_dir / "thumbs"
    if thumbs.is_dir():
        for path in sorted(thumbs.glob("??/*.jpg")):
            match = _THUMB.fullmatch(path.name)
            if match:
                yield match.group(1), path


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")  # gone already: nothing to do


def _remove_if_untouched(path: Path, cutoff: float) -> int | None:
    """Remove ``path`` unless it was written after ``cutoff``; return the bytes freed."""
    aside = path.with_name(f".{path.name}.sweep-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return None
    stat = aside.stat()
    if stat.st_mtime > cutoff:
        # Refreshed by an upload between the check and the rename: its row is on the way.
        # The content is the same bytes whatever wrote the path since, so putting it back is safe.
        os.replace(aside, path)
        return None
    aside.unlink()
    return stat.st_size


def touch(path: Path) -> bool:
    """Refresh a reused stored file's mtime; False when it is gone (write it again then)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True
