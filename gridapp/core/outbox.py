"""The transactional outbox (DESIGN §7): jobs are rows first, queue entries after commit.

A service calls ``enqueue_after_commit`` inside its transaction; the row commits or rolls back
with the case. After a commit the relay pushes pending rows to RQ; a crash between commit and
enqueue leaves the row pending, and the next relay run (every request commit and the worker's
periodic sweep) sends it. Jobs are idempotent, so a row enqueued twice does no harm.

A job is given as its function; the row stores the function's import path, which is also what
RQ stores in Redis, so rows written by an older release keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gridapp.core.models import OutboxMessage
from gridapp.core.queue import Job, RedisProvider, job_path

log = logging.getLogger(__name__)


def enqueue_after_commit(
    session: Session, job: Job, args: Sequence[Any] = (), *, queue: str = "default"
) -> OutboxMessage:
    """Write a job to the outbox; it is sent to RQ only once the transaction commits."""
    message = OutboxMessage(job=job_path(job), args=list(args), queue=queue)
    session.add(message)
    session.info["outbox_pending"] = True
    session.flush()
    return message


def relay_outbox(session: Session, redis: RedisProvider, *, limit: int = 500) -> int:
    """Send pending outbox rows to RQ; return how many were sent.

    Each row is claimed with a conditional UPDATE so two relays never both send it.
    """
    pending = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.enqueued_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    sent = 0
    for message in pending:
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.enqueued_at.is_(None))
            .values(enqueued_at=datetime.now(UTC), attempts=OutboxMessage.attempts + 1)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        try:
            # The stored path, not the imported function: RQ keeps only the path anyway, and a
            # row naming a job that no longer exists then fails in the worker's failed-job
            # registry instead of blocking every row behind it here.
            redis.queue(message.queue).enqueue(
                message.job,
                *message.args,
                job_id=redis.job_id(f"outbox-{message.id}"),
                description=f"outbox {message.id}: {message.job}",
            )
        except Exception as exc:  # Redis down: keep the row pending for the next relay
            session.rollback()
            log.warning("outbox relay: Redis unavailable (%s); %d rows wait", exc, len(pending))
            _record_failure(session, message.id, str(exc))
            return sent
        session.commit()
        sent += 1
    return sent


def _record_failure(session: Session, message_id: int, error: str) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(attempts=OutboxMessage.attempts + 1, last_error=error[:500])
    )
    session.commit()
