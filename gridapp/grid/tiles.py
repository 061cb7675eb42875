"""The grid map as vector tiles: one tile layer per level (区县, 街道, 社区, 单元网格).

PostgreSQL makes the tile itself (``ST_AsMVTGeom``/``ST_AsMVT`` over the GiST index); SQLite has
no spatial functions, so the same tile is made in Python from an STRtree of the layer's shapes,
cached per map version. A base map in another datum (GCJ-02, BD-09) gets its tiles from Python
on both backends: PostGIS knows no Chinese datum.

Tiles are kept at two places, both keyed by the map version they show (an import makes every
older key unreachable): this process's LRU, and a store every process shares (``TileStore``:
files under ``var/tiles/<layer>/<version>/``, where the media also live). After an import the
job ``gridapp.grid.jobs.precompute_area_tiles`` renders every tile of the zooms the console asks
for into the store, so no viewer pays a first render; a tile not in the store (another datum,
a subset of the levels, a zoom past the console's) is rendered on demand, and the ones the
store keeps are written there for the other processes.
"""

from __future__ import annotations

import ctypes
import dataclasses
import math
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from flask import current_app, has_app_context
from numpy.typing import NDArray
from shapely.strtree import STRtree
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

import geo
from geo.tiles import BUFFER, EXTENT, TileFeature, TileLayer, encode_tile, features_in
from gridapp.grid.services import DEFAULT_LAYER, grid_indexes, load_area_shapes, map_version

# The lowest zoom at which each level is drawn: below it a level's areas are too small to see
# and would only make the tile heavy (100 000 unit grids at city scale).
MIN_ZOOM = {"district": 0, "street": 9, "community": 11, "grid": 13}
LEVELS = tuple(MIN_ZOOM)


def levels_at(z: int, wanted: Sequence[str] | None = None) -> list[str]:
    """Return the levels drawn at zoom ``z`` (of ``wanted`` when given)."""
    return [level for level in LEVELS if MIN_ZOOM[level] <= z and (not wanted or level in wanted)]


@dataclasses.dataclass(frozen=True)
class _LayerShapes:
    """A layer's areas for drawing tiles in Python.

    The unit grids this process's grid index holds as they are stored are read from the index
    (its packed shapes, built per tile); the other areas are kept here, in an STRtree.
    """

    shapes: list[geo.AreaShape]
    tree: STRtree
    index: geo.GridIndex | None
    from_index: NDArray[np.bool_]  # per position in the index: drawn from it

    def in_box(self, west: float, south: float, east: float, north: float) -> list[geo.AreaShape]:
        """Return the areas whose bounding box meets a lon/lat box, by level and code."""
        found = [
            self.shapes[int(i)] for i in self.tree.query(shapely.box(west, south, east, north))
        ]
        index = self.index
        if index is not None:
            at = index.grids_in_box(west, south, east, north)
            at = at[self.from_index[at]]
            for position, geometry in zip(at.tolist(), index.geometries(at), strict=True):
                grid = index.located_at(position).grid
                found.append(
                    geo.AreaShape(
                        grid.code, grid.name, grid.level, index.parent_code(position), geometry
                    )
                )
        found.sort(key=lambda shape: (LEVELS.index(shape.level.value), shape.code))
        return found

    def total_bounds(self) -> tuple[float, float, float, float] | None:
        """Return the lon/lat box of every area, or None when there is none."""
        boxes = [shapely.bounds(np.array([s.geometry for s in self.shapes], dtype=object))]
        if self.index is not None:
            boxes.append(self.index.grid_bounds(np.flatnonzero(self.from_index)))
        every = np.concatenate(boxes).reshape(-1, 4)
        if not every.size:
            return None
        west, south = every[:, :2].min(axis=0).tolist()
        east, north = every[:, 2:].max(axis=0).tolist()
        return float(west), float(south), float(east), float(north)


