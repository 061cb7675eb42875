"""Seed the work calendar from chinese-calendar (2004 to the last year it knows).

The admins own the table from here on: next years come from the State Council's notice through
``flask calendar import``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import workflow

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

calendar_entry = sa.table(
    "calendar_entry",
    sa.column("day", sa.Date()),
    sa.column("kind", sa.String()),
    sa.column("name", sa.String()),
)


def upgrade() -> None:
    calendar = workflow.calendar_from_chinese_calendar()
    op.bulk_insert(
        calendar_entry,
        [{"day": e.day, "kind": str(e.kind), "name": e.name[:60]} for e in calendar.entries()],
    )


def downgrade() -> None:
    op.execute(calendar_entry.delete())
