"""The dashboard's daily roll-up: the same numbers as counting the cases, over random histories,
before and after late writes strike days off, and after the nightly job rebuilds them."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

import workflow
from gridapp.accounts.models import User
from gridapp.cases.history import append_event
from gridapp.cases.models import Case, CaseEvent
from gridapp.catalogue.models import Category
from gridapp.evaluation.dashboard import ENDED, dashboard
from gridapp.evaluation.rollup import (
    DashboardRollup,
    DashboardRollupDay,
    build_rollup,
    covered_days,
    dashboard_rollup_job,
    rollup_until,
    schedule_dashboard_rollup,
)
from gridapp.grid.models import Area
from tests.gridapp.evaluation.test_dashboard import COUNTY, OTHER, make_case

Z = workflow.LOCAL_ZONE
MARCH = [date(2025, 3, day) for day in range(1, 32)]
NOW = datetime(2025, 3, 25, 12, tzinfo=Z).astimezone(UTC)
ROLLED_UP_TO = date(2025, 3, 18)
PERIODS = (
    (date(2025, 3, 1), date(2025, 3, 31)),
    (date(2025, 3, 4), date(2025, 3, 11)),
    (date(2025, 3, 10), date(2025, 3, 10)),
    (date(2025, 3, 15), date(2025, 3, 22)),
    (date(2025, 2, 20), date(2025, 3, 5)),
)


def at(day: date, minute: int) -> datetime:
    return (
        datetime(day.year, day.month, day.day, tzinfo=Z) + timedelta(minutes=minute)
    ).astimezone(UTC)


def random_history(session: Any, rng: random.Random, cases: int) -> None:
    """Cases over three weeks of March: filed, overdue, closed, voided, supervised after
    closing, open with deadlines past and future, in two districts, some without a grid."""
    grids = session.scalars(select(Area.code).where(Area.level == "grid").order_by(Area.code)).all()
    grids = [g for g in grids[:40] if g.startswith(COUNTY)][::7][:5]
    categories = session.scalars(select(Category.code).order_by(Category.code).limit(3)).all()
    for _ in range(cases):
        created = at(rng.choice(MARCH[:21]), rng.randrange(24 * 60))
        moment = created
        events: list[tuple[str, str, datetime, str]] = []
        state = "reported"

        def later(hours: int) -> datetime:
            nonlocal moment
            moment = moment + timedelta(minutes=rng.randrange(1, hours * 60))
            return moment

        fate = rng.random()
        if fate < 0.15:
            events.append(("reject", "void", later(30), "acceptor"))
            state = "void"
        elif fate > 0.25:  # the rest stays reported
            events.append(("file", "filed", later(40), "shift_leader"))
            state = "filed"
            if rng.random() < 0.3:
                events.append(("supervise", "filed", later(50), "system"))
            ending = rng.random()
            if ending < 0.55:
                events.append(("close", "closed", later(90), "shift_leader"))
                state = "closed"
                if rng.random() < 0.2:  # a supervisor's 督办 on the closed case, days later
                    events.append(("supervise", "closed", later(72), "supervisor"))
            elif ending < 0.65:
                events.append(("void", "void", later(60), "shift_leader"))
                state = "void"
        if moment > NOW:
            continue
        grid = rng.choice([*grids, None])
        deadline = at(rng.choice(MARCH), rng.randrange(1440)) if state == "filed" else None
        make_case(
            session,
            created,
            grid=grid,
            category=rng.choice(categories),
            source=rng.choice(("grid_worker", "hotline", "citizen")),
            district=OTHER if grid is None and rng.random() < 0.5 else COUNTY,
            state=state,
            deadline=deadline,
            events=tuple(events),
        )


def counted_by_hand(session: Any, first: date, last: date) -> dict[str, Any]:
    """Every district's totals from the case rows, one case at a time."""
    start = datetime(first.year, first.month, first.day, tzinfo=Z).astimezone(UTC)
    end = (datetime(last.year, last.month, last.day, tzinfo=Z) + timedelta(days=1)).astimezone(UTC)
    swept = set(
        session.scalars(
            select(CaseEvent.case_id).where(
                CaseEvent.action == "supervise",
                CaseEvent.role == "system",
                CaseEvent.created_at < end,
            )
        )
    )
    n = dict.fromkeys(
        ("reported", "filed", "filed_closed", "closed", "on_time", "open", "overdue"), 0
    )
    for case in session.scalars(select(Case)):
        closed_by_end = case.closed_at is not None and case.closed_at < end
        voided_by_end = case.state == "void" and case.updated_at < end
        n["reported"] += start <= case.created_at < end
        if case.filed_at is not None and start <= case.filed_at < end:
            n["filed"] += 1
            n["filed_closed"] += closed_by_end
        if case.closed_at is not None and start <= case.closed_at < end:
            n["closed"] += 1
            n["on_time"] += case.id not in swept
        if case.created_at < end and not closed_by_end and not voided_by_end:
            n["open"] += 1
            n["overdue"] += (
                case.state not in ENDED
                and case.paused_at is None
                and case.deadline is not None
                and case.deadline <= NOW
            )
    return {
        "reported": n["reported"],
        "filed": n["filed"],
        "closed": n["closed"],
        "open": n["open"],
        "overdue": n["overdue"],
        "closure_rate": round(n["filed_closed"] / n["filed"], 4) if n["filed"] else None,
        "on_time_rate": round(n["on_time"] / n["closed"], 4) if n["closed"] else None,
    }