class _ShapeCache:
    """A layer's areas per process (``_LayerShapes``), reloaded when the map version changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[str, _LayerShapes]] = {}

    def get(self, session: Session, layer: str) -> _LayerShapes:
        key = (str(session.get_bind().engine.url), layer)
        version = map_version(session, layer)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            return entry[1]
        with self._lock:
            shapes = _split_from_index(session, layer, load_area_shapes(session, layer))
            self._entries[key] = (version, shapes)
            _release_freed_memory()
            return shapes

    def clear(self) -> None:
        self._entries.clear()


shape_cache = _ShapeCache()


def _release_freed_memory() -> None:
    """Hand the load's freed temporaries back to the OS where the C library allows it.

    As ``geo.GridIndex`` does after its build: glibc keeps freed mid-sized blocks in the heap,
    and the polygons read and then dropped for the index's are ~70 MB of them at 100 000
    grids that would stay resident in every worker. Elsewhere this is a no-op.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _split_from_index(session: Session, layer: str, shapes: list[geo.AreaShape]) -> _LayerShapes:
    """Draw the unit grids this process's grid index already holds from the index.

    The index (built by the first locate) keeps every unit grid's shape, packed; a copy here
    costs ~80 MB of GEOS memory and ~25 MB of names and codes at 100 000 grids. Only a grid
    equal to the index's (vertex for vertex, name and parent) is drawn from it, so a tile is
    the same whichever draws it (an index a version behind serves only what did not change).
    With no index built yet, every area is kept here.
    """
    index = grid_indexes.peek(session, layer)
    from_index = np.zeros(len(index) if index is not None else 0, dtype=bool)
    if index is not None:
        at = [i for i, s in enumerate(shapes) if s.level == geo.Level.grid and s.code in index]
        positions = np.array([index.grid_position(shapes[i].code) for i in at], dtype=np.int64)
        ours = np.empty(len(at), dtype=object)
        ours[:] = [shapes[i].geometry for i in at]
        same = shapely.equals_exact(ours, index.geometries(positions), tolerance=0.0)
        del ours
        for n, (i, position) in enumerate(zip(at, positions.tolist(), strict=True)):
            grid = index.located_at(position).grid
            shape = shapes[i]
            if same[n] and shape.name == grid.name and shape.parent == index.parent_code(position):
                from_index[position] = True
        drawn = set(np.flatnonzero(from_index).tolist())
        shapes = [
            s
            for s in shapes
            if not (
                s.level == geo.Level.grid
                and s.code in index
                and index.grid_position(s.code) in drawn
            )
        ]
    tree = STRtree([shape.geometry for shape in shapes])
    return _LayerShapes(shapes, tree, index, from_index)


# Every level of the tile in one statement (one GiST range, one round trip): a layer per level.
_PG_TILE = text(
    """
    WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS tile,
                        ST_Transform(ST_Expand(ST_TileEnvelope(:z, :x, :y), :pad), 4326) AS box),
    rows AS (
        SELECT a.code AS code, a.name AS name, a.level AS level,
               COALESCE(a.parent_code, '') AS parent,
               ST_AsMVTGeom(ST_Transform(a.geometry, 3857), env.tile, :extent, :buffer, true)
                   AS geom
        FROM area a, env
        WHERE a.layer = :layer AND a.level IN :levels AND a.geometry && env.box
    )
    SELECT rows.level, ST_AsMVT(rows.*, rows.level, :extent, 'geom')
    FROM rows WHERE geom IS NOT NULL GROUP BY rows.level
    """
).bindparams(bindparam("levels", expanding=True))


def _pg_tile(session: Session, layer: str, levels: Sequence[str], z: int, x: int, y: int) -> bytes:
    pad = 2 * geo.tiles.EARTH_HALF / 2**z * BUFFER / EXTENT
    rows = session.execute(
        _PG_TILE,
        {
            "z": z,
            "x": x,
            "y": y,
            "pad": pad,
            "extent": EXTENT,
            "buffer": BUFFER,
            "layer": layer,
            "levels": list(levels),
        },
    )
    by_level = {level: bytes(data) for level, data in rows if data}
    # Vector tile layers are concatenated protobuf messages: a tile is their concatenation,
    # in the order of the levels (coarsest first).
    return b"".join(by_level.get(level, b"") for level in levels)


def _python_tile(
    session: Session, layer: str, levels: Sequence[str], z: int, x: int, y: int, datum: str
) -> bytes:
    layer_shapes = shape_cache.get(session, layer)
    # A datum shift is at most ~1 km in China: widen the search so shifted shapes are found.
    west, south, east, north = geo.tiles.tile_bounds_lonlat(z, x, y, BUFFER)
    margin = 0.0 if datum == "wgs84" else 0.02
    found = layer_shapes.in_box(west - margin, south - margin, east + margin, north + margin)
    by_level: dict[str, list[TileFeature]] = {level: [] for level in levels}
    for shape in found:
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


def render_area_tile(
    session: Session, layer: str, levels: Sequence[str], z: int, x: int, y: int, datum: str
) -> bytes:
    """Make one area tile now (PostGIS in WGS84, Python otherwise), bypassing every cache."""
    if not levels:
        return b""
    if datum == "wgs84" and session.get_bind().dialect.name == "postgresql":
        return _pg_tile(session, layer, levels, z, x, y)
    return _python_tile(session, layer, levels, z, x, y, datum)


