"""Cases (案卷), their append-only history and the daily case-number counter."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridapp.core.models import Base
from gridapp.core.types import Geometry, JSONType, UTCDateTime, utcnow

if TYPE_CHECKING:
    from gridapp.accounts.models import User
    from gridapp.catalogue.models import Category, Department


# Conditions of partial indexes, written once for the index and the queries that use it: SQLite
# uses a partial index only when the query states its condition with the same literals.
LIVE_CASE = "closed_at IS NULL AND state <> 'void'"
VOID_CASE = "state = 'void'"


class Case(Base):
    """A case travelling through a process definition; only ``case_event`` rows change it."""

    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("reporter_id", "client_id"),
        Index("ix_case_state_created", "state", "created_at", "id"),
        Index("ix_case_street_state", "street_code", "state", "id"),
        Index("ix_case_community_state", "community_code", "state", "id"),
        Index("ix_case_grid_state", "grid_code", "state", "id"),
        Index("ix_case_department_state", "department_code", "state", "id"),
        Index("ix_case_category_created", "category_code", "created_at"),
        # A period's cases grouped by area, category or source from the index alone (the
        # dashboard, its trend, hot spots; migration 0019).
        Index(
            "ix_case_created_areas",
            "created_at",
            "district_code",
            "street_code",
            "community_code",
            "grid_code",
            "category_code",
            "source",
        ),
        # The cases open at the end of a period: the live ones, those voided after it and those
        # closed after it (gridapp.evaluation.dashboard), each a short range of its own index.
        Index(
            "ix_case_live_created",
            "created_at",
            postgresql_where=text(LIVE_CASE),
            sqlite_where=text(LIVE_CASE),
        ),
        # Where the live cases are: a map tile's box over them (gridapp.cases.tiles).
        Index(
            "ix_case_live_lonlat",
            "lon",
            "lat",
            postgresql_where=text(LIVE_CASE),
            sqlite_where=text(LIVE_CASE),
        ),
        Index(
            "ix_case_void_updated",
            "updated_at",
            "created_at",
            postgresql_where=text(VOID_CASE),
            sqlite_where=text(VOID_CASE),
        ),
        Index(
            "ix_case_closed_created",
            "closed_at",
            "created_at",
            postgresql_where=text("closed_at IS NOT NULL"),
            sqlite_where=text("closed_at IS NOT NULL"),
        ),
        # The cases filed in a period (the dashboard's filed count; migration 0020).
        Index(
            "ix_case_filed_created",
            "filed_at",
            "created_at",
            postgresql_where=text("filed_at IS NOT NULL"),
            sqlite_where=text("filed_at IS NOT NULL"),
        ),
        # Open cases with a running clock: what the SLA sweep scans.
        Index(
            "ix_case_open_deadline",
            "deadline",
            postgresql_where=text("deadline IS NOT NULL"),
            sqlite_where=text("deadline IS NOT NULL"),
        ),
        # When each running step reaches 80 % of its time: the sweep reads only the due ones.
        Index(
            "ix_case_open_warn_at",
            "warn_at",
            postgresql_where=text("warn_at IS NOT NULL"),
            sqlite_where=text("warn_at IS NOT NULL"),
        ),
        Index("ix_case_location_gist", "location", postgresql_using="gist").ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    process: Mapped[str] = mapped_column(String(20), default="urban")
    state: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(20))
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(255))
    # A call to the hotline may name an address only: such a case has no point (yet).
    location: Mapped[BaseGeometry | None] = mapped_column(Geometry("POINT"))
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    original_lon: Mapped[float | None]
    original_lat: Mapped[float | None]
    original_crs: Mapped[str | None] = mapped_column(String(12))
    layer: Mapped[str] = mapped_column(String(32), default="urban")
    # The grid's setting when the case was located (城区 urban / 农村 rural): step limits by it.
    setting: Mapped[str] = mapped_column(String(8), default="urban", server_default="urban")
    grid_code: Mapped[str | None] = mapped_column(String(20))
    community_code: Mapped[str | None] = mapped_column(String(20))
    street_code: Mapped[str | None] = mapped_column(String(20))
    district_code: Mapped[str | None] = mapped_column(String(20))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reporter_contact: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    department_code: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    verifier_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    checker_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    component_id: Mapped[int | None] = mapped_column(ForeignKey("component.id"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    # The running step: when it started, its deadline, the SLA flag last acted on by the sweep.
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The instant the step has used 80 % of its (working) time; kept by gridapp.cases.clock.
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The open pause (挂账) of the running step, and the step's earlier ones as ISO pairs: the
    # clock leaves both out of the counted time (gridapp.cases.clock).
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    step_pauses: Mapped[list[list[str]]] = mapped_column(
        JSONType, default=list, server_default=text("'[]'")
    )
    sla_flag: Mapped[str] = mapped_column(String(10), default="ok")
    rework_count: Mapped[int] = mapped_column(default=0)
    # Approved extensions (延期次数): rules cap them or ask a higher role for the next one.
    extension_count: Mapped[int] = mapped_column(default=0, server_default="0")
    supervise_count: Mapped[int] = mapped_column(default=0)
    verification_passed: Mapped[bool | None]
    # The latest on-site check's answer (核实) and the latest call-back's (回访): guards read them.
    check_confirmed: Mapped[bool | None]
    # True for satisfied or basically satisfied (满意 / 基本满意), as before the call-back
    # recorded both separately.
    satisfied: Mapped[bool | None]
    # The latest reached call-back (回访): was the problem resolved, how satisfied is the
    # citizen (`workflow.Satisfaction`); and call-backs in a row that could not reach them.
    resolved: Mapped[bool | None]
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    unreached_calls: Mapped[int] = mapped_column(default=0, server_default="0")
    score: Mapped[int | None]
    client_id: Mapped[str | None] = mapped_column(String(80))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the case was filed (立案, the record_filing effect; migration 0020 filled it from the
    # history): the dashboard's filed count is a range of it.
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # What the codes and ids name, for a case as JSON (loaded when read, never joined into
    # the write path's locking SELECT).
    category: Mapped[Category] = relationship(lazy="select", viewonly=True)
    department: Mapped[Department | None] = relationship(lazy="select", viewonly=True)
    reporter: Mapped[User | None] = relationship(
        foreign_keys=[reporter_id], lazy="select", viewonly=True
    )
    handler: Mapped[User | None] = relationship(
        foreign_keys=[handler_id], lazy="select", viewonly=True
    )


class CaseEvent(Base):
    """One action on a case (办理记录): append-only and hash-chained per case."""

    __tablename__ = "case_event"
    __table_args__ = (
        UniqueConstraint("case_id", "seq"),
        Index("ix_case_event_actor_created", "actor_id", "created_at"),
        Index("ix_case_event_created", "created_at"),
        # The cases filed (an action) or closed (a state entered) in a period (migration 0019).
        Index("ix_case_event_action_created", "action", "created_at", "case_id"),
        Index("ix_case_event_to_state_created", "to_state", "created_at", "case_id"),
        # The SLA sweep's own 督办: whether a case ever went overdue.
        Index(
            "ix_case_event_system_supervise",
            "case_id",
            "created_at",
            postgresql_where=text("action = 'supervise' AND role = 'system'"),
            sqlite_where=text("action = 'supervise' AND role = 'system'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    seq: Mapped[int]
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    role: Mapped[str | None] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Counter(Base):
    """A named counter, e.g. the daily sequence of public case numbers."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)
