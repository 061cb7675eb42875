"""A case by id on either schema: plain, or ``case`` partitioned by month (PostgreSQL, 按月分区).

Partitioned (migrations 0025 and 0028), a statement that names only the id probes every month's
index, one more each month the system runs; ``case_key`` holds each case's ``created_at``, read
first and named as a value (`in_month`), so that PostgreSQL plans, locks and reads one month.
The month's bounds are also written into the statement's text (`in_month`): each month is then
a statement of its own, which the server prepares once and keeps one plan for, over that month's
partition alone. SQLite and a plain PostgreSQL schema have no ``case_key`` and use the statement
as it is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    column,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

import workflow
from gridapp.cases.models import Case
from gridapp.core.types import UTCDateTime

# Statements kept per month for each statement built by `in_month`: ten years of months, more
# than a schema keeps partitions for (migration 0025's MAX_MONTHS).
_MONTHS_KEPT = 128
# Set on a pooled connection once asked: a schema does not change under a running process.
_PARTITIONED = "gridapp_case_partitioned"
CASE_KEY = table("case_key", column("id", Integer()), column("created_at", UTCDateTime()))
# The month of the case whose id is bound as ``case_id``: its created_at, as case_key holds it.
CASE_MONTH = select(CASE_KEY.c.created_at).where(CASE_KEY.c.id == bindparam("case_id"))


def partitioned(session: Session) -> bool:
    """Whether "case" is partitioned by month: asked once per pooled database connection."""
    connection = session.connection()
    info = connection.info
    found = info.get(_PARTITIONED)
    if found is None:
        found = connection.dialect.name == "postgresql" and bool(
            connection.scalar(text("SELECT to_regclass('public.case_key') IS NOT NULL"))
        )
        info[_PARTITIONED] = found
    return bool(found)


def in_month(statement: Select[Any]) -> Callable[[datetime], Select[Any]]:
    """For a statement of one case (its id bound as ``case_id``), its statement in a given month.

    The case's ``created_at`` goes in as a value read first (`case_month`), bound as
    ``month``, not as a subquery of the same statement: PostgreSQL then prunes the other
    months when it plans the statement, and plans and locks one month's partition and indexes.
    With the subquery it planned every month and, on a prepared statement's generic plan,
    locked them all (PostgreSQL 15): 2.4–4.0 ms a lookup at 17 months against 0.45–0.64 ms for
    the two statements (docs/performance.md).

    With the value bound alone, PostgreSQL planned that statement anew on every call: its
    generic plan covers every month, so it costs more than a custom plan by the server's own
    estimate. The month's bounds written in as constants prune the generic plan to the month
    too, so the server keeps it after a statement's first calls and plans nothing more.
    """
    statement = statement.where(Case.created_at == bindparam("month"))

    @functools.lru_cache(maxsize=_MONTHS_KEPT)
    def of_month(first: date) -> Select[Any]:
        start = datetime(first.year, first.month, 1, tzinfo=workflow.LOCAL_ZONE)
        following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
        end = datetime(following.year, following.month, 1, tzinfo=workflow.LOCAL_ZONE)
        return statement.where(
            Case.created_at >= _timestamp(start), Case.created_at < _timestamp(end)
        )

    def for_month(month: datetime) -> Select[Any]:
        return of_month(month.astimezone(workflow.LOCAL_ZONE).date().replace(day=1))

    return for_month


def _timestamp(moment: datetime) -> ColumnElement[datetime]:
    # A constant of the statement's text: made here from a month's first instant, never from
    # input. UTC, as the column stores it.
    return literal_column(f"TIMESTAMPTZ '{moment.astimezone(UTC).isoformat()}'", UTCDateTime())


def case_month(session: Session, case_id: int) -> datetime | None:
    """The month key (created_at) of a case on the partitioned schema; None: no such case."""
    month: datetime | None = session.scalar(CASE_MONTH, {"case_id": case_id})
    return month


case_in_month = in_month(select(Case).where(Case.id == bindparam("case_id")))
case_in_month_for_update = in_month(
    select(Case).where(Case.id == bindparam("case_id")).with_for_update()
)


def load_case(session: Session, case_id: int, *, lock: bool = False) -> Case | None:
    """``Session.get`` for a case (with ``lock``, its row locked), one month read on partitions."""
    if not partitioned(session):
        return session.get(Case, case_id, with_for_update=lock or None)
    month = case_month(session, case_id)
    if month is None:
        return None
    statement = (case_in_month_for_update if lock else case_in_month)(month)
    case: Case | None = session.scalar(statement, {"case_id": case_id, "month": month})
    return case
