"""Open cases as a vector tile: one point per case with its state and SLA status.

The caller's scope decides which cases are in the tile (``case_scope``), as for every list.
PostgreSQL makes the tile with ``ST_AsMVT``; SQLite reads the points in the tile's box (the
lon/lat columns) and the tile is made in Python, with the same features.
"""

from __future__ import annotations

import functools
import typing
from datetime import UTC, datetime
from typing import Any, cast

from shapely.geometry import Point
from sqlalchemy import ColumnElement, bindparam, case, func, literal_column, select, text
from sqlalchemy.orm import Session

import workflow
from geo.tiles import (
    BUFFER,
    EARTH_HALF,
    EXTENT,
    TileFeature,
    TileLayer,
    encode_tile,
    features_in,
    tile_bounds_lonlat,
)
from gridapp.accounts.models import User
from gridapp.cases.models import LIVE_CASE, Case
from gridapp.cases.queries import CaseFilters, filter_conditions, sla_condition
from gridapp.cases.scope import case_scope

LAYER = "cases"
END_STATES = sorted({state.value for p in workflow.PROCESSES.values() for state in p.ends})
_S = workflow.SlaState


def _sla_status(now: datetime) -> ColumnElement[str]:
    """The SLA status as the clock states it: overdue past the deadline, warning past 80 %."""
    return case(
        (sla_condition(_S.overdue, now), _S.overdue.value),
        (sla_condition(_S.warning, now), _S.warning.value),
        else_=_S.ok.value,
    )


# The tile's columns are built once per process, the time standing as a bound parameter
# (``NOW``, given at execution): building the SLA expression per tile was a third of a tile's
# time (profiled over 50 z14 tiles at city scale; the SQL itself runs in under a millisecond).
NOW = "tile_now"


@functools.cache
def _columns() -> tuple[Any, ...]:
    now = typing.cast(datetime, bindparam(NOW))  # compared with the deadline columns
    return (
        Case.id.label("id"),
        Case.number.label("number"),
        Case.state.label("state"),
        _sla_status(now).label("sla"),
        Case.category_code.label("category"),
        Case.urgency.label("urgency"),
    )


def _where(
    user: User, bounds: tuple[float, ...], filters: CaseFilters, now: datetime
) -> list[ColumnElement[bool]]:
    west, south, east, north = bounds
    return [
        *filter_conditions(filters, now),
        case_scope(user),
        Case.state.not_in(END_STATES),
        # Implied by the line above (an ended case is closed or void), stated in the partial
        # index's own words so both backends read the tile's box from it (migration 0019).
        cast(ColumnElement[bool], text(LIVE_CASE)),
        Case.lon.is_not(None),
        Case.lon.between(west, east),
        Case.lat.between(south, north),
    ]


def _pg_tile(
    session: Session, user: User, z: int, x: int, y: int, now: datetime, filters: CaseFilters
) -> bytes:
    pad = 2 * EARTH_HALF / 2**z * BUFFER / EXTENT
    envelope = func.ST_TileEnvelope(z, x, y)
    rows = (
        select(
            *_columns(),
            func.ST_AsMVTGeom(
                func.ST_Transform(Case.location, 3857), envelope, EXTENT, BUFFER, True
            ).label("geom"),
        )
        .where(
            *_where(user, tile_bounds_lonlat(z, x, y, BUFFER), filters, now),
            Case.location.op("&&")(func.ST_Transform(func.ST_Expand(envelope, pad), 4326)),
        )
        .subquery("rows")
    )
    # ``rows.geom`` by name: asking the subquery for its column collection (``rows.c``) cost
    # more than the statement's run.
    query = (
        select(func.ST_AsMVT(literal_column("rows.*"), LAYER, EXTENT, "geom", "id"))
        .select_from(rows)
        .where(literal_column("rows.geom").is_not(None))
    )
    data = session.scalar(query, {NOW: now})
    return bytes(data) if data else b""


def case_tile(
    session: Session,
    user: User,
    z: int,
    x: int,
    y: int,
    *,
    datum: str = "wgs84",
    filters: CaseFilters | None = None,
    now: datetime | None = None,
) -> bytes:
    """Return the vector tile of the open cases the user may see, coloured by state and SLA.

    ``filters`` are those of the case list (GET /cases), so the map shows what the list shows.
    """
    now = now or datetime.now(UTC)
    filters = filters or CaseFilters()
    if datum == "wgs84" and session.get_bind().dialect.name == "postgresql":
        return _pg_tile(session, user, z, x, y, now, filters)
    return _python_tile(session, user, z, x, y, datum, now, filters)


def _python_tile(
    session: Session,
    user: User,
    z: int,
    x: int,
    y: int,
    datum: str,
    now: datetime,
    filters: CaseFilters,
) -> bytes:
    west, south, east, north = tile_bounds_lonlat(z, x, y, BUFFER)
    margin = 0.0 if datum == "wgs84" else 0.02  # a datum shift in China is under ~1 km
    rows = session.execute(
        select(*_columns(), Case.lon, Case.lat)
        .where(
            *_where(
                user, (west - margin, south - margin, east + margin, north + margin), filters, now
            )
        )
        .order_by(Case.id),
        {NOW: now},
    )
    features = [
        TileFeature(
            Point(row.lon, row.lat),
            {
                "number": row.number,
                "state": row.state,
                "sla": row.sla,
                "category": row.category,
                "urgency": row.urgency,
            },
            row.id,
        )
        for row in rows
    ]
    return encode_tile([TileLayer(LAYER, features_in(features, z, x, y, datum))], z, x, y)
