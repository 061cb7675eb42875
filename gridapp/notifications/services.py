"""Notifications to the people who must act next (handler on dispatch, verifier, reporter …)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast as typing_cast

from sqlalchemy import Integer, String, Table, bindparam, cast, insert, or_, select, update
from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case
from gridapp.core.errors import NotFound
from gridapp.core.i18n import _, stored_language
from gridapp.core.outbox import enqueue_after_commit
from gridapp.core.rows import insert_loaded
from gridapp.core.types import UTCDateTime, utcnow
from gridapp.notifications.jobs import deliver_notification
from gridapp.notifications.models import Notification

NEW_REPORT = "new_report"


def notify(
    session: Session,
    user_ids: Iterable[int],
    *,
    kind: str,
    case: Case | None,
    message: str,
    dedupe_key: str | None = None,
    push: bool = True,
) -> list[Notification]:
    """Write one notification per user and one delivery job for them all (after commit).

    ``push`` False writes no job: for desk staff, whose console lists their notifications and
    who have no phone to push to; it keeps the report path to one transaction and no relay.
    ``message`` is stored as it is: callers make it in the default language, Chinese
    (``gridapp.core.i18n.stored_language``), since its readers' language is not known then.
    """
    users = sorted(set(user_ids))
    keys = {user_id: f"{dedupe_key}:{user_id}" if dedupe_key else None for user_id in users}
    wanted = [key for key in keys.values() if key is not None]
    # One read for every recipient's key, not one per recipient.
    sent = (
        set(
            session.scalars(
                select(Notification.dedupe_key).where(Notification.dedupe_key.in_(wanted))
            )
        )
        if wanted
        else set()
    )
    rows = [
        {
            "user_id": user_id,
            "kind": kind,
            "case_id": case.id if case else None,
            "message": message,
            "dedupe_key": keys[user_id],
            "created_at": utcnow(),
            "read_at": None,
            "delivered_at": None,
        }
        for user_id in users
        if keys[user_id] is None or keys[user_id] not in sent
    ]
    if not rows:
        return []
    # One INSERT … RETURNING for every recipient and one for their delivery job, each a
    # statement built once: the unit of work's flush per object, or an ORM bulk INSERT that
    # loads what it returns, cost more than the rows themselves.
    made = insert_loaded(session, Notification, rows)
    if push:
        enqueue_after_commit(session, deliver_notification, [note.id for note in made])
    return made


# The acceptors who review a district's reports. A county-wide acceptor (no district) reviews
# every report; a case outside any district (``district`` None: ``= NULL`` is never true)
# reaches only those, never every district's desk. Built once: building costs more than running.
ACCEPTORS = select(User.id).where(
    User.role == workflow.Role.acceptor,
    User.active.is_(True),
    (User.district_code == bindparam("district")) | User.district_code.is_(None),
)
_NOTIFICATION = typing_cast(Table, Notification.__table__)
# Every acceptor of the district told in one INSERT … SELECT, as Core on the table: a new case's
# rows are read by nobody in its request, so nothing is returned or loaded as objects (that
# loading cost several times the statement).
TELL_ACCEPTORS = insert(_NOTIFICATION).from_select(
    ["user_id", "kind", "case_id", "message", "dedupe_key", "created_at"],
    ACCEPTORS.add_columns(
        bindparam("kind", type_=String),
        bindparam("case_id", type_=Integer),
        bindparam("message", type_=String),
        bindparam("key_prefix", type_=String) + cast(User.id, String),
        bindparam("at", type_=UTCDateTime()),
    ).order_by(User.id),
)


def new_report_message(case: Case) -> str:
    """The text that tells an acceptor of a new report, in the stored language."""
    with stored_language():
        # The case's category is in the session already (intake loaded it): no query.
        return _(
            "New report %(number)s: %(category)s.",
            number=case.number,
            category=case.category.name,
        )


def notify_new_report(session: Session, case: Case) -> list[Notification]:
    """Tell the acceptors of the case's district that a report waits for review (待受理).

    A second call for the same case (a retried intake or job) tells nobody twice.
    """
    return notify(
        session,
        session.scalars(ACCEPTORS, {"district": case.district_code}).all(),
        kind=NEW_REPORT,
        case=case,
        message=new_report_message(case),
        dedupe_key=f"{NEW_REPORT}:{case.id}",
        push=False,
    )


def notify_new_case(session: Session, case: Case) -> None:
    """Tell the acceptors of a case that intake made in this transaction (待受理).

    Nobody can have been told of it yet: one INSERT … SELECT writes every acceptor's row (the
    rows `notify_new_report` writes), one round trip instead of two, and nothing read back.
    """
    session.connection().execute(
        TELL_ACCEPTORS,
        {
            "district": case.district_code,
            "kind": NEW_REPORT,
            "case_id": case.id,
            "message": new_report_message(case),
            "key_prefix": f"{NEW_REPORT}:{case.id}:",
            "at": utcnow(),
        },
    )


def list_notifications(
    session: Session,
    user: User,
    *,
    after: int | None = None,
    created_from: datetime | None = None,
    unread: bool = False,
    limit: int = 100,
) -> list[Notification]:
    """List the user's notifications, oldest first, after an id and/or unread only.

    With ``created_from`` as well: those after the id, and those created from that instant on
    whatever their id (ids are taken before commit, so a later one may commit first).
    """
    query = (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.id)
        .limit(limit)
    )
    if after is not None and created_from is not None:
        query = query.where(or_(Notification.id > after, Notification.created_at >= created_from))
    elif after is not None:
        query = query.where(Notification.id > after)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query))


def read_notification(session: Session, user: User, notification_id: int) -> Notification:
    """Mark one of the user's notifications read; a second call keeps the first read time."""
    note = session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user.id
        )
    )
    # Another user's notification is as unknown as a missing one: its id reveals nothing.
    if note is None:
        raise NotFound(_("You have no notification %(id)s.", id=notification_id))
    if note.read_at is None:
        # Conditional, so a concurrent read that committed first keeps its time.
        session.execute(
            update(Notification)
            .where(Notification.id == note.id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        session.refresh(note)
    return note


def read_notifications(session: Session, user: User, *, ids: Sequence[int] | None = None) -> int:
    """Mark the user's notifications read (those in ``ids``, or all); return how many changed.

    Ids of other users' notifications and ones already read are skipped, not errors: the
    answer counts only what this call marked.
    """
    query = (
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    if ids is not None:
        query = query.where(Notification.id.in_(set(ids)))
    result = session.execute(query)
    return int(result.rowcount)  # type: ignore[attr-defined]
