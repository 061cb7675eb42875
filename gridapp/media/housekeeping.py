"""The nightly media sweep (照片清理), scheduled at 03:00 Asia/Shanghai; it reschedules itself."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import current_app

import workflow
from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context
from gridapp.media.sweep import forget_unclaimed, remove_orphan_files

AT = time(3, 0)


def media_sweep() -> dict[str, int]:
    """Forget unclaimed photos, then remove files no row names; schedule the next night's run."""
    with job_context() as session:
        forgotten = forget_unclaimed(session, current_app.config["GRIDAPP"])
    # The rows are committed now: the file pass sees exactly what stays.
    with job_context() as session:
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
    local = now.astimezone(workflow.LOCAL_ZONE)
    at = datetime.combine(local.date(), AT, tzinfo=workflow.LOCAL_ZONE)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), AT, tzinfo=workflow.LOCAL_ZONE)
    return at.astimezone(UTC)


def schedule_media_sweep(now: datetime | None = None) -> str:
    """Schedule the next nightly sweep; one job id per night dedupes repeated scheduling."""
    at = next_run(now or datetime.now(UTC))
    job_id = redis.job_id(f"media-sweep-{at.astimezone(workflow.LOCAL_ZONE):%Y%m%d}")
    return redis.schedule(media_sweep, at, queue="low", job_id=job_id, description="media sweep")
