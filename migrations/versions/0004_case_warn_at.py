"""The instant each running step reaches 80 % of its time, so the SLA sweep reads only due cases.

Existing rows start without it; the sweep fills it the first time it meets them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridapp.core.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case") as batch_op:
        batch_op.add_column(sa.Column("warn_at", gridapp.core.types.UTCDateTime(), nullable=True))
    op.create_index(
        "ix_case_open_warn_at",
        "case",
        ["warn_at"],
        unique=False,
        postgresql_where=sa.text("warn_at IS NOT NULL"),
        sqlite_where=sa.text("warn_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_case_open_warn_at",
        table_name="case",
        postgresql_where=sa.text("warn_at IS NOT NULL"),
        sqlite_where=sa.text("warn_at IS NOT NULL"),
    )
    with op.batch_alter_table("case") as batch_op:
        batch_op.drop_column("warn_at")
