"""The nightly audit prune (审计日志保留), 03:30 Asia/Shanghai; it reschedules itself."""

from __future__ import annotations

from datetime import datetime, time

from flask import current_app

from gridapp.core.audit import prune_audit
from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context
from gridapp.core.queue import next_local_time

AT = time(3, 30)


def prune_audit_job() -> int:
    """Prune the audit trail to the configured retention; schedule the next night's run."""
    with job_context() as session:
        pruned = prune_audit(session, current_app.config["GRIDAPP"].audit_retention_days)
    schedule_audit_prune()
    return pruned


def next_run(now: datetime) -> datetime:
    """The next 03:30 in Asia/Shanghai after ``now``, in UTC."""
    return next_local_time(now, AT)


def schedule_audit_prune(now: datetime | None = None) -> str:
    """Schedule the next nightly prune; one job id per night dedupes repeated scheduling."""
    return redis.schedule_nightly(
        prune_audit_job, AT, name="audit-prune", description="audit prune", now=now
    )
