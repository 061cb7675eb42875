"""The transactional outbox (DESIGN §7): jobs are rows first, queue entries after commit.

A service calls ``enqueue_after_commit`` inside its transaction; the row commits or rolls back
with the case. After a commit the relay pushes pending rows to RQ (a failed push leaves the row
pending for the next relay: every request commit and the worker's every-minute sweep). What RQ
runs is ``run_outbox_message(row id)``: it runs the row's job and stamps the row ``done_at`` in
the same transaction, so a row is finished exactly when its job's effect has committed. The
reconciler sends back to the relay any row handed over long ago whose RQ job is neither waiting
nor running any more (a killed worker, a flushed Redis, retries spent). Jobs are idempotent, so
a row run twice does no harm, and the row lock makes the second run see the first's stamp.

A job is given as its function; the row stores the function's import path, which is also what
RQ would store in Redis, so rows written by an older release keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.queue import Queue
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gridapp.core.jobs import has_own_transactions, job_context
from gridapp.core.models import OutboxMessage
from gridapp.core.queue import Job, RedisProvider, job_path, resolve_job, retry_policy
from gridapp.core.rows import insert_loaded

log = logging.getLogger(__name__)

# A row handed to Redis this long ago whose job is not waiting or running is sent again
# (the default of the setting OUTBOX_RECONCILE_SECONDS).
RECONCILE_AFTER = timedelta(minutes=2)
# After this many hand-overs a row is left for an operator (``last_error`` says why).
MAX_ATTEMPTS = 10
# RQ states in which the job will still run by itself: leave those rows alone.
_WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})


# Set by a boundary that pushes to Redis right after its commit (a web request): rows are then
# written already claimed and listed in session.info under CLAIMED. PENDING (session.info) says
# some row was left for the relay (written where no push follows).
RELAY_AFTER_COMMIT: ContextVar[bool] = ContextVar("gridapp_outbox_relay", default=False)
CLAIMED = "outbox_claimed"
PENDING = "outbox_pending"


def enqueue_after_commit(
    session: Session, job: Job, args: Sequence[Any] = (), *, queue: str = "default"
) -> OutboxMessage:
    """Write a job to the outbox; it is sent to RQ only once the transaction commits."""
    return enqueue_all_after_commit(session, job, [args], queue=queue)[0]


def enqueue_all_after_commit(
    session: Session, job: Job, each_args: Sequence[Sequence[Any]], *, queue: str = "default"
) -> list[OutboxMessage]:
    """Write one outbox row per argument list of ``job``, all in one INSERT.

    Inside a boundary that pushes after its commit (``RELAY_AFTER_COMMIT``, a request) the rows
    are written claimed (``enqueued_at`` set, attempt 1) in the same transaction, so handing
    them to Redis costs no second transaction; if the push then fails the boundary sends them
    back to the relay (`release_claimed`), and if the process dies first the reconciler finds
    their jobs missing from Redis and does the same. Elsewhere (jobs, the CLI) they wait for
    the relay, as before.
    """
    if not each_args:
        return []
    claimed = RELAY_AFTER_COMMIT.get()
    now = datetime.now(UTC)
    path = job_path(job)
    rows = [
        {
            "job": path,
            "args": list(args),
            "queue": queue,
            "created_at": now,
            "enqueued_at": now if claimed else None,
            "done_at": None,
            "attempts": 1 if claimed else 0,
            "last_error": None,
        }
        for args in each_args
    ]
    # One INSERT … RETURNING on a statement built once: no unit-of-work flush per row, no
    # ORM loading of what it returns.
    messages = insert_loaded(session, OutboxMessage, rows)
    if claimed:
        session.info.setdefault(CLAIMED, []).extend((m.id, m.attempts, m.queue) for m in messages)
    else:
        session.info[PENDING] = True
    return messages


def push_claimed(session: Session, redis: RedisProvider, log_to: logging.Logger = log) -> int:
    """After the commit: hand the rows this transaction claimed to RQ in one Redis pipeline.

    On failure the rows go back to the relay (`release_claimed`); return how many were pushed.
    """
    claimed: list[tuple[int, int, str]] = session.info.pop(CLAIMED, [])
    if not claimed:
        return 0
    try:
        by_queue: dict[str, list[Any]] = {}
        for message_id, attempt, queue in claimed:
            by_queue.setdefault(queue or "default", []).append(
                Queue.prepare_data(
                    run_outbox_message,
                    [message_id],
                    job_id=rq_job_id(redis, message_id, attempt),
                    description=f"outbox {message_id}",
                    retry=retry_policy(),
                )
            )
        with redis.connection.pipeline() as pipe:
            for queue, datas in by_queue.items():
                redis.queue(queue).enqueue_many(datas, pipeline=pipe)
            pipe.execute()
    except Exception as exc:  # Redis down: the relay sends them when it is back
        log_to.warning("outbox push: Redis unavailable (%s); %d rows wait", exc, len(claimed))
        release_claimed(session, [message_id for message_id, _a, _q in claimed], str(exc))
        return 0
    return len(claimed)


def release_claimed(session: Session, message_ids: Sequence[int], error: str) -> None:
    """Send claimed rows that did not reach Redis back to the relay (pending again).

    Best effort: if this fails too, the reconciler resets them once they are overdue.
    """
    try:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.done_at.is_(None))
            .values(enqueued_at=None, last_error=error[:500])
        )
        session.commit()
    except Exception:
        session.rollback()
        log.exception("outbox push: could not send %d rows back to the relay", len(message_ids))


def forget_claimed(session: Session) -> None:
    """The transaction rolled back: its claimed rows are gone with it."""
    session.info.pop(CLAIMED, None)
    session.info.pop(PENDING, None)


def rq_job_id(redis: RedisProvider, message_id: int, attempt: int) -> str:
    """Return the RQ job id of one hand-over of an outbox row (each hand-over has its own)."""
    return redis.job_id(f"outbox-{message_id}-{attempt}")


def run_outbox_message(message_id: int) -> Any:
    """Run an outbox row's job and mark the row done in the same transaction (the RQ job).

    A job with `own_transactions` runs after that transaction (it may run twice), and the row
    is marked done in another once it succeeded.
    """
    with job_context() as session:
        # The row lock makes a duplicate run (a reconciled row whose first job was only slow)
        # wait here, then find the row done and do nothing.
        message = session.get(OutboxMessage, message_id, with_for_update=True)
        if message is None or message.done_at is not None:
            return None
        job = resolve_job(message.job)
        args = list(message.args)
        if not has_own_transactions(job):
            result = job(*args)
            message.done_at = datetime.now(UTC)
            return result
    result = job(*args)
    with job_context() as session:
        message = session.get(OutboxMessage, message_id, with_for_update=True)
        if message is not None and message.done_at is None:
            message.done_at = datetime.now(UTC)
    return result


def relay_outbox(session: Session, redis: RedisProvider, *, limit: int = 500) -> int:
    """Send pending outbox rows to RQ; return how many were sent.

    Each row is claimed with a conditional UPDATE so two relays never both send it.
    """
    pending = session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.enqueued_at.is_(None), OutboxMessage.done_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    sent = 0
    for message_id in pending:
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.enqueued_at.is_(None))
            .values(enqueued_at=datetime.now(UTC), attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage.attempts, OutboxMessage.queue)
        ).first()
        if claimed is None:
            continue
        attempt, queue = claimed
        try:
            redis.queue(queue or "default").enqueue(
                run_outbox_message,
                message_id,
                job_id=rq_job_id(redis, message_id, attempt),
                description=f"outbox {message_id}",
                retry=retry_policy(),
            )
        except Exception as exc:  # Redis down: keep the row pending for the next relay
            session.rollback()
            log.warning("outbox relay: Redis unavailable (%s); %d rows wait", exc, len(pending))
            _record_failure(session, message_id, str(exc))
            return sent
        session.commit()
        sent += 1
    return sent


def reconcile_outbox(
    session: Session,
    redis: RedisProvider,
    *,
    now: datetime | None = None,
    after: timedelta = RECONCILE_AFTER,
) -> int:
    """Send back to the relay each row handed over before ``after`` whose job was lost.

    Lost means: RQ no longer has the job (Redis lost it), it failed for good, or it has been
    "started" for longer than ``after`` (its worker was killed mid-job). A job still queued or
    scheduled is left alone: it waits in Redis for a worker. Return how many rows were reset;
    the caller relays them.
    """
    now = now or datetime.now(UTC)
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.attempts)
        .where(
            OutboxMessage.done_at.is_(None),
            OutboxMessage.enqueued_at < now - after,
            OutboxMessage.attempts < MAX_ATTEMPTS,
        )
        .order_by(OutboxMessage.id)
        .limit(500)
        .with_for_update(skip_locked=True)
    ).all()
    reset = 0
    for message_id, attempts in rows:
        reason = _lost(redis, rq_job_id(redis, message_id, attempts), now, after)
        if reason is None:
            continue
        log.warning("outbox reconciler: row %d sent again (%s)", message_id, reason)
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.done_at.is_(None))
            .values(enqueued_at=None, last_error=reason)
        )
        reset += 1
    session.commit()
    return reset


def _lost(redis: RedisProvider, job_id: str, now: datetime, after: timedelta) -> str | None:
    """Say why the RQ job of a hand-over will not finish by itself, or None if it still may."""
    try:
        job = RQJob.fetch(job_id, connection=redis.connection)
    except NoSuchJobError:
        return "job missing from Redis"
    status = job.get_status(refresh=False)
    if status in _WAITING:
        return None
    if status == JobStatus.STARTED:
        started = job.started_at
        if started is not None and started.replace(tzinfo=UTC) > now - after:
            return None
        return "job started but never finished (worker killed?)"
    if status == JobStatus.FINISHED:
        # Finished yet the row is not done: its transaction lost (e.g. rolled back by a
        # restart between the job's return and RQ's bookkeeping); run it again.
        return "job finished without committing its row"
    return f"job {status}"


def unfinished_count(session: Session) -> int:
    """Return how many outbox rows have not had their job's effect committed yet."""
    return int(
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.done_at.is_(None))
        )
        or 0
    )


def _record_failure(session: Session, message_id: int, error: str) -> None:
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id).values(last_error=error[:500])
    )
    session.commit()
