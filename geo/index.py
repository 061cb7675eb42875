"""Find the unit grid (单元网格) that holds a point, without SQL.

The index is a raster laid over the map. A pixel that no cell boundary touches answers directly
with the one cell that covers it (or "outside"); a pixel that a boundary crosses keeps the short
list of cells that may cover a point in it, and is split into SUB x SUB sub-pixels that answer
the same way, each computed exactly when the index is built. Only a point in a sub-pixel that a
boundary touches needs more: where one edge alone crosses its pixel (most mixed pixels), the
side of that edge it is on, one determinant (two where a bend of one boundary crosses it, one a
ray where the boundaries of three grids or more meet at a vertex inside it); otherwise, or on
the boundary itself, a test against its pixel's candidates, walking their packed coordinates
with exact signs (GEOS is asked only where doubles cannot tell). Because the candidates are
tested in code order and the first that covers the point wins, the answers are exactly those
of "every cell that covers the point, lowest code first", boundary points included.
"""

from __future__ import annotations

import array
import bisect
import ctypes
import functools
import itertools
import math
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
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
# A power of two: floor(u * SUB) then splits floor(u) exactly, with no rounding between the levels.
SUB: Final = 4
_SUB_AREA: Final = SUB * SUB
_SUB_BITS: Final = SUB.bit_length() - 1
_SUB_MASK: Final = SUB - 1
# A mixed pixel's record (see _Raster.mixed): its sub-pixels' answers in SUB * SUB / 8 words,
# then the candidate count, then the candidates.
_COUNT: Final = _SUB_AREA // 8
_HEAD: Final = _COUNT + 1
# A sub-pixel holds j < _SUB_OUTSIDE (the pixel's j-th candidate covers all of it), or:
_SUB_OUTSIDE: Final = 14  # no candidate covers it
_SUB_EXACT: Final = 15  # a boundary touches it: test the pixel's candidates exactly
# A sub-pixel's answer fits in four bits, two to a byte (the low half first): a mixed pixel
# rarely has more than a few candidates, and one with more than 14 is tested exactly anyway.
# A mixed pixel that one edge alone crosses, or two edges of one ring meeting inside it (a
# bend of a boundary, most of the rest on a map of unit grids with a score of vertices each),
# says so in its count word (see _one_segment_words): the word is then
# ~(count | left << 2 | right << 4 | bend << 6 | edge << 7), negative, where left and right are
# the answers on each side of the boundary (a candidate's index, or _SEGMENT_OUTSIDE) and edge
# is the index of its first vertex in the packed coordinates: the next one ends it, or, with
# bend set, is the bend, and the one after ends the second edge.
_SEGMENT_MAX_COUNT: Final = 3
_SEGMENT_OUTSIDE: Final = 3
_SEGMENT_LEFT: Final = 2
_SEGMENT_RIGHT: Final = 4
_SEGMENT_BEND: Final = 6
_SEGMENT_EDGE: Final = 7
# 2**24 vertices: a map of over half a million unit grids; an edge past that keeps the walk.
_SEGMENT_EDGES: Final = 1 << (31 - _SEGMENT_EDGE)
# A piece of a pixel thinner than this at its farthest corner (in pixels) keeps the walk.
_SEGMENT_CLEARANCE: Final = 1e-3
# A bend whose edges turn by less than this sine keeps the walk (nearly straight: which way
# it turns is the point path's exact test alone to tell).
_BEND_MIN_SINE: Final = 1e-6
# A mixed pixel that three edges or more cross from one vertex inside it (a corner where unit
# grids meet: a star) says so in its count word, _STAR | rays << _STAR_RAYS | count, and its
# record holds more words after its candidates: the vertex's index in the packed coordinates,
# then per ray, counterclockwise, its far end's index << _STAR_END | kind << _STAR_KIND |
# answer, where answer is the answer between this ray and the next (a candidate's index, or
# _STAR_OUTSIDE) and kind tells how that sector opens (_CONVEX, _REFLEX or _FLAT: its two rays
# so nearly opposite that a point beside the line they make keeps the walk).
_STAR: Final = 1 << 30
_STAR_RAYS: Final = 4
_STAR_MAX_RAYS: Final = 7
_STAR_MAX_COUNT: Final = 14
_STAR_OUTSIDE: Final = 15
_STAR_KIND: Final = 4
_STAR_END: Final = 6
# 2**25 vertices: a far end past that keeps the walk.
_STAR_ENDS: Final = 1 << (31 - _STAR_END)
_CONVEX: Final = 0
_REFLEX: Final = 1
_FLAT: Final = 2

# The per-point path turns pixel coordinates (≥ 0 there, where floor is truncation) into
# integers with math.floor, a one-argument builtin (~16 ns); int() goes through the type's
# constructor (~60 ns), four times a point in a mixed pixel.
_floor: Final = math.floor
# shapely.intersects_xy goes through a Python decorator costing about a microsecond per call;
# the compiled ufunc underneath gives the same answer, and the per-point path calls it directly.
_intersects_xy: Any = getattr(shapely.lib, "intersects_xy", shapely.intersects_xy)
# Likewise shapely.from_wkb's wrapper costs a third of building a unit grid's shape on demand.
_from_wkb: Any = shapely.lib.from_wkb
_WKB_RAISE: Final = np.uint8(shapely.io.DecodingErrorOptions.get_value("raise"))


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
    # whose record starts at mixed[-2 - value].
    values: NDArray[np.int32]
    # A mixed pixel's record, all it takes to answer there in one place (where three arrays
    # cost a point three cache misses): its SUB x SUB sub-pixels' answers, eight four-bit
    # answers a word (row-major from the south-west, the lowest bits first: see _SUB_OUTSIDE,
    # _SUB_EXACT), then its candidate count, then its candidates in code order.
    mixed: NDArray[np.int32]

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.mixed.nbytes)

    def record_starts(self) -> IntArray:
        """Return where each mixed pixel's record starts, in raster order."""
        return -2 - self.values[self.values <= -2].astype(np.int64)


