"""The change feeds (the phone's sync, the desk's /cases/changes) miss no change.

A change is read from the app's clock before its transaction commits; a feed must not answer a
watermark past a change still being committed (committed transactions, real threads).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from gridapp.accounts.models import User
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.services import act_on_case, cases_changed_since
from gridapp.core import db_sqlite
from gridapp.core.extensions import db
from gridapp.core.models import OutboxMessage
from gridapp.core.settled import SETTLE_MARGIN
from gridapp.notifications.models import Notification
from gridapp.notifications.services import list_notifications, notify
from tests.conftest import as_owner
from tests.gridapp.case_helpers import own_grid_point, report, report_in_own_grid

# The first sync comes this long after the slow writer wrote, later than the margin the watermark
# is set back by: only knowing of the open transaction keeps its change. The writer commits after.
SYNC_AFTER_SECONDS = SETTLE_MARGIN.total_seconds() + 0.5
HOLD_SECONDS = SYNC_AFTER_SECONDS + 1


def test_a_change_committed_after_a_sync_comes_in_the_next(app: Any) -> None:
    config = app.config["GRIDAPP"]
    with app.app_context(), Session(db.engine, expire_on_commit=False) as setup:
        worker = setup.scalar(select(User).where(User.username == "grid_worker"))
        acceptor_id = setup.scalar(select(User.id).where(User.username == "acceptor"))
        outbox_before = setup.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
        notes_before = setup.scalar(select(func.coalesce(func.max(Notification.id), 0)))
        worker_id = worker.id
        case_id = report_in_own_grid(
            setup,
            config,
            worker,
            description="changed while the phone syncs",
            client_id="feed-late-1",
        )
        setup.commit()
    written = threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        """Accept the case and tell the worker, then keep the transaction open a while."""
        try:
            with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
                act_on_case(session, session.get(User, acceptor_id), case_id, "accept", {}, '"1"')
                notify(session, [worker_id], kind="test", case=None, message="slow", push=False)
                session.flush()
                written.set()
                threading.Event().wait(HOLD_SECONDS)
                session.commit()
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)
            written.set()

    try:
        with app.app_context(), Session(db.engine) as before:
            _, since = cases_changed_since(before, before.get(User, worker_id), None)
        writer = threading.Thread(target=slow_writer)
        writer.start()
        assert written.wait(timeout=30)
        threading.Event().wait(SYNC_AFTER_SECONDS)
        if db.engine.dialect.name == "postgresql":
            # A notification with a higher id, committed first (on SQLite writers queue, so
            # ids follow the commit order).
            with app.app_context(), Session(db.engine) as other:
                notify(other, [worker_id], kind="test", case=None, message="quick", push=False)
                other.commit()
        seen: dict[int, int] = {}
        messages: set[str] = set()
        after_note = notes_before
        for _ in range(2):  # one sync while the writer is open, one after it committed
            # As a GET runs it: on SQLite a deferred transaction, which waits for no writer.
            reading = db_sqlite.READ_ONLY.set(True)
            with app.app_context(), Session(db.engine) as sync:
                user = sync.get(User, worker_id)
                cases, watermark = cases_changed_since(sync, user, since)
                notes = list_notifications(
                    sync, user, after=after_note, created_from=since, limit=500
                )
                seen.update((case.id, case.version) for case in cases)
                messages |= {note.message for note in notes}
                after_note = notes[-1].id if notes else after_note
                since = watermark
            db_sqlite.READ_ONLY.reset(reading)
            writer.join(timeout=30)
        assert not errors, errors
        assert seen.get(case_id) == 2
        assert "slow" in messages
    finally:
        with app.app_context(), Session(db.engine) as cleanup:
            as_owner(cleanup)  # the history is append-only for the app's role
            cleanup.execute(delete(OutboxMessage).where(OutboxMessage.id > outbox_before))
            cleanup.execute(delete(Notification).where(Notification.id > notes_before))
            cleanup.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id))
            cleanup.execute(delete(Case).where(Case.id == case_id))
            cleanup.commit()


def test_a_batch_never_stops_among_changes_of_one_instant(
    client: Any, session: Any, auth: Any
) -> None:
    """Cases a job stamped alike come in one answer, and the next asks from after them."""
    phone = auth("grid_worker")
    point = own_grid_point(client, phone)
    ids = {report(client, phone, *point).get_json()["id"] for _ in range(5)}
    instant = datetime(2001, 1, 1, tzinfo=UTC)  # before every other case
    session.execute(update(Case).where(Case.id.in_(ids)).values(updated_at=instant))
    worker = session.scalar(select(User).where(User.username == "grid_worker"))
    first, watermark = cases_changed_since(session, worker, instant, batch=3)
    assert {case.id for case in first} >= ids
    assert watermark == instant + timedelta(microseconds=1)
    later, _ = cases_changed_since(session, worker, watermark, batch=3)
    assert not ids & {case.id for case in later}
