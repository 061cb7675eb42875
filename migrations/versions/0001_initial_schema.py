"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:42:56.693210
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import gridapp.core.types
from gridapp.core.migrate import ensure_postgis

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _is_postgis() -> bool:
    # GiST indexes exist on PostGIS only; SQLite keeps geometry as WKB and the grid index in memory.
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    # The geometry type below needs PostGIS; without it the role is told what to ask for.
    ensure_postgis(op.get_bind())
    op.create_table(
        "area",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("parent_code", sa.String(length=20), nullable=True),
        sa.Column("layer", sa.String(length=32), nullable=False),
        sa.Column("geometry", gridapp.core.types.Geometry("GEOMETRY"), nullable=False),
        sa.Column("area_km2", sa.Double(), nullable=False),
        sa.Column("generated", sa.Boolean(), nullable=False),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "level IN ('district', 'street', 'community', 'grid')", name=op.f("ck_area_level_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area")),
        sa.UniqueConstraint("layer", "code", name=op.f("uq_area_layer_code")),
    )
    if _is_postgis():
        op.create_index(
            "ix_area_geometry_gist", "area", ["geometry"], unique=False, postgresql_using="gist"
        )
    op.create_index(
        "ix_area_layer_level_parent", "area", ["layer", "level", "parent_code"], unique=False
    )

    op.create_table(
        "calendar_entry",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_entry")),
    )
    op.create_table(
        "department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department")),
        sa.UniqueConstraint("code", name=op.f("uq_department_code")),
    )
    op.create_table(
        "evaluation_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_code", sa.String(length=40), nullable=False),
        sa.Column(
            "indicators",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
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
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=120), nullable=False),
        sa.Column(
            "args",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("queue", sa.String(length=20), nullable=False),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.Column("enqueued_at", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("enqueued_at IS NULL"),
        sqlite_where=sa.text("enqueued_at IS NULL"),
    )

    op.create_table(
        "setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_setting")),
    )
    op.create_table(
        "category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("standard", sa.String(length=40), nullable=False),
        sa.Column("major_code", sa.String(length=4), nullable=False),
        sa.Column("major_name", sa.String(length=60), nullable=False),
        sa.Column("minor_code", sa.String(length=4), nullable=False),
        sa.Column("department_code", sa.String(length=40), nullable=True),
        sa.Column("urgency", sa.String(length=10), nullable=False),
        sa.Column(
            "time_limits",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("process", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("kind IN ('component', 'event')", name=op.f("ck_category_kind_known")),
        sa.CheckConstraint(
            "urgency IN ('normal', 'urgent')", name=op.f("ck_category_urgency_known")
        ),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
            name=op.f("fk_category_department_code_department"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category")),
        sa.UniqueConstraint("code", name=op.f("uq_category_code")),
    )
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("department_code", sa.String(length=40), nullable=True),
        sa.Column("district_code", sa.String(length=20), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "role IN ('grid_worker', 'acceptor', 'dispatcher', 'shift_leader', 'handler', 'dept_admin', 'supervisor', 'admin')",
            name=op.f("ck_user_role_known"),
        ),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
            name=op.f("fk_user_department_code_department"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("username", name=op.f("uq_user_username")),
    )
    op.create_table(
        "component",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("category_code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("location", gridapp.core.types.Geometry("POINT"), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=True),
        sa.Column("department_code", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_code"], ["category.code"], name=op.f("fk_component_category_code_category")
        ),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
            name=op.f("fk_component_department_code_department"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_component")),
        sa.UniqueConstraint("code", name=op.f("uq_component_code")),
    )
    op.create_index(
        "ix_component_category_grid", "component", ["category_code", "grid_code"], unique=False
    )
    if _is_postgis():
        op.create_index(
            "ix_component_location_gist",
            "component",
            ["location"],
            unique=False,
            postgresql_using="gist",
        )

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

    op.create_table(
        "refresh_token",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("issued_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_refresh_token_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_token")),
    )
    op.create_index(op.f("ix_refresh_token_family"), "refresh_token", ["family"], unique=False)
    op.create_index(op.f("ix_refresh_token_user_id"), "refresh_token", ["user_id"], unique=False)

    op.create_table(
        "responsibility_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_code", sa.String(length=20), nullable=True),
        sa.Column("area_code", sa.String(length=20), nullable=False),
        sa.Column("department_code", sa.String(length=40), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["category.code"],
            name=op.f("fk_responsibility_rule_category_code_category"),
        ),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
            name=op.f("fk_responsibility_rule_department_code_department"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responsibility_rule")),
        sa.UniqueConstraint(
            "category_code",
            "area_code",
            name=op.f("uq_responsibility_rule_category_code_area_code"),
        ),
    )
    op.create_table(
        "user_grid",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_user_grid_user_id_user")),
        sa.PrimaryKeyConstraint("user_id", "grid_code", name=op.f("pk_user_grid")),
    )
    op.create_index("ix_user_grid_grid_code", "user_grid", ["grid_code"], unique=False)

    op.create_table(
        "case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("process", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("category_code", sa.String(length=20), nullable=False),
        sa.Column("urgency", sa.String(length=10), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("location", gridapp.core.types.Geometry("POINT"), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("original_lon", sa.Double(), nullable=False),
        sa.Column("original_lat", sa.Double(), nullable=False),
        sa.Column("original_crs", sa.String(length=12), nullable=False),
        sa.Column("layer", sa.String(length=32), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=True),
        sa.Column("community_code", sa.String(length=20), nullable=True),
        sa.Column("street_code", sa.String(length=20), nullable=True),
        sa.Column("district_code", sa.String(length=20), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column(
            "reporter_contact",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("department_code", sa.String(length=40), nullable=True),
        sa.Column("handler_id", sa.Integer(), nullable=True),
        sa.Column("verifier_id", sa.Integer(), nullable=True),
        sa.Column("checker_id", sa.Integer(), nullable=True),
        sa.Column("component_id", sa.Integer(), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("step_started_at", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.Column("deadline", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.Column("paused_at", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.Column("sla_flag", sa.String(length=10), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("supervise_count", sa.Integer(), nullable=False),
        sa.Column("verification_passed", sa.Boolean(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("client_id", sa.String(length=80), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.Column("closed_at", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_code"], ["category.code"], name=op.f("fk_case_category_code_category")
        ),
        sa.ForeignKeyConstraint(["checker_id"], ["user.id"], name=op.f("fk_case_checker_id_user")),
        sa.ForeignKeyConstraint(
            ["component_id"], ["component.id"], name=op.f("fk_case_component_id_component")
        ),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
            name=op.f("fk_case_department_code_department"),
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"], ["case.id"], name=op.f("fk_case_duplicate_of_id_case")
        ),
        sa.ForeignKeyConstraint(["handler_id"], ["user.id"], name=op.f("fk_case_handler_id_user")),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["user.id"], name=op.f("fk_case_reporter_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["verifier_id"], ["user.id"], name=op.f("fk_case_verifier_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case")),
        sa.UniqueConstraint("number", name=op.f("uq_case_number")),
        sa.UniqueConstraint("reporter_id", "client_id", name=op.f("uq_case_reporter_id_client_id")),
    )
    op.create_index(
        "ix_case_category_created", "case", ["category_code", "created_at"], unique=False
    )
    op.create_index(
        "ix_case_community_state", "case", ["community_code", "state", "id"], unique=False
    )
    op.create_index(
        "ix_case_department_state", "case", ["department_code", "state", "id"], unique=False
    )
    op.create_index("ix_case_grid_state", "case", ["grid_code", "state", "id"], unique=False)
    if _is_postgis():
        op.create_index(
            "ix_case_location_gist", "case", ["location"], unique=False, postgresql_using="gist"
        )
    op.create_index(
        "ix_case_open_deadline",
        "case",
        ["deadline"],
        unique=False,
        postgresql_where=sa.text("deadline IS NOT NULL"),
        sqlite_where=sa.text("deadline IS NOT NULL"),
    )
    op.create_index("ix_case_state_created", "case", ["state", "created_at", "id"], unique=False)
    op.create_index("ix_case_street_state", "case", ["street_code", "state", "id"], unique=False)

    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user.id"], name=op.f("fk_case_event_actor_id_user")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_case_event_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_case_event_case_id_seq")),
    )
    op.create_index(
        "ix_case_event_actor_created", "case_event", ["actor_id", "created_at"], unique=False
    )
    op.create_index("ix_case_event_created", "case_event", ["created_at"], unique=False)

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=True),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.Column("read_at", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_notification_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_notification_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_dedupe_key")),
    )
    op.create_index("ix_notification_user_id", "notification", ["user_id", "id"], unique=False)

    op.create_table(
        "attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=60), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("taken_at", gridapp.core.types.UTCDateTime(), nullable=True),
        sa.Column("exif_lon", sa.Double(), nullable=True),
        sa.Column("exif_lat", sa.Double(), nullable=True),
        sa.Column("thumbnail_key", sa.String(length=255), nullable=True),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("created_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_attachment_case_id_case")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_event.id"], name=op.f("fk_attachment_event_id_case_event")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["user.id"], name=op.f("fk_attachment_uploaded_by_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
    )
    op.create_index("ix_attachment_case", "attachment", ["case_id"], unique=False)
    op.create_index(op.f("ix_attachment_sha256"), "attachment", ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_table("attachment")
    op.drop_table("notification")
    op.drop_table("case_event")
    op.drop_table("case")
    op.drop_table("user_grid")
    op.drop_table("responsibility_rule")
    op.drop_table("refresh_token")
    op.drop_table("patrol_point")
    op.drop_table("component")
    op.drop_table("user")
    op.drop_table("category")
    op.drop_table("setting")
    op.drop_table("outbox")
    op.drop_table("evaluation_snapshot")
    op.drop_table("department")
    op.drop_table("calendar_entry")
    op.drop_table("area")
