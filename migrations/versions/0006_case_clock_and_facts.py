"""What the process guards and the step clock read from a case; cases without a point.

``step_pauses`` keeps the running step's closed pauses (挂账) so the clock counts working time
around them; ``check_confirmed`` and ``satisfied`` are the latest on-site check (核实) and
call-back (回访) answers, which the guards of the hotline and urban processes read. A call to
the hotline may give an address only, so a case's point and original coordinates may be NULL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCATED = ("location", "lon", "lat", "original_lon", "original_lat", "original_crs")


def upgrade() -> None:
    with op.batch_alter_table("case") as batch_op:
        batch_op.add_column(
            sa.Column(
                "step_pauses",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )
        batch_op.add_column(sa.Column("check_confirmed", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("satisfied", sa.Boolean(), nullable=True))
        for name in LOCATED:
            batch_op.alter_column(name, nullable=True)


def downgrade() -> None:
    # Cases without a point cannot go back to a schema that demands one: they are refused.
    with op.batch_alter_table("case") as batch_op:
        for name in LOCATED:
            batch_op.alter_column(name, nullable=False)
        batch_op.drop_column("satisfied")
        batch_op.drop_column("check_confirmed")
        batch_op.drop_column("step_pauses")
