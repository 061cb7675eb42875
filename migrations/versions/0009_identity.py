"""Identity hardening: separate duties (三权分立) and one-time TOTP codes.

Two roles join ``user.role``: ``security_admin`` (users, roles, sessions) and ``audit_admin``
(reads the audit trail), next to ``admin`` (system configuration), as MLPS 2.0 level 3 asks.
Two columns join ``user``: ``totp_last_step``, the 30-second step of the last code accepted (a
code is accepted once: only a later step passes), and ``totp_pending_secret``, a secret being
enrolled that becomes the second factor once a code from it is confirmed.

The CHECK constraint changes as revision 0005 changed it: SQLite cannot alter a constraint, so
batch mode rebuilds the table while the rows wait in a temporary table (see 0005 for why).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The role lists as they stand at this revision: a migration never imports the live vocabulary.
BEFORE = (
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
AFTER = (*BEFORE, "security_admin", "audit_admin")


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
    with op.batch_alter_table("user") as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("totp_pending_secret", sa.String(length=64), nullable=True))
    _replace_role_check(AFTER)


def downgrade() -> None:
    # Refused by the old constraint while a security or audit admin exists: remove them first.
    _replace_role_check(BEFORE)
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_column("totp_pending_secret")
        batch_op.drop_column("totp_last_step")
