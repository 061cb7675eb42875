"""The grid map: import, the in-memory grid index, point location (落格) and area queries."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

import geo
from gridapp.accounts.models import User, UserGrid
from gridapp.core.errors import NotFound, ValidationFailed
from gridapp.core.i18n import _
from gridapp.core.pagination import decode_cursor, paginate
from gridapp.grid.models import Area, Setting

DEFAULT_LAYER = "urban"
_KM2_PER_DEG2_AT_EQUATOR = 111.32 * 110.574


def map_version(session: Session, layer: str = DEFAULT_LAYER) -> str:
    """Return the map's version tag: a counter plus a random token.

    The token keeps a version unique even when a rolled-back import reused a counter value,
    so a process never keeps an index built from a map that was never committed.
    """
    value = session.get(Setting, f"grid_map_version:{layer}")
    return value.value if value else "0"


def _bump_map_version(session: Session, layer: str) -> int:
    key = f"grid_map_version:{layer}"
    setting = session.get(Setting, key, with_for_update=True)
    if setting is None:
        setting = Setting(key=key, value="0")
        session.add(setting)
    number = int(setting.value.split("-")[0]) + 1
    setting.value = f"{number}-{secrets.token_hex(6)}"
    return number


def approx_area_km2(geometry: Any) -> float:
    """Area in km² of a lon/lat geometry, scaled at its centroid's latitude (good at grid scale)."""
    import math

    lat = geometry.centroid.y if not geometry.is_empty else 0.0
    return float(geometry.area * _KM2_PER_DEG2_AT_EQUATOR * math.cos(math.radians(lat)))


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int
    warnings: list[str] = field(default_factory=list)
    version: int = 0


def import_grid_map(
    session: Session, data: Mapping[str, Any], *, generated: bool = False
) -> ImportSummary:
    """Import a GeoJSON grid map: all or nothing, idempotent by code (re-import changes nothing)."""
    features = data.get("features") if isinstance(data, Mapping) else None
    layers = {
        str((f.get("properties") or {}).get("layer") or DEFAULT_LAYER)
        for f in features or []
        if isinstance(f, Mapping)
    } or {DEFAULT_LAYER}
    existing_rows = {
        (a.layer, a.code): a
        for a in session.scalars(select(Area).where(Area.layer.in_(sorted(layers))))
    }
    existing = {
        code: geo.AreaShape(
            code=a.code,
            name=a.name,
            level=geo.Level(a.level),
            parent=a.parent_code,
            geometry=a.geometry,
            layer=a.layer,
        )
        for (_layer, code), a in existing_rows.items()
    }
    result = geo.check_feature_collection(data, existing)
    created = updated = unchanged = 0
    touched: set[str] = set()
    for shape in result.areas:
        row = existing_rows.get((shape.layer, shape.code))
        if row is None:
            session.add(
                Area(
                    code=shape.code,
                    name=shape.name,
                    level=str(shape.level),
                    parent_code=shape.parent,
                    layer=shape.layer,
                    geometry=shape.geometry,
                    area_km2=approx_area_km2(shape.geometry),
                    generated=generated,
                )
            )
            created += 1
            touched.add(shape.layer)
        elif (
            row.name == shape.name
            and row.level == str(shape.level)
            and row.parent_code == shape.parent
            and shapely.equals_exact(row.geometry, shape.geometry, tolerance=1e-9)
        ):
            unchanged += 1
        else:
            row.name, row.level, row.parent_code = shape.name, str(shape.level), shape.parent
            row.geometry = shape.geometry
            row.area_km2 = approx_area_km2(shape.geometry)
            updated += 1
            touched.add(shape.layer)
    version = 0
    for layer in sorted(touched):
        version = _bump_map_version(session, layer)
    session.flush()
    return ImportSummary(created, updated, unchanged, [str(w) for w in result.warnings], version)