def user(session: Any, username: str) -> User:
    found = session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def readers(session: Any) -> list[User]:
    """Every district (admin), one district (supervisor), one street (a street's centre)."""
    supervisor = user(session, "supervisor")
    supervisor.district_code = COUNTY
    street_centre = user(session, "street_center")
    session.flush()
    return [user(session, "admin"), supervisor, street_centre]


def assert_same(session: Any, readers: list[User]) -> None:
    for reader in readers:
        for first, last in PERIODS:
            rolled = dashboard(session, reader, first, last, now=NOW)
            live = dashboard(session, reader, first, last, now=NOW, rollup=False)
            assert rolled == live, (reader.username, first, last)
    for first, last in PERIODS:
        board = dashboard(session, readers[0], first, last, now=NOW, rollup=False)
        assert board["totals"] == counted_by_hand(session, first, last), (first, last)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_rollup_and_the_live_count_agree(session, seed):
    rng = random.Random(seed)
    random_history(session, rng, 160)
    people = readers(session)
    assert build_rollup(session, MARCH[0], ROLLED_UP_TO, NOW) == ROLLED_UP_TO.day
    session.flush()
    assert covered_days(session, MARCH[0], MARCH[-1]) == set(MARCH[: ROLLED_UP_TO.day])
    assert session.scalar(select(func.sum(DashboardRollup.reported))) > 0
    assert_same(session, people)
    # A second run has nothing to do.
    assert build_rollup(session, MARCH[0], ROLLED_UP_TO, NOW) == 0


def test_the_rollup_is_what_the_dashboard_reads(session):
    """Sums of the listed days come from the roll-up's rows, not from the cases."""
    random_history(session, random.Random(4), 60)
    admin = readers(session)[0]
    build_rollup(session, MARCH[0], ROLLED_UP_TO, NOW)
    before = dashboard(session, admin, MARCH[0], MARCH[9], now=NOW)
    sources = session.scalar(
        select(func.count()).where(
            DashboardRollup.day == MARCH[4], DashboardRollup.dimension == "source"
        )
    )
    assert sources
    # Only a row written behind the triggers' back would do this: the dashboard believes it.
    session.execute(
        update(DashboardRollup)
        .where(DashboardRollup.day == MARCH[4], DashboardRollup.dimension == "source")
        .values(reported=DashboardRollup.reported + 1000)
    )
    after = dashboard(session, admin, MARCH[0], MARCH[9], now=NOW)
    assert after["totals"]["reported"] == before["totals"]["reported"] + 1000 * sources


def struck(session: Any) -> set[date]:
    return set(MARCH[: ROLLED_UP_TO.day]) - covered_days(session, MARCH[0], MARCH[-1])