class GridIndex:
    """Locate points in the unit grids of one layer of the grid map (网格定位).

    Semantics: a grid *covers* a point on its boundary; where several grids cover a point (a
    shared edge or vertex) the lowest code wins; a point in a hole of a grid (an enclave) is not
    in that grid.
    """

    _box: array.array[float]

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
        # No Python object per grid while the map as loaded lives: 100 000 codes, names and
        # Located made among the load's rows would pin its freed memory (profiled: 146 obmalloc
        # arenas, 51 MB of them unused, after the build). Until the load is freed the codes are
        # one string with offsets, a grid's name and kind (parent, ancestors, setting) indices
        # into short tables; the Located are made from them last.
        codes = _Texts([cell.code for cell in cells])
        names: dict[str, int] = {}
        name_of = np.fromiter(
            (names.setdefault(cell.name, len(names)) for cell in cells), np.int32, len(cells)
        )
        kinds: dict[tuple[str | None, str], int] = {}
        self._kind_of: NDArray[np.int32] = np.fromiter(
            (kinds.setdefault((cell.parent, cell.setting), len(kinds)) for cell in cells),
            np.int32,
            len(cells),
        )
        chains: dict[str | None, tuple[AreaRef | None, AreaRef | None, AreaRef | None]] = {}
        refs: dict[str, AreaRef] = {}
        for parent, _setting in kinds:
            if parent not in chains:
                chains[parent] = _ancestry(parent, by_code, refs)
        geoms: NDArray[np.object_] = np.empty(len(cells), dtype=object)
        geoms[:] = [cell.geometry for cell in cells]
        del area_list, by_code, cells
        # The shapes are kept as packed coordinates, not GEOS objects: a GEOS polygon costs ~750
        # bytes for a unit grid's ~20 vertices (75 MB at 100 000 grids), its coordinates 16 a
        # vertex. Only points in a sub-pixel a boundary touches need a shape, and those are
        # tested on the coordinates, in numpy (locate_many) or in plain Python (locate).
        self._shapes = _PackedShapes(geoms)
        # West, south, east, north per grid: the per-point path reads them four at a time.
        self._box, bounds = _held(
            shapely.bounds(geoms).reshape(-1) if len(geoms) else np.empty(0), "d"
        )
        self._bounds: FloatArray = bounds.reshape(-1, 4)
        del bounds
        r = self._raster = _build_raster(
            geoms, pixel_m=pixel_m, max_pixels=max_pixels, packed_coords=self._shapes.coords
        )
        del geoms
        # The short tables are made again now that the map as loaded is freed (when the caller
        # kept no list of it): the first copies lie among the load's dead objects.
        self._names, self._kinds = _compacted(list(names), list(kinds), chains)
        del names, kinds, chains, refs
        _release_freed_memory()
        # The per-point path reads the raster through memoryviews of numpy's own memory (an
        # item a plain int, ~3x faster than numpy's scalar indexing). Not array.array, whose
        # items are faster still (~18 ns against ~35): numpy asks the kernel for huge pages for
        # arrays of 4 MB and more, and a point's pixel is a random read in tens of MB (32 MB at
        # 100 000 grids), where a TLB miss costs more (bench_geo's locate 0.74–0.80 µs a point
        # this way, 0.77–0.84 with array.array).
        self._values = r.values.data
        self._mixed = r.mixed.data
        # The packed lon, lat, lon, lat, …: a one-edge pixel's edge is read from it.
        self._xy = self._shapes.xy
        self._lon0 = r.lon0
        self._lat0 = r.lat0
        self._inv_dlon = 1.0 / r.dlon
        self._inv_dlat = 1.0 / r.dlat
        self._ncols = r.ncols
        self._nrows = r.nrows
        # The raster's extent in pixels as floats: a float compared with a float is the
        # interpreter's fast path, with an int it is not (~10 % of a located point).
        self._u_end = float(r.ncols)
        self._v_end = float(r.nrows)
        self._kind_mv = self._kind_of.data
        # Made last, from the compact tables, once the load is freed and trimmed: they fill the
        # holes it left (profiled at 100 556 grids, the app's process: 268 MB, against 255 MB
        # with none kept and 329 MB made during the load), and locate stays one tuple lookup.
        located = []
        for code, n, k in zip(codes, name_of.tolist(), self._kind_of.tolist(), strict=True):
            _parent, community, street, district, setting = self._kinds[k]
            grid = AreaRef(code, self._names[n], Level.grid)
            located.append(Located(grid, community, street, district, setting))
        self._located = tuple(located)
        del codes, name_of, located
        # The codes, in order, are the Located's own strings (bisect searches them).
        self._codes: tuple[str, ...] = tuple(located.grid.code for located in self._located)

    # -- lookups ------------------------------------------------------------------------------

    def position(self, lon: float, lat: float) -> int:
        """Return the position in `grid_codes` of the grid covering a point, or -1 outside."""
        u = (lon - self._lon0) * self._inv_dlon
        v = (lat - self._lat0) * self._inv_dlat
        # Written so that NaN compares false and lands outside.
        if not (0.0 <= u < self._u_end and 0.0 <= v < self._v_end):
            return -1
        value: int = self._values[_floor(v) * self._ncols + _floor(u)]
        if value >= -1:
            return value
        at = (_floor(v * SUB) & _SUB_MASK) << _SUB_BITS | _floor(u * SUB) & _SUB_MASK
        record = -2 - value
        sub: int = self._mixed[record + (at >> 3)] >> ((at & 7) << 2) & 15
        if sub < _SUB_OUTSIDE:
            cell: int = self._mixed[record + _HEAD + sub]
            return cell
        if sub == _SUB_OUTSIDE:
            return -1
        return self._exact(record, lon, lat)

    def _exact(self, record: int, lon: float, lat: float) -> int:
        """Answer a point in a sub-pixel a boundary touches.

        Where one edge alone crosses the pixel, the side of it the point is on answers (one
        determinant, its sign vouched for by the filter `_ring_side` uses). Otherwise, and for
        a point on the edge, the pixel's candidates are tested in code order; the first
        covering the point wins.
        """
        mixed = self._mixed
        count: int = mixed[record + _COUNT]
        if count < 0:
            word = ~count
            count = word & _SEGMENT_MAX_COUNT
            xy = self._xy
            at = word >> _SEGMENT_EDGE << 1
            ax = xy[at] - lon
            ay = xy[at + 1] - lat
            bx = xy[at + 2] - lon
            by = xy[at + 3] - lat
            left = ax * by
            right = ay * bx
            det = left - right  # > 0: the point is left of the edge
            bound = (abs(left) + abs(right)) * _CCW_ERRBOUND
            # 1: left of the boundary, -1: right of it, 0: on it or in doubt (walk).
            where = 1 if det > bound else -1 if det < -bound else 0
            if word >> _SEGMENT_BEND & 1 and where:
                cx = xy[at + 4] - lon
                cy = xy[at + 5] - lat
                where = _bend_side(where, ax, ay, bx, by, cx, cy, xy, at)
            side = -1
            if where > 0:
                side = word >> _SEGMENT_LEFT & 3
            elif where < 0:
                side = word >> _SEGMENT_RIGHT & 3
            if side == _SEGMENT_OUTSIDE:
                return -1
            if side >= 0:
                cell: int = mixed[record + _HEAD + side]
                return cell
        elif count >= _STAR:
            rays = count >> _STAR_RAYS & 7
            count &= 15
            sector = self._star_sector(record + _HEAD + count, rays, lon, lat)
            if sector == _STAR_OUTSIDE:
                return -1
            if sector >= 0:
                cell = mixed[record + _HEAD + sector]
                return cell
        covers = self._shapes.covers_point
        box = self._box
        first = record + _HEAD
        for j in range(first, first + count):
            cell = mixed[j]
            west = cell << 2
            # A grid's box is exact (its extreme vertices): outside it, no walk is needed.
            if (
                box[west] <= lon <= box[west + 2]
                and box[west + 1] <= lat <= box[west + 3]
                and covers(cell, lon, lat)
            ):
                return cell
        return -1

    def _star_sector(self, at: int, rays: int, lon: float, lat: float) -> int:
        """The answer of the sector of a star (`_stars`) a point lies in: a candidate's index,
        _STAR_OUTSIDE, or -1 on a ray's line or in doubt (walk). ``at`` is where the star's
        words start in its record."""
        mixed = self._mixed
        xy = self._xy
        centre = mixed[at] << 1
        ax = xy[centre] - lon
        ay = xy[centre + 1] - lat
        # Per ray, 1 where the point is left of it (counterclockwise), -1 right; as _exact's
        # one edge, the filter vouching for each sign.
        sides = []
        for j in range(at + 1, at + 1 + rays):
            end = mixed[j] >> _STAR_END << 1
            bx = xy[end] - lon
            by = xy[end + 1] - lat
            left = ax * by
            right = ay * bx
            det = left - right
            bound = (abs(left) + abs(right)) * _CCW_ERRBOUND
            if det > bound:
                sides.append(1)
            elif det < -bound:
                sides.append(-1)
            else:
                return -1
        following = sides[1:] + sides[:1]
        for j, this, after in zip(range(at + 1, at + 1 + rays), sides, following, strict=True):
            word = mixed[j]
            kind = word >> _STAR_KIND & 3
            # Inside the sector from this ray counterclockwise to the next: left of this one
            # and right of the next, or either where it is reflex; beside a flat sector's line
            # (left of both or right of both) is for the walk.
            if this > 0 and after < 0:
                return word & 15
            if kind == _REFLEX and (this > 0 or after < 0):
                return word & 15
            if kind == _FLAT and this == after:
                return -1
        return -1

    def locate(self, lon: float, lat: float) -> Located:
        """Return the unit grid covering a WGS84 point and its ancestors, or raise."""
        # position(), inlined: this is the hot path of every report, where a call costs as much
        # as the lookup itself.
        u = (lon - self._lon0) * self._inv_dlon
        v = (lat - self._lat0) * self._inv_dlat
        if 0.0 <= u < self._u_end and 0.0 <= v < self._v_end:
            value: int = self._values[_floor(v) * self._ncols + _floor(u)]
            if value >= 0:
                return self._located[value]
            if value <= -2:
                # v * SUB is exact (SUB is a power of two): the low bits of its integer part
                # are the sub-pixel's row within the pixel.
                at = (_floor(v * SUB) & _SUB_MASK) << _SUB_BITS | _floor(u * SUB) & _SUB_MASK
                record = -2 - value
                sub: int = self._mixed[record + (at >> 3)] >> ((at & 7) << 2) & 15
                if sub < _SUB_OUTSIDE:
                    return self._located[self._mixed[record + _HEAD + sub]]
                if sub == _SUB_EXACT:
                    i = self._exact(record, lon, lat)
                    if i >= 0:
                        return self._located[i]
        raise PointOutsideGrids(lon, lat)

    def _sides(self, edge: IntArray, lons: FloatArray, lats: FloatArray) -> NDArray[np.int8]:
        """Per point, 1 left of its edge (the packed coordinates' vertex `edge` to the next),
        -1 right of it, 0 on its line or where the filter cannot vouch for the sign."""
        coords = self._shapes.coords
        ax = coords[edge, 0] - lons
        ay = coords[edge, 1] - lats
        bx = coords[edge + 1, 0] - lons
        by = coords[edge + 1, 1] - lats
        left = ax * by
        right = ay * bx
        det = left - right
        bound = (np.abs(left) + np.abs(right)) * _CCW_ERRBOUND
        side = np.zeros(edge.size, dtype=np.int8)
        side[det > bound] = 1
        side[det < -bound] = -1
        return side

    def _bend_sides(
        self, first: NDArray[np.int8], edge: IntArray, lons: FloatArray, lats: FloatArray
    ) -> NDArray[np.int8]:
        """As `_bend_side`, per point: ``first`` its side of the bend's first edge (not 0),
        ``edge`` that edge's first vertex."""
        second = self._sides(edge + 1, lons, lats)
        coords = self._shapes.coords
        a, b, c = coords[edge], coords[edge + 1], coords[edge + 2]
        left = (a[:, 0] - c[:, 0]) * (b[:, 1] - c[:, 1])
        right = (a[:, 1] - c[:, 1]) * (b[:, 0] - c[:, 0])
        det = left - right
        bound = (np.abs(left) + np.abs(right)) * _CCW_ERRBOUND
        # Either side of one edge each: right of a bend turning left, left of one turning right.
        across = np.zeros(edge.size, dtype=np.int8)
        across[det > bound] = -1
        across[det < -bound] = 1
        return np.where(second == first, first, np.where(second == 0, 0, across)).astype(np.int8)

    def _star_sectors(
        self, at: IntArray, rays: IntArray, lons: FloatArray, lats: FloatArray
    ) -> IntArray:
        """As `_star_sector`, per point: ``at`` where its star's words start in the records,
        ``rays`` how many rays the star has."""
        mixed = self._raster.mixed
        coords = self._shapes.coords
        answer = np.full(at.size, -1, dtype=np.int64)
        for n in np.unique(rays).tolist():
            group = np.flatnonzero(rays == n)
            base = at[group]
            lon, lat = lons[group, None], lats[group, None]
            centre = mixed[base].astype(np.int64)
            words = mixed[base[:, None] + 1 + np.arange(n)].astype(np.int64)
            ends = words >> _STAR_END
            ax = coords[centre, 0, None] - lon
            ay = coords[centre, 1, None] - lat
            bx = coords[ends, 0] - lon
            by = coords[ends, 1] - lat
            left = ax * by
            right = ay * bx
            det = left - right
            bound = (np.abs(left) + np.abs(right)) * _CCW_ERRBOUND
            side = np.zeros(words.shape, dtype=np.int8)
            side[det > bound] = 1
            side[det < -bound] = -1
            after = np.roll(side, -1, axis=1)
            kind = words >> _STAR_KIND & 3
            inside = ((side > 0) & (after < 0)) | ((kind == _REFLEX) & ((side > 0) | (after < 0)))
            # The first sector that answers or is in doubt decides, as on the point path.
            stop = inside | ((kind == _FLAT) & (side == after))
            first = np.argmax(stop, axis=1)
            rows = np.arange(group.size)
            hit = (side != 0).all(axis=1) & stop[rows, first] & inside[rows, first]
            answer[group[hit]] = (words[rows, first] & 15)[hit]
        return answer

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
        # Truncation equals floor for non-negative values, exactly as floor() on the point path.
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
        record = -2 - result[mixed]
        # u * SUB is exact (SUB is a power of two): its integer part's low bits are the
        # sub-pixel's column within the pixel, as on the point path.
        su = u[mixed]
        su *= SUB
        sv = v[mixed]
        sv *= SUB
        at = (sv.astype(np.int64) & _SUB_MASK) << _SUB_BITS
        at |= su.astype(np.int64) & _SUB_MASK
        sub = r.mixed[record + (at >> 3)].astype(np.int64)
        sub >>= (at & 7) << 2
        sub &= 15
        start = record + _HEAD
        # A sub-pixel naming a candidate answers with it, else -1 for now ("clip" keeps the
        # index of one that does not in range).
        answer = np.take(r.mixed, start + sub, mode="clip").astype(np.int64)
        exact = sub == _SUB_EXACT
        answer[exact | (sub == _SUB_OUTSIDE)] = -1
        result[mixed] = answer
        exact = np.flatnonzero(exact)
        points = mixed[exact]
        start = start[exact]
        count = r.mixed[record[exact] + _COUNT].astype(np.int64)
        # A pixel one edge alone, or one bend, crosses: the side of it answers, as on the point
        # path.
        one = np.flatnonzero(count < 0)
        if one.size:
            word = ~count[one]
            count[one] = word & _SEGMENT_MAX_COUNT
            at_lon, at_lat = lon_flat[points[one]], lat_flat[points[one]]
            edge = word >> _SEGMENT_EDGE
            side = self._sides(edge, at_lon, at_lat)
            bend = np.flatnonzero((word >> _SEGMENT_BEND & 1).astype(bool) & (side != 0))
            if bend.size:
                side[bend] = self._bend_sides(side[bend], edge[bend], at_lon[bend], at_lat[bend])
            code = np.where(side > 0, word >> _SEGMENT_LEFT, word >> _SEGMENT_RIGHT) & 3
            decided = side != 0
            answer = np.take(r.mixed, start[one] + code, mode="clip").astype(np.int64)
            answer[code == _SEGMENT_OUTSIDE] = -1
            result[points[one[decided]]] = answer[decided]
            keep = np.ones(points.size, dtype=bool)
            keep[one[decided]] = False
            points, start, count = points[keep], start[keep], count[keep]
        # A pixel rays from one vertex cross (a star): the sector answers, as on the point path.
        star = np.flatnonzero(count >= _STAR)
        if star.size:
            word = count[star]
            count[star] = word & 15
            code = self._star_sectors(
                start[star] + count[star],
                word >> _STAR_RAYS & 7,
                lon_flat[points[star]],
                lat_flat[points[star]],
            )
            decided = code >= 0
            answer = np.take(r.mixed, start[star] + code, mode="clip").astype(np.int64)
            answer[code == _STAR_OUTSIDE] = -1
            result[points[star[decided]]] = answer[decided]
            keep = np.ones(points.size, dtype=bool)
            keep[star[decided]] = False
            points, start, count = points[keep], start[keep], count[keep]
        # First each point against its first candidate (in code order), then each point left
        # against all its other candidates at once, the first that covers it winning: two
        # calls, however many candidates a pixel has.
        hit = self._shapes.covers(r.mixed[start], lon_flat[points], lat_flat[points])
        result[points[hit]] = r.mixed[start[hit]]
        left = np.flatnonzero(~hit & (count > 1))
        if left.size:
            more = count[left].astype(np.int64) - 1
            pair = np.repeat(left, more)
            cand = r.mixed[np.repeat(start[left] + 1, more) + _ramp(more)]
            pts = points[pair]
            found = np.flatnonzero(self._shapes.covers(cand, lon_flat[pts], lat_flat[pts]))
            # Pairs run point by point in code order: a point's first hit is its answer.
            first = np.ones(found.size, dtype=bool)
            first[1:] = pair[found[1:]] != pair[found[:-1]]
            found = found[first]
            result[pts[found]] = cand[found]
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
        if not isinstance(grid_code, str):
            return False
        at = bisect.bisect_left(self._codes, grid_code)
        return at < len(self._codes) and self._codes[at] == grid_code

    def ancestors(self, grid_code: str) -> Located:
        """Return a grid with its community, street and district."""
        return self.located_at(self._position(grid_code))

    def located_at(self, position: int) -> Located:
        """Return the grid at `position` in `grid_codes` with its ancestors."""
        return self._located[position]

    def geometry(self, grid_code: str) -> Polygon | MultiPolygon:
        """Return a grid's shape in WGS84 lon/lat."""
        geom: Polygon | MultiPolygon = self._shapes.shape(self._position(grid_code))
        return geom

    def grid_position(self, grid_code: str) -> int:
        """Return a grid's position in `grid_codes`, or raise UnknownArea."""
        return self._position(grid_code)

    def parent_code(self, position: int) -> str | None:
        """Return the parent code the grid at `position` was given."""
        return self._kinds[self._kind_mv[position]][0]

    def grids_in_box(self, west: float, south: float, east: float, north: float) -> IntArray:
        """Return the positions, in order, of the grids whose bounding box meets a lon/lat box."""
        b = self._bounds
        meets = (b[:, 0] <= east) & (b[:, 2] >= west) & (b[:, 1] <= north) & (b[:, 3] >= south)
        return np.flatnonzero(meets)

    def grid_bounds(self, positions: ArrayLike) -> FloatArray:
        """Return the west, south, east, north of the grids at `positions`, one row each."""
        bounds: FloatArray = self._bounds[np.asarray(positions, dtype=np.int64)]
        return bounds

    def geometries(self, positions: ArrayLike) -> NDArray[np.object_]:
        """Return the shapes of the grids at `positions` in `grid_codes`, built now."""
        return self._shapes.shapes(np.asarray(positions, dtype=np.int64))

    def _position(self, grid_code: str) -> int:
        # The codes are sorted: a bisection needs no dictionary of 100 000 entries (~6 MB).
        at = bisect.bisect_left(self._codes, grid_code)
        if at < len(self._codes) and self._codes[at] == grid_code:
            return at
        raise UnknownArea(f"Grid {grid_code} is not in layer {self.layer!r}")

    # -- introspection ------------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        """Return the bytes held by the raster, candidate, packed shape and bounds arrays."""
        return self._raster.nbytes + self._shapes.nbytes + int(self._bounds.nbytes)

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
        return int(self._raster.record_starts().size)

    @property
    def one_edge_pixel_count(self) -> int:
        """Return how many mixed pixels one edge alone crosses (answered by its side)."""
        return int(np.count_nonzero(self._sided_words() >> _SEGMENT_BEND & 1 == 0))

    @property
    def bend_pixel_count(self) -> int:
        """Return how many mixed pixels one bend of a boundary crosses (answered by its sides)."""
        return int(np.count_nonzero(self._sided_words() >> _SEGMENT_BEND & 1))

    @property
    def star_pixel_count(self) -> int:
        """Return how many mixed pixels rays from one vertex cross (answered by the sector)."""
        words = self._raster.mixed[self._raster.record_starts() + _COUNT]
        return int(np.count_nonzero(words >= _STAR))

    def _sided_words(self) -> IntArray:
        """The count words of the mixed pixels answered by the side of a boundary, complemented
        (`_one_segment_words`)."""
        words = self._raster.mixed[self._raster.record_starts() + _COUNT].astype(np.int64)
        return ~words[words < 0]

    @property
    def exact_subpixel_count(self) -> int:
        """Return how many sub-pixels a boundary touches (their points need an exact test)."""
        starts = self._raster.record_starts()
        words = self._raster.mixed[np.concatenate([starts, starts + 1])].view(np.uint32)
        nibbles = (words[:, None] >> (4 * np.arange(8, dtype=np.uint32))) & 15
        return int(np.count_nonzero(nibbles == _SUB_EXACT))


