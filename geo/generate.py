"""Cut areas into unit grids (单元网格划分) and partition areas around centre points."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, box

from geo.errors import GeoError

__all__ = [
    "M_PER_DEG_LAT",
    "buffer_m",
    "generate_unit_grids",
    "m_per_deg_lon",
    "partition_voronoi",
]

M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0
# Pieces smaller than this share of a full cell are merged into a neighbour rather than kept.
SLIVER_SHARE = 0.05


def m_per_deg_lon(lat: float) -> float:
    """Return the metres in one degree of longitude at a latitude (spherical approximation)."""
    return _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))


def _polygons_of(geom: Any) -> list[Polygon]:
    """Return the polygonal parts of a geometry, dropping lines and points an overlay left."""
    return [
        part
        for part in shapely.get_parts(geom).tolist()
        if isinstance(part, Polygon) and not part.is_empty and part.area > 0.0
    ]


def generate_unit_grids(polygon: Polygon | MultiPolygon, cell_m: float = 100.0) -> list[Polygon]:
    """Cut an area into about cell_m x cell_m unit grids, numbered row by row from the north-west.

    The cells cover the area exactly, without gaps or overlaps: a piece smaller than 5 % of a
    full cell (a sliver where the boundary clips a corner) is merged into the neighbour it shares
    the longest edge with. Every result is a valid Polygon; the order is stable for a given input
    so grid sequence numbers do not change between runs.
    """
    if polygon.is_empty:
        return []
    if not polygon.is_valid:
        raise GeoError(f"Cannot cut an invalid polygon: {shapely.is_valid_reason(polygon)}")
    if cell_m <= 0:
        raise GeoError("cell_m must be positive")
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    lat_mid = (min_lat + max_lat) / 2.0
    dlon = cell_m / m_per_deg_lon(lat_mid)
    dlat = cell_m / M_PER_DEG_LAT
    ncols = max(1, math.ceil((max_lon - min_lon) / dlon))
    nrows = max(1, math.ceil((max_lat - min_lat) / dlat))
    # Edges come from one shared list so that neighbouring boxes use identical coordinates.
    lon_edges = [min_lon + i * dlon for i in range(ncols)] + [max_lon]
    lat_edges = [max_lat - j * dlat for j in range(nrows)] + [min_lat]
    boxes = [
        box(lon_edges[i], lat_edges[j + 1], lon_edges[i + 1], lat_edges[j])
        for j in range(nrows)
        for i in range(ncols)
    ]
    shapely.prepare(polygon)
    pieces_of_box = shapely.intersection(np.array(boxes, dtype=object), polygon)

    # (row, col, north-first, west-first) orders pieces; it travels with a cell when merged.
    pieces: list[Polygon] = []
    order: list[tuple[int, int, float, float]] = []
    for n, geom in enumerate(pieces_of_box.tolist()):
        row, col = divmod(n, ncols)
        for part in _polygons_of(geom):
            rep = part.representative_point()
            pieces.append(part)
            order.append((row, col, -rep.y, rep.x))
    full_area = dlon * dlat
    return _merge_slivers(pieces, order, SLIVER_SHARE * full_area)


def _merge_slivers(
    pieces: list[Polygon], order: list[tuple[int, int, float, float]], min_area: float
) -> list[Polygon]:
    cells: list[Polygon | None] = list(pieces)
    keys = list(order)
    tree = shapely.STRtree(pieces)
    # Smallest first, so a sliver next to another sliver still ends up in a full cell.
    small = sorted(
        (i for i, p in enumerate(pieces) if p.area < min_area), key=lambda i: pieces[i].area
    )
    owner = list(range(len(pieces)))  # where each original piece's area lives now

    def find(i: int) -> int:
        while owner[i] != i:
            owner[i] = owner[owner[i]]
            i = owner[i]
        return i

    for i in small:
        root_i = find(i)
        sliver = cells[root_i]
        if sliver is None or sliver.area >= min_area:
            continue
        best: tuple[float, int] | None = None
        for j in tree.query(pieces[i], predicate="intersects").tolist():
            root_j = find(j)
            if root_j == root_i:
                continue
            neighbour = cells[root_j]
            if neighbour is None:
                continue
            shared = shapely.intersection(sliver.boundary, neighbour.boundary).length
            if shared > 0.0 and (best is None or shared > best[0]):
                best = (shared, root_j)
        if best is None:
            continue  # an island: keep it as its own cell
        root_j = best[1]
        merged = shapely.union(cells[root_j], sliver)
        parts = _polygons_of(merged)
        if len(parts) != 1:
            continue  # touching at a point only after all; keep the sliver separate
        cells[root_j] = parts[0]
        cells[root_i] = None
        owner[root_i] = root_j
    result = [(keys[i], cell) for i, cell in enumerate(cells) if cell is not None]
    result.sort(key=lambda item: item[0])
    return [shapely.normalize(cell) for _, cell in result]


def partition_voronoi(
    boundary: Polygon | MultiPolygon, seeds: Sequence[tuple[float, float]]
) -> list[Polygon | MultiPolygon]:
    """Split an area into one part per (lon, lat) seed, each holding the points nearest it.

    Parts come back in seed order. Distances are taken in lon/lat degrees scaled to metres at the
    area's latitude, so the parts look right on a map. A seed outside the area may get an empty
    part.
    """
    if not seeds:
        return []
    if len(set(seeds)) != len(seeds):
        raise GeoError("Voronoi seeds must be distinct")
    if len(seeds) == 1:
        return [boundary]
    lat_mid = (boundary.bounds[1] + boundary.bounds[3]) / 2.0
    # Work in a local metric frame so the bisectors are perpendicular on the ground.
    scale = m_per_deg_lon(lat_mid) / M_PER_DEG_LAT

    factor: NDArray[np.float64] = np.array([scale, 1.0], dtype=np.float64)

    def to_local(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        return coords * factor

    def to_lonlat(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        return coords / factor

    local_boundary = shapely.transform(boundary, to_local)
    local_seeds = [(lon * scale, lat) for lon, lat in seeds]
    regions = shapely.get_parts(
        shapely.voronoi_polygons(
            MultiPoint(local_seeds), extend_to=local_boundary.envelope.buffer(1.0)
        )
    ).tolist()
    tree = shapely.STRtree(regions)
    result: list[Polygon | MultiPolygon] = []
    for lon, lat in local_seeds:
        hits = tree.query(Point(lon, lat), predicate="intersects").tolist()
        if not hits:
            raise GeoError(f"No Voronoi region holds seed ({lon / scale}, {lat})")
        # A seed on a shared edge cannot happen (regions are open around their seed); take the
        # lowest index for determinism anyway.
        region = regions[min(hits)]
        clipped = shapely.transform(shapely.intersection(region, local_boundary), to_lonlat)
        parts = _polygons_of(clipped)
        if not parts:
            result.append(Polygon())
        elif len(parts) == 1:
            result.append(parts[0])
        else:
            result.append(MultiPolygon(parts))
    return result


def buffer_m(lon: float, lat: float, radius_m: float, quad_segs: int = 16) -> Polygon:
    """Return a circle of radius_m metres around a WGS84 point, as a lon/lat polygon."""
    circle = Point(0.0, 0.0).buffer(1.0, quad_segs=quad_segs)
    rx = radius_m / m_per_deg_lon(lat)
    ry = radius_m / M_PER_DEG_LAT
    result: Polygon = shapely.transform(circle, lambda c: c * np.array([rx, ry]) + [lon, lat])
    return result
