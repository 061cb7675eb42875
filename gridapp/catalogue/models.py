"""Departments, the case category catalogue, responsibility rules and the component registry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.core.models import Base
from gridapp.core.types import Geometry, JSONType, UTCDateTime, utcnow

# The defaults of a class's duplicate rule: the same class within 50 m and 24 h.
DUPLICATE_RADIUS_M = 50.0
DUPLICATE_WINDOW_HOURS = 24.0


class Department(Base):
    """A department that handles cases (专业部门)."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(default=True)


class Category(Base):
    """A case class: a component (部件) or an event (事件) of a national or local directory.

    Codes are strings with a kind prefix (``BJ0101`` 部件, ``SJ0101`` 事件) because the 2013
    directory reuses the same major/minor numbers for both kinds; ``standard`` says which
    directory a class comes from, so a newer one can be loaded beside it without a migration.
    """

    __tablename__ = "category"
    __table_args__ = (
        CheckConstraint("kind IN ('component', 'event')", name="kind_known"),
        CheckConstraint("urgency IN ('normal', 'urgent')", name="urgency_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(12))
    standard: Mapped[str] = mapped_column(String(40))
    major_code: Mapped[str] = mapped_column(String(4))
    major_name: Mapped[str] = mapped_column(String(60))
    minor_code: Mapped[str] = mapped_column(String(4))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    # {"handling": {"amount": 3, "unit": "working_days"}, ...}: per-step limits of this class.
    time_limits: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    process: Mapped[str] = mapped_column(String(20), default="urban")
    active: Mapped[bool] = mapped_column(default=True)
    # Offered to citizens as an Open311 service (gridapp.channels.open311); staff see every class.
    open311: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A dispute class (矛盾纠纷): its handling records whether the dispute was resolved (化解),
    # which the areas' 化解率 counts.
    dispute: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Likely duplicates (疑似重复): open cases of this class this near and this recent.
    duplicate_radius_m: Mapped[float] = mapped_column(
        Float, default=DUPLICATE_RADIUS_M, server_default=text(str(DUPLICATE_RADIUS_M))
    )
    duplicate_window_hours: Mapped[float] = mapped_column(
        Float, default=DUPLICATE_WINDOW_HOURS, server_default=text(str(DUPLICATE_WINDOW_HOURS))
    )


class ResponsibilityRule(Base):
    """Category × area → department; the most specific rule decides a dispatch."""

    __tablename__ = "responsibility_rule"
    __table_args__ = (UniqueConstraint("category_code", "area_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL category: every category in the area; area codes match by prefix (any level).
    category_code: Mapped[str | None] = mapped_column(ForeignKey("category.code"))
    area_code: Mapped[str] = mapped_column(String(20))
    department_code: Mapped[str] = mapped_column(ForeignKey("department.code"))
    note: Mapped[str | None] = mapped_column(String(200))


class Component(Base):
    """A registered, coded asset (部件), e.g. ``4304230101000001`` a water-supply manhole cover."""

    __tablename__ = "component"
    __table_args__ = (
        Index("ix_component_category_grid", "category_code", "grid_code"),
        Index("ix_component_location_gist", "location", postgresql_using="gist").ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    name: Mapped[str | None] = mapped_column(String(120))
    location: Mapped[BaseGeometry] = mapped_column(Geometry("POINT"))
    lon: Mapped[float]
    lat: Mapped[float]
    grid_code: Mapped[str | None] = mapped_column(String(20))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    status: Mapped[str] = mapped_column(String(20), default="in_service")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
