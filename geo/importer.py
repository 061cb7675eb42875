"""Check a grid map file (GeoJSON) before it is imported (网格地图导入检查).

The import is all-or-nothing: `check_feature_collection` either returns every area ready to store
(parents before children) with warnings, or raises GridImportError listing every problem at once,
each with its feature number, so the person fixing the file sees them all in one go.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from geo.area import DEFAULT_LAYER, DEFAULT_SETTING, SETTINGS, AreaShape
from geo.codes import Level, check_area_code
from geo.crs import CRS, parse_crs, to_wgs84_many
from geo.errors import GridImportError, UnknownCRS
from geo.generate import M_PER_DEG_LAT, m_per_deg_lon

__all__ = ["ImportProblem", "ImportResult", "check_feature_collection"]


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """Say what is wrong (or worth a look) in one feature of a grid map file.

    `feature` is the 0-based index into the file's features (None for the file itself or an
    area already stored), `field` the property or member at fault.
    """

    feature: int | None
    code: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        if self.feature is not None:
            where = f"feature {self.feature}"
            if self.code is not None:
                where += f" (code {self.code})"
        elif self.code is not None:
            where = f"area {self.code}"
        else:
            where = "file"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Hold the areas of a file that passed every check, parents before children."""

    areas: list[AreaShape]
    warnings: list[ImportProblem]
    crs: CRS


@dataclass(slots=True)
class _Feature:
    index: int
    code: str | None = None
    name: str | None = None
    level: Level | None = None
    parent: str | None = None
    layer: str = DEFAULT_LAYER
    setting: str | None = None  # None: the parent's (urban at the top)
    geometry: Polygon | MultiPolygon | None = None
    # Rings as parsed, before conversion: polygons → rings → (n, 2) arrays.
    rings: list[list[NDArray[np.float64]]] = field(default_factory=list)
    multi: bool = False
    usable_code: bool = False


class _Problems:
    def __init__(self) -> None:
        self.items: list[ImportProblem] = []

    def add(self, feature: int | None, code: str | None, field: str | None, message: str) -> None:
        self.items.append(ImportProblem(feature, code, field, message))

    def sorted(self) -> list[ImportProblem]:
        return sorted(self.items, key=lambda p: -1 if p.feature is None else p.feature)


def check_feature_collection(
    data: Mapping[str, Any],
    existing: Mapping[str, AreaShape] | None = None,
    *,
    tolerance_m: float = 1.0,
) -> ImportResult:
    """Check a parsed GeoJSON grid map and return its areas in WGS84, or raise GridImportError.

    `existing` holds the areas already stored (parents may live there). Shapes may disagree by
    `tolerance_m` metres — a child sticking out of its parent, or two neighbours overlapping, by
    a band thinner than that passes — since digitised boundaries rarely match exactly.
    """
    stored: Mapping[str, AreaShape] = existing if existing is not None else {}
    errors = _Problems()
    warnings = _Problems()

    if not isinstance(data, Mapping):
        errors.add(None, None, None, "the file is not a GeoJSON object")
        raise GridImportError(errors.items)
    if data.get("type") != "FeatureCollection":
        errors.add(None, None, "type", f"type must be FeatureCollection, not {data.get('type')!r}")
    crs = CRS.wgs84
    crs_name = data.get("crs_name", CRS.wgs84.value)
    try:
        crs = parse_crs(crs_name) if isinstance(crs_name, str) else parse_crs(repr(crs_name))
    except UnknownCRS as exc:
        errors.add(None, None, "crs_name", str(exc))
    raw_features = data.get("features")
    if not isinstance(raw_features, Sequence) or isinstance(raw_features, str | bytes):
        errors.add(None, None, "features", "features must be a list of GeoJSON Features")
        raise GridImportError(errors.sorted())
    if not raw_features:
        errors.add(None, None, "features", "the file has no features")
        raise GridImportError(errors.sorted())

    features = [_parse_feature(i, raw, errors) for i, raw in enumerate(raw_features)]
    _build_geometries(features, crs, errors)

    first_with_code: dict[str, _Feature] = {}
    for feat in features:
        if feat.code is None or not feat.usable_code:
            continue
        seen = first_with_code.get(feat.code)
        if seen is not None:
            errors.add(
                feat.index,
                feat.code,
                "code",
                f"duplicate code, already used by feature {seen.index}",
            )
        else:
            first_with_code[feat.code] = feat

    parent_geometry = _check_parents(features, first_with_code, stored, errors, warnings)
    _check_nesting(features, parent_geometry, tolerance_m, errors)
    _check_overlaps(features, first_with_code, stored, tolerance_m, errors)

    if errors.items:
        raise GridImportError(errors.sorted())

    _check_gaps(features, first_with_code, stored, tolerance_m, warnings)
    settings = _settings(features, first_with_code, stored)
    areas = [
        AreaShape(
            code=feat.code,
            name=feat.name,
            level=feat.level,
            parent=feat.parent if feat.level is not Level.district else None,
            geometry=feat.geometry,
            layer=feat.layer,
            setting=settings[feat.index],
        )
        for feat in sorted(features, key=lambda f: (f.level.rank if f.level else 0, f.index))
        if feat.code is not None
        and feat.name is not None
        and feat.level is not None
        and feat.geometry is not None
    ]
    return ImportResult(areas=areas, warnings=warnings.sorted(), crs=crs)


