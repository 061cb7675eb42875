"""An outbox row is done when its job's effect has committed (``done_at``), not when Redis took it.

Rows handed to Redis before this revision were counted done at that moment; they keep that
meaning (``done_at = enqueued_at``), so the reconciler does not re-send years of old jobs.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridapp.core.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("done_at", gridapp.core.types.UTCDateTime(), nullable=True))
    op.execute("UPDATE outbox SET done_at = enqueued_at WHERE enqueued_at IS NOT NULL")
    op.create_index(
        "ix_outbox_unfinished",
        "outbox",
        ["enqueued_at"],
        unique=False,
        postgresql_where=sa.text("done_at IS NULL"),
        sqlite_where=sa.text("done_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_outbox_unfinished",
        table_name="outbox",
        postgresql_where=sa.text("done_at IS NULL"),
        sqlite_where=sa.text("done_at IS NULL"),
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("done_at")
