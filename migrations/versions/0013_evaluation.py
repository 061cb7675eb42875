"""Evaluation (综合评价): daily snapshots per subject and counter (the empty 0001 table is
reshaped), the days computed, the rules versions (version 1 = DESIGN §5's defaults) and the
export jobs.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import gridapp.core.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# DESIGN §5's defaults, as workflow.evaluation.default_rules() gave them when this was written:
# version 1 stays what it was even when the code's defaults change.
DEFAULT_RULES = json.loads(
    '{"weights": {"grid_workers": {"valid_report": 40, "missed_report": 20, "on_time_check": 20, "on_time_verification": 20, "patrol_coverage": 0}, "acceptors": {"volume": 25, "on_time_check_assignment": 40, "on_time_verification_assignment": 35}, "shift_leaders": {"on_time_filing": 25, "accurate_filing": 40, "on_time_closing": 35}, "dispatchers": {"volume": 20, "on_time_dispatch": 40, "accurate_dispatch": 40}, "departments": {"closure": 30, "on_time_handling": 30, "rework": 30, "volume": 10}, "areas": {"density": 1, "closure": 1, "on_time_closure": 1}, "hotline": {"response": 30, "resolution": 35, "satisfaction": 35}}, "bands": {"volume": [[0, 40], [301, 60], [501, 75], [1201, 90], [2001, 100]], "department_volume": [[0, 100], [51, 80], [201, 50], [501, 20], [1001, 0]], "density": [[0, 100], [10, 80], [50, 60], [100, 40], [200, 20]]}, "grades": [[90, "A"], [75, "B"], [60, "C"], [40, "D"]], "lowest_grade": "E"}'
)


def upgrade() -> None:
    # Empty since 0001 (nothing wrote it): dropped and made again in its new shape.
    op.drop_table("evaluation_snapshot")
    op.create_table(
        "evaluation_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("counter", sa.String(length=60), nullable=False),
        sa.Column("district_code", sa.String(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_snapshot")),
        sa.UniqueConstraint(
            "day",
            "kind",
            "level",
            "subject",
            "counter",
            "district_code",
            name="uq_evaluation_snapshot_cell",
        ),
    )
    op.create_index(
        "ix_evaluation_snapshot_kind_day", "evaluation_snapshot", ["kind", "level", "day"]
    )
    op.create_table(
        "evaluation_snapshot_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_evaluation_snapshot_day")),
    )
    rules = op.create_table(
        "evaluation_rule_version",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user.id"], name=op.f("fk_evaluation_rule_version_created_by_user")
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_evaluation_rule_version")),
        sa.UniqueConstraint(
            "effective_from", name=op.f("uq_evaluation_rule_version_effective_from")
        ),
    )
    op.bulk_insert(
        rules,
        [
            {
                "version": 1,
                "effective_from": date(2000, 1, 1),
                "rules": DEFAULT_RULES,
                "note": "DESIGN §5 defaults",
                "created_by": None,
                "created_at": datetime(2026, 11, 26, tzinfo=UTC),
            }
        ],
    )
    op.create_table(
        "evaluation_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_evaluation_export_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_export")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_export")
    op.drop_table("evaluation_rule_version")
    op.drop_table("evaluation_snapshot_day")
    op.drop_index("ix_evaluation_snapshot_kind_day", table_name="evaluation_snapshot")
    op.drop_table("evaluation_snapshot")
    op.create_table(
        "evaluation_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_code", sa.String(length=40), nullable=False),
        sa.Column("indicators", JSON, nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("grade", sa.String(length=2), nullable=True),
        sa.Column("computed_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_snapshot")),
        sa.UniqueConstraint(
            "period",
            "subject_kind",
            "subject_code",
            name=op.f("uq_evaluation_snapshot_period_subject_kind_subject_code"),
        ),
    )