def _settings(
    features: Sequence[_Feature],
    first_with_code: Mapping[str, _Feature],
    stored: Mapping[str, AreaShape],
) -> dict[int, str]:
    """Resolve each feature's urban/rural setting: its own, else its parent's (in the file or
    stored), urban at the top. Parents are resolved first (by level)."""
    resolved: dict[int, str] = {}
    for feat in sorted(features, key=lambda f: (f.level.rank if f.level else 0, f.index)):
        setting = feat.setting
        if setting is None and feat.parent is not None and feat.level is not Level.district:
            in_file = first_with_code.get(feat.parent)
            if in_file is not None:
                setting = resolved.get(in_file.index)
            elif feat.parent in stored:
                setting = stored[feat.parent].setting
        resolved[feat.index] = setting or DEFAULT_SETTING
    return resolved


# -- reading features -----------------------------------------------------------------------


def _parse_feature(index: int, raw: object, errors: _Problems) -> _Feature:
    feat = _Feature(index=index)
    if not isinstance(raw, Mapping):
        errors.add(index, None, None, "is not a GeoJSON Feature object")
        return feat
    props = raw.get("properties")
    if not isinstance(props, Mapping):
        errors.add(index, None, "properties", "properties are missing")
        props = {}
    if raw.get("type") != "Feature":
        errors.add(index, None, "type", f"type must be Feature, not {raw.get('type')!r}")

    code = props.get("code")
    if code is None:
        errors.add(index, None, "code", "code is missing")
    elif not isinstance(code, str):
        # A number would silently lose leading zeros and precision: insist on a string.
        errors.add(index, str(code), "code", f"code must be a string, not {type(code).__name__}")
    else:
        feat.code = code
    level = props.get("level")
    if level is None:
        errors.add(index, feat.code, "level", "level is missing")
    else:
        try:
            feat.level = Level(level)
        except ValueError:
            valid = ", ".join(lv.value for lv in Level)
            errors.add(index, feat.code, "level", f"level {level!r} is unknown; use one of {valid}")
    if feat.code is not None and feat.level is not None:
        code_problems = check_area_code(feat.code, feat.level)
        for message in code_problems:
            errors.add(index, feat.code, "code", message)
        feat.usable_code = not code_problems
    elif feat.code is not None:
        feat.usable_code = feat.code.isascii() and feat.code.isdigit()

    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.add(index, feat.code, "name", "name is missing")
    else:
        feat.name = name
    parent = props.get("parent")
    if parent is not None and not isinstance(parent, str):
        errors.add(
            index, feat.code, "parent", f"parent must be a string, not {type(parent).__name__}"
        )
    elif parent:
        feat.parent = parent
    layer = props.get("layer", DEFAULT_LAYER)
    if not isinstance(layer, str) or not layer.strip():
        errors.add(index, feat.code, "layer", "layer must be a non-empty string")
    else:
        feat.layer = layer
    setting = props.get("setting")
    if setting is not None and setting not in SETTINGS:
        errors.add(
            index, feat.code, "setting", f"setting {setting!r} is unknown; use urban or rural"
        )
    elif setting is not None:
        feat.setting = setting

    geometry_problem = _parse_rings(feat, raw.get("geometry"))
    if geometry_problem is not None:
        errors.add(index, feat.code, "geometry", geometry_problem)
    return feat


