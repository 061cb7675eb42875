"""Patrol track points (巡查轨迹) and the batches the phones send them in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.core.models import Base
from gridapp.core.types import Geometry, JSONType, UTCDateTime, utcnow

# A phone sends a fix every few seconds all day: ids outgrow 32 bits within a retention period
# on a county's scale. SQLite's rowid is 64-bit already and must be spelt INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class PatrolPoint(Base):
    """One GPS fix of a grid worker's patrol track (巡查轨迹), in WGS84 with the original kept."""

    __tablename__ = "patrol_point"
    __table_args__ = (
        Index("ix_patrol_point_user_time", "user_id", "recorded_at"),
        # What the retention job deletes by.
        Index("ix_patrol_point_recorded_at", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    batch_id: Mapped[str] = mapped_column(String(80))
    location: Mapped[BaseGeometry] = mapped_column(Geometry("POINT"))
    lon: Mapped[float]
    lat: Mapped[float]
    original_lon: Mapped[float]
    original_lat: Mapped[float]
    original_crs: Mapped[str] = mapped_column(String(12))
    # The unit grid the point falls in; None outside the jurisdiction (kept, not refused).
    grid_code: Mapped[str | None] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PatrolBatch(Base):
    """One batch a phone sent (its ``batch_id``): a replay finds it and answers the same."""

    __tablename__ = "patrol_batch"
    __table_args__ = (
        UniqueConstraint("user_id", "batch_id"),
        Index("ix_patrol_batch_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    batch_id: Mapped[str] = mapped_column(String(80))
    # sha256 of the points as read: the same batch_id with other points is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The answer given the first time, given again to a replay.
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
