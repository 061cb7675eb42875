"""Monthly partitions of ``case`` and ``case_event`` on PostgreSQL (按月分区, migration 0025).

Partitions are Asia/Shanghai calendar months. ``ensure_partitions`` asks the database for the
current month's and the next ``ahead`` months' partitions (the SQL function runs with the
tables' owner's rights, so the app's role may call it); the nightly ``partition-ensure`` job
and ``flask db partitions`` call it, so a new case never lands in the DEFAULT partition for
long. Rows the DEFAULT partition took for a month move into that month's partition when it is
made. SQLite has no partitions: there every call is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

# Months made ahead of the current one (the migration makes as many).
AHEAD = 3
PARTITIONED = ("case", "case_event")

_ENSURE = text("SELECT public.gridapp_ensure_partitions(:ahead)")
_HAS_FUNCTION = text("SELECT to_regprocedure('public.gridapp_ensure_partitions(integer)')")
_DEFAULT_ROWS = text("SELECT public.gridapp_default_rows(:table)")
_MONTHS = text(
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = to_regclass(:table) "
    "AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT' ORDER BY c.relname"
)


@dataclass(frozen=True)
class PartitionState:
    """How a partitioned table stands: its monthly partitions and its DEFAULT partition's rows."""

    table: str
    months: list[str]
    default_rows: int


def is_partitioned(db: Session | Connection) -> bool:
    """Whether this database has the monthly partitions (PostgreSQL at migration 0025 or later)."""
    bind = db if isinstance(db, Connection) else db.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return db.scalar(_HAS_FUNCTION) is not None


def ensure_partitions(db: Session | Connection, ahead: int = AHEAD) -> list[str]:
    """Create the current month's and ``ahead`` more months' partitions; the names made."""
    if not is_partitioned(db):
        return []
    return [str(name) for name in db.scalars(_ENSURE, {"ahead": ahead})]


def partition_states(db: Session | Connection) -> list[PartitionState]:
    """Each partitioned table's months and how many rows its DEFAULT partition holds."""
    if not is_partitioned(db):
        return []
    states = []
    for table in PARTITIONED:
        months = [str(name) for name in db.scalars(_MONTHS, {"table": f'public."{table}"'})]
        # Few rows or none once the job runs: a count is cheap (an estimate could say 0); the
        # app's role may not read a partition itself, the owner's function counts.
        default_rows = db.scalar(_DEFAULT_ROWS, {"table": table})
        states.append(PartitionState(table, months, int(default_rows or 0)))
    return states
