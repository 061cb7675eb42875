"""The grid map: import, the in-memory grid index, point location (落格) and area queries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import geo
from gridapp.accounts.models import User, UserGrid
from gridapp.core.audit import record_audit
from gridapp.core.errors import NotFound, ValidationFailed
from gridapp.core.i18n import _
from gridapp.core.outbox import enqueue_after_commit
from gridapp.core.pagination import cursor_int, decode_cursor, paginate
from gridapp.core.versions import VersionedCache, bump_version, stored_version, version_number
from gridapp.grid.models import AREA_LEVELS, Area, MapVersion

DEFAULT_LAYER = "urban"
_KM2_PER_DEG2_AT_EQUATOR = 111.32 * 110.574


def version_key(layer: str) -> str:
    return f"grid_map_version:{layer}"


def map_version(session: Session, layer: str = DEFAULT_LAYER) -> str:
    """Return the map's version tag: a counter plus a random token (``gridapp.core.versions``)."""
    return stored_version(session, version_key(layer))


def approx_area_km2(geometry: Any) -> float:
    """Area in km² of a lon/lat geometry, scaled at its centroid's latitude (good at grid scale)."""
    import math

    lat = geometry.centroid.y if not geometry.is_empty else 0.0
    return float(geometry.area * _KM2_PER_DEG2_AT_EQUATOR * math.cos(math.radians(lat)))


@dataclass(frozen=True)
class AreaChange:
    """One area a map file adds, changes or removes."""

    layer: str
    code: str
    name: str
    level: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class MapPlan:
    """What importing a map file would do (导入预检), worked out before anything is stored."""

    layers: tuple[str, ...]
    added: list[AreaChange]
    changed: list[AreaChange]
    removed: list[AreaChange]
    unchanged: int
    warnings: list[geo.ImportProblem]
    replace: bool
    shapes: list[geo.AreaShape] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int
    warnings: list[str] = field(default_factory=list)
    version: int = 0
    removed: int = 0
    plan: MapPlan | None = field(default=None, repr=False)


def _file_layers(data: Mapping[str, Any]) -> list[str]:
    features = data.get("features") if isinstance(data, Mapping) else None
    if not isinstance(features, list):
        return [DEFAULT_LAYER]
    layers = {
        str((f.get("properties") or {}).get("layer") or DEFAULT_LAYER)
        for f in features
        if isinstance(f, Mapping) and isinstance(f.get("properties") or {}, Mapping)
    }
    return sorted(layers or {DEFAULT_LAYER})


def plan_grid_map(session: Session, data: Mapping[str, Any], *, replace: bool = False) -> MapPlan:
    """Check a GeoJSON grid map and work out what importing it would change, storing nothing.

    Without ``replace`` the file adds and changes areas by code and leaves the other stored
    areas alone (parents may be stored ones). With ``replace`` the file is the whole map of
    each layer it names: it must hold every level itself, and stored areas it lacks are removed.
    Raises ``geo.GridImportError`` listing every problem of a refused file.
    """
    layers = _file_layers(data)
    existing_rows = {
        (a.layer, a.code): a for a in session.scalars(select(Area).where(Area.layer.in_(layers)))
    }
    existing = {
        code: geo.AreaShape(
            code=a.code,
            name=a.name,
            level=geo.Level(a.level),
            parent=a.parent_code,
            geometry=a.geometry,
            layer=a.layer,
            setting=a.setting,
        )
        for (_layer, code), a in existing_rows.items()
    }
    result = geo.check_feature_collection(data, {} if replace else existing)
    added: list[AreaChange] = []
    changed: list[AreaChange] = []
    unchanged = 0
    in_file: set[tuple[str, str]] = set()
    for shape in result.areas:
        in_file.add((shape.layer, shape.code))
        row = existing_rows.get((shape.layer, shape.code))
        if row is None:
            added.append(AreaChange(shape.layer, shape.code, shape.name, str(shape.level)))
            continue
        differs = tuple(
            name
            for name, same in (
                ("name", row.name == shape.name),
                ("level", row.level == str(shape.level)),
                ("parent", row.parent_code == shape.parent),
                ("setting", row.setting == shape.setting),
                (
                    "geometry",
                    shapely.equals_exact(row.geometry, shape.geometry, tolerance=1e-9),
                ),
            )
            if not same
        )
        if differs:
            changed.append(
                AreaChange(shape.layer, shape.code, shape.name, str(shape.level), differs)
            )
        else:
            unchanged += 1
    removed = (
        [
            AreaChange(row.layer, row.code, row.name, row.level)
            for key, row in sorted(existing_rows.items())
            if key not in in_file
        ]
        if replace
        else []
    )
    return MapPlan(
        tuple(layers), added, changed, removed, unchanged, result.warnings, replace, result.areas
    )


