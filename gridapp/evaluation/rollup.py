"""The dashboard's daily roll-up (每日汇总): closed days' counts, written by a nightly job.

A month of the leader's dashboard at a million cases a year counts ~80 000 cases three times
(reported, filed, closed) by street, category and source. Those counts are fixed once a day is
over, but for the rare change below, so the nightly job (04:30 Asia/Shanghai) writes them per
day and district, summed per street, per category, per source and in all, into
``dashboard_rollup``, and lists the day in ``dashboard_rollup_day``. The dashboard sums the
listed days' rows and counts the other days (today, a day struck off) from the cases, as
before; the numbers are the same either way (``tests/gridapp/evaluation/test_rollup.py``
compares them over random histories on both backends).

What a day holds is chosen so that the usual write never changes a past day: every count sits
on the day of the moment it counts (the report, the filing, the closing, the event into
``closed``), and those moments are written as they happen. Closing a case filed last week
counts on today; the closure rate's "filed in the period and closed by its end" is not rolled
up at all: the dashboard takes it as the filed count less those filed in the period that were
still open or voided at its end, which it counts live anyway. What does change a listed day
(migration 0027's triggers strike the day off the list in the same transaction, and the next
night rebuilds it):

- a case added or removed with a created, filed or closed time on the day (a late write: an
  import, a back-dated test history; intake writes the server's time);
- a case counted on the day whose district, street, category or source changes (filing may
  change the category: the day it was reported is struck off), or whose created, filed or
  closed time moves;
- an event into ``closed`` written with a time on the day (the trend counts those), and the SLA
  sweep's 督办 added to a case closed on the day (on time or not).

Edits to a past case's state do not change the day it was filed or closed: a case is filed at
most once and ``closed`` leads only to ``evaluated``, so ``filed_at`` and ``closed_at`` are set
once. The SLA sweep only looks at running clocks, so a closed case gets no 督办 after its
closing: "no automatic 督办 before the closing" (what a day holds) and "none before the period's
end" (what the dashboard asks) are the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Index,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

import workflow
from gridapp.cases.actions import SYSTEM_ROLE
from gridapp.cases.models import Case, CaseEvent
from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context
from gridapp.core.models import Base
from gridapp.core.types import UTCDateTime, utcnow

S = workflow.State
# What each row sums over: its street, its category, its source, or the whole day.
DAY = "day"
ROLLED = ("street", "category", "source")
AT = time(4, 30)  # after the partition job (04:10): the day's partition is there by then


class DashboardRollup(Base):
    """One day's counts in one district, summed per street, category, source or in all."""

    __tablename__ = "dashboard_rollup"
    __table_args__ = (Index("ix_dashboard_rollup_day", "day", "district_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    district_code: Mapped[str | None] = mapped_column(String(20))
    # ``street``, ``category``, ``source`` (``code`` names which) or ``day`` (code null).
    dimension: Mapped[str] = mapped_column(String(10))
    code: Mapped[str | None] = mapped_column(String(40))
    reported: Mapped[int] = mapped_column(Integer)
    filed: Mapped[int] = mapped_column(Integer)
    closed: Mapped[int] = mapped_column(Integer)
    closed_on_time: Mapped[int] = mapped_column(Integer)
    # ``day`` rows: the cases whose events entered ``closed`` that day (the trend's count).
    closed_events: Mapped[int] = mapped_column(Integer)


class DashboardRollupDay(Base):
    """A day whose roll-up rows are complete; the triggers of migration 0027 strike it off."""

    __tablename__ = "dashboard_rollup_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def local_date(session: Session, column: Any, start: datetime) -> ColumnElement[Any]:
    """Return a SQL expression for the Asia/Shanghai day of a UTC time column."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(workflow.LOCAL_ZONE.key, column), Date)
    # SQLite has no time zones: shift by the zone's offset, fixed at +08:00 since 1991.
    offset = start.astimezone(workflow.LOCAL_ZONE).utcoffset() or timedelta(0)
    return func.date(column, f"{int(offset.total_seconds()):+d} seconds")


def day_start(day: date) -> datetime:
    """The UTC instant an Asia/Shanghai day begins."""
    return datetime.combine(day, time(0), tzinfo=workflow.LOCAL_ZONE).astimezone(UTC)


# The SLA sweep's own 督办: an actor-less supervise (its partial index, migration 0019).
SWEEP_SUPERVISE = (
    CaseEvent.action == workflow.Action.supervise.value,
    CaseEvent.role == SYSTEM_ROLE,
)


def supervised_before(moment: Any) -> ColumnElement[bool]:
    """Whether the SLA sweep's own 督办 (no actor) is in a case's history before ``moment``:
    the history's record of a step gone overdue."""
    return exists().where(
        CaseEvent.case_id == Case.id, *SWEEP_SUPERVISE, CaseEvent.created_at < moment
    )


def runs(days: Iterable[date]) -> Iterator[tuple[date, date]]:
    """The consecutive runs of ``days`` (first and last of each), in order."""
    ordered = sorted(set(days))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == timedelta(days=1):
            j += 1
        yield ordered[i], ordered[j]
        i = j + 1


def covered_days(session: Session, first: date, last: date) -> set[date]:
    """The days from ``first`` to ``last`` whose roll-up may be read."""
    return set(
        session.scalars(
            select(DashboardRollupDay.day).where(DashboardRollupDay.day.between(first, last))
        )
    )


def _facts(session: Session, first: date, last: date) -> Select[Any]:
    """The roll-up rows of the days ``first`` to ``last``, as one INSERT's SELECT."""
    start, end = day_start(first), day_start(last + timedelta(days=1))
    attributes = (Case.district_code, Case.street_code, Case.category_code, Case.source)

    # A fresh literal each time: one object selected twice is one column to SQLAlchemy.
    def zero() -> ColumnElement[int]:
        return literal(0, Integer)

    def one() -> ColumnElement[int]:
        return literal(1, Integer)

    def counted(column: Any, *counts: ColumnElement[Any]) -> Select[Any]:
        return select(local_date(session, column, start).label("day"), *attributes, *counts).where(
            column >= start, column < end
        )

    # The first automatic 督办 of each case, joined once (a subquery per closed case probed
    # every month's partition of case_event).
    swept = (
        select(CaseEvent.case_id, func.min(CaseEvent.created_at).label("first"))
        .where(*SWEEP_SUPERVISE)
        .group_by(CaseEvent.case_id)
        .subquery("swept")
    )
    on_time = case((or_(swept.c.first.is_(None), swept.c.first >= Case.closed_at), 1), else_=0)
    facts = union_all(
        counted(Case.created_at, one(), zero(), zero(), zero()),
        counted(Case.filed_at, zero(), one(), zero(), zero()),
        counted(Case.closed_at, zero(), zero(), one(), on_time).outerjoin(
            swept, swept.c.case_id == Case.id
        ),
    ).subquery("facts")
    names = ("reported", "filed", "closed", "closed_on_time")
    values = list(facts.c)[5:]
    groups = (
        select(
            facts.c.day,
            *list(facts.c)[1:5],
            *(func.sum(value).label(name) for value, name in zip(values, names, strict=True)),
        )
        .group_by(*list(facts.c)[:5])
        .cte("groups")
    )
    g = groups.c
    sums = [func.sum(g[name]) for name in names]
    parts: list[Select[Any]] = [
        select(g.day, g.district_code, literal(dimension), column, *sums, zero()).group_by(
            g.day, g.district_code, column
        )
        for dimension, column in zip(
            ROLLED, (g.street_code, g.category_code, g.source), strict=True
        )
    ]
    parts.append(
        select(g.day, g.district_code, literal(DAY), null(), *sums, zero()).group_by(
            g.day, g.district_code
        )
    )
    closing_day = local_date(session, CaseEvent.created_at, start)
    parts.append(
        select(
            closing_day,
            Case.district_code,
            literal(DAY),
            null(),
            zero(),
            zero(),
            zero(),
            zero(),
            func.count(func.distinct(CaseEvent.case_id)),
        )
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.to_state == S.closed.value,
            CaseEvent.created_at >= start,
            CaseEvent.created_at < end,
        )
        .group_by(closing_day, Case.district_code)
    )
    return union_all(*parts)  # type: ignore[return-value]


def build_rollup(session: Session, first: date, last: date, now: datetime | None = None) -> int:
    """Roll up every day from ``first`` to ``last`` that is not listed yet; how many were built.

    Idempotent: a listed day is left alone. On PostgreSQL the list of days is locked against
    the triggers' strikes for the transaction (they wait, then strike what this run counted
    without their write); SQLite's writers take turns anyway.
    """
    now = now or datetime.now(UTC)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE dashboard_rollup_day IN SHARE ROW EXCLUSIVE MODE"))
        # As the dashboard: a year's grouping crosses the JIT threshold and gains nothing.
        session.execute(text("SET LOCAL jit = off"))
    listed = covered_days(session, first, last)
    missing = [
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if first + timedelta(days=n) not in listed
    ]
    columns = [
        DashboardRollup.day,
        DashboardRollup.district_code,
        DashboardRollup.dimension,
        DashboardRollup.code,
        DashboardRollup.reported,
        DashboardRollup.filed,
        DashboardRollup.closed,
        DashboardRollup.closed_on_time,
        DashboardRollup.closed_events,
    ]
    for run_first, run_last in runs(missing):
        # Rows a struck-off day kept from its last build.
        session.execute(
            delete(DashboardRollup).where(DashboardRollup.day.between(run_first, run_last))
        )
        session.execute(
            insert(DashboardRollup).from_select(
                [column.key for column in columns], _facts(session, run_first, run_last)
            )
        )
    if missing:
        session.execute(
            insert(DashboardRollupDay), [{"day": day, "built_at": now} for day in missing]
        )
    return len(missing)


def rollup_until(session: Session, last: date, now: datetime | None = None) -> int:
    """Roll up every day not listed yet from the oldest case's day to ``last``."""
    oldest = session.scalar(select(func.min(Case.created_at)))
    if oldest is None:
        return 0
    first = workflow.local_day(oldest)
    return build_rollup(session, first, last, now) if first <= last else 0


def dashboard_rollup_job() -> dict[str, int]:
    """Roll up the closed days not listed yet (yesterday, struck-off days); schedule the next."""
    now = datetime.now(UTC)
    yesterday = workflow.local_day(now) - timedelta(days=1)
    with job_context() as session:
        built = rollup_until(session, yesterday, now)
    schedule_dashboard_rollup()
    return {"days": built}


def schedule_dashboard_rollup(now: datetime | None = None) -> str:
    """Schedule the next nightly roll-up; one job id per night dedupes repeated scheduling."""
    return redis.schedule_nightly(
        dashboard_rollup_job,
        AT,
        name="dashboard-rollup",
        description="dashboard daily roll-up",
        now=now,
    )


def days_condition(column: Any, days: Iterable[tuple[date, date]]) -> ColumnElement[bool]:
    """``column`` within one of the runs of days."""
    return or_(*(and_(column >= a, column <= b) for a, b in days))