class _Texts:
    """Hold many short strings as one string and their offsets, without an object each."""

    __slots__ = ("_start", "_text")

    def __init__(self, texts: list[str]) -> None:
        self._text = "".join(texts)
        lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
        self._start = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self._start[1:])

    def __iter__(self) -> Iterator[str]:
        text = self._text
        return (text[a:b] for a, b in itertools.pairwise(self._start.tolist()))


_Kind = tuple[str | None, AreaRef | None, AreaRef | None, AreaRef | None, str]


def _compacted(
    names: list[str],
    kinds: list[tuple[str | None, str]],
    chains: dict[str | None, tuple[AreaRef | None, AreaRef | None, AreaRef | None]],
) -> tuple[tuple[str, ...], tuple[_Kind, ...]]:
    """Return fresh copies of the grids' names and of their kinds: parent code, community,
    street, district and setting, an ancestor one object however many kinds share it."""
    copies: dict[str, str] = {}

    def fresh(text: str) -> str:
        copy = copies.get(text)
        if copy is None:
            # encode/decode makes a new object where str(), slicing or join hand back the same.
            copy = copies[text] = text.encode().decode()
        return copy

    refs: dict[int, AreaRef] = {}

    def fresh_ref(ref: AreaRef | None) -> AreaRef | None:
        if ref is None:
            return None
        copy = refs.get(id(ref))
        if copy is None:
            copy = refs[id(ref)] = AreaRef(fresh(ref.code), fresh(ref.name), ref.level)
        return copy

    new_names = tuple(fresh(name) for name in names)
    new_kinds = []
    for parent, setting in kinds:
        community, street, district = chains[parent]
        new_kinds.append(
            (
                None if parent is None else fresh(parent),
                fresh_ref(community),
                fresh_ref(street),
                fresh_ref(district),
                fresh(setting),
            )
        )
    return new_names, tuple(new_kinds)