def import_grid_map(
    session: Session,
    data: Mapping[str, Any],
    *,
    generated: bool = False,
    replace: bool = False,
    source: str = "cli",
    actor_id: int | None = None,
) -> ImportSummary:
    """Import a GeoJSON grid map: all or nothing, idempotent by code (re-import changes nothing).

    Each layer the file changes gets a new map version (a row of its history and a new tag that
    makes every process rebuild its grid index); ``replace`` removes the layer's stored areas
    the file lacks (see ``plan_grid_map``).
    """
    plan = plan_grid_map(session, data, replace=replace)
    rows = {
        (a.layer, a.code): a
        for a in session.scalars(select(Area).where(Area.layer.in_(plan.layers)))
    }
    touched: dict[str, list[int]] = {}
    changed_codes = {(c.layer, c.code) for c in plan.changed}
    for shape in plan.shapes:
        row = rows.get((shape.layer, shape.code))
        if row is None:
            session.add(
                Area(
                    code=shape.code,
                    name=shape.name,
                    level=str(shape.level),
                    parent_code=shape.parent,
                    layer=shape.layer,
                    setting=shape.setting,
                    geometry=shape.geometry,
                    area_km2=approx_area_km2(shape.geometry),
                    generated=generated,
                )
            )
        elif (shape.layer, shape.code) in changed_codes:
            row.name, row.level, row.parent_code = shape.name, str(shape.level), shape.parent
            row.setting = shape.setting
            row.geometry = shape.geometry
            row.area_km2 = approx_area_km2(shape.geometry)
    for gone in plan.removed:
        session.delete(rows[(gone.layer, gone.code)])
    for kind, changes in (
        ("added", plan.added),
        ("changed", plan.changed),
        ("removed", plan.removed),
    ):
        for change in changes:
            touched.setdefault(change.layer, [0, 0, 0])[
                ("added", "changed", "removed").index(kind)
            ] += 1
    session.flush()
    number = 0
    for layer, (n_added, n_changed, n_removed) in sorted(touched.items()):
        tag = bump_version(session, version_key(layer))
        number = version_number(tag)
        session.add(
            MapVersion(
                layer=layer,
                number=number,
                tag=tag,
                source=source,
                actor_id=actor_id,
                added=n_added,
                changed=n_changed,
                removed=n_removed,
                unchanged=sum(1 for s in plan.shapes if s.layer == layer) - n_added - n_changed,
                areas=session.scalar(
                    select(func.count()).select_from(Area).where(Area.layer == layer)
                )
                or 0,
            )
        )
    if touched:
        grid_indexes.forget()
        if source != "seed":
            _precompute_tiles_after_commit(session, sorted(touched))
    session.flush()
    return ImportSummary(
        len(plan.added),
        len(plan.changed),
        plan.unchanged,
        [str(w) for w in plan.warnings],
        number,
        len(plan.removed),
        plan,
    )


def _precompute_tiles_after_commit(session: Session, layers: Sequence[str]) -> None:
    """Have a worker render the new versions' area tiles once this import commits.

    The demo seed's small map is left to on-demand rendering (each process, then the store).
    """
    from gridapp.grid.jobs import precompute_area_tiles  # the job module imports this one

    for layer in layers:
        enqueue_after_commit(
            session, precompute_area_tiles, [layer, map_version(session, layer)], queue="low"
        )


# One GridIndex per process and layer, rebuilt when the stored map version changes.
grid_indexes: VersionedCache[geo.GridIndex] = VersionedCache()


def load_area_shapes(session: Session, layer: str = DEFAULT_LAYER) -> list[geo.AreaShape]:
    return list(iter_area_shapes(session, layer))


def iter_area_shapes(session: Session, layer: str = DEFAULT_LAYER) -> Iterator[geo.AreaShape]:
    """Yield a layer's areas as read, so that a consumer's own list is the only one."""
    rows = session.execute(
        select(
            Area.code, Area.name, Area.level, Area.parent_code, Area.geometry, Area.setting
        ).where(Area.layer == layer)
    )
    for code, name, level, parent, geometry, setting in rows:
        yield geo.AreaShape(
            code=code,
            name=name,
            level=geo.Level(level),
            parent=parent,
            geometry=geometry,
            layer=layer,
            setting=setting,
        )


def grid_index(
    session: Session, layer: str = DEFAULT_LAYER, check_seconds: float = 5.0
) -> geo.GridIndex:
    """Return this process's grid index of a layer, rebuilt when the map's version moved."""
    return grid_indexes.get(
        session,
        layer,
        version_key(layer),
        # Streamed: the index holds the only list of the map as loaded, and frees it once built.
        lambda: geo.GridIndex(iter_area_shapes(session, layer), layer=layer),
        check_seconds,
    )


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


