"""The grid map as vector tiles: one tile layer per level (区县, 街道, 社区, 单元网格).

PostgreSQL makes the tile itself (``ST_AsMVTGeom``/``ST_AsMVT`` over the GiST index); SQLite has
no spatial functions, so the same tile is made in Python from an STRtree of the layer's shapes,
cached per map version. A base map in another datum (GCJ-02, BD-09) gets its tiles from Python
on both backends: PostGIS knows no Chinese datum.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import shapely
from shapely.strtree import STRtree
from sqlalchemy import text
from sqlalchemy.orm import Session

import geo
from geo.tiles import BUFFER, EXTENT, TileFeature, TileLayer, encode_tile, features_in
from gridapp.grid.services import DEFAULT_LAYER, load_area_shapes, map_version

# The lowest zoom at which each level is drawn: below it a level's areas are too small to see
# and would only make the tile heavy (100 000 unit grids at city scale).
MIN_ZOOM = {"district": 0, "street": 9, "community": 11, "grid": 13}
LEVELS = tuple(MIN_ZOOM)


def levels_at(z: int, wanted: Sequence[str] | None = None) -> list[str]:
    """Return the levels drawn at zoom ``z`` (of ``wanted`` when given)."""
    return [level for level in LEVELS if MIN_ZOOM[level] <= z and (not wanted or level in wanted)]


class _ShapeCache:
    """One STRtree of a layer's areas per process, rebuilt when the map version changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[str, list[geo.AreaShape], STRtree]] = {}

    def get(self, session: Session, layer: str) -> tuple[list[geo.AreaShape], STRtree]:
        key = (str(session.get_bind().engine.url), layer)
        version = map_version(session, layer)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            return entry[1], entry[2]
        with self._lock:
            shapes = load_area_shapes(session, layer)
            tree = STRtree([shape.geometry for shape in shapes])
            self._entries[key] = (version, shapes, tree)
            return shapes, tree

    def clear(self) -> None:
        self._entries.clear()


shape_cache = _ShapeCache()

_PG_LEVEL_TILE = text(
    """
    WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS tile,
                        ST_Transform(ST_Expand(ST_TileEnvelope(:z, :x, :y), :pad), 4326) AS box),
    rows AS (
        SELECT a.code AS code, a.name AS name, a.level AS level,
               COALESCE(a.parent_code, '') AS parent,
               ST_AsMVTGeom(ST_Transform(a.geometry, 3857), env.tile, :extent, :buffer, true)
                   AS geom
        FROM area a, env
        WHERE a.layer = :layer AND a.level = :level AND a.geometry && env.box
    )
    SELECT ST_AsMVT(rows.*, :level, :extent, 'geom') FROM rows WHERE geom IS NOT NULL
    """
)


def _pg_tile(session: Session, layer: str, levels: Sequence[str], z: int, x: int, y: int) -> bytes:
    pad = 2 * geo.tiles.EARTH_HALF / 2**z * BUFFER / EXTENT
    parts = []
    for level in levels:
        data = session.scalar(
            _PG_LEVEL_TILE,
            {
                "z": z,
                "x": x,
                "y": y,
                "pad": pad,
                "extent": EXTENT,
                "buffer": BUFFER,
                "layer": layer,
                "level": level,
            },
        )
        if data:
            parts.append(bytes(data))
    # Vector tile layers are concatenated protobuf messages: a tile is their concatenation.
    return b"".join(parts)


def _python_tile(
    session: Session, layer: str, levels: Sequence[str], z: int, x: int, y: int, datum: str
) -> bytes:
    shapes, tree = shape_cache.get(session, layer)
    # A datum shift is at most ~1 km in China: widen the search so shifted shapes are found.
    west, south, east, north = geo.tiles.tile_bounds_lonlat(z, x, y, BUFFER)
    margin = 0.0 if datum == "wgs84" else 0.02
    hits = tree.query(shapely.box(west - margin, south - margin, east + margin, north + margin))
    by_level: dict[str, list[TileFeature]] = {level: [] for level in levels}
    for index in sorted(int(i) for i in hits):
        shape = shapes[index]
        if shape.level.value not in by_level:
            continue
        by_level[shape.level.value].append(
            TileFeature(
                shape.geometry,
                {
                    "code": shape.code,
                    "name": shape.name,
                    "level": shape.level.value,
                    "parent": shape.parent or "",
                },
            )
        )
    layers = [TileLayer(level, features_in(by_level[level], z, x, y, datum)) for level in levels]
    return encode_tile(layers, z, x, y)


def area_tile(
    session: Session,
    z: int,
    x: int,
    y: int,
    *,
    layer: str = DEFAULT_LAYER,
    levels: Sequence[str] | None = None,
    datum: str = "wgs84",
) -> bytes:
    """Return the vector tile of the grid map's areas, one tile layer per level shown at z."""
    shown = levels_at(z, levels)
    if not shown:
        return b""
    # The map changes only by an import (a new version): a tile made once serves every later
    # request for it until then, whoever asks (areas are not scoped to the caller).
    key = (
        str(session.get_bind().engine.url),
        layer,
        map_version(session, layer),
        z,
        x,
        y,
        tuple(shown),
        datum,
    )
    cached = tile_cache.get(key)
    if cached is not None:
        return cached
    if datum == "wgs84" and session.get_bind().dialect.name == "postgresql":
        data = _pg_tile(session, layer, shown, z, x, y)
    else:
        data = _python_tile(session, layer, shown, z, x, y, datum)
    tile_cache.put(key, data)
    return data


class _TileCache:
    """The most recently used area tiles of this process, keyed by the map version they show.

    A new version makes every older key unreachable; they age out as new tiles come in.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._tiles: OrderedDict[tuple[object, ...], bytes] = OrderedDict()

    def get(self, key: tuple[object, ...]) -> bytes | None:
        with self._lock:
            data = self._tiles.get(key)
            if data is not None:
                self._tiles.move_to_end(key)
            return data

    def put(self, key: tuple[object, ...], data: bytes) -> None:
        with self._lock:
            self._tiles[key] = data
            self._tiles.move_to_end(key)
            while len(self._tiles) > self.capacity:
                self._tiles.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()


# About 2 000 tiles (a few MB: a z14 tile of a county's unit grids is ~16 KB) cover the views
# a command centre keeps open; an older one is made again when asked for.
tile_cache = _TileCache(2048)