def _ancestry(
    parent: str | None, by_code: dict[str, AreaShape], refs: dict[str, AreaRef]
) -> tuple[AreaRef | None, AreaRef | None, AreaRef | None]:
    """Return the community, street and district above a parent code, itself included."""
    found: dict[Level, AreaRef] = {}
    # Four levels at most: the bound also stops a cycle in a broken map.
    for _ in range(_LEVEL_COUNT):
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
    return found.get(Level.community), found.get(Level.street), found.get(Level.district)


_LEVEL_COUNT: Final = len(Level)


# -- the shapes -------------------------------------------------------------------------------


class _PackedShapes:
    """Hold polygons as packed coordinates, laid out as GeoArrow lays them out: cell i has parts
    cell_start[i]:cell_start[i + 1], part p rings part_start[p]:part_start[p + 1] (its shell
    first), ring r vertices ring_start[r]:ring_start[r + 1] of coords (closed, as in GEOS).

    A point is tested exactly in numpy (``covers``), in plain Python (``covers_point``), or
    against a GEOS shape built from the coordinates (``shape``): all three answer alike.
    """

    __slots__ = (
        "_cells",
        "_first",
        "_one_ring",
        "_parts",
        "_rings",
        "_xy",
        "cell_start",
        "coords",
        "first_vertex",
        "multi",
        "one_ring",
        "part_start",
        "ring_start",
        "shell",
    )

    def __init__(self, geoms: NDArray[np.object_]) -> None:
        if len(geoms):
            kind, coords, offsets = shapely.to_ragged_array(geoms, include_z=False)
        else:
            kind, coords, offsets = (
                shapely.GeometryType.POLYGON,
                np.empty((0, 2)),
                (
                    np.zeros(1, dtype=np.int64),
                    np.zeros(1, dtype=np.int64),
                ),
            )
        if kind == shapely.GeometryType.POLYGON:
            ring_start, part_start = offsets
            cell_start = np.arange(len(geoms) + 1)
        else:
            ring_start, part_start, cell_start = offsets
        # Little-endian doubles: a ring's bytes are then its WKB coordinates as they are. Held
        # as lon, lat, lon, lat, … in an array.array, whose slice the per-point walk reads
        # (~0.2 µs; a memoryview's slice and tolist ~0.5 µs), with a numpy view for the rest.
        self._xy, flat = _held(np.ascontiguousarray(coords, dtype="<f8").reshape(-1), "d")
        self.coords: FloatArray = flat.reshape(-1, 2)
        # int32 holds 2 billion vertices; a city has a few million.
        self.ring_start: NDArray[np.int32] = ring_start.astype(np.int32)
        self.part_start: NDArray[np.int32] = part_start.astype(np.int32)
        self.cell_start: NDArray[np.int32] = cell_start.astype(np.int32)
        self.multi: NDArray[np.bool_] = shapely.get_type_id(geoms) == _MULTIPOLYGON
        self.shell: NDArray[np.bool_] = np.zeros(max(self.ring_start.size - 1, 0), dtype=bool)
        self.shell[self.part_start[:-1]] = True
        # A unit grid is nearly always one ring: its vertices are then
        # coords[first_vertex[i]:first_vertex[i + 1]], found in one lookup, not three.
        self._first, self.first_vertex = _held(
            self.ring_start[self.part_start[self.cell_start]], "i"
        )
        self.one_ring: NDArray[np.bool_] = (np.diff(self.cell_start) == 1) & (
            np.diff(self.part_start)[self.cell_start[:-1]] == 1
        )
        self._cells = self.cell_start.data
        self._parts = self.part_start.data
        self._rings = self.ring_start.data
        self._one_ring = self.one_ring.tobytes()

    @property
    def xy(self) -> array.array[float]:
        """The coordinates as lon, lat, lon, lat, … (the memory `coords` views)."""
        return self._xy

    @property
    def nbytes(self) -> int:
        arrays = (self.coords, self.ring_start, self.part_start, self.cell_start, self.multi)
        extra = (self.shell, self.first_vertex, self.one_ring)
        return sum(int(a.nbytes) for a in (*arrays, *extra))

    def wkb(self, cell: int) -> bytes:
        """Return a cell's shape as WKB, written from its coordinates."""
        rings = self._rings
        out = []
        p0, p1 = self._cells[cell], self._cells[cell + 1]
        if self.multi[cell]:
            out.append(_WKB_HEAD.pack(1, _MULTIPOLYGON, p1 - p0))
        for p in range(p0, p1):
            r0, r1 = self._parts[p], self._parts[p + 1]
            out.append(_WKB_HEAD.pack(1, _POLYGON, r1 - r0))
            for r in range(r0, r1):
                v0, v1 = rings[r], rings[r + 1]
                out.append(_WKB_COUNT.pack(v1 - v0))
                out.append(self.coords[v0:v1].tobytes())
        return b"".join(out)

    def shape(self, cell: int) -> Polygon | MultiPolygon:
        """Return a cell's shape as a GEOS geometry, built now."""
        wkb = np.empty((), dtype=object)
        wkb[()] = self.wkb(cell)
        geom: Polygon | MultiPolygon = _from_wkb(wkb, _WKB_RAISE)
        return geom

    def shapes(self, cells: IntArray) -> NDArray[np.object_]:
        wkbs = np.empty(cells.size, dtype=object)
        wkbs[:] = [self.wkb(cell) for cell in cells.tolist()]
        geoms: NDArray[np.object_] = shapely.from_wkb(wkbs)
        return geoms

    def covers_point(self, cell: int, lon: float, lat: float) -> bool:
        """As ``covers``, for one pair, walked in plain Python.

        A unit grid has a handful of vertices: walking them costs less than one call into GEOS
        (a scalar ufunc, ~1.7 µs) and touches one run of packed coordinates, not a GEOS object.
        """
        if self._one_ring[cell]:
            xy = self._xy
            side = _ring_side(xy[2 * self._first[cell] : 2 * self._first[cell + 1]], lon, lat)
            if side != _UNSURE:
                return side != _OUTSIDE
        else:
            covered = self._rings_cover(cell, lon, lat)
            if covered is not None:
                return covered
        return bool(_intersects_xy(self.shape(cell), lon, lat))

    def _rings_cover(self, cell: int, lon: float, lat: float) -> bool | None:
        """Tell whether a cell of several rings or parts covers a point, as ``_covers`` reads
        its rings; None where a sign cannot be trusted in doubles."""
        xy = self._xy
        rings = self._rings
        covered = False
        for p in range(self._cells[cell], self._cells[cell + 1]):
            r0, r1 = self._parts[p], self._parts[p + 1]
            sides = [
                _ring_side(xy[2 * rings[r] : 2 * rings[r + 1]], lon, lat) for r in range(r0, r1)
            ]
            if _UNSURE in sides:
                return None
            shell, holes = sides[0], sides[1:]
            if shell == _ON or (shell == _INSIDE and (_ON in holes or _INSIDE not in holes)):
                covered = True
        return covered

    def covers(
        self, cells: NDArray[np.integer[Any]], lons: FloatArray, lats: FloatArray
    ) -> NDArray[np.bool_]:
        """Tell, per pair, whether the cell covers the point (its boundary included), exactly."""
        result = np.zeros(cells.size, dtype=bool)
        one_ring = self.one_ring[cells]
        if one_ring.all():
            for lo, hi in _chunks(np.ones(cells.size, dtype=np.int64)):
                result[lo:hi] = self._covers_one_ring(cells[lo:hi], lons[lo:hi], lats[lo:hi])
            return result
        at = np.flatnonzero(one_ring)
        for lo, hi in _chunks(np.ones(at.size, dtype=np.int64)):
            pairs = at[lo:hi]
            result[pairs] = self._covers_one_ring(cells[pairs], lons[pairs], lats[pairs])
        at = np.flatnonzero(~one_ring)
        cells = cells[at]
        first = self.ring_start[self.part_start[self.cell_start[cells]]]
        vertices = self.ring_start[self.part_start[self.cell_start[cells + 1]]] - first
        for lo, hi in _chunks(vertices.astype(np.int64)):
            pairs = at[lo:hi]
            result[pairs] = self._covers(cells[lo:hi], lons[pairs], lats[pairs])
        return result

    def _covers_one_ring(
        self, cells: NDArray[np.integer[Any]], lons: FloatArray, lats: FloatArray
    ) -> NDArray[np.bool_]:
        """As ``_covers``, for cells of one ring: the rule and the filter are the same, on a
        table of pairs x edges, with no per-edge rows sorted back into rings and counted.

        A unit grid has four to ten edges: pairs are taken in groups of up to 4, 8, 16, …
        edges, a short ring's last vertex repeated to fill its row. Such an edge from a vertex
        to itself changes nothing: it spans the point's latitude only if the point is level
        with the vertex, where it then crosses nothing, holds the point only if the point is
        the vertex (on the ring anyway), and has no products of one sign to doubt.
        """
        n = cells.size
        result = np.zeros(n, dtype=bool)
        first = self.first_vertex[cells].astype(np.int64)
        edges = self.first_vertex[cells + 1] - first - 1
        x = self.coords[:, 0]
        y = self.coords[:, 1]
        shorter = 0
        width = 4
        left_to_do = n
        while left_to_do:
            group = np.flatnonzero((edges > shorter) & (edges <= width))
            shorter, width = width, 2 * width
            if not group.size:
                continue
            left_to_do -= group.size
            step = np.minimum(np.arange(shorter + 1), edges[group, None])
            vertex = first[group, None] + step
            px = x[vertex]
            px -= lons[group, None]
            py = y[vertex]
            py -= lats[group, None]
            ax, bx, ay, by = px[:, :-1], px[:, 1:], py[:, :-1], py[:, 1:]
            left = ax * by
            right = ay * bx
            det = left - right  # > 0: the point is left of a -> b
            b_north = by > 0.0
            crosses = (ay > 0.0) != b_north
            # Where det is 0 this may count a crossing _covers does not: the point is then on
            # the edge (it straddles the point's latitude), found below, and covered anyway.
            crosses &= (det > 0.0) == b_north
            covered = np.bitwise_xor.reduce(crosses, axis=1)
            # Only where |det| <= e * |left + right| can the point be on the edge's line
            # (det == 0) or the filter fail (products of one sign, where |left + right| is
            # |left| + |right|); both are rare, and looked at exactly only there.
            bound = left + right
            np.abs(bound, out=bound)
            bound *= _CCW_ERRBOUND
            row, col = np.nonzero(np.abs(det) <= bound)
            if row.size:
                eax, ebx, eay, eby = ax[row, col], bx[row, col], ay[row, col], by[row, col]
                el, er, ed = left[row, col], right[row, col], det[row, col]
                on = (ed == 0.0) & ~(
                    ((eax > 0.0) & (ebx > 0.0))
                    | ((eax < 0.0) & (ebx < 0.0))
                    | ((eay > 0.0) & (eby > 0.0))
                    | ((eay < 0.0) & (eby < 0.0))
                )
                covered[row[on]] = True
                doubt = (
                    (eay * eby <= 0.0)
                    & (((el > 0.0) & (er > 0.0)) | ((el < 0.0) & (er < 0.0)))
                    & (np.abs(ed) < _CCW_ERRBOUND * (np.abs(el) + np.abs(er)))
                )
                for r in np.unique(row[doubt]).tolist():
                    i = int(group[r])
                    covered[r] = _intersects_xy(self.shape(int(cells[i])), lons[i], lats[i])
            result[group] = covered
        return result

    def _covers(
        self, cells: NDArray[np.integer[Any]], lons: FloatArray, lats: FloatArray
    ) -> NDArray[np.bool_]:
        """As ``covers``, for pairs with a bounded number of edges between them.

        Each ring is walked by the crossing rule on a ray towards east, half-open in latitude so
        that a vertex on the ray counts once; a point on an edge is on the boundary. Every sign
        is exact (Shewchuk's orient2d filter): a pair where the filter cannot tell is handed to
        GEOS, whose predicates are exact too, so the answers are GEOS's. Rings make a polygon
        as GEOS reads them: on any ring, or in the shell and in no hole.
        """
        n = cells.size
        first = self.ring_start[self.part_start[self.cell_start[cells]]].astype(np.int64)
        edge_n = self.ring_start[self.part_start[self.cell_start[cells + 1]]] - first - 1
        # Every vertex of a pair's cell but its last starts an edge; the step from one ring's
        # last vertex to the next ring's first is no edge, and is dropped below.
        edge_pair = np.repeat(np.arange(n), edge_n)
        vertex = np.arange(edge_pair.size) + np.repeat(first - (np.cumsum(edge_n) - edge_n), edge_n)
        lat = np.repeat(lats, edge_n)
        lat_a = self.coords[:, 1]
        lat_b = self.coords[1:, 1]
        ay = lat_a[vertex] - lat
        by = lat_b[vertex] - lat
        # Only an edge whose latitudes span the point's can cross its ray or hold it. A
        # difference of two doubles has the exact difference's sign (an underflowing product
        # only keeps an edge that needed no keeping).
        keep = np.flatnonzero(ay * by <= 0.0)
        vertex = vertex[keep]
        ring = np.searchsorted(self.ring_start, vertex, side="right") - 1
        edge = vertex + 1 < self.ring_start[ring + 1]
        vertex = vertex[edge]
        ring = ring[edge]
        keep = keep[edge]
        edge_pair = edge_pair[keep]
        ay = ay[keep]
        by = by[keep]
        lon = lons[edge_pair]
        ax = self.coords[vertex, 0] - lon
        bx = self.coords[vertex + 1, 0] - lon
        left = ax * by
        right = ay * bx
        det = left - right  # > 0: the point is left of a -> b
        b_north = by > 0.0
        straddles = (ay > 0.0) != b_north
        on = (det == 0.0) & ~(
            ((ax > 0.0) & (bx > 0.0))
            | ((ax < 0.0) & (bx < 0.0))
            | ((ay > 0.0) & (by > 0.0))
            | ((ay < 0.0) & (by < 0.0))
        )
        crosses = straddles & (det != 0.0) & ((det > 0.0) == b_north)
        unsure = (((left > 0.0) & (right > 0.0)) | ((left < 0.0) & (right < 0.0))) & (
            np.abs(det) < _CCW_ERRBOUND * (np.abs(left) + np.abs(right))
        )
        # Rows: one per (pair, ring) with kept edges, in order; then parts the same way.
        m = edge_pair.size
        new_row = np.ones(m, dtype=bool)
        new_row[1:] = (edge_pair[1:] != edge_pair[:-1]) | (ring[1:] != ring[:-1])
        row = np.cumsum(new_row) - 1
        rows = int(new_row.sum())
        row_on = np.bincount(row, weights=on, minlength=rows) > 0
        row_in = (np.bincount(row, weights=crosses, minlength=rows) % 2 == 1) & ~row_on
        row_ring = ring[new_row]
        row_pair = edge_pair[new_row]
        row_part = np.searchsorted(self.part_start, row_ring, side="right") - 1
        new_part = np.ones(rows, dtype=bool)
        new_part[1:] = (row_pair[1:] != row_pair[:-1]) | (row_part[1:] != row_part[:-1])
        part = np.cumsum(new_part) - 1
        parts = int(new_part.sum())
        shell = self.shell[row_ring]
        hole = ~shell

        def any_of(rows_of: NDArray[np.bool_], flag: NDArray[np.bool_]) -> NDArray[np.bool_]:
            return np.bincount(part[rows_of], weights=flag[rows_of], minlength=parts) > 0

        # A part whose shell kept no edge holds the point in none of its rings' interiors.
        part_covers = any_of(shell, row_on) | (
            any_of(shell, row_in) & (any_of(hole, row_on) | ~any_of(hole, row_in))
        )
        result = np.bincount(row_pair[new_part], weights=part_covers, minlength=n) > 0
        for i in np.flatnonzero(np.bincount(edge_pair, weights=unsure, minlength=n)).tolist():
            result[i] = _intersects_xy(self.shape(int(cells[i])), lons[i], lats[i])
        return result


