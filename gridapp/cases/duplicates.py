"""Likely duplicates (疑似重复): open cases of the same class, near in space and time.

The rule is the category's (``duplicate_radius_m``, ``duplicate_window_hours``; 50 m / 24 h
by default). SQL narrows by class and time (the category/created index) and a bounding box
(on PostGIS also ``ST_DWithin`` on geography); the exact distance is decided in Python, one
formula on both backends, so a case 49.9 m away is in or out the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

import geo
import workflow
from gridapp.cases.models import Case

# The states a case no longer waits in: any process's ends, and closed (rated later or not).
FINISHED_STATES = frozenset(
    {state.value for process in workflow.PROCESSES.values() for state in process.ends}
    | {workflow.State.closed.value}
)
METRES_PER_DEGREE_LAT = 110_574.0
# The box and the PostGIS test are a prefilter: a little wider, so the exact test decides.
PREFILTER_MARGIN = 1.01


def open_case() -> ColumnElement[bool]:
    """Select cases still waiting for someone: neither closed nor at an end of their process."""
    return Case.state.not_in(sorted(FINISHED_STATES))


@dataclass(frozen=True)
class Duplicate:
    id: int
    number: str
    distance_m: float
    created_at: datetime


def may_merge(case: Case) -> bool:
    """Say whether the case's process lets it be merged (合并) in its current state."""
    definition = workflow.PROCESSES[case.process]
    return definition.transition(workflow.State(case.state), workflow.Action.merge) is not None


@dataclass(frozen=True)
class _Around:
    """Where a case's likely duplicates may be: its class, window and (prefilter) box."""

    case: Case
    radius: float
    earliest: datetime
    latest: datetime
    west: float
    east: float
    south: float
    north: float

    @classmethod
    def of(cls, case: Case) -> _Around:
        assert case.lon is not None and case.lat is not None
        category = case.category
        radius = category.duplicate_radius_m
        window = timedelta(hours=category.duplicate_window_hours)
        dlat = radius * PREFILTER_MARGIN / METRES_PER_DEGREE_LAT
        dlon = dlat / max(math.cos(math.radians(case.lat)), 0.01)
        return cls(
            case,
            radius,
            case.created_at - window,
            case.created_at + window,
            case.lon - dlon,
            case.lon + dlon,
            case.lat - dlat,
            case.lat + dlat,
        )

    def condition(self, postgis: bool) -> ColumnElement[bool]:
        """Select the open cases' rows this case's duplicates are among (SQL's prefilter)."""
        case = self.case
        condition = and_(
            Case.category_code == case.category_code,
            Case.created_at.between(self.earliest, self.latest),
            Case.id != case.id,
            Case.lon.between(self.west, self.east),
            Case.lat.between(self.south, self.north),
        )
        if postgis:
            point = func.ST_SetSRID(func.ST_MakePoint(case.lon, case.lat), 4326)
            condition = and_(
                condition,
                func.ST_DWithin(
                    func.geography(Case.location),
                    func.geography(point),
                    self.radius * PREFILTER_MARGIN,
                ),
            )
        return condition

    def admits(self, row: Any) -> Duplicate | None:
        """Decide on one candidate row: the same class, window and box, then the exact
        distance (one formula on both backends)."""
        case = self.case
        if (
            row.id == case.id
            or row.category_code != case.category_code
            or not self.earliest <= row.created_at <= self.latest
            or not self.west <= row.lon <= self.east
            or not self.south <= row.lat <= self.north
        ):
            return None
        assert case.lon is not None and case.lat is not None
        distance = geo.haversine_m(case.lon, case.lat, row.lon, row.lat)
        if distance > self.radius:
            return None
        return Duplicate(row.id, row.number, round(distance, 1), row.created_at)


CANDIDATE_COLUMNS = (Case.id, Case.number, Case.lon, Case.lat, Case.created_at, Case.category_code)


def _nearest(found: list[Duplicate], limit: int) -> list[Duplicate]:
    found.sort(key=lambda d: (d.distance_m, d.id))
    return found[:limit]


def _looked_for(case: Case) -> bool:
    return case.lon is not None and case.lat is not None and case.state not in FINISHED_STATES


def likely_duplicates(session: Session, case: Case, limit: int = 10) -> list[Duplicate]:
    """Return open cases of the case's class within its radius and window, nearest first."""
    if not _looked_for(case):
        return []
    around = _Around.of(case)
    postgis = session.get_bind().dialect.name == "postgresql"
    query = select(*CANDIDATE_COLUMNS).where(around.condition(postgis), open_case())
    found = [d for d in map(around.admits, session.execute(query)) if d is not None]
    return _nearest(found, limit)


def likely_duplicates_of(
    session: Session, cases: Sequence[Case], limit: int = 10
) -> dict[int, list[Duplicate]]:
    """Return `likely_duplicates` of several cases (a page of a list) from one query.

    The query selects the open cases inside any of the cases' prefilters (one OR term per
    case, each served by the category/created index); each case then keeps the rows inside
    its own, so every case gets what `likely_duplicates` would give it.
    """
    found: dict[int, list[Duplicate]] = {case.id: [] for case in cases}
    arounds = [_Around.of(case) for case in cases if _looked_for(case)]
    if not arounds:
        return found
    postgis = session.get_bind().dialect.name == "postgresql"
    query = select(*CANDIDATE_COLUMNS).where(
        or_(*(around.condition(postgis) for around in arounds)), open_case()
    )
    rows = list(session.execute(query))
    for around in arounds:
        near = [d for d in map(around.admits, rows) if d is not None]
        found[around.case.id] = _nearest(near, limit)
    return found


def find_open_case(session: Session, *, component_id: int, source: str) -> Case | None:
    """Return the latest open case from this source on a component (a sensor's open period)."""
    return session.scalar(
        select(Case)
        .where(Case.component_id == component_id, Case.source == source, open_case())
        .order_by(Case.id.desc())
        .limit(1)
    )
