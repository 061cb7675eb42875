"""The grid map: every level of the hierarchy (区县, 街道/乡镇, 社区/村, 单元网格) in one table."""

from __future__ import annotations

from datetime import datetime

from shapely.geometry.base import BaseGeometry
from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.core.models import Base, Setting
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
    # 城区 or 农村: some step limits differ (a check in a rural grid may take longer).
    setting: Mapped[str] = mapped_column(String(8), default="urban", server_default="urban")
    geometry: Mapped[BaseGeometry] = mapped_column(Geometry("GEOMETRY"))
    area_km2: Mapped[float] = mapped_column(default=0.0)
    generated: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class MapVersion(Base):
    """One import of a layer's map (地图版本): what it changed, who did it, and when.

    The layer's current version tag lives in ``setting`` (``grid_map_version:<layer>``), where
    every process's grid index compares it; these rows are the history an admin reads.
    """

    __tablename__ = "map_version"
    __table_args__ = (UniqueConstraint("layer", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    layer: Mapped[str] = mapped_column(String(32))
    number: Mapped[int]
    tag: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None]
    added: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    removed: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    areas: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


__all__ = ["AREA_LEVELS", "Area", "MapVersion", "Setting"]
