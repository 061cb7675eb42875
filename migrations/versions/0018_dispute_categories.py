"""Categories say whether they are disputes (矛盾纠纷, ``dispute``): handling one records
whether it was resolved (化解), which the areas' 化解率 counts.

Existing categories are not disputes; the demo seed marks the 矛盾纠纷 classes.

Revision ID: 0018
Revises: 0015
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("category") as batch_op:
        batch_op.add_column(
            sa.Column("dispute", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("category") as batch_op:
        batch_op.drop_column("dispute")
