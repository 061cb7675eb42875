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
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    bindparam,
    case,
    func,
    literal_column,
    select,
    text,
)
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
from gridapp.cases.queries import (
    NOW,
    CaseFilters,
    FilterShape,
    bound_filter_conditions,
    bound_filter_params,
    filter_values,
    sla_condition,
)
from gridapp.cases.scope import ScopeShape, bound_case_scope, scope_shape

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


# A tile's statement is built once per process and shape (the caller's scope, the filters
# set), the time, the tile and the filters' values bound at execution: building the SLA
# expression per tile was a third of a tile's time, and the rest of the statement with its
# cache key another fifth (profiled over z14 tiles at city scale; the SQL itself runs in under
# a millisecond).
WEST, SOUTH, EAST, NORTH = "tile_west", "tile_south", "tile_east", "tile_north"
TILE_Z, TILE_X, TILE_Y, TILE_PAD = "tile_z", "tile_x", "tile_y", "tile_pad"


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


def _where(scope: ScopeShape, shape: FilterShape) -> list[ColumnElement[bool]]:
    return [
        *bound_filter_conditions(shape),
        bound_case_scope(scope),
        Case.state.not_in(END_STATES),
        # Implied by the line above (an ended case is closed or void), stated in the partial
        # index's own words so both backends read the tile's box from it (migration 0019).
        cast(ColumnElement[bool], text(LIVE_CASE)),
        Case.lon.is_not(None),
        Case.lon.between(bindparam(WEST), bindparam(EAST)),
        Case.lat.between(bindparam(SOUTH), bindparam(NORTH)),
    ]


def _params(
    user: User, filters: CaseFilters, now: datetime, bounds: tuple[float, ...]
) -> tuple[ScopeShape, FilterShape, dict[str, Any]]:
    """The shapes of the tile's statement and every value it binds."""
    scope, scope_values = scope_shape(user)
    shape, values = filter_values(filters)
    west, south, east, north = bounds
    box = {WEST: west, SOUTH: south, EAST: east, NORTH: north}
    return scope, shape, {**scope_values, **bound_filter_params(values, now), **box}


@functools.lru_cache(maxsize=256)
def _pg_statement(scope: ScopeShape, shape: FilterShape) -> Select[Any]:
    envelope = func.ST_TileEnvelope(
        bindparam(TILE_Z, type_=Integer),
        bindparam(TILE_X, type_=Integer),
        bindparam(TILE_Y, type_=Integer),
    )
    pad = bindparam(TILE_PAD, type_=Float)
    rows = (
        select(
            *_columns(),
            func.ST_AsMVTGeom(
                func.ST_Transform(Case.location, 3857), envelope, EXTENT, BUFFER, True
            ).label("geom"),
        )
        .where(
            *_where(scope, shape),
            Case.location.op("&&")(func.ST_Transform(func.ST_Expand(envelope, pad), 4326)),
        )
        .subquery("rows")
    )
    # ``rows.geom`` by name: asking the subquery for its column collection (``rows.c``) cost
    # more than the statement's run.
    return (
        select(func.ST_AsMVT(literal_column("rows.*"), LAYER, EXTENT, "geom", "id"))
        .select_from(rows)
        .where(literal_column("rows.geom").is_not(None))
    )


def _pg_tile(
    session: Session, user: User, z: int, x: int, y: int, now: datetime, filters: CaseFilters
) -> bytes:
    pad = 2 * EARTH_HALF / 2**z * BUFFER / EXTENT
    bounds = tile_bounds_lonlat(z, x, y, BUFFER)
    scope, shape, params = _params(user, filters, now, bounds)
    params.update({TILE_Z: z, TILE_X: x, TILE_Y: y, TILE_PAD: pad})
    data = session.scalar(_pg_statement(scope, shape), params)
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


@functools.lru_cache(maxsize=256)
def _python_statement(scope: ScopeShape, shape: FilterShape) -> Select[Any]:
    return select(*_columns(), Case.lon, Case.lat).where(*_where(scope, shape)).order_by(Case.id)


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
    bounds = (west - margin, south - margin, east + margin, north + margin)
    scope, shape, params = _params(user, filters, now, bounds)
    rows = session.execute(_python_statement(scope, shape), params)
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
