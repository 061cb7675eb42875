"""Social governance's 办结率 and 化解率: categories say whether they are disputes (矛盾纠纷,
``dispute``; handling one records whether it was resolved, 化解), and the stored evaluation
rules versions name the two new area indicators with weight 0.

Existing categories are not disputes; the demo seed marks the 矛盾纠纷 classes. A weight of 0
changes no score, so every stored version scores its periods as before and version 1 stays
equal to ``workflow.default_rules()``.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
RULES = sa.table("evaluation_rule_version", sa.column("version"), sa.column("rules", JSON))
# The indicators added to the `areas` kind (workflow/evaluation.py), at weight 0.
NEW_AREA_INDICATORS = ("completion", "dispute_resolution")


def _reweigh(change: Any) -> None:
    bind = op.get_bind()
    for version, rules in bind.execute(sa.select(RULES.c.version, RULES.c.rules)).all():
        updated = dict(rules)
        weights = {kind: dict(table) for kind, table in (updated.get("weights") or {}).items()}
        weights["areas"] = change(dict(weights.get("areas") or {}))
        updated["weights"] = weights
        if updated != rules:
            bind.execute(sa.update(RULES).where(RULES.c.version == version).values(rules=updated))


def upgrade() -> None:
    with op.batch_alter_table("category") as batch_op:
        batch_op.add_column(
            sa.Column("dispute", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _reweigh(lambda areas: {**areas, **{n: areas.get(n, 0) for n in NEW_AREA_INDICATORS}})


def downgrade() -> None:
    _reweigh(lambda areas: {k: v for k, v in areas.items() if k not in NEW_AREA_INDICATORS})
    with op.batch_alter_table("category") as batch_op:
        batch_op.drop_column("dispute")
