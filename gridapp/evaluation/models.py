"""The evaluation tables: daily snapshots, the rules versions and the export jobs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.core.models import Base
from gridapp.core.types import JSONType, UTCDateTime, utcnow


class EvaluationSnapshot(Base):
    """One counter's total for one subject on one day (Asia/Shanghai), within one district.

    Recomputable from the history: recomputing a day replaces its rows. The district (of the
    cases counted) lets a supervisor's sum keep to their scope.
    """

    __tablename__ = "evaluation_snapshot"
    __table_args__ = (
        # Named by hand: the convention's name would pass PostgreSQL's 63 characters.
        UniqueConstraint(
            "day",
            "kind",
            "level",
            "subject",
            "counter",
            "district_code",
            name="uq_evaluation_snapshot_cell",
        ),
        Index("ix_evaluation_snapshot_kind_day", "kind", "level", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    # The area level for kind "areas"; "" for the others.
    level: Mapped[str] = mapped_column(String(12), default="")
    subject: Mapped[str] = mapped_column(String(40))
    counter: Mapped[str] = mapped_column(String(60))
    district_code: Mapped[str] = mapped_column(String(20), default="")
    count: Mapped[int] = mapped_column(default=0)


class EvaluationSnapshotDay(Base):
    """A day whose snapshots were computed: its sums may be read instead of the history."""

    __tablename__ = "evaluation_snapshot_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EvaluationRuleVersion(Base):
    """One version of the weights, bands and grade cut-offs, in force from a date (考核规则)."""

    __tablename__ = "evaluation_rule_version"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    effective_from: Mapped[date] = mapped_column(Date, unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    note: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EvaluationExport(Base):
    """A large export run as a job; its file is kept under the var dir for a day."""

    __tablename__ = "evaluation_export"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    filename: Mapped[str | None] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