def area_exists(session: Session, code: str) -> bool:
    """Say whether any layer of the grid map has an area with this code."""
    return session.scalar(select(Area.id).where(Area.code == code).limit(1)) is not None


# A 100 000-cell county map is some 35 MB of GeoJSON; this leaves room and still refuses a
# runaway upload before it is parsed (the app-wide limit is sized for photos).
MAP_IMPORT_MAX_BYTES = 64 * 1024 * 1024


def list_map_versions(
    session: Session, *, layer: str | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[list[MapVersion], str | None]:
    """List map versions, newest first, optionally of one layer."""
    query = select(MapVersion).order_by(MapVersion.id.desc()).limit(limit + 1)
    if layer:
        query = query.where(MapVersion.layer == layer)
    after = decode_cursor(cursor, 1)
    if after is not None:
        query = query.where(MapVersion.id < cursor_int(after[0]))
    return paginate(list(session.scalars(query)), limit, lambda v: (v.id,))


@dataclass(frozen=True)
class LayerSummary:
    """A layer of the grid map (多网融合): its current version and areas per level."""

    layer: str
    version: int
    tag: str
    areas: dict[str, int]
    updated_at: Any


def list_layers(session: Session) -> list[LayerSummary]:
    """List the layers of the grid map with their current version and areas per level."""
    counts: dict[str, dict[str, int]] = {}
    for layer, level, count in session.execute(
        select(Area.layer, Area.level, func.count()).group_by(Area.layer, Area.level)
    ):
        counts.setdefault(layer, {})[level] = int(count)
    latest = {v.layer: v for v in session.scalars(select(MapVersion).order_by(MapVersion.id))}
    layers = sorted(set(counts) | set(latest))
    summaries = []
    for layer in layers:
        tag = map_version(session, layer)
        per_level = {level: counts.get(layer, {}).get(level, 0) for level in AREA_LEVELS}
        last = latest.get(layer)
        summaries.append(
            LayerSummary(
                layer, version_number(tag), tag, per_level, last.created_at if last else None
            )
        )
    return summaries


def _problem_dict(problem: geo.ImportProblem) -> dict[str, Any]:
    return {
        "feature": problem.feature,
        "code": problem.code,
        "field": problem.field,
        "message": problem.message,
    }


def _problem_path(problem: geo.ImportProblem) -> str:
    if problem.feature is None:
        return problem.field or "_schema"
    return f"features.{problem.feature}" + (f".{problem.field}" if problem.field else "")


@dataclass(frozen=True)
class MapImportReport:
    """What an admin's map import did, or (dry run) would do."""

    dry_run: bool
    plan: MapPlan
    versions: dict[str, int]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [_problem_dict(w) for w in self.plan.warnings]


def import_map_file(
    session: Session,
    data: Any,
    *,
    dry_run: bool,
    replace: bool = False,
    actor_id: int | None = None,
) -> MapImportReport:
    """Import (or, dry run, only check) a grid map file as a new map version (地图导入).

    A refused file raises ``ValidationFailed`` naming every problem by feature number at once;
    nothing is stored then, nor on a dry run.
    """
    if not isinstance(data, Mapping):
        raise ValidationFailed(
            _("The grid map was refused."),
            errors={"_schema": _("Send a GeoJSON FeatureCollection.")},
        )
    try:
        if dry_run:
            return MapImportReport(True, plan_grid_map(session, data, replace=replace), {})
        before = {layer: map_version(session, layer) for layer in _file_layers(data)}
        summary = import_grid_map(session, data, replace=replace, source="api", actor_id=actor_id)
    except geo.GridImportError as exc:
        errors: dict[str, list[str]] = {}
        for problem in exc.problems:
            errors.setdefault(_problem_path(problem), []).append(str(problem))
        raise ValidationFailed(
            _(
                "The grid map was refused: %(count)s problem(s); nothing was imported.",
                count=len(exc.problems),
            ),
            errors=errors,
            extra={"problems": [_problem_dict(p) for p in exc.problems]},
        ) from exc
    assert summary.plan is not None
    versions = {
        layer: version_number(map_version(session, layer))
        for layer in summary.plan.layers
        if map_version(session, layer) != before[layer]
    }
    if versions:
        record_audit(
            session,
            "admin.map.import",
            target_type="map",
            target_id=",".join(sorted(versions)),
            before={layer: version_number(before[layer]) for layer in versions},
            after={
                "versions": versions,
                "replace": replace,
                "added": summary.created,
                "changed": summary.updated,
                "removed": summary.removed,
                "unchanged": summary.unchanged,
            },
        )
    return MapImportReport(False, summary.plan, versions)
