"""Cases record when they were filed (``case.filed_at``, 立案), for the dashboard's filed count.

Measured over a million cases (``bench.bench_city``): the cases filed in a month were the ids
of a month's ``file`` events joined back to the case rows (a hash join over every case, 2.1 s
on PostGIS). The ``record_filing`` effect of the filing row now stores the moment on the case,
and ``case(filed_at, created_at) WHERE filed_at IS NOT NULL`` makes the count a range, as the
closed count is of ``closed_at``. A case is filed at most once (no process leads back to the
state that takes ``file``); existing cases take their ``file`` event's time from the history.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridapp.core.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The literal of gridapp.cases.models' partial index (a migration keeps its own copy).
FILED = "filed_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("case") as batch_op:
        batch_op.add_column(sa.Column("filed_at", gridapp.core.types.UTCDateTime(), nullable=True))
    # One pass over the file events (their (action, created_at, case_id) index, migration
    # 0019), not a subquery per case; both backends take UPDATE … FROM (SQLite since 3.33).
    op.execute(
        'UPDATE "case" SET filed_at = filing.at FROM ('
        "SELECT case_id, min(created_at) AS at FROM case_event "
        "WHERE action = 'file' GROUP BY case_id"
        ') AS filing WHERE "case".id = filing.case_id'
    )
    op.create_index(
        "ix_case_filed_created",
        "case",
        ["filed_at", "created_at"],
        unique=False,
        postgresql_where=sa.text(FILED),
        sqlite_where=sa.text(FILED),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_case_filed_created",
        table_name="case",
        postgresql_where=sa.text(FILED),
        sqlite_where=sa.text(FILED),
    )
    with op.batch_alter_table("case") as batch_op:
        batch_op.drop_column("filed_at")