class _IndexCache:
    """One GridIndex per process and layer, rebuilt when the stored map version changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[str, float, geo.GridIndex]] = {}

    def get(self, session: Session, layer: str, check_seconds: float) -> geo.GridIndex:
        key = (str(session.get_bind().engine.url), layer)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[1] < check_seconds:
            return entry[2]
        version = map_version(session, layer)
        if entry is not None and entry[0] == version:
            self._entries[key] = (version, now, entry[2])
            return entry[2]
        with self._lock:
            index = geo.GridIndex(load_area_shapes(session, layer), layer=layer)
            self._entries[key] = (version, now, index)
            return index

    def clear(self) -> None:
        self._entries.clear()


grid_indexes = _IndexCache()


def load_area_shapes(session: Session, layer: str = DEFAULT_LAYER) -> list[geo.AreaShape]:
    rows = session.execute(
        select(Area.code, Area.name, Area.level, Area.parent_code, Area.geometry).where(
            Area.layer == layer
        )
    )
    return [
        geo.AreaShape(
            code=code,
            name=name,
            level=geo.Level(level),
            parent=parent,
            geometry=geometry,
            layer=layer,
        )
        for code, name, level, parent, geometry in rows
    ]


def grid_index(
    session: Session, layer: str = DEFAULT_LAYER, check_seconds: float = 5.0
) -> geo.GridIndex:
    return grid_indexes.get(session, layer, check_seconds)


@dataclass(frozen=True)
class Location:
    """A point placed on the grid map (落格): WGS84 coordinates, the original ones, the areas."""

    lon: float
    lat: float
    original_lon: float
    original_lat: float
    crs: str
    located: geo.Located
    grid_workers: Sequence[User]

    @property
    def point(self) -> dict[str, float]:
        """Return the WGS84 point, to the 8 decimals (about 1 mm) a GPS fix deserves."""
        return {"lon": round(self.lon, 8), "lat": round(self.lat, 8)}

    @property
    def original_point(self) -> dict[str, Any]:
        """Return the point as it was sent, with its coordinate system."""
        return {"lon": self.original_lon, "lat": self.original_lat, "crs": self.crs}


def locate_point(
    session: Session,
    lon: float,
    lat: float,
    crs: str = "wgs84",
    *,
    layer: str = DEFAULT_LAYER,
    check_seconds: float = 5.0,
    with_workers: bool = True,
) -> Location:
    """Convert a point to WGS84 and find its unit grid, ancestors and grid workers.

    ``with_workers=False`` leaves ``grid_workers`` empty and saves the query (the report path
    stores only the codes).
    """
    errors = {}
    if not -180.0 <= lon <= 180.0:
        errors["lon"] = _("Longitude must be between -180 and 180.")
    if not -90.0 <= lat <= 90.0:
        errors["lat"] = _("Latitude must be between -90 and 90.")
    if errors:
        raise ValidationFailed(_("The coordinates are out of range."), errors=errors)
    wgs_lon, wgs_lat = geo.to_wgs84(lon, lat, crs)
    located = grid_index(session, layer, check_seconds).locate(wgs_lon, wgs_lat)
    workers: Sequence[User] = ()
    if with_workers:
        workers = session.scalars(
            select(User)
            .join(UserGrid, UserGrid.user_id == User.id)
            .where(UserGrid.grid_code == located.grid.code, User.active.is_(True))
            .order_by(User.id)
        ).all()
    return Location(wgs_lon, wgs_lat, lon, lat, str(geo.parse_crs(crs)), located, workers)


def list_areas(
    session: Session,
    *,
    level: str | None = None,
    parent: str | None = None,
    layer: str = DEFAULT_LAYER,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[Area], str | None]:
    """List areas by level and parent, in code order, a page at a time."""
    query = select(Area).where(Area.layer == layer).order_by(Area.code).limit(limit + 1)
    if level:
        query = query.where(Area.level == level)
    if parent:
        query = query.where(Area.parent_code == parent)
    after = decode_cursor(cursor, 1)
    if after is not None:
        query = query.where(Area.code > str(after[0]))
    return paginate(list(session.scalars(query)), limit, lambda area: (area.code,))


def get_area(session: Session, code: str, layer: str = DEFAULT_LAYER) -> Area:
    area = session.scalar(select(Area).where(Area.layer == layer, Area.code == code))
    if area is None:
        raise NotFound(_("No area with code %(code)r in layer %(layer)r.", code=code, layer=layer))
    return area
