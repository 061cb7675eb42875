"""The checks ``make faults`` ends with find what they look for (the run itself is separate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rq import SimpleWorker
from sqlalchemy import select, update

from gridapp.cases.models import Case
from gridapp.core.extensions import db, redis
from gridapp.core.outbox import enqueue_after_commit, relay_outbox
from gridapp.media.models import Attachment
from gridapp.notifications.jobs import deliver_notification
from gridapp.notifications.models import Notification
from tests.faults import Ledger, check_outcome, sweep_is_behind
from tests.gridapp.case_helpers import grid_point, photo_id, report


def _drain() -> None:
    relay_outbox(db.session(), redis)
    SimpleWorker(redis.queues(), connection=redis.connection).work(burst=True)


def _dispatched_with_photo(client, auth, ledger: Ledger, n: int) -> int:
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    photo = photo_id(client, worker)
    client_id = f"{ledger.run}-{n}"
    case = report(
        client,
        worker,
        *grid_point(client, worker, me["grids"][0]),
        description=f"faults {client_id}",
        photos=[photo],
        client_id=client_id,
    ).get_json()
    for user, action in (
        ("acceptor", "accept"),
        ("shift_leader", "file"),
        ("dispatcher", "dispatch"),
    ):
        case = client.post(
            f"/api/v1/cases/{case['id']}/actions/{action}",
            json={},
            headers={**auth(user), "If-Match": f'"{case["version"]}"'},
        ).get_json()
    ledger.acks[client_id] = case["id"]
    ledger.photos[photo] = case["id"]
    ledger.dispatched.add(case["id"])
    return int(case["id"])


def test_the_checker_passes_a_clean_run_and_names_each_kind_of_loss(app, client, auth, session):
    media = app.config["GRIDAPP"].media_dir
    ledger = Ledger("checker")
    case_id = _dispatched_with_photo(client, auth, ledger, 0)
    _drain()
    session = db.session()
    assert check_outcome(session, ledger, media) == []

    # A report acknowledged but not stored, a notification not delivered, a thumbnail lost,
    # an outbox row left unfinished: each is named.
    ledger.acks["checker-lost"] = 999_999
    session.execute(
        update(Notification).where(Notification.case_id == case_id).values(delivered_at=None)
    )
    photo = next(iter(ledger.photos))
    session.execute(update(Attachment).where(Attachment.id == photo).values(thumbnail_key=None))
    note = session.scalar(select(Notification.id).where(Notification.case_id == case_id))
    enqueue_after_commit(session, deliver_notification, [note])
    session.flush()

    failures = "\n".join(check_outcome(session, ledger, media))
    assert "acknowledged report checker-lost" in failures
    assert f"case {case_id}: notifications never delivered" in failures
    assert f"photo {photo}: no thumbnail" in failures
    assert "outbox rows unfinished" in failures

    ledger.overdue.add(case_id)  # overdue, yet never swept
    assert f"case {case_id}: overdue but not flagged" in "\n".join(
        check_outcome(session, ledger, media)
    )


def test_the_checker_finds_a_report_stored_twice(app, client, auth, session):
    ledger = Ledger("twice")
    first = _dispatched_with_photo(client, auth, ledger, 0)
    second = _dispatched_with_photo(client, auth, ledger, 1)
    session = db.session()
    # The second case made into a second copy of the first report (as a lost idempotency
    # check would): same client id and description.
    session.execute(
        update(Case)
        .where(Case.id == second)
        .values(client_id="twice-0", description="faults twice-0", reporter_id=None)
    )
    del ledger.acks["twice-1"]
    session.flush()

    failures = check_outcome(session, ledger, app.config["GRIDAPP"].media_dir)
    assert any(f"exists 2 times: [{first}, {second}]" in f for f in failures), failures


def test_the_sweep_check_sees_a_step_the_sweep_has_not_flagged(client, auth, session):
    ledger = Ledger("sweep")
    case_id = _dispatched_with_photo(client, auth, ledger, 0)
    session = db.session()
    now = datetime.now(UTC)
    session.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(
            urgency="urgent",
            step_started_at=now - timedelta(hours=30),
            deadline=now - timedelta(hours=1),
            warn_at=now - timedelta(hours=3),
        )
    )
    session.flush()

    assert "the SLA sweep is behind" in (sweep_is_behind(session) or "")
    assert session.get(Case, case_id).sla_flag == "ok"  # the check changed nothing
