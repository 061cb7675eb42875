"""The declarative base (one naming convention, so migrations name constraints the same
everywhere) and the outbox.

Domain tables live in their packages (``gridapp.patrol.models``,
``gridapp.evaluation.models`` …); core keeps only what every domain shares.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gridapp.core.types import JSONType, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Setting(Base):
    """A small key/value store for instance-wide counters such as the grid map version."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


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
