"""The nightly audit prune (审计日志保留), 03:30 Asia/Shanghai; it reschedules itself."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import current_app

import workflow
from gridapp.core.audit import prune_audit
from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context

AT = time(3, 30)


def prune_audit_job() -> int:
    """Prune the audit trail to the configured retention; schedule the next night's run."""
    with job_context() as session:
        pruned = prune_audit(session, current_app.config["GRIDAPP"].audit_retention_days)
    schedule_audit_prune()
    return pruned


def next_run(now: datetime) -> datetime:
    """The next 03:30 in Asia/Shanghai after ``now``, in UTC."""
    local = now.astimezone(workflow.LOCAL_ZONE)
    at = datetime.combine(local.date(), AT, tzinfo=workflow.LOCAL_ZONE)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), AT, tzinfo=workflow.LOCAL_ZONE)
    return at.astimezone(UTC)


def schedule_audit_prune(now: datetime | None = None) -> str:
    """Schedule the next nightly prune; one job id per night dedupes repeated scheduling."""
    at = next_run(now or datetime.now(UTC))
    job_id = redis.job_id(f"audit-prune-{at.astimezone(workflow.LOCAL_ZONE):%Y%m%d}")
    return redis.schedule(
        prune_audit_job, at, queue="low", job_id=job_id, description="audit prune"
    )
