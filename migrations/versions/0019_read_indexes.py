"""Indexes for the hot reads at city scale: the dashboard's month, hot spots and their history.

Measured over a million cases (``bench.bench_city``): without them a month's dashboard read
every case and every event (``case.created_at`` and ``case_event(action | to_state,
created_at)`` had no index a range could use).

- ``case(created_at, district, street, community, grid, category, source)``: a month's cases
  grouped by any of those from the index alone (the dashboard, its trend, hot spots);
- ``case(created_at)`` of live cases (not closed, not void), ``case(updated_at, created_at)`` of
  void ones and ``case(closed_at, created_at)`` of closed ones: the cases open at the end of a
  period are the live ones, those voided after it and those closed after it, three short
  ranges instead of every case created before the end;
- ``case(lon, lat)`` of live cases: the open cases in a map tile's box;
- ``case_event(action, created_at, case_id)`` and ``case_event(to_state, created_at,
  case_id)``: the cases filed or closed in a period;
- ``case_event(case_id, created_at) WHERE action = 'supervise' AND role = 'system'``: whether
  the SLA sweep found a case overdue (a few per cent of cases have such an event).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same literals as gridapp.cases.models (a migration keeps its own copy: it must not change
# when the models do).
LIVE_CASE = "closed_at IS NULL AND state <> 'void'"
VOID_CASE = "state = 'void'"
CLOSED = "closed_at IS NOT NULL"
SYSTEM_SUPERVISE = "action = 'supervise' AND role = 'system'"


def _where(condition: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


INDEXES: list[tuple[str, str, list[str], dict[str, sa.TextClause]]] = [
    (
        "ix_case_created_areas",
        "case",
        [
            "created_at",
            "district_code",
            "street_code",
            "community_code",
            "grid_code",
            "category_code",
            "source",
        ],
        {},
    ),
    ("ix_case_live_created", "case", ["created_at"], _where(LIVE_CASE)),
    ("ix_case_live_lonlat", "case", ["lon", "lat"], _where(LIVE_CASE)),
    ("ix_case_void_updated", "case", ["updated_at", "created_at"], _where(VOID_CASE)),
    ("ix_case_closed_created", "case", ["closed_at", "created_at"], _where(CLOSED)),
    ("ix_case_event_action_created", "case_event", ["action", "created_at", "case_id"], {}),
    ("ix_case_event_to_state_created", "case_event", ["to_state", "created_at", "case_id"], {}),
    (
        "ix_case_event_system_supervise",
        "case_event",
        ["case_id", "created_at"],
        _where(SYSTEM_SUPERVISE),
    ),
]


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        op.create_index(name, table, columns, unique=False, **where)


def downgrade() -> None:
    for name, table, _columns, where in reversed(INDEXES):
        op.drop_index(name, table_name=table, **where)
