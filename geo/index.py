"""Find the unit grid (单元网格) that holds a point, without SQL.

The index is a raster laid over the map. A pixel that no cell boundary touches answers directly
with the one cell that covers it (or "outside"); a pixel that a boundary crosses keeps the short
list of cells that may cover a point in it, and is split into SUB x SUB sub-pixels that answer
the same way, each computed exactly when the index is built. Only a point in a sub-pixel that a
boundary touches is tested exactly with GEOS, against its pixel's candidates. Because the
candidates are tested in code order and the first that covers the point wins, the answers are
exactly those of "every cell that covers the point, lowest code first", boundary points included.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Polygon

from geo.area import DEFAULT_LAYER, DEFAULT_SETTING, AreaRef, AreaShape
from geo.codes import Level
from geo.errors import GeoError, PointOutsideGrids, UnknownArea

__all__ = ["GridIndex", "Located"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

M_PER_DEG_LAT: Final = 110_574.0
M_PER_DEG_LON_EQUATOR: Final = 111_320.0
# Pixels along the side of a typical cell: finer means fewer points needing an exact test,
# coarser means less memory; ten keeps about a quarter of the pixels on a boundary.
PIXELS_PER_CELL_SIDE: Final = 10.0
MIN_PIXEL_M: Final = 0.5
# 2**23 int32 pixels = 32 MiB: a 100 000-cell city of 100 m grids (1 000 km²) gets ~11 m pixels.
DEFAULT_MAX_PIXELS: Final = 1 << 23
# A pixel is widened by this fraction of its side when deciding whether a boundary touches it,
# so that rounding in lon/lat → pixel arithmetic (≈1e-10 of a pixel) can never put a point
# into a pixel whose answer does not hold for it.
_MARGIN: Final = 1e-6
# Work on at most this many sub-segments or filled pixels at once to bound build memory.
_CHUNK: Final = 1 << 18
# A mixed pixel is split into SUB x SUB sub-pixels, each answering like a pixel does, so only
# points in a sub-pixel a boundary touches need an exact test (a quarter as many as without).
# A power of two: int(u * SUB) then splits int(u) exactly, with no rounding between the levels.
SUB: Final = 4
_SUB_AREA: Final = SUB * SUB
# A sub-pixel holds j < _SUB_OUTSIDE (the pixel's j-th candidate covers all of it), or:
_SUB_OUTSIDE: Final = 254  # no candidate covers it
_SUB_EXACT: Final = 255  # a boundary touches it: test the pixel's candidates exactly

# shapely.intersects_xy goes through a Python decorator costing about a microsecond per call;
# the compiled ufunc underneath gives the same answer, and the per-point path calls it directly.
_intersects_xy: Any = getattr(shapely.lib, "intersects_xy", shapely.intersects_xy)


@dataclass(frozen=True, slots=True)
class Located:
    """Tell which unit grid holds a point, that grid's community, street and district, and
    whether the grid is urban or rural (城区 / 农村)."""

    grid: AreaRef
    community: AreaRef | None
    street: AreaRef | None
    district: AreaRef | None
    setting: str = DEFAULT_SETTING


@dataclass(frozen=True, slots=True)
class _Raster:
    lon0: float
    lat0: float
    dlon: float
    dlat: float
    ncols: int
    nrows: int
    # Per pixel: ≥ 0 the one cell covering all of it, -1 outside every cell, ≤ -2 a mixed pixel
    # whose candidates are cands[offsets[k]:offsets[k + 1]] with k = -2 - value.
    values: NDArray[np.int32]
    offsets: NDArray[np.int32]
    cands: NDArray[np.int32]
    # Per mixed pixel k, its SUB x SUB sub-pixels (row-major from the south-west) at
    # sub[k * SUB * SUB:(k + 1) * SUB * SUB]: see _SUB_OUTSIDE and _SUB_EXACT.
    sub: NDArray[np.uint8]

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.offsets.nbytes + self.cands.nbytes + self.sub.nbytes)


class GridIndex:
    """Locate points in the unit grids of one layer of the grid map (网格定位).

    Semantics: a grid *covers* a point on its boundary; where several grids cover a point (a
    shared edge or vertex) the lowest code wins; a point in a hole of a grid (an enclave) is not
    in that grid.
    """

    def __init__(
        self,
        areas: Iterable[AreaShape],
        layer: str = DEFAULT_LAYER,
        *,
        pixel_m: float | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        area_list = list(areas)
        by_code = {area.code: area for area in area_list}
        cells = sorted(
            (a for a in area_list if a.level == Level.grid and a.layer == layer),
            key=lambda a: a.code,
        )
        for before, after in itertools.pairwise(cells):
            if before.code == after.code:
                raise GeoError(f"Grid code {after.code} appears twice in layer {layer!r}")
        for cell in cells:
            if not isinstance(cell.geometry, Polygon | MultiPolygon) or cell.geometry.is_empty:
                raise GeoError(f"Grid {cell.code} needs a non-empty Polygon or MultiPolygon")

        self.layer = layer
        self._codes: tuple[str, ...] = tuple(cell.code for cell in cells)
        self._position_of = {code: i for i, code in enumerate(self._codes)}
        self._geoms: list[Any] = [cell.geometry for cell in cells]
        self._geom_array: NDArray[np.object_] = np.empty(len(cells), dtype=object)
        self._geom_array[:] = self._geoms
        # Not prepared: a unit grid has tens of vertices, so a plain point-in-polygon test costs
        # little next to the call itself, while a prepared grid's edge index (built by its first
        # test, and the build tests every grid) held ~1 KB a grid: 110 MB for 100 000 grids.
        refs: dict[str, AreaRef] = {}
        self._located = tuple(_located(cell, by_code, refs) for cell in cells)

        self._raster = _build_raster(self._geom_array, pixel_m=pixel_m, max_pixels=max_pixels)
        _release_freed_memory()
        r = self._raster
        self._lon0 = r.lon0
        self._lat0 = r.lat0
        self._inv_dlon = 1.0 / r.dlon
        self._inv_dlat = 1.0 / r.dlat
        self._ncols = r.ncols
        self._nrows = r.nrows
        # memoryviews index into the same buffers as plain Python ints, ~3x faster than numpy
        # scalar indexing on the per-point path.
        self._values_mv = r.values.data
        self._offsets_mv = r.offsets.data
        self._cands_mv = r.cands.data
        self._sub_mv = r.sub.data

    # -- lookups ------------------------------------------------------------------------------

    def position(self, lon: float, lat: float) -> int:
        """Return the position in `grid_codes` of the grid covering a point, or -1 outside."""
        u = (lon - self._lon0) * self._inv_dlon
        v = (lat - self._lat0) * self._inv_dlat
        # Written so that NaN compares false and lands outside.
        if not (0.0 <= u < self._ncols and 0.0 <= v < self._nrows):
            return -1
        iu = int(u)
        iv = int(v)
        value: int = self._values_mv[iv * self._ncols + iu]
        if value >= -1:
            return value
        k = -2 - value
        sub: int = self._sub_mv[
            k * _SUB_AREA + (int(v * SUB) - iv * SUB) * SUB + int(u * SUB) - iu * SUB
        ]
        if sub < _SUB_OUTSIDE:
            cell: int = self._cands_mv[self._offsets_mv[k] + sub]
            return cell
        if sub == _SUB_OUTSIDE:
            return -1
        return self._exact(k, lon, lat)

    def _exact(self, k: int, lon: float, lat: float) -> int:
        """Test mixed pixel k's candidates in code order; the first covering the point wins."""
        geoms = self._geoms
        cands = self._cands_mv
        for j in range(self._offsets_mv[k], self._offsets_mv[k + 1]):
            cell: int = cands[j]
            if _intersects_xy(geoms[cell], lon, lat):
                return cell
        return -1

    def locate(self, lon: float, lat: float) -> Located:
        """Return the unit grid covering a WGS84 point and its ancestors, or raise."""
        # position(), inlined: this is the hot path of every report, where a call costs as much
        # as the lookup itself.
        u = (lon - self._lon0) * self._inv_dlon
        v = (lat - self._lat0) * self._inv_dlat
        if 0.0 <= u < self._ncols and 0.0 <= v < self._nrows:
            iu = int(u)
            iv = int(v)
            value: int = self._values_mv[iv * self._ncols + iu]
            if value >= 0:
                return self._located[value]
            if value <= -2:
                k = -2 - value
                sub: int = self._sub_mv[
                    k * _SUB_AREA + (int(v * SUB) - iv * SUB) * SUB + int(u * SUB) - iu * SUB
                ]
                if sub < _SUB_OUTSIDE:
                    return self._located[self._cands_mv[self._offsets_mv[k] + sub]]
                if sub == _SUB_EXACT:
                    i = self._exact(k, lon, lat)
                    if i >= 0:
                        return self._located[i]
        raise PointOutsideGrids(lon, lat)

    def locate_many(self, lons: ArrayLike, lats: ArrayLike) -> IntArray:
        """Return, per point, its grid's position in `grid_codes`, or -1 where outside."""
        lon_arr, lat_arr = np.broadcast_arrays(
            np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
        )
        shape = lon_arr.shape
        lon_flat = lon_arr.ravel()
        lat_flat = lat_arr.ravel()
        if self._ncols == 0 or lon_flat.size == 0:
            return np.full(shape, -1, dtype=np.int64)
        r = self._raster
        u = lon_flat - self._lon0
        u *= self._inv_dlon
        v = lat_flat - self._lat0
        v *= self._inv_dlat
        # Written so that NaN compares false and lands outside.
        inside = (u >= 0.0) & (u < r.ncols) & (v >= 0.0) & (v < r.nrows)
        # Truncation equals floor for non-negative values, exactly as int() on the point path.
        # A point outside (NaN, huge) casts to garbage: it reads pixel 0, then answers -1.
        with np.errstate(invalid="ignore"):
            iu = u.astype(np.int64)
            iv = v.astype(np.int64)
        pixel = iv * r.ncols
        pixel += iu
        np.multiply(pixel, inside, out=pixel)
        # Every index is in range (points outside read pixel 0): "wrap" skips the bounds check.
        result = np.take(r.values, pixel, mode="wrap").astype(np.int64)
        result[~inside] = -1

        mixed = np.flatnonzero(result <= -2)
        points = mixed
        k = -2 - result[mixed]
        result[mixed] = -1
        su = (u[mixed] * SUB).astype(np.int64) - iu[mixed] * SUB
        sv = (v[mixed] * SUB).astype(np.int64) - iv[mixed] * SUB
        sub = r.sub[k * _SUB_AREA + sv * SUB + su]
        start = r.offsets[k].astype(np.int64)
        whole = sub < _SUB_OUTSIDE
        result[points[whole]] = r.cands[start[whole] + sub[whole]]
        exact = np.flatnonzero(sub == _SUB_EXACT)
        points = points[exact]
        k = k[exact]
        start = start[exact]
        count = r.offsets[k + 1] - start
        # Round j tests each unresolved point against its j-th candidate, in code order; a hit
        # is final because no lower code is left untested.
        pending = np.arange(points.size)
        j = 0
        while pending.size:
            cand = r.cands[start[pending] + j]
            pts = points[pending]
            hit = np.asarray(
                shapely.intersects_xy(self._geom_array[cand], lon_flat[pts], lat_flat[pts]),
                dtype=bool,
            )
            result[pts[hit]] = cand[hit]
            j += 1
            pending = pending[~hit & (count[pending] > j)]
        return result.reshape(shape)

    def codes_many(self, lons: ArrayLike, lats: ArrayLike) -> list[str | None]:
        """Return, per point, the code of its grid, or None where outside."""
        codes = self._codes
        return [codes[i] if i >= 0 else None for i in self.locate_many(lons, lats).ravel().tolist()]

    # -- the map ------------------------------------------------------------------------------

    @property
    def grid_codes(self) -> tuple[str, ...]:
        """Return the codes of the indexed grids, in code order."""
        return self._codes

    @property
    def grid_count(self) -> int:
        """Return how many unit grids the index holds."""
        return len(self._codes)

    def __len__(self) -> int:
        return len(self._codes)

    def __contains__(self, grid_code: object) -> bool:
        return grid_code in self._position_of

    def ancestors(self, grid_code: str) -> Located:
        """Return a grid with its community, street and district."""
        return self._located[self._position(grid_code)]

    def located_at(self, position: int) -> Located:
        """Return the grid at `position` in `grid_codes` with its ancestors."""
        return self._located[position]

    def geometry(self, grid_code: str) -> Polygon | MultiPolygon:
        """Return a grid's shape in WGS84 lon/lat."""
        geom: Polygon | MultiPolygon = self._geoms[self._position(grid_code)]
        return geom

    def _position(self, grid_code: str) -> int:
        try:
            return self._position_of[grid_code]
        except KeyError:
            raise UnknownArea(f"Grid {grid_code} is not in layer {self.layer!r}") from None

    # -- introspection ------------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        """Return the bytes held by the raster and candidate arrays (not the shapes)."""
        return self._raster.nbytes

    @property
    def pixel_origin(self) -> tuple[float, float]:
        """Return the lon/lat of the raster's south-west corner."""
        return self._lon0, self._lat0

    @property
    def pixel_size(self) -> tuple[float, float]:
        """Return a pixel's width and height in degrees of lon and lat."""
        return self._raster.dlon, self._raster.dlat

    @property
    def raster_shape(self) -> tuple[int, int]:
        """Return the raster's rows and columns."""
        return self._nrows, self._ncols

    @property
    def mixed_pixel_count(self) -> int:
        """Return how many pixels a boundary crosses (each split into SUB x SUB sub-pixels)."""
        return int(self._raster.offsets.size - 1)

    @property
    def exact_subpixel_count(self) -> int:
        """Return how many sub-pixels a boundary touches (their points need an exact test)."""
        return int(np.count_nonzero(self._raster.sub == _SUB_EXACT))


