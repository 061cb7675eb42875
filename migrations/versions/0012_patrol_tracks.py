"""Patrol tracks (巡查轨迹): reshape ``patrol_point`` and add ``patrol_batch``.

``patrol_point`` exists since 0001 and nothing ever wrote to it, so it is recreated rather than
altered: a 64-bit id (a county's phones outgrow 32 bits within the retention period), the
original coordinates and their CRS beside the WGS84 point, the unit grid the point falls in
(NULL outside the jurisdiction) and the batch it came in. ``patrol_batch`` remembers each batch
a phone sent, so a replay is stored once and answered the same.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import gridapp.core.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.drop_index("ix_patrol_point_user_time", table_name="patrol_point")
    op.drop_table("patrol_point")
    op.create_table(
        "patrol_point",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=80), nullable=False),
        sa.Column("location", gridapp.core.types.Geometry("POINT"), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("original_lon", sa.Double(), nullable=False),
        sa.Column("original_lat", sa.Double(), nullable=False),
        sa.Column("original_crs", sa.String(length=12), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=True),
        sa.Column("recorded_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_patrol_point_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_point")),
    )
    op.create_index("ix_patrol_point_user_time", "patrol_point", ["user_id", "recorded_at"])
    op.create_index("ix_patrol_point_recorded_at", "patrol_point", ["recorded_at"])
    op.create_table(
        "patrol_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=80), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("received_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_patrol_batch_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_batch")),
        sa.UniqueConstraint("user_id", "batch_id", name=op.f("uq_patrol_batch_user_id_batch_id")),
    )
    op.create_index("ix_patrol_batch_received_at", "patrol_batch", ["received_at"])


def downgrade() -> None:
    # Tracks do not fit the 0001 shape (no original coordinates, no batch): they are dropped.
    op.drop_table("patrol_batch")
    op.drop_index("ix_patrol_point_recorded_at", table_name="patrol_point")
    op.drop_index("ix_patrol_point_user_time", table_name="patrol_point")
    op.drop_table("patrol_point")
    op.create_table(
        "patrol_point",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("location", gridapp.core.types.Geometry("POINT"), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.Column("recorded_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_patrol_point_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_point")),
    )
    op.create_index(
        "ix_patrol_point_user_time", "patrol_point", ["user_id", "recorded_at"], unique=False
    )
