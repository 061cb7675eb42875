"""The grid map: every level of the hierarchy (区县, 街道/乡镇, 社区/村, 单元网格) in one table."""

from __future__ import annotations

from datetime import datetime

from shapely.geometry.base import BaseGeometry
from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.core.models import Base
from gridapp.core.types import Geometry, UTCDateTime, utcnow

AREA_LEVELS = ("district", "street", "community", "grid")


class Area(Base):
    """An area of the grid map in one layer (多网融合: urban, social, environment …)."""

    __tablename__ = "area"
    __table_args__ = (
        UniqueConstraint("layer", "code"),
        CheckConstraint("level IN ('district', 'street', 'community', 'grid')", name="level_known"),
        Index("ix_area_layer_level_parent", "layer", "level", "parent_code"),
        Index("ix_area_geometry_gist", "geometry", postgresql_using="gist").ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    level: Mapped[str] = mapped_column(String(12))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    layer: Mapped[str] = mapped_column(String(32), default="urban")
    geometry: Mapped[BaseGeometry] = mapped_column(Geometry("GEOMETRY"))
    area_km2: Mapped[float] = mapped_column(default=0.0)
    generated: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Setting(Base):
    """A small key/value store for instance-wide counters such as the grid map version."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