# Where a point lies against one ring.
_OUTSIDE: Final = 0
_INSIDE: Final = 1
_ON: Final = 2
_UNSURE: Final = 3  # a sign the doubles cannot tell: ask GEOS


def _ring_side(xy: Iterable[float], lon: float, lat: float) -> int:
    """Tell where a point lies against a closed ring given as lon, lat, lon, lat, …

    The rule and the filter of ``_PackedShapes._covers``, for one ring: crossings of a ray
    towards east, half-open in latitude; a point on an edge is _ON; a determinant whose sign
    Shewchuk's filter cannot vouch for makes the answer _UNSURE.
    """
    crossings = 0
    on = False
    it = iter(xy)
    a_lon = next(it)
    ay = next(it) - lat
    # Pairs from one iterator (strict=True costs ~0.2 µs a ring here). Most edges do not span
    # the point's latitude: their longitudes are not even subtracted.
    for b_lon, b_lat in zip(it, it, strict=False):
        by = b_lat - lat
        if ay * by <= 0.0:
            ax = a_lon - lon
            bx = b_lon - lon
            left = ax * by
            right = ay * bx
            det = left - right
            # The filter's |det| < e * (|left| + |right|) for products of one sign, without
            # abs(): the same doubles, compared on both sides.
            if left > 0.0 < right:
                bound = (left + right) * _CCW_ERRBOUND
                if -bound < det < bound:
                    return _UNSURE
            elif left < 0.0 > right:
                bound = (left + right) * _CCW_ERRBOUND
                if bound < det < -bound:
                    return _UNSURE
            if det == 0.0:
                on |= not (
                    (ax > 0.0 and bx > 0.0)
                    or (ax < 0.0 and bx < 0.0)
                    or (ay > 0.0 and by > 0.0)
                    or (ay < 0.0 and by < 0.0)
                )
            elif (ay > 0.0) != (by > 0.0) and (det > 0.0) == (by > 0.0):
                crossings += 1
        a_lon = b_lon
        ay = by
    return _ON if on else crossings & 1


def _bend_side(
    first: int,
    ax: float,
    ay: float,
    bx: float,
    by: float,
    cx: float,
    cy: float,
    xy: Sequence[float],
    at: int,
) -> int:
    """Tell where a point lies against a bend a → b → c of a boundary crossing its pixel: 1
    left, -1 right, 0 on it or in doubt. ``first`` is its side of a → b (1 or -1); a, b and c
    are given less the point's coordinates, and are the packed coordinates' vertices ``at // 2``
    on (their own values name the bend's turn, free of the point's rounding).

    Within the pixel, left of the bend is left of both edges where it turns left, left of
    either where it turns right: the bend lies inside the pixel and the far ends outside it
    (`_one_segment_words`), so the lines through the edges meet the pixel only along them.
    """
    left = bx * cy
    right = by * cx
    det = left - right
    bound = (abs(left) + abs(right)) * _CCW_ERRBOUND
    second = 1 if det > bound else -1 if det < -bound else 0
    if second == first or not second:
        return second
    # Either side of one edge each: right of a bend turning left, left of one turning right.
    x1, y1, x2, y2, x3, y3 = xy[at : at + 6]
    left = (x1 - x3) * (y2 - y3)
    right = (y1 - y3) * (x2 - x3)
    det = left - right
    bound = (abs(left) + abs(right)) * _CCW_ERRBOUND
    return -1 if det > bound else 1 if det < -bound else 0


_POLYGON: Final = 3
_MULTIPOLYGON: Final = 6
_WKB_HEAD: Final = struct.Struct("<BII")  # byte order (1: little-endian), type, parts or rings
_WKB_COUNT: Final = struct.Struct("<I")
# Shewchuk's orient2d, stage A: a determinant computed in doubles that is at least this
# fraction of its two products' magnitudes has the exact determinant's sign.
_CCW_ERRBOUND: Final = (3.0 + 16.0 * 2.0**-53) * 2.0**-53


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
        mixed=np.empty(0, dtype=np.int32),
    )