def _ring_array(ring: object) -> NDArray[np.float64] | str:
    if not isinstance(ring, Sequence) or isinstance(ring, str | bytes):
        return "a ring is not a list of positions"
    try:
        arr = np.asarray(ring, dtype=np.float64)
    except (ValueError, TypeError):
        return "a ring holds positions that are not lists of numbers"
    if arr.ndim != 2 or arr.shape[1] < 2:
        return "a ring holds positions that are not [lon, lat] pairs"
    arr = np.ascontiguousarray(arr[:, :2])
    if not np.isfinite(arr).all():
        return "a ring holds a coordinate that is not a finite number"
    if arr.shape[0] < 4:
        return f"a ring has {arr.shape[0]} positions, at least 4 are needed"
    if not np.array_equal(arr[0], arr[-1]):
        return "a ring is not closed (its first and last positions differ)"
    return arr


def _parse_rings(feat: _Feature, geometry: object) -> str | None:
    if geometry is None:
        return "geometry is missing"
    if not isinstance(geometry, Mapping):
        return "geometry is not a GeoJSON geometry object"
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon"):
        return f"geometry is a {kind}, not a Polygon or MultiPolygon"
    if not isinstance(coordinates, Sequence) or isinstance(coordinates, str | bytes):
        return "geometry has no coordinates"
    polygons = coordinates if kind == "MultiPolygon" else [coordinates]
    parsed: list[list[NDArray[np.float64]]] = []
    for polygon in polygons:
        if not isinstance(polygon, Sequence) or isinstance(polygon, str | bytes) or not polygon:
            return "a polygon is not a list of rings"
        rings: list[NDArray[np.float64]] = []
        for ring in polygon:
            arr = _ring_array(ring)
            if isinstance(arr, str):
                return arr
            rings.append(arr)
        parsed.append(rings)
    if not parsed:
        return "geometry has no polygons"
    feat.rings = parsed
    feat.multi = kind == "MultiPolygon"
    return None


def _build_geometries(features: list[_Feature], crs: CRS, errors: _Problems) -> None:
    """Convert every coordinate of the file to WGS84 in one pass, then make the shapes."""
    rings = [ring for feat in features for polygon in feat.rings for ring in polygon]
    if not rings:
        return
    if crs not in (CRS.wgs84, CRS.cgcs2000):
        stacked = np.concatenate(rings)
        lons, lats = to_wgs84_many(stacked[:, 0], stacked[:, 1], crs)
        converted = np.column_stack([lons, lats])
        bounds = np.cumsum([len(r) for r in rings])[:-1]
        rings = np.split(converted, bounds)
    it = iter(rings)
    for feat in features:
        if not feat.rings:
            continue
        polygons = []
        for polygon in feat.rings:
            shell = next(it)
            holes = [next(it) for _ in polygon[1:]]
            polygons.append(Polygon(shell, holes))
        feat.geometry = MultiPolygon(polygons) if feat.multi else polygons[0]
        feat.rings = []  # the shapes hold the coordinates now

    with_geometry = [f for f in features if f.geometry is not None]
    valid = shapely.is_valid(np.array([f.geometry for f in with_geometry], dtype=object))
    for feat, ok in zip(with_geometry, valid.tolist(), strict=True):
        if not ok:
            reason = shapely.is_valid_reason(feat.geometry)
            errors.add(feat.index, feat.code, "geometry", f"invalid polygon: {reason}")
            feat.geometry = None
        elif feat.geometry is not None and feat.geometry.is_empty:
            errors.add(feat.index, feat.code, "geometry", "geometry is empty")
            feat.geometry = None


