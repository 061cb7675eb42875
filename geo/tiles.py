"""Mapbox vector tiles from shapely geometries (the same tiles PostGIS ``ST_AsMVT`` makes).

Tiles follow the XYZ scheme in Web Mercator (EPSG:3857). Geometries come in WGS84 lon/lat (or
in the datum of the map's base tiles, see ``to_datum``), go to tile pixels (``EXTENT`` wide,
y downwards), are clipped to the tile plus ``BUFFER`` pixels, and encoded with
``mapbox_vector_tile``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from geo.crs import CRS, parse_crs, wgs84_to_bd09, wgs84_to_gcj02_many

EXTENT = 4096
# Pixels kept around a tile, so lines and labels that cross a tile edge join up.
BUFFER = 64
MAX_ZOOM = 22
EARTH_HALF = 20037508.342789244  # half the Web Mercator world's width, metres
MAX_LAT = 85.0511287798


@dataclass(frozen=True)
class TileFeature:
    """One feature of a tile layer: a WGS84 geometry and its properties."""

    geometry: BaseGeometry
    properties: Mapping[str, Any]
    id: int | None = None


@dataclass
class TileLayer:
    name: str
    features: list[TileFeature] = field(default_factory=list)


def valid_tile(z: int, x: int, y: int) -> bool:
    """Say whether z/x/y names a tile of the XYZ pyramid."""
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z


def tile_bounds_lonlat(z: int, x: int, y: int, margin_px: int = 0) -> tuple[float, ...]:
    """Return (west, south, east, north) in WGS84 degrees of a tile with a pixel margin."""
    size = 2 * EARTH_HALF / 2**z
    pad = size * margin_px / EXTENT
    west_m = -EARTH_HALF + x * size - pad
    east_m = -EARTH_HALF + (x + 1) * size + pad
    north_m = EARTH_HALF - y * size + pad
    south_m = EARTH_HALF - (y + 1) * size - pad

    def lon(m: float) -> float:
        return max(-180.0, min(180.0, m / EARTH_HALF * 180.0))

    def lat(m: float) -> float:
        m = max(-EARTH_HALF, min(EARTH_HALF, m))
        return math.degrees(2 * math.atan(math.exp(m / EARTH_HALF * math.pi)) - math.pi / 2)

    return lon(west_m), lat(south_m), lon(east_m), lat(north_m)


def _to_pixels(coords: NDArray[np.float64], z: int, x: int, y: int) -> NDArray[np.float64]:
    lons = coords[:, 0]
    lats = np.clip(coords[:, 1], -MAX_LAT, MAX_LAT)
    mx = lons / 180.0 * EARTH_HALF
    my = np.log(np.tan(np.pi / 4 + np.radians(lats) / 2)) / np.pi * EARTH_HALF
    size = 2 * EARTH_HALF / 2**z
    px = (mx - (-EARTH_HALF + x * size)) / size * EXTENT
    py = ((EARTH_HALF - y * size) - my) / size * EXTENT
    return np.column_stack([px, py])


def to_datum(geometry: BaseGeometry, datum: CRS | str) -> BaseGeometry:
    """Move a WGS84 geometry to the datum of the base map (GCJ-02 for AMap, BD-09 for Baidu)."""
    crs = parse_crs(datum)
    if crs in (CRS.wgs84, CRS.cgcs2000):
        return geometry

    def move(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        lons, lats = wgs84_to_gcj02_many(coords[:, 0], coords[:, 1])
        if crs == CRS.gcj02:
            return np.column_stack([lons, lats])
        moved = [wgs84_to_bd09(float(lo), float(la)) for lo, la in coords]
        return np.asarray(moved, dtype=np.float64).reshape(-1, 2)

    return shapely.transform(geometry, move)


def _tile_geometries(geometries: Sequence[BaseGeometry], z: int, x: int, y: int) -> NDArray[Any]:
    """Project, clip and snap many geometries at once (numpy arrays of shapely geometries)."""
    pixels = shapely.transform(
        np.asarray(geometries, dtype=object), lambda c: _to_pixels(c, z, x, y)
    )
    clip = box(-BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
    inside = shapely.within(pixels, clip)
    clipped = np.where(inside, pixels, shapely.intersection(pixels, clip))
    # Snap to the integer grid as ST_AsMVTGeom does; a polygon that collapses is dropped below.
    snapped = shapely.set_precision(clipped, 1.0)
    # MVT wants exterior rings one way and holes the other: with y downwards, counter-clockwise
    # in tile coordinates (what mapbox_vector_tile would otherwise check feature by feature).
    return np.asarray(shapely.orient_polygons(snapped, exterior_cw=False), dtype=object)


def encode_tile(layers: Sequence[TileLayer], z: int, x: int, y: int) -> bytes:
    """Encode layers of WGS84 features as one vector tile; empty layers are left out."""
    encoded: list[dict[str, Any]] = []
    for layer in layers:
        if not layer.features:
            continue
        geometries = _tile_geometries([f.geometry for f in layer.features], z, x, y)
        empty = shapely.is_empty(geometries)
        polygonal = np.isin(shapely.get_type_id(geometries), (3, 6))
        collapsed = polygonal & (shapely.area(geometries) == 0)
        features = []
        for feature, geometry, drop in zip(
            layer.features, geometries, empty | collapsed, strict=True
        ):
            if drop:
                continue
            entry: dict[str, Any] = {"geometry": geometry, "properties": dict(feature.properties)}
            if feature.id is not None:
                entry["id"] = feature.id
            features.append(entry)
        if features:
            encoded.append({"name": layer.name, "features": features})
    if not encoded:
        return b""
    data: bytes = mapbox_vector_tile.encode(
        encoded,
        default_options={"extents": EXTENT, "y_coord_down": True, "check_winding_order": False},
    )
    return data


def decode_tile(data: bytes) -> dict[str, list[dict[str, Any]]]:
    """Decode a vector tile into {layer: [{"id", "properties", "geometry"}]} in tile pixels."""
    decoded: dict[str, Any] = mapbox_vector_tile.decode(
        data, default_options={"y_coord_down": True}
    )
    return {name: list(layer["features"]) for name, layer in decoded.items()}


def features_in(
    candidates: Iterable[TileFeature], z: int, x: int, y: int, datum: CRS | str = CRS.wgs84
) -> list[TileFeature]:
    """Keep the features that touch the tile and its buffer, moved to the base map's datum."""
    bounds = box(*tile_bounds_lonlat(z, x, y, BUFFER))
    kept = []
    for feature in candidates:
        geometry = to_datum(feature.geometry, datum)
        if geometry.intersects(bounds):
            kept.append(TileFeature(geometry, feature.properties, feature.id))
    return kept
