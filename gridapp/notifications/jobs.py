"""Deliver notifications (the push channel is the apps' /sync; this marks delivery once)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from gridapp.core.jobs import job_context
from gridapp.notifications.models import Notification


def deliver_notification(*notification_ids: int) -> int:
    """Mark notifications delivered; return how many were not yet. A second run (a retried
    job) changes nothing.

    One job delivers every notification one ``notify`` call wrote (an action's recipients):
    a job costs the worker several milliseconds of RQ's own bookkeeping, many times the
    UPDATE. A row an older release wrote names one id, and is run the same way.
    """
    if not notification_ids:
        return 0
    with job_context() as session:
        result = session.execute(
            update(Notification)
            .where(Notification.id.in_(notification_ids), Notification.delivered_at.is_(None))
            .values(delivered_at=datetime.now(UTC))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
