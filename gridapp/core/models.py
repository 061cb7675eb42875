"""The declarative base (one naming convention, so migrations name constraints the same
everywhere), the outbox, and the tables the coming domains fill.

``PatrolPoint`` is filled by the patrol domain and ``EvaluationSnapshot`` by the evaluation
domain (the issue "Supervision: evaluation you can explain …"); both tables exist since
migration 0001 and move into their packages when those land.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import ForeignKey, Index, MetaData, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gridapp.core.types import Geometry, JSONType, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OutboxMessage(Base):
    """A job to enqueue once the transaction that wrote it has committed, done once it ran."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("enqueued_at IS NULL"),
            sqlite_where=text("enqueued_at IS NULL"),
        ),
        Index(
            "ix_outbox_unfinished",
            "enqueued_at",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(120))
    args: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    queue: Mapped[str] = mapped_column(String(20), default="default")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Handed to Redis (None: waiting for the relay, or sent back to it by the reconciler).
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The job's effect committed, in the same transaction as this stamp.
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


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
