"""Areas and cases say whether they are urban or rural (``setting``); cases count approved
extensions (``extension_count``), so step limits and extension rules can be data.

Existing areas and cases are urban; existing cases count the extensions their histories hold.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("area") as batch_op:
        batch_op.add_column(
            sa.Column("setting", sa.String(8), nullable=False, server_default="urban")
        )
    with op.batch_alter_table("case") as batch_op:
        batch_op.add_column(
            sa.Column("setting", sa.String(8), nullable=False, server_default="urban")
        )
        batch_op.add_column(
            sa.Column("extension_count", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        'UPDATE "case" SET extension_count = (SELECT count(*) FROM case_event '
        "WHERE case_event.case_id = \"case\".id AND case_event.action = 'approve_extension')"
    )


def downgrade() -> None:
    with op.batch_alter_table("case") as batch_op:
        batch_op.drop_column("extension_count")
        batch_op.drop_column("setting")
    with op.batch_alter_table("area") as batch_op:
        batch_op.drop_column("setting")