def _build_raster(
    geoms: NDArray[np.object_],
    *,
    pixel_m: float | None,
    max_pixels: int,
    packed_coords: FloatArray,
) -> _Raster:
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
    # An edge is named by its first vertex in the packed coordinates (see _one_segment_words),
    # when those are laid out as these are (GeoArrow's order is GEOS's; checked, not assumed).
    same_layout = np.array_equal(coords, packed_coords)
    # The rings are copies (GEOS memory tracemalloc does not see): a 100 000-cell map's build
    # peaks over a hundred MB lower without them and the per-vertex arrays.
    del parts, part_cell, rings, ring_part, coords, coord_ring, pu, pv

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
    edges, edge_first = _distinct_edges(u0, v0, u1, v1, first)
    del u0, v0, u1, v1, first, seg_cell
    sub = _subpixels(edges, values, offsets, cands, ncols, nrows, (lon0, lat0, dlon, dlat), geoms)
    words = np.diff(offsets)
    stars = _Stars.none()
    if same_layout:
        frame = (lon0, lat0, dlon, dlat)
        words, stars = _one_segment_words(
            edges, edge_first, values, offsets, cands, sub, ncols, frame, geoms, packed_coords
        )
    del edges, edge_first
    return _Raster(
        lon0=lon0,
        lat0=lat0,
        dlon=dlon,
        dlat=dlat,
        ncols=ncols,
        nrows=nrows,
        values=values,
        mixed=_records(values, offsets, cands, sub, words, stars),
    )


def _distinct_edges(
    u0: FloatArray, v0: FloatArray, u1: FloatArray, v1: FloatArray, first: IntArray
) -> tuple[FloatArray, IntArray]:
    """Return each distinct edge once (neighbours share theirs, whichever way each runs) as
    rows u0, v0, u1, v1 in the direction of one ring holding it, and that ring's index of the
    edge's first vertex (`first`'s entry)."""
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
    for column in ends:
        ordered = column[order]
        distinct[1:] |= ordered[1:] != ordered[:-1]
    distinct[:1] = True
    del ends
    kept = order[distinct]
    del order, distinct
    edges = np.empty((kept.size, 4))
    for i, column in enumerate((u0, v0, u1, v1)):
        edges[:, i] = column[kept]
    return edges, first[kept]