def area_tile(
    session: Session,
    z: int,
    x: int,
    y: int,
    *,
    layer: str = DEFAULT_LAYER,
    levels: Sequence[str] | None = None,
    datum: str = "wgs84",
    store: TileStore | None = None,
) -> bytes:
    """Return the vector tile of the grid map's areas, one tile layer per level shown at z.

    ``store`` defaults to the app's (``tile_store``); the tiles it keeps are the console's:
    WGS84, every level shown at ``z``, zooms ``PRECOMPUTED_ZOOMS``.
    """
    shown = levels_at(z, levels)
    if not shown:
        return b""
    # The map changes only by an import (a new version): a tile made once serves every later
    # request for it until then, whoever asks (areas are not scoped to the caller).
    version = map_version(session, layer)
    key = (str(session.get_bind().engine.url), layer, version, z, x, y, tuple(shown), datum)
    cached = tile_cache.get(key)
    if cached is not None:
        return cached
    stored = datum == "wgs84" and shown == levels_at(z) and z in PRECOMPUTED_ZOOMS
    if stored and store is None:
        store = tile_store()
    if stored and store is not None:
        data = store.read(layer, version, z, x, y)
        if data is None:
            data = render_area_tile(session, layer, shown, z, x, y, datum)
            store.write(layer, version, z, x, y, data)
    else:
        data = render_area_tile(session, layer, shown, z, x, y, datum)
    tile_cache.put(key, data, _tile_cache_bytes())
    return data


# The console's area source asks for zooms 0-16 (MapLibre draws deeper zooms from z16 tiles).
PRECOMPUTED_ZOOMS = range(0, 17)


class TileStore:
    """Area tiles on disk, shared by every process of the deployment (like the media).

    ``<root>/<layer>/<version>/<z>/<x>/<y>.mvt``; an empty file is an empty tile. A tile is
    written to a temporary file and renamed, so a reader sees a whole tile or none. A version's
    ``complete`` file says its precompute ran to the end (and what it did).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, layer: str, version: str) -> Path:
        # Layer names and version tags are the project's own ([a-z0-9_-]); refuse anything else
        # rather than let a name walk out of the store.
        for part in (layer, version):
            if not part or not all(c.isalnum() or c in "-_" for c in part):
                raise ValueError(f"not a tile store key: {part!r}")
        return self.root / layer / version

    def path(self, layer: str, version: str, z: int, x: int, y: int) -> Path:
        return self._folder(layer, version) / str(z) / str(x) / f"{y}.mvt"

    def read(self, layer: str, version: str, z: int, x: int, y: int) -> bytes | None:
        try:
            return self.path(layer, version, z, x, y).read_bytes()
        except OSError:  # not there (yet), or removed with its version
            return None

    def write(self, layer: str, version: str, z: int, x: int, y: int, data: bytes) -> None:
        target = self.path(layer, version, z, x, y)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".partial")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except OSError:  # a full or read-only disk: the tile is still answered, just not kept
            return

    def complete(self, layer: str, version: str) -> bool:
        return (self._folder(layer, version) / "complete").exists()

    def mark_complete(self, layer: str, version: str, summary: str) -> None:
        folder = self._folder(layer, version)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "complete").write_text(summary)

    def remove_version(self, layer: str, version: str) -> None:
        """Remove the stored tiles of one version of ``layer``."""
        shutil.rmtree(self._folder(layer, version), ignore_errors=True)

    def remove_other_versions(self, layer: str, keep: str) -> list[str]:
        """Remove the stored tiles of every version of ``layer`` but ``keep``; return them."""
        folder = self._folder(layer, keep).parent
        if not folder.is_dir():
            return []
        removed = []
        for child in folder.iterdir():
            if child.name != keep and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child.name)
        return sorted(removed)


def tile_store() -> TileStore | None:
    """The app's tile store (``var/tiles``), or None outside an app."""
    if not has_app_context():
        return None
    return TileStore(Path(current_app.config["GRIDAPP"].var_dir) / "tiles")


def tiles_covering(bounds: Sequence[float], z: int) -> Iterator[tuple[int, int]]:
    """The (x, y) of every tile at zoom ``z`` meeting a lon/lat box (west, south, east, north)."""
    west, south, east, north = bounds
    n = 1 << z

    def column(lon: float) -> int:
        return min(n - 1, max(0, int((lon + 180.0) / 360.0 * n)))

    def row(lat: float) -> int:
        lat = max(-geo.tiles.MAX_LAT, min(geo.tiles.MAX_LAT, lat))
        return min(
            n - 1, max(0, int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n))
        )

    for x in range(column(west), column(east) + 1):
        for y in range(row(north), row(south) + 1):
            yield x, y


