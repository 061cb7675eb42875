"""An index on the deadline each department task's event sets (部门任务时限).

A month's evaluation of the departments, recomputed from the history, counts the tasks that
fell due in the month (``gridapp.evaluation.tasks``): handled then (a feedback, found by
``ix_case_event_action_created``) or left unhandled past a deadline that ran out then. The
deadline is in the data of the event that set it (a dispatch, an acknowledgement, a resume, an
approved extension), so this partial index holds it, as the data's text, for those events only.

On PostgreSQL the index is made on every month's partition (``case_event`` is partitioned by
migration 0025); at a million cases (7.9 million events, 3 in 10 of them indexed) it takes
about a minute and blocks writes to ``case_event`` meanwhile.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_case_event_task_deadline"
# workflow.evaluation.TASK_DEADLINES as this revision knew it (a migration keeps its own copy):
# the data key each action records its new deadline under. The expression and the condition are
# written as gridapp.evaluation.models renders them: SQLite uses the index only for a query
# that states the same literals.
KEYS = (("deadline", ("dispatch", "acknowledge", "resume")), ("until", ("approve_extension",)))


def _names(actions: Sequence[str]) -> str:
    return ", ".join(f"'{action}'" for action in actions)


def _member(dialect: str, key: str) -> str:
    if dialect == "postgresql":
        return f"(data ->> '{key}')"
    return f"JSON_EXTRACT(data, '$.\"{key}\"')"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    branches = " ".join(
        f"WHEN (action IN ({_names(actions)})) THEN {_member(dialect, key)}"
        for key, actions in KEYS
    )
    condition = sa.text(f"action IN ({_names([a for _, actions in KEYS for a in actions])})")
    op.create_index(
        NAME,
        "case_event",
        [sa.text(f"(CASE {branches} END)"), "case_id"],
        postgresql_where=condition,
        sqlite_where=condition,
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="case_event")