def _located(cell: AreaShape, by_code: dict[str, AreaShape], refs: dict[str, AreaRef]) -> Located:
    """Resolve a grid's ancestors through the parent chain; a missing link leaves None.

    `refs` shares one AreaRef per ancestor among all its grids (100 000 grids, a few hundred
    communities).
    """
    found: dict[Level, AreaRef] = {}
    parent = cell.parent
    # Four levels at most: the bound also stops a cycle in a broken map.
    for _ in range(len(Level)):
        if parent is None:
            break
        area = by_code.get(parent)
        if area is None:
            break
        ref = refs.get(area.code)
        if ref is None:
            ref = refs[area.code] = area.ref
        found.setdefault(Level(area.level), ref)
        parent = area.parent
    return Located(
        grid=cell.ref,
        community=found.get(Level.community),
        street=found.get(Level.street),
        district=found.get(Level.district),
        setting=cell.setting,
    )


# -- building the raster ----------------------------------------------------------------------


def _empty_raster() -> _Raster:
    return _Raster(
        lon0=0.0,
        lat0=0.0,
        dlon=1.0,
        dlat=1.0,
        ncols=0,
        nrows=0,
        values=np.empty(0, dtype=np.int32),
        offsets=np.zeros(1, dtype=np.int32),
        cands=np.empty(0, dtype=np.int32),
        sub=np.empty(0, dtype=np.uint8),
    )