# -- hierarchy ------------------------------------------------------------------------------


def _check_parents(
    features: list[_Feature],
    in_file: Mapping[str, _Feature],
    stored: Mapping[str, AreaShape],
    errors: _Problems,
    warnings: _Problems,
) -> dict[int, Polygon | MultiPolygon]:
    """Check each feature's parent; return the parent shape to test nesting against, by feature."""
    parent_geometry: dict[int, Polygon | MultiPolygon] = {}
    for feat in features:
        if feat.level is None or feat.code is None:
            continue
        wanted = feat.level.parent_level
        if wanted is None:
            if feat.parent is not None:
                warnings.add(
                    feat.index,
                    feat.code,
                    "parent",
                    f"parent {feat.parent} of a district is ignored",
                )
            continue
        if feat.parent is None:
            errors.add(
                feat.index,
                feat.code,
                "parent",
                f"parent is missing (a {feat.level.value} needs its {wanted.value}'s code)",
            )
            continue
        parent_level: Level | None
        geometry: Polygon | MultiPolygon | None
        file_parent = in_file.get(feat.parent)
        if file_parent is not None:
            parent_level, geometry = file_parent.level, file_parent.geometry
        elif feat.parent in stored:
            stored_parent = stored[feat.parent]
            parent_level, geometry = Level(stored_parent.level), stored_parent.geometry
        else:
            errors.add(feat.index, feat.code, "parent", f"parent {feat.parent} is unknown")
            continue
        if parent_level is not None and parent_level is not wanted:
            errors.add(
                feat.index,
                feat.code,
                "parent",
                f"parent {feat.parent} is a {parent_level.value}; "
                f"a {feat.level.value}'s parent must be a {wanted.value}",
            )
            continue
        if not feat.code.startswith(feat.parent):
            errors.add(
                feat.index,
                feat.code,
                "code",
                f"code does not start with its parent's code {feat.parent}",
            )
        if geometry is not None and feat.geometry is not None:
            parent_geometry[feat.index] = geometry
    return parent_geometry


def _metric(geom: Any) -> Any:
    """Return a geometry in local metres (equirectangular at its own latitude)."""
    min_lat, max_lat = geom.bounds[1], geom.bounds[3]
    factor = np.array([m_per_deg_lon((min_lat + max_lat) / 2.0), M_PER_DEG_LAT])
    return shapely.transform(geom, lambda coords: coords * factor)


def _excess(geom: Any, tolerance_m: float) -> tuple[float, float] | None:
    """Return (area m², width m) of the thickest piece wider than the tolerance, if any.

    A piece's mean width is 2 x area / perimeter: a sliver along a whole edge from slightly
    different digitising is thin, a real overlap or a misplaced shape is not.
    """
    worst: tuple[float, float] | None = None
    total = 0.0
    for part in shapely.get_parts(geom).tolist():
        if not isinstance(part, Polygon) or part.is_empty:
            continue
        local = _metric(part)
        area = float(local.area)
        total += area
        width = 2.0 * area / float(local.length) if local.length > 0 else 0.0
        if width > tolerance_m and (worst is None or width > worst[1]):
            worst = (area, width)
    return None if worst is None else (total, worst[1])


def _check_nesting(
    features: list[_Feature],
    parent_geometry: Mapping[int, Polygon | MultiPolygon],
    tolerance_m: float,
    errors: _Problems,
) -> None:
    by_index = {f.index: f for f in features}
    indexes = list(parent_geometry)
    if not indexes:
        return
    parents = np.array([parent_geometry[i] for i in indexes], dtype=object)
    children = np.array([by_index[i].geometry for i in indexes], dtype=object)
    shapely.prepare(parents)
    # Most children lie well inside: a prepared covers test clears them without an overlay.
    covered = shapely.covers(parents, children)
    for i, parent, child, ok in zip(indexes, parents, children, covered.tolist(), strict=True):
        if ok:
            continue
        excess = _excess(shapely.difference(child, parent), tolerance_m)
        if excess is not None:
            feat = by_index[i]
            errors.add(
                i,
                feat.code,
                "geometry",
                f"sticks out of its parent {feat.parent} by {excess[0]:.0f} m² "
                f"(up to {excess[1]:.1f} m wide; tolerance {tolerance_m:g} m)",
            )