def _one_segment_words(
    edges: FloatArray,
    edge_first: IntArray,
    values: NDArray[np.int32],
    offsets: NDArray[np.int32],
    cands: NDArray[np.int32],
    sub: NDArray[np.uint8],
    ncols: int,
    frame: tuple[float, float, float, float],
    geoms: NDArray[np.object_],
    packed_coords: FloatArray,
) -> tuple[NDArray[np.int32], _Stars]:
    """Return each mixed pixel's count word: its candidate count, or, where one edge alone
    crosses the pixel, that edge and the answer on each side of it (`_SEGMENT_*`); and the
    pixels that three edges or more cross from one vertex (`_stars`).

    No other boundary touching the (widened) pixel, the edge's ends lie outside it: the edge
    cuts it in two pieces, each inside one answer. A point in one of the pixel's touched
    sub-pixels then needs the sign of one determinant, not a walk of its candidates' rings.
    A piece's answer is that of its free sub-pixels (their centres are half a sub-pixel from
    the edge at least: the side is never in doubt), or, in a piece too thin to hold one, that
    of its pixel corner farthest from the edge, tested exactly. A pixel keeps its plain count
    where its free sub-pixels on one side disagree (they cannot, short of a bug: a guard),
    where a piece is a sliver along a corner, or where the edge or the count do not fit the
    word.
    """
    counts = np.diff(offsets).astype(np.int64)
    nmixed = counts.size
    n = edges.shape[0]
    if nmixed == 0 or n == 0:
        return counts.astype(np.int32), _Stars.none()
    touching = np.zeros(nmixed, dtype=np.int64)
    # The last and the first distinct edge seen touching each pixel: where two do, both (each
    # pixel's pair of an edge is one key).
    edge_of = np.zeros(nmixed, dtype=np.int64)
    edge_seen = np.full(nmixed, -1, dtype=np.int64)
    # The (pixel, edge) pairs past each pixel's first (that one is edge_seen), for the stars
    # (`_stars`): which pixels three edges or more touch is known only once every edge is
    # seen, and a second pass over the edges costs a tenth more build time than keeping them
    # (two int32 a pair, for the build's while).
    pair_k: list[NDArray[np.int32]] = []
    pair_edge: list[NDArray[np.int32]] = []
    nrows = values.size // ncols
    for keys in _boundary_key_chunks(
        edges[:, 0], edges[:, 1], edges[:, 2], edges[:, 3], np.arange(n), ncols, nrows, n
    ):
        value = values[keys // n].astype(np.int64)
        on_mixed = value <= -2
        k = -2 - value[on_mixed]
        touching += np.bincount(k, minlength=nmixed)
        edge = (keys % n)[on_mixed]
        # A chunk's keys are sorted: a pixel's come together, its first one first.
        later = edge_seen[k] >= 0
        later[1:] |= k[1:] == k[:-1]
        pair_k.append(k[later].astype(np.int32))
        pair_edge.append(edge[later].astype(np.int32))
        del later
        edge_of[k] = edge
        # Written backwards, the first of a pixel's keys in the chunk stays; kept from the
        # first chunk that had one.
        unseen = edge_seen[k[::-1]] < 0
        edge_seen[k[::-1][unseen]] = edge[::-1][unseen]
    fits = counts <= _SEGMENT_MAX_COUNT
    ones = np.flatnonzero((touching == 1) & fits & (edge_first[edge_of] < _SEGMENT_EDGES))
    pixel_of = np.flatnonzero(values <= -2)  # mixed pixel k is the k-th in raster order
    bends, bend_first, bend_second = _bends(
        np.flatnonzero((touching == 2) & fits),
        edge_seen,
        edge_of,
        edges,
        edge_first,
        pixel_of,
        ncols,
    )
    mixed = _MixedPixels(
        pixel_of, sub.reshape(nmixed, _SUB_AREA // 2), offsets, counts, cands, ncols, frame, geoms
    )
    words = counts.copy()
    for pixels, first_edge, second_edge in (
        (ones, edge_of[ones], None),
        (bends, bend_first, bend_second),
    ):
        # A chunk at a time: each pixel takes a few arrays of 16 doubles.
        for lo in range(0, pixels.size, _CHUNK // _SUB_AREA):
            chunk = slice(lo, lo + _CHUNK // _SUB_AREA)
            one, edge = pixels[chunk], first_edge[chunk]
            second = None if second_edge is None else edges[second_edge[chunk]]
            codes = _piece_answers(edges[edge], one, mixed, second)
            found = codes[0] >= 0
            found &= codes[1] >= 0
            word = (
                counts[one]
                | codes[0] << _SEGMENT_LEFT
                | codes[1] << _SEGMENT_RIGHT
                | int(second is not None) << _SEGMENT_BEND
                | edge_first[edge] << _SEGMENT_EDGE
            )
            words[one[found]] = ~word[found]
    maybe = (touching >= 3) & (touching <= _STAR_MAX_RAYS) & (counts <= _STAR_MAX_COUNT)
    k_all = np.concatenate(pair_k)
    del pair_k
    keep = maybe[k_all]
    first = np.flatnonzero(maybe)
    star_k = np.concatenate([first.astype(np.int32), k_all[keep]])
    del k_all
    star_edge = np.concatenate([edge_seen[first].astype(np.int32), np.concatenate(pair_edge)[keep]])
    del pair_edge, keep, first, edge_seen
    stars = _stars(star_k, star_edge, touching, edges, edge_first, packed_coords, mixed)
    words[stars.pixels] = stars.words
    return words.astype(np.int32), stars


@dataclass(frozen=True)
class _MixedPixels:
    """The mixed pixels as the build reads their pieces' answers: per pixel k (in raster
    order) its index in the raster, its sub-pixels' answers (two to a byte), where its
    candidates start in ``cands`` and how many there are; the raster's width and frame (lon0,
    lat0, dlon, dlat) and the grids' shapes, for the pieces tested exactly."""

    pixel_of: IntArray
    sub_rows: NDArray[np.uint8]
    offsets: NDArray[np.int32]
    counts: IntArray
    cands: NDArray[np.int32]
    ncols: int
    frame: tuple[float, float, float, float]
    geoms: NDArray[np.object_]


@dataclass(frozen=True)
class _Stars:
    """Mixed pixels answered by the sectors around a vertex: their indices (in raster order),
    count words, and the words their records hold after the candidates (the vertex and a word
    a ray each, concatenated in the pixels' order)."""

    pixels: IntArray
    words: IntArray
    extra: NDArray[np.int32]

    @property
    def sizes(self) -> IntArray:
        """How many words each star's record holds after its candidates: its vertex, its rays."""
        sizes: IntArray = (self.words >> _STAR_RAYS & 7) + 1
        return sizes

    @classmethod
    def none(cls) -> _Stars:
        empty = np.empty(0, dtype=np.int64)
        return cls(empty, empty, np.empty(0, dtype=np.int32))


def _stars(
    pixel_k: NDArray[np.int32],
    pixel_edge: NDArray[np.int32],
    touching: IntArray,
    edges: FloatArray,
    edge_first: IntArray,
    packed_coords: FloatArray,
    mixed: _MixedPixels,
) -> _Stars:
    """Of the mixed pixels that three edges or more touch (``pixel_k``, ``pixel_edge``: each
    such pixel's index and each edge touching it, a pair a row), those the edges cross as rays
    from one vertex strictly inside the pixel: every edge touching the widened pixel ends
    there, so the rays cut it into sectors, each inside one answer (a corner where unit grids
    meet). A point in a touched sub-pixel then needs the sign of a determinant per ray, not a
    walk of its candidates' rings.

    The vertex must be the same coordinates in every edge (the grids share it exactly), its
    rays of distinct directions (two nearly alike keep the walk), each far end's index must
    fit its word, and every sector's answer must be trusted (`_piece_codes`).
    """
    if pixel_k.size == 0:
        return _Stars.none()
    order = np.argsort(pixel_k, kind="stable")
    pixel_k, pixel_edge = pixel_k[order], pixel_edge[order]
    del order
    stars: list[tuple[IntArray, IntArray, NDArray[np.int32]]] = []
    for rays in range(3, _STAR_MAX_RAYS + 1):
        group = np.flatnonzero(touching[pixel_k] == rays)
        if group.size == 0:
            continue
        ring_edge = pixel_edge[group].reshape(-1, rays).astype(np.int64)
        group_k = pixel_k[group[::rays]].astype(np.int64)
        # A chunk at a time: each pixel takes a few arrays of 16 doubles a sector.
        for lo in range(0, group_k.size, _CHUNK // _SUB_AREA):
            chunk = slice(lo, lo + _CHUNK // _SUB_AREA)
            star = _star_rays(
                group_k[chunk], ring_edge[chunk], edges, edge_first, packed_coords, mixed
            )
            if star is None:
                continue
            ks, centre, ends, kinds, sectors = star
            codes = _piece_codes(sectors, ks, mixed)
            answer = np.stack(codes, axis=1)
            ok = (answer >= 0).all(axis=1)
            answer = np.where(answer == _SUB_OUTSIDE, _STAR_OUTSIDE, answer)
            ray_words = ends << _STAR_END | kinds << _STAR_KIND | answer
            extra = np.concatenate([centre[:, None], ray_words], axis=1)[ok]
            word = _STAR | rays << _STAR_RAYS | mixed.counts[ks[ok]]
            stars.append((ks[ok], word, extra.astype(np.int32).reshape(-1)))
    if not stars:
        return _Stars.none()
    pixels = np.concatenate([p for p, _, _ in stars])
    return _Stars(
        pixels,
        np.concatenate([w for _, w, _ in stars]),
        np.concatenate([e for _, _, e in stars]),
    )


def _star_rays(
    ks: IntArray,
    ring_edge: IntArray,
    edges: FloatArray,
    edge_first: IntArray,
    packed_coords: FloatArray,
    mixed: _MixedPixels,
) -> (
    tuple[
        IntArray,
        IntArray,
        IntArray,
        IntArray,
        list[Callable[[FloatArray, FloatArray], FloatArray]],
    ]
    | None
):
    """For mixed pixels ``ks`` and the edges touching each (one row a pixel), those whose
    edges are rays from one vertex inside the pixel: the pixels, the vertex's index in the
    packed coordinates, the rays' far ends' indices and their sectors' kinds (counterclockwise
    from each ray to the next), and per sector a function positive inside it (`_piece_codes`).
    None when no pixel is one."""
    rays = ring_edge.shape[1]
    e = edges[ring_edge]  # pixel, ray, (u0, v0, u1, v1)
    ok = np.zeros(ks.size, dtype=bool)
    centre_u = np.zeros(ks.size)
    centre_v = np.zeros(ks.size)
    at_end = np.zeros(ring_edge.shape, dtype=np.int64)
    # The shared vertex is one end of the first edge: whichever every edge has, at one end.
    for end in (1, 0):
        u, v = e[:, 0, 2 * end], e[:, 0, 2 * end + 1]
        at0 = (e[:, :, 0] == u[:, None]) & (e[:, :, 1] == v[:, None])
        at1 = (e[:, :, 2] == u[:, None]) & (e[:, :, 3] == v[:, None])
        fits = (at0 ^ at1).all(axis=1) & ~ok
        ok |= fits
        centre_u = np.where(fits, u, centre_u)
        centre_v = np.where(fits, v, centre_v)
        at_end = np.where(fits[:, None], at1.astype(np.int64), at_end)
    col = (mixed.pixel_of[ks] % mixed.ncols).astype(np.float64)
    row = (mixed.pixel_of[ks] // mixed.ncols).astype(np.float64)
    ok &= (col < centre_u) & (centre_u < col + 1.0) & (row < centre_v) & (centre_v < row + 1.0)
    first = edge_first[ring_edge]
    # The vertex is vertex `first` of its edge, or the one after; the far end the other.
    centre = first[:, 0] + at_end[:, 0]
    ends = first + 1 - at_end
    # The same vertex in lon, lat too, not only after the rounding into pixels: the point path
    # takes every ray from the first edge's copy of it.
    vertex = packed_coords[first + at_end]
    ok &= (vertex == vertex[:, :1]).all(axis=(1, 2))
    ok &= (ends < _STAR_ENDS).all(axis=1) & (centre < _STAR_ENDS)
    far_u = np.where(at_end == 1, e[:, :, 0], e[:, :, 2])
    far_v = np.where(at_end == 1, e[:, :, 1], e[:, :, 3])
    d_u = far_u - centre_u[:, None]
    d_v = far_v - centre_v[:, None]
    turn_order = np.argsort(np.arctan2(d_v, d_u), axis=1)
    d_u = np.take_along_axis(d_u, turn_order, axis=1)
    d_v = np.take_along_axis(d_v, turn_order, axis=1)
    ends = np.take_along_axis(ends, turn_order, axis=1)
    next_u, next_v = np.roll(d_u, -1, axis=1), np.roll(d_v, -1, axis=1)
    turn = d_u * next_v - d_v * next_u
    dot = d_u * next_u + d_v * next_v
    tolerance = _BEND_MIN_SINE * np.hypot(d_u, d_v) * np.hypot(next_u, next_v)
    # Two rays nearly alike: which comes first around the vertex is not for doubles to tell.
    ok &= ~((dot > 0.0) & (np.abs(turn) <= tolerance)).any(axis=1)
    kinds = np.where(turn > tolerance, _CONVEX, np.where(turn < -tolerance, _REFLEX, _FLAT))
    keep = np.flatnonzero(ok)
    if keep.size == 0:
        return None
    centre_u, centre_v = centre_u[keep], centre_v[keep]
    d_u, d_v, kinds = d_u[keep], d_v[keep], kinds[keep]
    sides = [
        _line_side(centre_u, centre_v, centre_u + d_u[:, i], centre_v + d_v[:, i])
        for i in range(rays)
    ]

    def sector(i: int) -> Callable[[FloatArray, FloatArray], FloatArray]:
        reflex = (kinds[:, i] == _REFLEX)[:, None]
        this, following = sides[i], sides[(i + 1) % rays]

        def inside(u: FloatArray, v: FloatArray) -> FloatArray:
            """Distance into the sector from ray i counterclockwise to the next, in pixels:
            left of ray i and right of the next, or either where the sector is reflex."""
            left, right = this(u, v), -following(u, v)
            distance: FloatArray = np.where(
                reflex, np.maximum(left, right), np.minimum(left, right)
            )
            return distance

        return inside

    return ks[keep], centre[keep], ends[keep], kinds, [sector(i) for i in range(rays)]


def _bends(
    two: IntArray,
    edge_lo: IntArray,
    edge_hi: IntArray,
    edges: FloatArray,
    edge_first: IntArray,
    pixel_of: IntArray,
    ncols: int,
) -> tuple[IntArray, IntArray, IntArray]:
    """Of the mixed pixels ``two`` that two distinct edges touch (``edge_lo`` and ``edge_hi``
    name them per pixel, in either order), those the edges cross as one bend: consecutive in
    one ring's packed coordinates, meeting strictly inside the pixel, at an angle. Return them,
    each one's first edge (the bend's vertex ends it) and its second.

    With no third edge touching the widened pixel, the bend's far ends lie outside it, so the
    bend cuts the pixel in two pieces, as one edge does.
    """
    lo, hi = edge_lo[two], edge_hi[two]
    lo_first = edge_first[hi] == edge_first[lo] + 1
    keep = lo_first | (edge_first[lo] == edge_first[hi] + 1)
    first = np.where(lo_first, lo, hi)
    second = np.where(lo_first, hi, lo)
    keep &= edge_first[first] < _SEGMENT_EDGES
    a_u, a_v, b_u, b_v = (edges[first, i] for i in range(4))
    keep &= (edges[second, 0] == b_u) & (edges[second, 1] == b_v)
    col = (pixel_of[two] % ncols).astype(np.float64)
    row = (pixel_of[two] // ncols).astype(np.float64)
    keep &= (col < b_u) & (b_u < col + 1.0) & (row < b_v) & (b_v < row + 1.0)
    # An angle the build's doubles tell (the point path decides the turn exactly).
    d1_u, d1_v = b_u - a_u, b_v - a_v
    d2_u, d2_v = edges[second, 2] - b_u, edges[second, 3] - b_v
    turn = d1_u * d2_v - d1_v * d2_u
    keep &= np.abs(turn) > _BEND_MIN_SINE * np.hypot(d1_u, d1_v) * np.hypot(d2_u, d2_v)
    return two[keep], first[keep], second[keep]


def _piece_answers(
    edge: FloatArray, ks: IntArray, mixed: _MixedPixels, second: FloatArray | None = None
) -> tuple[IntArray, IntArray]:
    """For mixed pixels ``ks`` that one edge alone crosses (``edge``: u0, v0, u1, v1 a pixel),
    the answer on the edge's left and on its right: a candidate's index or _SEGMENT_OUTSIDE,
    -1 where it is not to be trusted. With ``second``, each pixel's bend: the edge after its
    first, the answers those left and right of the two.
    """
    first_side = _line_side(edge[:, 0], edge[:, 1], edge[:, 2], edge[:, 3])
    side_of = first_side
    if second is not None:
        second_side = _line_side(second[:, 0], second[:, 1], second[:, 2], second[:, 3])
        turn = (edge[:, 2] - edge[:, 0]) * (second[:, 3] - second[:, 1]) - (
            edge[:, 3] - edge[:, 1]
        ) * (second[:, 2] - second[:, 0])
        turns_left = (turn > 0.0)[:, None]

        def bend_side(u: FloatArray, v: FloatArray) -> FloatArray:
            """Distance left of the bend (negative: right), in pixels: left of both lines
            where it turns left, of either where it turns right (`_bend_side`)."""
            one, other = first_side(u, v), second_side(u, v)
            distance: FloatArray = np.where(
                turns_left, np.minimum(one, other), np.maximum(one, other)
            )
            return distance

        side_of = bend_side

    def right_of(u: FloatArray, v: FloatArray) -> FloatArray:
        return -side_of(u, v)

    left, right = _piece_codes((side_of, right_of), ks, mixed)
    left[left == _SUB_OUTSIDE] = _SEGMENT_OUTSIDE
    right[right == _SUB_OUTSIDE] = _SEGMENT_OUTSIDE
    left[left > _SEGMENT_OUTSIDE] = -1
    right[right > _SEGMENT_OUTSIDE] = -1
    return left, right


def _line_side(
    a_u: FloatArray, a_v: FloatArray, b_u: FloatArray, b_v: FloatArray
) -> Callable[[FloatArray, FloatArray], FloatArray]:
    """Per pixel, the distance of points left of the line a → b (negative: right), in pixels;
    the points given as one row per pixel."""
    a_u, a_v, b_u, b_v = (x[:, None] for x in (a_u, a_v, b_u, b_v))
    length = np.hypot(b_u - a_u, b_v - a_v)

    def side(u: FloatArray, v: FloatArray) -> FloatArray:
        distance: FloatArray = ((b_u - a_u) * (v - a_v) - (b_v - a_v) * (u - a_u)) / length
        return distance

    return side


def _piece_codes(
    pieces: Sequence[Callable[[FloatArray, FloatArray], FloatArray]],
    ks: IntArray,
    mixed: _MixedPixels,
) -> list[IntArray]:
    """For mixed pixels ``ks`` that boundaries cut into pieces, each piece's answer: a
    candidate's index or _SUB_OUTSIDE, -1 where it is not to be trusted.

    A piece is a function of points (one row per pixel, in pixel coordinates) that is positive
    inside it, the farther in the larger. Its answer is that of its free sub-pixels (they must
    agree), or, in a piece too thin to hold one, that of its pixel corner farthest in, tested
    exactly. A pixel whose free sub-pixel lies on a piece's border, or in no piece or two, is
    not trusted (a bug, short of that: a guard).
    """
    pixel = mixed.pixel_of[ks]
    packed = mixed.sub_rows[ks]
    row = (pixel // mixed.ncols).astype(np.float64)[:, None]
    col = (pixel % mixed.ncols).astype(np.float64)[:, None]
    local = np.arange(_SUB_AREA)
    centre_u = col + (local % SUB + 0.5) / SUB
    centre_v = row + (local // SUB + 0.5) / SUB
    answers = np.empty((pixel.size, _SUB_AREA), dtype=np.int16)
    answers[:, 0::2] = packed & 15
    answers[:, 1::2] = packed >> 4
    free = answers != _SUB_EXACT
    distances = [piece(centre_u, centre_v) for piece in pieces]
    trusted = np.ones(pixel.size, dtype=bool)
    inside = np.zeros(answers.shape, dtype=np.int64)
    for distance in distances:
        trusted &= ~(free & (distance == 0.0)).any(axis=1)
        inside += distance > 0.0
    trusted &= ~(free & (inside != 1)).any(axis=1)
    corner_u = col + np.array([0.0, 1.0, 0.0, 1.0])
    corner_v = row + np.array([0.0, 0.0, 1.0, 1.0])
    lon0, lat0, dlon, dlat = mixed.frame
    start, count = mixed.offsets[ks], mixed.counts[ks]
    codes = []
    for piece, distance in zip(pieces, distances, strict=True):
        mask = free & (distance > 0.0)
        low = np.where(mask, answers, _SUB_AREA).min(axis=1)
        high = np.where(mask, answers, -1).max(axis=1)
        ok = trusted & ((low == high) | (high < 0))
        code = low.astype(np.int64)
        # A piece with no free sub-pixel: its corner farthest in, in code order.
        thin = np.flatnonzero(ok & (high < 0))
        corner_in = piece(corner_u, corner_v)[thin]
        far = np.argmax(corner_in, axis=1)
        clear = corner_in[np.arange(thin.size), far] > _SEGMENT_CLEARANCE
        ok[thin[~clear]] = False
        thin, far = thin[clear], far[clear]
        lon = lon0 + corner_u[thin, far] * dlon
        lat = lat0 + corner_v[thin, far] * dlat
        answer = _first_covering(mixed.geoms, mixed.cands, start[thin], count[thin], lon, lat)
        code[thin] = np.where(answer < 0, _SUB_OUTSIDE, answer)
        code[~ok] = -1
        codes.append(code)
    return codes


def _records(
    values: NDArray[np.int32],
    offsets: NDArray[np.int32],
    cands: NDArray[np.int32],
    sub: NDArray[np.uint8],
    count_words: NDArray[Any],
    stars: _Stars,
) -> NDArray[np.int32]:
    """Lay mixed pixel k's sub-pixels (two to a byte in `sub`), candidate count word
    (`count_words[k]`, see _one_segment_words), candidates (cands[offsets[k]:offsets[k + 1]])
    and, for a star, its vertex and rays (`_stars`) out as one record; point its pixel in
    `values` at it."""
    nmixed = offsets.size - 1
    counts = np.diff(offsets)
    # The stars' words before each record, and so where each starts.
    extra = np.zeros(nmixed + 1, dtype=np.int64)
    sizes = stars.sizes
    extra[stars.pixels + 1] = sizes
    np.cumsum(extra, out=extra)
    start = _HEAD * np.arange(nmixed, dtype=np.int64) + offsets[:-1] + extra[:-1]
    mixed = np.empty(_HEAD * nmixed + cands.size + int(extra[-1]), dtype=np.int32)
    # Little-endian words of the packed bytes: sub-pixel i is bits 4 (i % 8) of word i // 8.
    words = sub.view("<u4").astype(np.uint32).view(np.int32).reshape(nmixed, 2)
    mixed[start] = words[:, 0]
    mixed[start + 1] = words[:, 1]
    mixed[start + _COUNT] = count_words
    # Candidate i of pixel k goes to i + _HEAD * (k + 1) + the stars' words before it: two
    # arrays of the candidates' size at most (tens of MB at 100 000 grids).
    at = np.repeat(start + _HEAD - offsets[:-1], counts)
    at += np.arange(cands.size)
    mixed[at] = cands
    del at
    after = start[stars.pixels] + _HEAD + counts[stars.pixels]
    mixed[np.repeat(after, sizes) + _ramp(sizes)] = stars.extra
    at = values <= -2
    values[at] = -2 - start[-2 - values[at]]
    return mixed


def _subpixels(
    edges: FloatArray,
    values: NDArray[np.int32],
    offsets: NDArray[np.int32],
    cands: NDArray[np.int32],
    ncols: int,
    nrows: int,
    frame: tuple[float, float, float, float],
    geoms: NDArray[np.object_],
) -> NDArray[np.uint8]:
    """Split every mixed pixel into SUB x SUB sub-pixels and answer each that no boundary touches.

    The touched sub-pixels come from the same edge walk as the pixels (`edges`, each distinct
    edge once, in pixel coordinates), at SUB times the resolution. Two untouched sub-pixels
    side by side have the same answer (a boundary between them would touch both), so each
    connected group of them within a pixel is answered once, by an exact test of one
    sub-pixel's centre against the pixel's candidates in code order.
    """
    nmixed = offsets.size - 1
    sub = np.zeros(nmixed * _SUB_AREA, dtype=np.uint8)
    if nmixed == 0:
        return sub
    fine_cols = ncols * SUB
    fine = edges * SUB
    one_cell = np.zeros(fine.shape[0], dtype=np.int64)
    for keys in _boundary_key_chunks(
        fine[:, 0], fine[:, 1], fine[:, 2], fine[:, 3], one_cell, fine_cols, nrows * SUB, 1
    ):
        fine_row = keys // fine_cols
        fine_col = keys - fine_row * fine_cols
        value = values[(fine_row // SUB) * ncols + fine_col // SUB].astype(np.int64)
        # A boundary near a sub-pixel is near its pixel, so the pixel is mixed; kept as a guard.
        on_mixed = value <= -2
        k = -2 - value[on_mixed]
        local = (fine_row[on_mixed] % SUB) * SUB + fine_col[on_mixed] % SUB
        sub[k * _SUB_AREA + local] = _SUB_EXACT
    del one_cell, fine

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
        count = counts[k]
        # More candidates than a nibble names: those pixels are all _SUB_EXACT already.
        named = count <= _SUB_OUTSIDE
        answer = np.full(k.size, _SUB_OUTSIDE, dtype=np.uint8)
        at = (offsets[k][named], count[named], lon[named], lat[named])
        first = _first_covering(geoms, cands, *at)
        answer[named] = np.where(first < 0, _SUB_OUTSIDE, first)
        by_group = np.full((k_hi - k_lo, _SUB_AREA + 1), _SUB_EXACT, dtype=np.uint8)
        by_group[block_i, local] = answer
        chunk.reshape(-1, _SUB_AREA)[:] = np.take_along_axis(by_group, group, axis=1)
    packed = sub[1::2] << np.uint8(4)
    packed |= sub[0::2]
    return packed


def _first_covering(
    geoms: NDArray[np.object_],
    cands: NDArray[np.int32],
    start: NDArray[Any],
    count: NDArray[Any],
    lons: FloatArray,
    lats: FloatArray,
) -> IntArray:
    """Per point, the index of the first of its candidates (cands[start:start + count], in code
    order) that covers it, tested exactly by GEOS; -1 where none does."""
    start = start.astype(np.int64)
    answer = np.full(start.size, -1, dtype=np.int64)
    pending = np.arange(start.size)
    j = 0
    while pending.size:
        cand = cands[start[pending] + j]
        hit = shapely.intersects_xy(geoms[cand], lons[pending], lats[pending])
        answer[pending[hit]] = j
        j += 1
        pending = pending[~hit & (count[pending] > j)]
    return answer


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


def _held(values: NDArray[Any], typecode: str) -> tuple[array.array[Any], NDArray[Any]]:
    """Copy a flat array into an array.array; return it and a numpy view of its memory."""
    # Repeating one item sizes the array exactly: frombytes would add 1/16 for growth (4 MB
    # at 100 000 grids).
    held = array.array(typecode, [0]) * values.size
    if held.itemsize != values.dtype.itemsize:
        raise GeoError(f"array.array({typecode!r}) does not hold {values.dtype}")
    view = np.frombuffer(held, dtype=values.dtype)
    view[:] = values
    return held, view


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
