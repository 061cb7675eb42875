"""Operational tables: patrol tracks, notifications, the outbox, snapshots, the work calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.models.base import Base
from gridapp.models.types import Geometry, JSONType, UTCDateTime, utcnow


class PatrolPoint(Base):
    """One GPS fix of a grid worker's patrol track (巡查轨迹)."""

    __tablename__ = "patrol_point"
    __table_args__ = (Index("ix_patrol_point_user_time", "user_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    location: Mapped[BaseGeometry] = mapped_column(Geometry("POINT"))
    lon: Mapped[float]
    lat: Mapped[float]
    accuracy_m: Mapped[float | None]
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """A message to the person who must act next."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    message: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A job to enqueue once the transaction that wrote it has committed."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("enqueued_at IS NULL"),
            sqlite_where=text("enqueued_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(120))
    args: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    queue: Mapped[str] = mapped_column(String(20), default="default")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class EvaluationSnapshot(Base):
    """Indicators of one subject for one period (综合评价), recomputable from the history."""

    __tablename__ = "evaluation_snapshot"
    __table_args__ = (UniqueConstraint("period", "subject_kind", "subject_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(10))
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_code: Mapped[str] = mapped_column(String(40))
    indicators: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    score: Mapped[float | None]
    grade: Mapped[str | None] = mapped_column(String(2))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CalendarEntry(Base):
    """A public holiday or a make-up working day (调休上班), in a table the admins own."""

    __tablename__ = "calendar_entry"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(60), default="")


class Counter(Base):
    """A named counter, e.g. the daily sequence of public case numbers."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)
