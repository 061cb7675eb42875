"""The nightly patrol pruning (轨迹清理) at 03:30 Asia/Shanghai; it reschedules itself."""

from __future__ import annotations

from datetime import datetime, time

from flask import current_app

from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context
from gridapp.core.queue import next_local_time
from gridapp.patrol.services import prune_tracks

# Half an hour after the media sweep, so the two nightly deletes do not share the write lock.
AT = time(3, 30)


def prune_patrols() -> dict[str, int]:
    """Delete track points past ``patrol_retention_days``; schedule the next night's run."""
    with job_context() as session:
        pruned = prune_tracks(session, current_app.config["GRIDAPP"].patrol_retention_days)
    schedule_patrol_prune()
    return {"points": pruned.points, "batches": pruned.batches}


def next_run(now: datetime) -> datetime:
    """The next 03:30 in Asia/Shanghai after ``now``, in UTC."""
    return next_local_time(now, AT)


def schedule_patrol_prune(now: datetime | None = None) -> str:
    """Schedule the next nightly pruning; one job id per night dedupes repeated scheduling."""
    return redis.schedule_nightly(
        prune_patrols, AT, name="patrol-prune", description="patrol prune", now=now
    )
