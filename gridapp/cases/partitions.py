"""A case by id on either schema: plain, or ``case`` partitioned by month (PostgreSQL, 按月分区).

Partitioned (migrations 0025 and 0028), a statement that names only the id probes every month's
index, one more each month the system runs; ``case_key`` holds each case's ``created_at``, and
naming it lets PostgreSQL read one month when the statement runs. SQLite and a plain PostgreSQL
schema have no ``case_key`` and use the statement as it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Select, bindparam, column, select, table, text
from sqlalchemy.orm import Session

from gridapp.cases.models import Case
from gridapp.core.types import UTCDateTime

# Set on a pooled connection once asked: a schema does not change under a running process.
_PARTITIONED = "gridapp_case_partitioned"
CASE_KEY = table("case_key", column("id", Integer()), column("created_at", UTCDateTime()))
# The month of the case whose id is bound as ``case_id``.
CASE_MONTH = (
    select(CASE_KEY.c.created_at).where(CASE_KEY.c.id == bindparam("case_id")).scalar_subquery()
)


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


def by_id(statement: Select[Any]) -> dict[bool, Select[Any]]:
    """A statement for one case (its id bound as ``case_id``) for each schema, by `partitioned`."""
    return {False: statement, True: statement.where(Case.created_at == CASE_MONTH)}


CASE_BY_ID = by_id(select(Case).where(Case.id == bindparam("case_id")))
CASE_BY_ID_FOR_UPDATE = {key: value.with_for_update() for key, value in CASE_BY_ID.items()}


def load_case(session: Session, case_id: int, *, lock: bool = False) -> Case | None:
    """``Session.get`` for a case (with ``lock``, its row locked), one month read on partitions."""
    if not partitioned(session):
        return session.get(Case, case_id, with_for_update=lock or None)
    statement = (CASE_BY_ID_FOR_UPDATE if lock else CASE_BY_ID)[True]
    case: Case | None = session.scalar(statement, {"case_id": case_id})
    return case