def layer_bounds(session: Session, layer: str) -> tuple[float, float, float, float] | None:
    """The lon/lat box of a layer's areas, or None when it has none."""
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geometry) AS e FROM area WHERE layer = :layer) t"
            ),
            {"layer": layer},
        ).one()
        return None if row[0] is None else (row[0], row[1], row[2], row[3])
    return shape_cache.get(session, layer).total_bounds()


# How long the render reads in one transaction before `still_wanted` begins another.
RENEW_SECONDS = 1.0


def precompute_area_tiles(
    session: Session,
    store: TileStore,
    layer: str = DEFAULT_LAYER,
    zooms: Sequence[int] = PRECOMPUTED_ZOOMS,
    still_wanted: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Render every tile of ``zooms`` over the layer's areas into the store, for its version now.

    The tiles the console asks for (WGS84, every level shown at each zoom); tiles outside the
    map's box are empty and made on demand if ever asked. Then the older versions' tiles go.

    ``still_wanted`` (the job's) ends the read transaction and says whether the layer is still
    at this version. It is asked every `RENEW_SECONDS` and before the older versions go: one
    transaction held for the whole render (minutes at a city's map) would hold back the phones'
    change feeds (gridapp/core/settled.py) and SQLite's WAL checkpoints. A layer that moved on
    meanwhile stops the render: its tiles could never be asked for and are removed, and the
    newer version's are left to their own job.
    """
    started = time.perf_counter()
    version = map_version(session, layer)
    bounds = layer_bounds(session, layer)
    tiles = empty = size = 0
    renewed = started
    wanted = True
    if bounds is not None:
        pyramid = ((z, x, y) for z in zooms for x, y in tiles_covering(bounds, z))
        for z, x, y in pyramid:
            if still_wanted is not None and time.perf_counter() - renewed >= RENEW_SECONDS:
                renewed = time.perf_counter()
                if not (wanted := still_wanted()):
                    break
            data = render_area_tile(session, layer, levels_at(z), z, x, y, "wgs84")
            store.write(layer, version, z, x, y, data)
            tiles += 1
            empty += not data
            size += len(data)
    summary: dict[str, Any] = {
        "layer": layer,
        "version": version,
        "zooms": [min(zooms), max(zooms)] if zooms else [],
        "tiles": tiles,
        "empty": empty,
        "bytes": size,
    }
    if wanted and still_wanted is not None:
        wanted = still_wanted()
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if not wanted:
        store.remove_version(layer, version)
        return {**summary, "skipped": "a newer map version", "removed_versions": [version]}
    store.mark_complete(layer, version, repr(summary))
    summary["removed_versions"] = store.remove_other_versions(layer, version)
    return summary


class _TileCache:
    """The most recently used area tiles of this process, at most ``max_bytes`` of them.

    Bounded by bytes, not by count: a z14 tile of a county's unit grids is ~16 KB and a low
    zoom's can be hundreds, so a count says little about the memory held. A new map version
    makes every older key unreachable; they age out as new tiles come in.
    """

    # What an entry holds besides the tile's bytes (its key tuple and URL string, the bytes
    # object's header, the ordered dict's slot), so that empty tiles are bounded too.
    ENTRY_OVERHEAD = 512

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._tiles: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        """The bytes this cache counts as held (tiles and their entries' overhead)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._tiles)

    def get(self, key: tuple[object, ...]) -> bytes | None:
        with self._lock:
            data = self._tiles.get(key)
            if data is not None:
                self._tiles.move_to_end(key)
            return data

    def put(self, key: tuple[object, ...], data: bytes, max_bytes: int | None = None) -> None:
        """Keep ``data`` under ``key``, dropping the least recently used tiles beyond the bound
        (``max_bytes`` when given, the app's setting, else the cache's own)."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        cost = len(data) + self.ENTRY_OVERHEAD
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self._bytes -= len(old) + self.ENTRY_OVERHEAD
            if cost > limit:
                # Larger than the whole cache: served, not kept (it would push out every other).
                return
            self._tiles[key] = data
            self._bytes += cost
            while self._bytes > limit:
                _, dropped = self._tiles.popitem(last=False)
                self._bytes -= len(dropped) + self.ENTRY_OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self._bytes = 0


# 32 MB by default (Config.tile_cache_bytes, TILE_CACHE_BYTES): about 2 000 z14 tiles of unit
# grids, the views a command centre keeps open; an older tile is read again from the shared
# store (TileStore) or made again when asked for.
DEFAULT_TILE_CACHE_BYTES = 32 * 1024 * 1024
tile_cache = _TileCache(DEFAULT_TILE_CACHE_BYTES)


def _tile_cache_bytes() -> int | None:
    """The app's bound on this process's tile cache; None outside an app (the default)."""
    if not has_app_context():
        return None
    return int(current_app.config["GRIDAPP"].tile_cache_bytes)