@pytest.mark.parametrize("seed", [5, 6])
def test_late_writes_strike_their_days_and_the_job_rebuilds_them(session, seed):
    rng = random.Random(seed)
    random_history(session, rng, 120)
    people = readers(session)
    build_rollup(session, MARCH[0], ROLLED_UP_TO, NOW)
    session.flush()
    cases = session.scalars(select(Case).order_by(Case.id)).all()

    # Filing today with another category: the day it was reported (and filed, closed) is off.
    recategorised = next(c for c in cases if c.created_at < at(MARCH[10], 0))
    categories = session.scalars(select(Category.code).order_by(Category.code).limit(3)).all()
    recategorised.category_code = next(c for c in categories if c != recategorised.category_code)
    session.flush()
    reported_day = recategorised.created_at.astimezone(Z).date()
    assert reported_day in struck(session)
    assert_same(session, people)

    # A case written late, reported on the 3rd, filed on the 4th, closed on the 6th.
    late = make_case(
        session,
        at(MARCH[2], 600),
        grid=None,
        category=categories[0],
        events=(
            ("file", "filed", at(MARCH[3], 600), "shift_leader"),
            ("close", "closed", at(MARCH[5], 600), "shift_leader"),
        ),
        state="closed",
    )
    assert {MARCH[2], MARCH[3], MARCH[5]} <= struck(session)
    assert_same(session, people)

    # A past open case filed and closed late, its events dated on covered days.
    still_open = next(
        c
        for c in cases
        if c.state == "reported" and c.created_at < at(MARCH[12], 0) and c.id != late.id
    )
    last_event = session.scalar(
        select(func.max(CaseEvent.created_at)).where(CaseEvent.case_id == still_open.id)
    )
    filed_at = last_event + timedelta(hours=1)
    closed_at = filed_at + timedelta(hours=20)
    for action, to_state, moment in (
        ("file", "filed", filed_at),
        ("close", "closed", closed_at),
    ):
        append_event(
            session,
            still_open,
            action=action,
            actor_id=None,
            role="shift_leader",
            from_state=still_open.state,
            to_state=to_state,
            at=moment,
        )
        still_open.state = to_state
    still_open.filed_at, still_open.closed_at, still_open.updated_at = (
        filed_at,
        closed_at,
        closed_at,
    )
    session.flush()
    for moment in (filed_at, closed_at):
        if moment.astimezone(Z).date() <= ROLLED_UP_TO:
            assert moment.astimezone(Z).date() in struck(session)
    assert_same(session, people)

    # The SLA sweep's 督办 written late for a case closed on a covered day: it was not on time.
    closed = next(
        c
        for c in cases
        if c.closed_at is not None and c.closed_at.astimezone(Z).date() <= ROLLED_UP_TO
    )
    append_event(
        session,
        closed,
        action="supervise",
        actor_id=None,
        role="system",
        from_state="filed",
        to_state="filed",
        at=closed.closed_at - timedelta(minutes=1),
    )
    session.flush()
    assert closed.closed_at.astimezone(Z).date() in struck(session)
    assert_same(session, people)

    # The nightly job's next run rebuilds exactly the struck days.
    gone = struck(session)
    assert build_rollup(session, MARCH[0], ROLLED_UP_TO, NOW) == len(gone)
    assert struck(session) == set()
    assert_same(session, people)


def test_the_nightly_job_rolls_up_to_yesterday_and_reschedules(app, session, monkeypatch):
    today = datetime.now(UTC).astimezone(Z).date()
    make_case(session, at(today - timedelta(days=3), 600), grid=None, category=_category(session))
    make_case(session, at(today, 1), grid=None, category=_category(session))
    scheduled: list[Any] = []
    monkeypatch.setattr(
        "gridapp.evaluation.rollup.schedule_dashboard_rollup", lambda: scheduled.append(1)
    )
    with app.app_context():
        built = dashboard_rollup_job()["days"]
    listed = set(session.scalars(select(DashboardRollupDay.day)))
    assert built == len(listed) >= 3
    assert {today - timedelta(days=n) for n in (1, 2, 3)} <= listed
    assert max(listed) == today - timedelta(days=1)
    assert scheduled == [1]
    assert rollup_until(session, today - timedelta(days=1)) == 0


def test_the_nightly_job_is_scheduled_once_a_night(app):
    with app.app_context():
        job_id = schedule_dashboard_rollup(datetime(2026, 11, 26, tzinfo=UTC))
    # 08:00 in Shanghai: the next 04:30 is the following night.
    assert job_id.endswith("dashboard-rollup-20261127")


def _category(session: Any) -> str:
    code = session.scalar(select(Category.code).order_by(Category.code).limit(1))
    assert code is not None
    return code
