"""PostgreSQL: ``case_key`` holds each case's ``created_at``, so a case found by id reads one month.

``case`` is partitioned by month of ``created_at`` (migration 0025) and its primary key is
``(id, created_at)``: a statement that names only the id probes every month's index, one more
each month the system runs (17 on the benchmark's year). With the case's ``created_at`` in its
key row, ``gridapp.cases.partitions`` looks a case up by id *and* month, and PostgreSQL prunes the
rest when the statement runs. The key trigger of 0025 keeps the column in step, a month's move
included; it is made again here with the column in its list. SQLite (no partitions) and a
plain PostgreSQL schema have no ``case_key``: there this migration does nothing.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-26
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The key columns 0025 gave `case_key` (its primary key's and unique constraints'), in order.
KEY_COLUMNS = ["id", "number", "reporter_id", "client_id"]
MONTH = "created_at"


def _partitioned() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and bool(
        bind.exec_driver_sql("SELECT to_regclass('public.case_key') IS NOT NULL").scalar()
    )


def _remake_trigger(columns: list[str]) -> None:
    """0025's key trigger on ``case``, over ``columns`` (its code is frozen there)."""
    path = Path(__file__).with_name("0025_monthly_partitions.py")
    spec = importlib.util.spec_from_file_location("gridapp_migration_0025", path)
    assert spec is not None and spec.loader is not None
    partitions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(partitions)
    op.execute('DROP TRIGGER "case_key_update" ON public."case"')
    op.execute('DROP TRIGGER "case_key" ON public."case"')
    op.execute("DROP FUNCTION public.gridapp_case_key()")
    partitions._create_key_trigger("case", columns)


def upgrade() -> None:
    if not _partitioned():
        return
    op.execute('LOCK TABLE public."case" IN SHARE ROW EXCLUSIVE MODE')
    op.execute(f"ALTER TABLE public.case_key ADD COLUMN {MONTH} timestamp with time zone")
    op.execute(
        f'UPDATE public.case_key k SET {MONTH} = c.{MONTH} FROM public."case" c WHERE c.id = k.id'
    )
    op.execute(f"ALTER TABLE public.case_key ALTER COLUMN {MONTH} SET NOT NULL")
    _remake_trigger([*KEY_COLUMNS, MONTH])
    op.execute("ANALYZE public.case_key")


def downgrade() -> None:
    if not _partitioned():
        return
    _remake_trigger(KEY_COLUMNS)
    op.execute(f"ALTER TABLE public.case_key DROP COLUMN {MONTH}")
