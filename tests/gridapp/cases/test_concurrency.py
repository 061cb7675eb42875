"""Two concurrent retries of one report make one case (committed transactions, real threads)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gridapp.accounts.models import User, UserGrid
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.services import report_case
from gridapp.core.extensions import db
from gridapp.core.models import OutboxMessage
from gridapp.grid.models import Area
from gridapp.notifications.models import Notification
from tests.conftest import as_owner
from tests.gridapp.case_helpers import report_in_own_grid


def test_concurrent_retries_make_one_case(app: Any) -> None:
    config = app.config["GRIDAPP"]
    with app.app_context(), Session(db.engine) as setup:
        worker = setup.scalar(select(User).where(User.username == "grid_worker"))
        grid = setup.scalar(select(UserGrid.grid_code).where(UserGrid.user_id == worker.id))
        point = setup.scalar(select(Area).where(Area.code == grid)).geometry.representative_point()
        worker_id = worker.id
        outbox_before = setup.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
    barrier = threading.Barrier(4)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            # Wait before the transaction begins: on SQLite a transaction holds the write lock.
            barrier.wait(timeout=30)
            with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
                reported = report_case(
                    session,
                    config,
                    session.get(User, worker_id),
                    category="SJ0102",
                    description="race",
                    lon=point.x,
                    lat=point.y,
                    client_id="concurrent-key-1",
                    fingerprint="f",
                )
                session.commit()
                results.append((reported.case.id, reported.created))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not errors, errors
        assert len(results) == 4
        assert len({case_id for case_id, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        with app.app_context(), Session(db.engine) as check:
            rows = check.scalars(select(Case.id).where(Case.client_id == "concurrent-key-1")).all()
            assert len(rows) == 1
    finally:
        with app.app_context(), Session(db.engine) as cleanup:
            as_owner(cleanup)  # the history is append-only for the app's role
            ids = cleanup.scalars(select(Case.id).where(Case.client_id == "concurrent-key-1")).all()
            # The report told the acceptors: its notifications and their delivery jobs go too.
            cleanup.execute(delete(OutboxMessage).where(OutboxMessage.id > outbox_before))
            cleanup.execute(delete(Notification).where(Notification.case_id.in_(ids)))
            cleanup.execute(delete(CaseEvent).where(CaseEvent.case_id.in_(ids)))
            cleanup.execute(delete(Case).where(Case.id.in_(ids)))
            cleanup.commit()


def test_concurrent_actions_on_one_version_take_one_and_keep_the_chain(app: Any) -> None:
    """The chain's head is read with the row lock; a second taker of the same version gets 412.

    On PostgreSQL the second waits for the lock and then sees the newer row with the older
    history; its version check must refuse it before it appends anything.
    """
    from gridapp.cases.services import act_on_case, verify_chain
    from gridapp.core.errors import PreconditionFailed

    config = app.config["GRIDAPP"]
    with app.app_context(), Session(db.engine, expire_on_commit=False) as setup:
        worker = setup.scalar(select(User).where(User.username == "grid_worker"))
        acceptor_id = setup.scalar(select(User.id).where(User.username == "acceptor"))
        outbox_before = setup.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
        case_id = report_in_own_grid(
            setup, config, worker, description="race to accept", client_id="concurrent-accept-1"
        )
        setup.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            barrier.wait(timeout=30)
            with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
                try:
                    act_on_case(
                        session, session.get(User, acceptor_id), case_id, "accept", {}, '"1"'
                    )
                    session.commit()
                    outcomes.append("taken")
                except PreconditionFailed:
                    session.rollback()
                    outcomes.append("412")
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not errors, errors
        assert sorted(outcomes) == ["412", "taken"]
        with app.app_context(), Session(db.engine) as check:
            report = verify_chain(check, case_id)
            assert report.intact and report.events == 2, report
    finally:
        with app.app_context(), Session(db.engine) as cleanup:
            as_owner(cleanup)
            cleanup.execute(delete(OutboxMessage).where(OutboxMessage.id > outbox_before))
            cleanup.execute(delete(Notification).where(Notification.case_id == case_id))
            cleanup.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id))
            cleanup.execute(delete(Case).where(Case.id == case_id))
            cleanup.commit()
