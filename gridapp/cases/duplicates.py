"""Likely duplicates (疑似重复): open cases of the same class, near in space and time.

The rule is the category's (``duplicate_radius_m``, ``duplicate_window_hours``; 50 m / 24 h
by default). SQL narrows by class and time (the category/created index) and a bounding box
(on PostGIS also ``ST_DWithin`` on geography); the exact distance is decided in Python, one
formula on both backends, so a case 49.9 m away is in or out the same everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
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


def likely_duplicates(session: Session, case: Case, limit: int = 10) -> list[Duplicate]:
    """Return open cases of the case's class within its radius and window, nearest first."""
    if case.lon is None or case.lat is None or case.state in FINISHED_STATES:
        return []
    category = case.category
    radius = category.duplicate_radius_m
    window = timedelta(hours=category.duplicate_window_hours)
    dlat = radius * PREFILTER_MARGIN / METRES_PER_DEGREE_LAT
    dlon = dlat / max(math.cos(math.radians(case.lat)), 0.01)
    query = select(Case.id, Case.number, Case.lon, Case.lat, Case.created_at).where(
        Case.category_code == case.category_code,
        Case.created_at.between(case.created_at - window, case.created_at + window),
        Case.id != case.id,
        open_case(),
        Case.lon.between(case.lon - dlon, case.lon + dlon),
        Case.lat.between(case.lat - dlat, case.lat + dlat),
    )
    if session.get_bind().dialect.name == "postgresql":
        point = func.ST_SetSRID(func.ST_MakePoint(case.lon, case.lat), 4326)
        query = query.where(
            func.ST_DWithin(
                func.geography(Case.location), func.geography(point), radius * PREFILTER_MARGIN
            )
        )
    found = []
    for row in session.execute(query):
        distance = geo.haversine_m(case.lon, case.lat, row.lon, row.lat)
        if distance <= radius:
            found.append(Duplicate(row.id, row.number, round(distance, 1), row.created_at))
    found.sort(key=lambda d: (d.distance_m, d.id))
    return found[:limit]


def find_open_case(session: Session, *, component_id: int, source: str) -> Case | None:
    """Return the latest open case from this source on a component (a sensor's open period)."""
    return session.scalar(
        select(Case)
        .where(Case.component_id == component_id, Case.source == source, open_case())
        .order_by(Case.id.desc())
        .limit(1)
    )
