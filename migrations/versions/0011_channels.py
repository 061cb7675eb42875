"""Channels: Open311 integrator keys, sensor devices, public categories and duplicate rules.

``category.open311`` says which classes citizens may report through Open311; the duplicate
rule (same class, within ``duplicate_radius_m`` and ``duplicate_window_hours``) is per class
with the defaults 50 m / 24 h. ``open311_key`` keeps integrator keys as SHA-256 hashes;
``iot_device`` keeps each sensor's HMAC secret encrypted (Fernet) on its component.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("category") as batch_op:
        batch_op.add_column(
            sa.Column("open311", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column(
                "duplicate_radius_m", sa.Float(), nullable=False, server_default=sa.text("50.0")
            )
        )
        batch_op.add_column(
            sa.Column(
                "duplicate_window_hours",
                sa.Float(),
                nullable=False,
                server_default=sa.text("24.0"),
            )
        )
    op.create_table(
        "open311_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user.id"], name=op.f("fk_open311_key_created_by_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_key_key_hash")),
    )
    op.create_table(
        "iot_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("component_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_alarm_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["component_id"], ["component.id"], name=op.f("fk_iot_device_component_id_component")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iot_device")),
        sa.UniqueConstraint("code", name=op.f("uq_iot_device_code")),
    )
    op.create_index("ix_iot_device_component_id", "iot_device", ["component_id"])


def downgrade() -> None:
    op.drop_index("ix_iot_device_component_id", table_name="iot_device")
    op.drop_table("iot_device")
    op.drop_table("open311_key")
    with op.batch_alter_table("category") as batch_op:
        batch_op.drop_column("duplicate_window_hours")
        batch_op.drop_column("duplicate_radius_m")
        batch_op.drop_column("open311")
