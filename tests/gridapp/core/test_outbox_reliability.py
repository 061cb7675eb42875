"""No lost job: a row is done when its effect commits, lost hand-overs are sent again (issue 10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rq import SimpleWorker
from rq.job import Job as RQJob
from rq.job import JobStatus
from sqlalchemy import func, select

from gridapp.core.extensions import db, redis
from gridapp.core.models import OutboxMessage
from gridapp.core.outbox import (
    RECONCILE_AFTER,
    enqueue_after_commit,
    reconcile_outbox,
    relay_outbox,
    rq_job_id,
    run_outbox_message,
)
from gridapp.core.queue import RETRY_MAX
from gridapp.notifications.jobs import deliver_notification
from gridapp.notifications.models import Notification
from gridapp.notifications.services import notify


class Boom(RuntimeError):
    pass


def deliver_then_fail(notification_id: int) -> None:
    """A job whose effect is written, then fails: the effect must not stay."""
    deliver_notification(notification_id)
    raise Boom("failed after its effect")


def _notified(session: Any) -> tuple[int, int]:
    """Notify someone and commit; return the outbox row's id and the notification's."""
    from gridapp.accounts.models import User

    user_id = session.scalar(select(User.id).where(User.username == "handler"))
    notify(session, [user_id], kind="test", case=None, message="outbox")
    note_id = session.scalar(select(Notification.id).order_by(Notification.id.desc()))
    row_id = session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()))
    session.commit()
    return row_id, note_id


def _fresh(model: Any, ident: int) -> Any:
    session = db.session()
    session.expire_all()
    return session.get(model, ident)


def _drain() -> None:
    SimpleWorker(redis.queues(), connection=redis.connection).work(burst=True)


def test_a_row_is_done_in_the_same_transaction_as_its_jobs_effect(session):
    row_id, note_id = _notified(session)
    assert _fresh(OutboxMessage, row_id).done_at is None
    assert _fresh(Notification, note_id).delivered_at is None

    run_outbox_message(row_id)

    assert _fresh(OutboxMessage, row_id).done_at is not None
    delivered = _fresh(Notification, note_id).delivered_at
    assert delivered is not None
    run_outbox_message(row_id)  # a duplicate run finds the row done and does nothing
    assert _fresh(Notification, note_id).delivered_at == delivered


def test_one_job_delivers_every_recipient_of_a_notice(session):
    from gridapp.accounts.models import User

    users = session.scalars(
        select(User.id).where(User.username.in_(["handler", "handler2", "dispatcher"]))
    ).all()
    before = session.scalar(select(func.max(OutboxMessage.id))) or 0
    made = notify(session, users, kind="test", case=None, message="to three")
    session.commit()
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id > before)).all()
    assert len(made) == 3
    assert [(row.job, sorted(row.args)) for row in rows] == [
        ("gridapp.notifications.jobs.deliver_notification", sorted(n.id for n in made))
    ]

    run_outbox_message(rows[0].id)

    assert all(_fresh(Notification, n.id).delivered_at is not None for n in made)
    assert _fresh(OutboxMessage, rows[0].id).done_at is not None


def test_a_row_of_one_notification_written_before_still_delivers_it(session):
    _, note_id = _notified(session)
    older = enqueue_after_commit(session, deliver_notification, [note_id]).id
    session.commit()

    run_outbox_message(older)

    assert _fresh(Notification, note_id).delivered_at is not None
    assert _fresh(OutboxMessage, older).done_at is not None


def test_a_job_that_fails_leaves_neither_its_effect_nor_a_done_row(session):
    _, note_id = _notified(session)
    row_id = enqueue_after_commit(session, deliver_then_fail, [note_id]).id
    session.commit()

    try:
        run_outbox_message(row_id)
    except Boom:
        pass
    else:
        raise AssertionError("the job should have failed")

    assert _fresh(OutboxMessage, row_id).done_at is None
    assert _fresh(Notification, note_id).delivered_at is None


def test_handing_a_row_to_redis_does_not_finish_it_and_every_job_retries(session):
    row_id, note_id = _notified(session)
    assert relay_outbox(db.session(), redis) >= 1

    handed = _fresh(OutboxMessage, row_id)
    assert handed.enqueued_at is not None and handed.done_at is None  # in Redis, not done
    job = RQJob.fetch(rq_job_id(redis, row_id, handed.attempts), connection=redis.connection)
    assert job.retries_left == RETRY_MAX

    _drain()
    assert _fresh(OutboxMessage, row_id).done_at is not None
    assert _fresh(Notification, note_id).delivered_at is not None


def test_the_reconciler_sends_again_a_row_whose_job_redis_lost(session):
    row_id, note_id = _notified(session)
    relay_outbox(db.session(), redis)
    first = _fresh(OutboxMessage, row_id).attempts
    RQJob.fetch(rq_job_id(redis, row_id, first), connection=redis.connection).delete()

    # Not yet: the reconciler waits RECONCILE_AFTER before calling a hand-over lost.
    reconcile_outbox(db.session(), redis)
    assert _fresh(OutboxMessage, row_id).enqueued_at is not None
    later = datetime.now(UTC) + RECONCILE_AFTER + timedelta(seconds=1)
    reconcile_outbox(db.session(), redis, now=later)

    reset = _fresh(OutboxMessage, row_id)
    assert reset.enqueued_at is None and reset.last_error == "job missing from Redis"
    relay_outbox(db.session(), redis)
    assert _fresh(OutboxMessage, row_id).attempts == first + 1
    _drain()
    assert _fresh(OutboxMessage, row_id).done_at is not None
    assert _fresh(Notification, note_id).delivered_at is not None


def test_a_job_waiting_in_redis_for_a_dead_worker_is_left_to_run_once(session):
    row_id, _note_id = _notified(session)
    relay_outbox(db.session(), redis)
    attempts = _fresh(OutboxMessage, row_id).attempts

    # No worker for a long time: the job waits in its queue; sending it again would only
    # duplicate it.
    reconcile_outbox(db.session(), redis, now=datetime.now(UTC) + timedelta(hours=1))

    assert _fresh(OutboxMessage, row_id).enqueued_at is not None
    assert _fresh(OutboxMessage, row_id).attempts == attempts
    _drain()
    assert _fresh(OutboxMessage, row_id).done_at is not None


def test_a_job_started_by_a_worker_that_was_killed_is_sent_again(session):
    row_id, note_id = _notified(session)
    relay_outbox(db.session(), redis)
    attempts = _fresh(OutboxMessage, row_id).attempts
    job = RQJob.fetch(rq_job_id(redis, row_id, attempts), connection=redis.connection)
    # What a kill -9 mid-job leaves: dequeued, marked started, never finished.
    redis.queue(job.origin).remove(job)
    job.started_at = datetime.now(UTC)
    job.set_status(JobStatus.STARTED)
    job.save()

    reconcile_outbox(db.session(), redis, now=datetime.now(UTC) + timedelta(seconds=5))
    assert _fresh(OutboxMessage, row_id).enqueued_at is not None  # may still be running
    reconcile_outbox(
        db.session(), redis, now=datetime.now(UTC) + RECONCILE_AFTER + timedelta(seconds=5)
    )

    assert _fresh(OutboxMessage, row_id).enqueued_at is None
    relay_outbox(db.session(), redis)
    _drain()
    assert _fresh(OutboxMessage, row_id).done_at is not None
    assert _fresh(Notification, note_id).delivered_at is not None
    job.delete()
