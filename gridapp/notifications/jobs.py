"""Deliver notifications (the push channel is the apps' /sync; this marks delivery once)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from gridapp.core.jobs import job_context
from gridapp.notifications.models import Notification


def deliver_notification(notification_id: int) -> bool:
    """Mark a notification delivered; a second run (a retried job) changes nothing."""
    with job_context() as session:
        result = session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.delivered_at.is_(None))
            .values(delivered_at=datetime.now(UTC))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
