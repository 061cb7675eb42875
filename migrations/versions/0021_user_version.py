"""Users carry a version (``user.version``) that moves with every change to them.

Each web process keeps a copy of the users who call it and checks the copy against the
version published in Redis, in the same round trip as the session's revocation, instead of
reading the row on every request (``gridapp.accounts.principals``). Existing users start at
"0"; the first change gives a user a counter-and-random tag like the stored map versions.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user") as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.String(length=40), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_column("version")
