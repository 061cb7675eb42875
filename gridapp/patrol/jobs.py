"""The nightly patrol pruning (轨迹清理) at 03:30 Asia/Shanghai; it reschedules itself."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import current_app

import workflow
from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context
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
    local = now.astimezone(workflow.LOCAL_ZONE)
    at = datetime.combine(local.date(), AT, tzinfo=workflow.LOCAL_ZONE)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), AT, tzinfo=workflow.LOCAL_ZONE)
    return at.astimezone(UTC)


def schedule_patrol_prune(now: datetime | None = None) -> str:
    """Schedule the next nightly pruning; one job id per night dedupes repeated scheduling."""
    at = next_run(now or datetime.now(UTC))
    job_id = redis.job_id(f"patrol-prune-{at.astimezone(workflow.LOCAL_ZONE):%Y%m%d}")
    return redis.schedule(prune_patrols, at, queue="low", job_id=job_id, description="patrol prune")
