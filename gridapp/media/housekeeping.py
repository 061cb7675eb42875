"""The nightly media sweep (照片清理), scheduled at 03:00 Asia/Shanghai; it reschedules itself."""

from __future__ import annotations

from datetime import datetime, time

from flask import current_app

from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context
from gridapp.core.queue import next_local_time
from gridapp.media.sweep import forget_unclaimed, remove_orphan_files

AT = time(3, 0)


def media_sweep() -> dict[str, int]:
    """Forget unclaimed photos, then remove files no row names; schedule the next night's run."""
    with job_context() as session:
        forgotten = forget_unclaimed(session, current_app.config["GRIDAPP"])
    # The rows are committed now: the file pass sees exactly what stays. It only reads rows
    # (a file written or touched meanwhile is spared by its time): on SQLite a transaction that
    # may write would hold the write lock for the whole walk of the media directory.
    with job_context(read_only=True) as session:
        files = remove_orphan_files(session, current_app.config["GRIDAPP"])
    schedule_media_sweep()
    return {
        "forgotten": forgotten,
        "files": files.files,
        "bytes": files.bytes,
        "stale_uploads": files.stale_uploads,
    }


def next_run(now: datetime) -> datetime:
    """The next 03:00 in Asia/Shanghai after ``now``, in UTC."""
    return next_local_time(now, AT)


def schedule_media_sweep(now: datetime | None = None) -> str:
    """Schedule the next nightly sweep; one job id per night dedupes repeated scheduling."""
    return redis.schedule_nightly(
        media_sweep, AT, name="media-sweep", description="media sweep", now=now
    )