def _check_overlaps(
    features: list[_Feature],
    in_file: Mapping[str, _Feature],
    stored: Mapping[str, AreaShape],
    tolerance_m: float,
    errors: _Problems,
) -> None:
    """Report areas of one level and layer whose interiors overlap beyond the tolerance."""
    groups: dict[tuple[Level, str], list[tuple[int | None, str | None, Any]]] = defaultdict(list)
    for feat in features:
        if feat.level is not None and feat.geometry is not None:
            groups[(feat.level, feat.layer)].append((feat.index, feat.code, feat.geometry))
    for area in stored.values():
        # An area in the file replaces the stored one with its code.
        if area.code not in in_file and (Level(area.level), area.layer) in groups:
            groups[(Level(area.level), area.layer)].append((None, area.code, area.geometry))
    for members in groups.values():
        if len(members) < 2:
            continue
        geoms = np.array([m[2] for m in members], dtype=object)
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        if left.size == 0:
            continue
        # Neighbours share edges: drop the pairs that only touch before any overlay.
        shapely.prepare(geoms)
        touching = shapely.touches(geoms[left], geoms[right])
        for a, b in zip(left[~touching].tolist(), right[~touching].tolist(), strict=True):
            first, second = members[a], members[b]
            if first[0] is None and second[0] is None:
                continue  # both already stored: not this file's doing
            excess = _excess(shapely.intersection(first[2], second[2]), tolerance_m)
            if excess is None:
                continue
            # Report on the later feature of the file, naming the other.
            if first[0] is None or (second[0] is not None and second[0] > first[0]):
                first, second = second, first
            other = (
                f"feature {second[0]} (code {second[1]})"
                if second[0] is not None
                else f"stored area {second[1]}"
            )
            errors.add(
                first[0],
                first[1],
                "geometry",
                f"overlaps {other} by {excess[0]:.0f} m² (up to {excess[1]:.1f} m wide)",
            )


def _check_gaps(
    features: list[_Feature],
    in_file: Mapping[str, _Feature],
    stored: Mapping[str, AreaShape],
    tolerance_m: float,
    warnings: _Problems,
) -> None:
    """Warn where part of a parent is covered by none of its children in this file (a lake)."""
    children: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for feat in features:
        if (
            feat.parent is not None
            and feat.geometry is not None
            and feat.level is not Level.district
        ):
            children[(feat.parent, feat.layer)].append(feat.geometry)
    for (parent_code, layer), geoms in sorted(children.items()):
        file_parent = in_file.get(parent_code)
        if file_parent is not None:
            index: int | None = file_parent.index
            parent_geom: Any = file_parent.geometry
            parent_level = file_parent.level
        elif parent_code in stored:
            index = None
            parent_geom = stored[parent_code].geometry
            parent_level = Level(stored[parent_code].level)
        else:
            continue
        if parent_geom is None or parent_level is None:
            continue
        gap = shapely.difference(parent_geom, shapely.union_all(geoms))
        excess = _excess(gap, tolerance_m)
        if excess is None:
            continue
        child = parent_level.child_level
        noun = "grid" if child is Level.grid else (child.value if child else "child")
        in_layer = "" if layer == DEFAULT_LAYER else f" in layer {layer!r}"
        warnings.add(
            index,
            parent_code,
            "geometry",
            f"{excess[0]:.0f} m² of this {parent_level.value} is covered by no {noun}{in_layer} "
            f"(gap; up to {excess[1]:.1f} m wide)",
        )