def _build_raster(geoms: NDArray[np.object_], *, pixel_m: float | None, max_pixels: int) -> _Raster:
    ncells = len(geoms)
    if ncells == 0:
        return _empty_raster()
    min_lon, min_lat, max_lon, max_lat = (float(b) for b in shapely.total_bounds(geoms))
    m_per_deg_lon = M_PER_DEG_LON_EQUATOR * math.cos(math.radians((min_lat + max_lat) / 2.0))
    if pixel_m is None:
        areas_m2 = np.asarray(shapely.area(geoms), dtype=np.float64) * m_per_deg_lon * M_PER_DEG_LAT
        pixel_m = max(math.sqrt(float(np.median(areas_m2))) / PIXELS_PER_CELL_SIDE, MIN_PIXEL_M)
    width_m = (max_lon - min_lon) * m_per_deg_lon
    height_m = (max_lat - min_lat) * M_PER_DEG_LAT
    # A huge, sparse extent would need too many pixels: coarsen until the raster fits.
    # ncols = width / pixel + padding (≤ 5); a budget below 64 pixels cannot hold even that.
    budget = max(max_pixels, 64)
    while (width_m / pixel_m + 5) * (height_m / pixel_m + 5) > budget:
        pixel_m *= 1.25
    dlon = pixel_m / m_per_deg_lon
    dlat = pixel_m / M_PER_DEG_LAT
    # One pixel of padding on every side keeps every vertex strictly inside the raster.
    lon0 = min_lon - dlon
    lat0 = min_lat - dlat
    inv_dlon = 1.0 / dlon
    inv_dlat = 1.0 / dlat
    ncols = math.ceil((max_lon - lon0) * inv_dlon) + 2
    nrows = math.ceil((max_lat - lat0) * inv_dlat) + 2

    # Every ring edge in pixel coordinates, with the cell it belongs to.
    parts, part_cell = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    pu = (coords[:, 0] - lon0) * inv_dlon
    pv = (coords[:, 1] - lat0) * inv_dlat
    first = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
    u0, v0 = pu[first], pv[first]
    u1, v1 = pu[first + 1], pv[first + 1]
    seg_cell = part_cell[ring_part[coord_ring[first]]].astype(np.int64)
    # The rings are copies (GEOS memory tracemalloc does not see): a 100 000-cell map's build
    # peaks over a hundred MB lower without them and the per-vertex arrays.
    del parts, part_cell, rings, ring_part, coords, coord_ring, pu, pv, first

    boundary_keys = _boundary_keys(u0, v0, u1, v1, seg_cell, ncols, nrows, ncells)
    marked = np.zeros(ncols * nrows, dtype=bool)
    marked[boundary_keys // ncells] = True
    values, centre_keys = _fill(
        u0, v0, u1, v1, seg_cell, ncols, nrows, ncells, marked, boundary_keys
    )
    del marked

    keys = boundary_keys
    if centre_keys.size:
        keys = _sorted_unique(np.concatenate([boundary_keys, centre_keys]))
    del boundary_keys, centre_keys
    key_pixel = keys // ncells
    first_key = np.flatnonzero(np.diff(key_pixel, prepend=-1))
    values[key_pixel[first_key]] = -2 - np.arange(first_key.size, dtype=np.int32)
    del key_pixel
    # int32 is plenty: a raster capped at tens of millions of pixels has far fewer pairs.
    offsets = np.append(first_key, keys.size).astype(np.int32)
    cands = (keys % ncells).astype(np.int32)
    del keys
    sub = _subpixels(
        u0, v0, u1, v1, values, offsets, cands, ncols, nrows, (lon0, lat0, dlon, dlat), geoms
    )
    return _Raster(
        lon0=lon0,
        lat0=lat0,
        dlon=dlon,
        dlat=dlat,
        ncols=ncols,
        nrows=nrows,
        values=values,
        offsets=offsets,
        cands=cands,
        sub=sub,
    )


def _subpixels(
    u0: FloatArray,
    v0: FloatArray,
    u1: FloatArray,
    v1: FloatArray,
    values: NDArray[np.int32],
    offsets: NDArray[np.int32],
    cands: NDArray[np.int32],
    ncols: int,
    nrows: int,
    frame: tuple[float, float, float, float],
    geoms: NDArray[np.object_],
) -> NDArray[np.uint8]:
    """Split every mixed pixel into SUB x SUB sub-pixels and answer each that no boundary touches.

    The touched sub-pixels come from the same edge walk as the pixels, at SUB times the
    resolution. Two untouched sub-pixels side by side have the same answer (a boundary between
    them would touch both), so each connected group of them within a pixel is answered once, by
    an exact test of one sub-pixel's centre against the pixel's candidates in code order.
    """
    nmixed = offsets.size - 1
    sub = np.zeros(nmixed * _SUB_AREA, dtype=np.uint8)
    if nmixed == 0:
        return sub
    fine_cols = ncols * SUB
    # Neighbours share their edges: walk each distinct edge once, whichever way it runs.
    swap = (u1 < u0) | ((u1 == u0) & (v1 < v0))
    ends = [
        np.where(swap, u1, u0),
        np.where(swap, v1, v0),
        np.where(swap, u0, u1),
        np.where(swap, v0, v1),
    ]
    del swap
    # lexsort and a neighbour comparison: several times faster than np.unique(axis=0); one
    # column at a time keeps the build's peak memory down.
    order = np.lexsort(ends[::-1])
    distinct = np.zeros(order.size, dtype=bool)
    for i, column in enumerate(ends):
        ends[i] = column = column[order]
        distinct[1:] |= column[1:] != column[:-1]
    distinct[:1] = True
    del order
    edges = np.empty((int(distinct.sum()), 4))
    for i in range(4):
        edges[:, i] = ends[i][distinct]
        ends[i] = np.empty(0)
    del ends, distinct
    edges *= SUB
    one_cell = np.zeros(edges.shape[0], dtype=np.int64)
    for keys in _boundary_key_chunks(
        edges[:, 0], edges[:, 1], edges[:, 2], edges[:, 3], one_cell, fine_cols, nrows * SUB, 1
    ):
        fine_row = keys // fine_cols
        fine_col = keys - fine_row * fine_cols
        value = values[(fine_row // SUB) * ncols + fine_col // SUB].astype(np.int64)
        # A boundary near a sub-pixel is near its pixel, so the pixel is mixed; kept as a guard.
        on_mixed = value <= -2
        k = -2 - value[on_mixed]
        local = (fine_row[on_mixed] % SUB) * SUB + fine_col[on_mixed] % SUB
        sub[k * _SUB_AREA + local] = _SUB_EXACT
    del one_cell, edges

    counts = np.diff(offsets)
    blocks = sub.reshape(nmixed, SUB, SUB)
    # More candidates than a byte can name: every point of such a pixel is tested exactly.
    blocks[counts > _SUB_OUTSIDE] = _SUB_EXACT
    pixel_of = np.flatnonzero(values <= -2)  # mixed pixel k is the k-th in raster order
    lon0, lat0, dlon, dlat = frame
    own = np.arange(_SUB_AREA, dtype=np.int8).reshape(1, _SUB_AREA)
    step = _CHUNK
    for k_lo in range(0, nmixed, step):
        k_hi = min(nmixed, k_lo + step)
        chunk = blocks[k_lo:k_hi]
        free = chunk != _SUB_EXACT
        # Each free sub-pixel's group is named by its lowest index; a pixel's free pattern is a
        # 16-bit number, and the table holds the groups of every pattern.
        pattern = free.reshape(-1, _SUB_AREA).astype(np.int32) @ _BITS
        group = _groups_of_patterns()[pattern]
        block_i, local = np.nonzero(group == own)
        k = k_lo + block_i
        pixel = pixel_of[k]
        row = pixel // ncols
        col = pixel - row * ncols
        lon = lon0 + (col + (local % SUB + 0.5) / SUB) * dlon
        lat = lat0 + (row + (local // SUB + 0.5) / SUB) * dlat
        start = offsets[k].astype(np.int64)
        count = counts[k]
        answer = np.full(k.size, _SUB_OUTSIDE, dtype=np.uint8)
        pending = np.flatnonzero(count <= _SUB_OUTSIDE)
        j = 0
        while pending.size:
            cand = cands[start[pending] + j]
            hit = np.asarray(
                shapely.intersects_xy(geoms[cand], lon[pending], lat[pending]), dtype=bool
            )
            answer[pending[hit]] = j
            j += 1
            pending = pending[~hit & (count[pending] > j)]
        by_group = np.full((k_hi - k_lo, _SUB_AREA + 1), _SUB_EXACT, dtype=np.uint8)
        by_group[block_i, local] = answer
        chunk.reshape(-1, _SUB_AREA)[:] = np.take_along_axis(by_group, group, axis=1)
    return sub


_BITS: Final = (1 << np.arange(_SUB_AREA)).astype(np.int32)


@functools.cache
def _groups_of_patterns() -> NDArray[np.int8]:
    """Return, for each pattern of free sub-pixels in a pixel (bit i: sub-pixel i is free), the
    group of each sub-pixel: the lowest index among the free sub-pixels joined to it side by
    side, or SUB * SUB where it is not free. 65 536 patterns x 16 bytes, built once."""
    patterns = np.arange(1 << _SUB_AREA)
    free = ((patterns[:, None] >> np.arange(_SUB_AREA)) & 1).astype(bool).reshape(-1, SUB, SUB)
    own = np.arange(_SUB_AREA, dtype=np.int8).reshape(1, SUB, SUB)
    group = np.where(free, own, np.int8(_SUB_AREA))
    # Spread the minimum between free neighbours until nothing changes.
    while True:
        spread = group.copy()
        np.minimum(spread[:, 1:, :], group[:, :-1, :], out=spread[:, 1:, :])
        np.minimum(spread[:, :-1, :], group[:, 1:, :], out=spread[:, :-1, :])
        np.minimum(spread[:, :, 1:], group[:, :, :-1], out=spread[:, :, 1:])
        np.minimum(spread[:, :, :-1], group[:, :, 1:], out=spread[:, :, :-1])
        spread[~free] = _SUB_AREA
        if np.array_equal(spread, group):
            return group.reshape(-1, _SUB_AREA)
        group = spread


def _release_freed_memory() -> None:
    """Hand the build's freed temporaries back to the OS where the C library allows it.

    glibc keeps freed mid-sized blocks in the heap; after a large build that is hundreds of MB
    of resident memory per worker that will never be used again. Elsewhere this is a no-op.
    """
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _sorted_unique(keys: IntArray) -> IntArray:
    """Return the distinct keys in order (sorting beats numpy 2's hashing unique here).

    Sorts `keys` in place: callers pass arrays they own.
    """
    if keys.size == 0:
        return keys
    keys.sort()
    keep = np.empty(keys.size, dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _chunks(weights: IntArray) -> Iterable[tuple[int, int]]:
    """Split a sequence into runs whose summed weight stays near _CHUNK."""
    total = np.cumsum(weights)
    start = 0
    n = weights.size
    while start < n:
        base = total[start - 1] if start else 0
        stop = int(np.searchsorted(total, base + _CHUNK, side="right"))
        stop = max(stop, start + 1)
        yield start, min(stop, n)
        start = stop


def _ramp(counts: IntArray) -> IntArray:
    """Return 0, 1, …, n-1 for each n in counts, concatenated."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def _boundary_keys(
    u0: FloatArray,
    v0: FloatArray,
    u1: FloatArray,
    v1: FloatArray,
    seg_cell: IntArray,
    ncols: int,
    nrows: int,
    ncells: int,
) -> IntArray:
    """Return pixel * ncells + cell for every (widened) pixel a cell's boundary touches."""
    found = list(_boundary_key_chunks(u0, v0, u1, v1, seg_cell, ncols, nrows, ncells))
    if not found:
        return np.empty(0, dtype=np.int64)
    return _sorted_unique(np.concatenate(found))


def _boundary_key_chunks(
    u0: FloatArray,
    v0: FloatArray,
    u1: FloatArray,
    v1: FloatArray,
    seg_cell: IntArray,
    ncols: int,
    nrows: int,
    ncells: int,
) -> Iterator[IntArray]:
    """Yield `_boundary_keys` a chunk of edges at a time (each chunk sorted, distinct)."""
    # Cut each edge into pieces at most one pixel long, so a piece meets at most 3 x 3 pixels.
    n_sub = np.maximum(1, np.ceil(np.maximum(np.abs(u1 - u0), np.abs(v1 - v0)))).astype(np.int64)
    for lo, hi in _chunks(n_sub):
        counts = n_sub[lo:hi]
        seg = np.repeat(np.arange(lo, hi), counts)
        step = _ramp(counts)
        t0 = step / n_sub[seg]
        t1 = (step + 1) / n_sub[seg]
        du = u1[seg] - u0[seg]
        dv = v1[seg] - v0[seg]
        a_u = u0[seg] + du * t0
        a_v = v0[seg] + dv * t0
        piece_u = u0[seg] + du * t1 - a_u
        piece_v = v0[seg] + dv * t1 - a_v
        cell = seg_cell[seg]
        c_lo = np.floor(np.minimum(a_u, a_u + piece_u) - _MARGIN).astype(np.int64)
        c_hi = np.floor(np.maximum(a_u, a_u + piece_u) + _MARGIN).astype(np.int64)
        r_lo = np.floor(np.minimum(a_v, a_v + piece_v) - _MARGIN).astype(np.int64)
        r_hi = np.floor(np.maximum(a_v, a_v + piece_v) + _MARGIN).astype(np.int64)
        chunk_keys: list[IntArray] = []
        for dc in range(3):
            for dr in range(3):
                # Only the pieces whose box reaches this far: most span one or two pixels a
                # side, so the later offsets test a fraction of them.
                at = np.flatnonzero((c_lo + dc <= c_hi) & (r_lo + dr <= r_hi))
                c = c_lo[at] + dc
                r = r_lo[at] + dr
                ok = (c >= 0) & (c < ncols) & (r >= 0) & (r < nrows)
                # The bounding boxes overlap already; the piece meets the widened pixel unless
                # all four corners lie strictly on one side of its line.
                au = a_u[at]
                av = a_v[at]
                pu = piece_u[at]
                pv = piece_v[at]
                left = c - _MARGIN - au
                right = c + 1.0 + _MARGIN - au
                bottom = r - _MARGIN - av
                top = r + 1.0 + _MARGIN - av
                s1 = left * pv - bottom * pu
                s2 = right * pv - bottom * pu
                s3 = left * pv - top * pu
                s4 = right * pv - top * pu
                lo_s = np.minimum(np.minimum(s1, s2), np.minimum(s3, s4))
                hi_s = np.maximum(np.maximum(s1, s2), np.maximum(s3, s4))
                ok &= (lo_s <= 0.0) & (hi_s >= 0.0)
                chunk_keys.append((r[ok] * ncols + c[ok]) * ncells + cell[at[ok]])
        yield _sorted_unique(np.concatenate(chunk_keys))


def _fill(
    u0: FloatArray,
    v0: FloatArray,
    u1: FloatArray,
    v1: FloatArray,
    seg_cell: IntArray,
    ncols: int,
    nrows: int,
    ncells: int,
    marked: NDArray[np.bool_],
    boundary_keys: IntArray,
) -> tuple[NDArray[np.int32], IntArray]:
    """Label each unmarked pixel with the lowest cell covering its centre, -1 if none.

    Scan-line fill by the even-odd rule. Also return pixel * ncells + cell for each cell that
    covers the centre of a marked pixel and is not among the (sorted) `boundary_keys` already:
    where cells overlap, such a cell may cover the whole pixel without its boundary touching it,
    so it must be a candidate there too.
    """
    sentinel = np.iinfo(np.int32).max
    labels = np.full(ncols * nrows, sentinel, dtype=np.int32)
    v_min = np.minimum(v0, v1)
    v_max = np.maximum(v0, v1)
    # Rows whose centre line r + 0.5 lies in [v_min, v_max): the half-open rule counts a vertex
    # on the line once, so every ring crosses every row an even number of times.
    row_first = np.ceil(v_min - 0.5).astype(np.int64)
    row_count = np.maximum(np.ceil(v_max - 0.5).astype(np.int64) - row_first, 0)
    # Chunks hold whole cells (edges come grouped by cell), so crossings pair up within one.
    per_cell = np.bincount(seg_cell, weights=row_count, minlength=ncells).astype(np.int64)
    cell_edge_start = np.searchsorted(seg_cell, np.arange(ncells + 1))
    centre: list[IntArray] = []
    for cell_lo, cell_hi in _chunks(per_cell):
        e_lo, e_hi = int(cell_edge_start[cell_lo]), int(cell_edge_start[cell_hi])
        counts = row_count[e_lo:e_hi]
        e = np.repeat(np.arange(e_lo, e_hi), counts)
        row = row_first[e] + _ramp(counts)
        u_cross = u0[e] + (row + 0.5 - v0[e]) * (u1[e] - u0[e]) / (v1[e] - v0[e])
        cell = seg_cell[e]
        order = np.lexsort((u_cross, row, cell))
        u_sorted = u_cross[order]
        span_row = row[order][0::2]
        span_cell = cell[order][0::2]
        col_first = np.ceil(u_sorted[0::2] - 0.5).astype(np.int64)
        col_count = np.maximum(np.ceil(u_sorted[1::2] - 0.5).astype(np.int64) - col_first, 0)
        for lo, hi in _chunks(col_count):
            span_counts = col_count[lo:hi]
            span = np.repeat(np.arange(lo, hi), span_counts)
            pixel = span_row[span] * ncols + col_first[span] + _ramp(span_counts)
            cells = span_cell[span]
            np.minimum.at(labels, pixel, cells.astype(np.int32))
            on_marked = marked[pixel]
            extra = pixel[on_marked] * ncells + cells[on_marked]
            at = np.minimum(np.searchsorted(boundary_keys, extra), boundary_keys.size - 1)
            centre.append(extra[boundary_keys[at] != extra])
    labels[labels == sentinel] = -1
    keys = np.concatenate(centre) if centre else np.empty(0, dtype=np.int64)
    return labels, keys
