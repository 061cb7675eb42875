"""The evaluation tables: daily snapshots, the rules versions and the export jobs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    case,
    literal_column,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

import workflow
from gridapp.cases.models import CaseEvent
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


class JsonText(ColumnElement[str]):
    """A member of a JSON object as text, None when absent: ``->>`` on PostgreSQL, SQLite's
    ``json_extract``; the key is written into the SQL, never bound, so that a query states it
    as the index on it does (SQLite uses an index on an expression only then)."""

    type = String()
    inherit_cache = True
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (as SQLAlchemy declares it)
        ("data", InternalTraversal.dp_clauseelement),
        ("key", InternalTraversal.dp_string),
    ]

    def __init__(self, data: ColumnElement[Any], key: str) -> None:
        self.data = data
        self.key = key


@compiles(JsonText, "postgresql")
def _json_text_postgresql(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    key = compiler.render_literal_value(element.key, String())
    return f"({compiler.process(element.data, **kw)} ->> {key})"


@compiles(JsonText)
def _json_text(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    path = compiler.render_literal_value(f'$."{element.key}"', String())
    return f"JSON_EXTRACT({compiler.process(element.data, **kw)}, {path})"


def task_setter(action: ColumnElement[str]) -> ColumnElement[bool]:
    """Whether an event sets a department task's deadline (`workflow.TASK_DEADLINES`), with
    the actions as literals: the partial index's condition and every query's, the same."""
    return action.in_([literal(name) for name in workflow.evaluation.TASK_DEADLINES])


def task_deadline(action: ColumnElement[str], data: ColumnElement[Any]) -> ColumnElement[str]:
    """The deadline a department task's event sets, as the text its data records it."""
    keys: dict[str, list[str]] = {}
    for name, key in workflow.evaluation.TASK_DEADLINES.items():
        keys.setdefault(key, []).append(name)
    # In parentheses: PostgreSQL takes an index on an expression only so.
    return Grouping(
        case(
            *(
                (action.in_([literal(name) for name in names]), JsonText(data, key))
                for key, names in keys.items()
            )
        )
    )


def literal(value: str) -> ColumnElement[str]:
    """A string written into the SQL (an action's name), not bound."""
    return literal_column("'" + value.replace("'", "''") + "'", String())


# The events that set a department task's deadline, by the deadline they set: a period's tasks
# that fell due late are found by it (gridapp.evaluation.tasks; migration 0026).
_TASK_DEADLINE_CONDITION = task_setter(CaseEvent.__table__.c.action)
TASK_DEADLINE_INDEX = Index(
    "ix_case_event_task_deadline",
    task_deadline(CaseEvent.__table__.c.action, CaseEvent.__table__.c.data),
    CaseEvent.__table__.c.case_id,
    postgresql_where=_TASK_DEADLINE_CONDITION,
    sqlite_where=_TASK_DEADLINE_CONDITION,
)
