"""Cases record the 12345 call-back (回访) as the provincial rules ask: whether the problem was
resolved and how satisfied the citizen is (满意 / 基本满意 / 不满意), separately, and how many
call-backs in a row could not reach the citizen.

``satisfied`` stays: true for satisfied or basically satisfied. Existing call-backs knew only
``satisfied``, so their ``satisfaction`` is filled from it (satisfied or unsatisfied); whether
they were resolved was never asked and stays unknown.

Revision ID: 0017
Revises: 0015
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case") as batch_op:
        batch_op.add_column(sa.Column("resolved", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("satisfaction", sa.String(24), nullable=True))
        batch_op.add_column(
            sa.Column("unreached_calls", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE \"case\" SET satisfaction = CASE WHEN satisfied THEN 'satisfied' "
        "ELSE 'unsatisfied' END WHERE satisfied IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("case") as batch_op:
        batch_op.drop_column("unreached_calls")
        batch_op.drop_column("satisfaction")
        batch_op.drop_column("resolved")
