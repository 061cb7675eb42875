"""A case by id on either schema: plain, or ``case`` partitioned by month (PostgreSQL, 按月分区).

Partitioned (migrations 0025 and 0028), a statement that names only the id probes every month's
index, one more each month the system runs; ``case_key`` holds each case's ``created_at``, read
first and named as a value (`in_month`), so that PostgreSQL plans, locks and reads one month.
SQLite and a plain PostgreSQL schema have no ``case_key`` and use the statement as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, bindparam, column, select, table, text
from sqlalchemy.orm import Session

from gridapp.cases.models import Case
from gridapp.core.types import UTCDateTime

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


def in_month(statement: Select[Any]) -> Select[Any]:
    """A statement for one case (its id bound as ``case_id``) with its month bound as ``month``.

    The month goes in as a value read first (`case_month`), not as a subquery of the same
    statement: PostgreSQL then prunes the other months when it plans the statement, and plans
    and locks one month's partition and indexes. With the subquery it planned every month and,
    on a prepared statement's generic plan, locked them all (PostgreSQL 15): 2.4–4.0 ms a
    lookup at 17 months against 0.45–0.64 ms for the two statements (docs/performance.md).
    """
    return statement.where(Case.created_at == bindparam("month"))


def case_month(session: Session, case_id: int) -> datetime | None:
    """The month key (created_at) of a case on the partitioned schema; None: no such case."""
    month: datetime | None = session.scalar(CASE_MONTH, {"case_id": case_id})
    return month


CASE_IN_MONTH = in_month(select(Case).where(Case.id == bindparam("case_id")))
CASE_IN_MONTH_FOR_UPDATE = CASE_IN_MONTH.with_for_update()


def load_case(session: Session, case_id: int, *, lock: bool = False) -> Case | None:
    """``Session.get`` for a case (with ``lock``, its row locked), one month read on partitions."""
    if not partitioned(session):
        return session.get(Case, case_id, with_for_update=lock or None)
    month = case_month(session, case_id)
    if month is None:
        return None
    statement = CASE_IN_MONTH_FOR_UPDATE if lock else CASE_IN_MONTH
    case: Case | None = session.scalar(statement, {"case_id": case_id, "month": month})
    return case
