"""Notifications to the people who must act next (handler on dispatch, verifier, reporter …)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridapp.accounts.models import User
from gridapp.cases.models import Case
from gridapp.core.outbox import enqueue_after_commit
from gridapp.notifications.models import Notification


def notify(
    session: Session,
    user_ids: Iterable[int],
    *,
    kind: str,
    case: Case | None,
    message: str,
    dedupe_key: str | None = None,
) -> list[Notification]:
    """Write one notification per user and a delivery job for each (after commit)."""
    made = []
    for user_id in sorted(set(user_ids)):
        key = f"{dedupe_key}:{user_id}" if dedupe_key else None
        if key and session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
            continue
        note = Notification(
            user_id=user_id,
            kind=kind,
            case_id=case.id if case else None,
            message=message,
            dedupe_key=key,
        )
        session.add(note)
        session.flush()
        enqueue_after_commit(session, "gridapp.notifications.jobs.deliver_notification", [note.id])
        made.append(note)
    return made


def department_members(session: Session, department: str | None) -> list[int]:
    if department is None:
        return []
    return list(
        session.scalars(
            select(User.id).where(
                User.department_code == department,
                User.role.in_(("handler", "dept_admin")),
                User.active.is_(True),
            )
        )
    )


def command_center(session: Session, district: str | None, roles: tuple[str, ...]) -> list[int]:
    query = select(User.id).where(User.role.in_(roles), User.active.is_(True))
    if district is not None:
        query = query.where((User.district_code == district) | User.district_code.is_(None))
    return list(session.scalars(query))
