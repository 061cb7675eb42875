"""The 12345 hotline operator (话务员) becomes a known user role.

Only the CHECK constraint on ``user.role`` changes. SQLite cannot alter a constraint, so batch
mode rebuilds the table, and its DROP TABLE deletes the rows first; with foreign keys on, every
row another table points at would count as a violation that no later statement takes back. The
rows therefore wait in a temporary table while the empty table is rebuilt, and come back through
INSERT, which settles the violations their removal raised before the commit checks them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The role lists as they stand at this revision: a migration never imports the live vocabulary,
# which keeps moving after it.
BEFORE = (
    "grid_worker",
    "acceptor",
    "dispatcher",
    "shift_leader",
    "handler",
    "dept_admin",
    "supervisor",
    "admin",
)
AFTER = (
    "grid_worker",
    "acceptor",
    "dispatcher",
    "shift_leader",
    "handler",
    "hotline_operator",
    "dept_admin",
    "supervisor",
    "admin",
)


def _replace_role_check(roles: Sequence[str]) -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        columns = ", ".join(f'"{c["name"]}"' for c in sa.inspect(bind).get_columns("user"))
        op.execute("PRAGMA defer_foreign_keys = ON")
        op.execute(f'CREATE TEMP TABLE user_rows AS SELECT {columns} FROM "user"')
        op.execute('DELETE FROM "user"')
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_constraint(op.f("ck_user_role_known"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_user_role_known"), "role IN (" + ", ".join(f"'{r}'" for r in roles) + ")"
        )
    if sqlite:
        op.execute(f'INSERT INTO "user" ({columns}) SELECT {columns} FROM temp.user_rows')
        op.execute("DROP TABLE temp.user_rows")


def upgrade() -> None:
    _replace_role_check(AFTER)


def downgrade() -> None:
    # Refused by the old constraint while a hotline operator exists: remove them first.
    _replace_role_check(BEFORE)
