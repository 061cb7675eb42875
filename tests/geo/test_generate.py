"""Cutting areas into unit grids and partitioning them around centre points."""

import itertools

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from geo import GeoError, buffer_m, generate_unit_grids, haversine_m, partition_voronoi

CELL_M = 100.0


def community(seed: int) -> Polygon:
    """Return an irregular community about 1.5 km across with a round lake in it."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 16))
    radii = rng.uniform(0.004, 0.008, 16)
    outline = Polygon(np.c_[112.5 + radii * np.cos(angles), 27.3 + radii * np.sin(angles)])
    return outline.buffer(0).difference(buffer_m(112.5, 27.3, 150))


def full_cell_area(polygon: Polygon | MultiPolygon) -> float:
    lat = polygon.centroid.y
    return float((CELL_M / (111_320 * np.cos(np.radians(lat)))) * (CELL_M / 110_574))


def assert_exact_cover(cells: list[Polygon], polygon: Polygon | MultiPolygon) -> None:
    assert all(isinstance(c, Polygon) and c.is_valid and not c.is_empty for c in cells)
    union = shapely.union_all(cells)
    assert union.symmetric_difference(polygon).area <= 1e-9 * polygon.area
    assert abs(sum(c.area for c in cells) - polygon.area) <= 1e-9 * polygon.area
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(
        shapely.intersection(np.array(cells)[left[pairs]], np.array(cells)[right[pairs]])
    )
    assert overlap.max(initial=0.0) <= 1e-12 * full_cell_area(polygon)


@pytest.mark.parametrize("seed", range(6))
def test_cells_cover_the_area_exactly(seed):
    polygon = community(seed)
    cells = generate_unit_grids(polygon, CELL_M)
    assert 50 < len(cells) < 400
    assert_exact_cover(cells, polygon)


@pytest.mark.parametrize("seed", range(6))
def test_slivers_are_merged_into_neighbours(seed):
    polygon = community(seed)
    cells = generate_unit_grids(polygon, CELL_M)
    smallest = min(c.area for c in cells)
    assert smallest >= 0.05 * full_cell_area(polygon)
    # …and a cell is never much more than a full cell plus its merged slivers.
    assert max(c.area for c in cells) <= 1.6 * full_cell_area(polygon)


def test_cells_are_numbered_row_by_row_from_the_north_west():
    square = box(112.5, 27.3, 112.5 + 0.003, 27.3 + 0.0027)
    cells = generate_unit_grids(square, CELL_M)
    corners = [(round(c.bounds[0], 9), round(c.bounds[3], 9)) for c in cells]
    # North first, then west first.
    assert corners == sorted(corners, key=lambda lon_lat: (-lon_lat[1], lon_lat[0]))
    assert cells[0].bounds[0] == pytest.approx(112.5)
    assert cells[0].bounds[3] == pytest.approx(27.3027)


def test_the_same_input_gives_the_same_cells():
    polygon = community(3)
    first = generate_unit_grids(polygon, CELL_M)
    second = generate_unit_grids(polygon, CELL_M)
    assert [c.wkb for c in first] == [c.wkb for c in second]


def test_multipolygon_with_an_island_keeps_the_island():
    main = box(112.5, 27.3, 112.505, 27.304)
    island = box(112.51, 27.3, 112.51 + 0.0001, 27.3 + 0.0001)  # ~10 m, far smaller than a cell
    area = MultiPolygon([main, island])
    cells = generate_unit_grids(area, CELL_M)
    assert_exact_cover(cells, area)
    assert any(c.equals(island) for c in cells)


def test_cell_size_is_in_metres():
    square = box(112.5, 27.3, 112.51, 27.31)
    cells = generate_unit_grids(square, 200.0)
    first = cells[0]
    lon0, lat0, lon1, lat1 = first.bounds
    assert haversine_m(lon0, lat1, lon1, lat1) == pytest.approx(200, rel=0.01)
    assert haversine_m(lon0, lat0, lon0, lat1) == pytest.approx(200, rel=0.01)


def test_invalid_polygon_is_refused():
    bowtie = Polygon([(112.5, 27.3), (112.51, 27.31), (112.51, 27.3), (112.5, 27.31)])
    with pytest.raises(GeoError, match="Self-intersection"):
        generate_unit_grids(bowtie)


def test_voronoi_parts_follow_seed_order_and_cover_the_boundary():
    boundary = community(1)
    seeds = [(112.497, 27.3), (112.503, 27.301), (112.5, 27.294), (112.5, 27.305)]
    parts = partition_voronoi(boundary, seeds)
    assert len(parts) == len(seeds)
    for part, seed in zip(parts, seeds, strict=True):
        assert part.covers(Point(seed)) or not boundary.covers(Point(seed))
        assert part.is_valid
    assert shapely.union_all(parts).symmetric_difference(boundary).area <= 1e-9 * boundary.area
    for a, b in itertools.combinations(parts, 2):
        assert a.intersection(b).area <= 1e-12 * boundary.area
    # Each part holds the points nearer its seed than any other (checked at a few points).
    for part, seed in zip(parts, seeds, strict=True):
        point = part.representative_point()
        here = haversine_m(point.x, point.y, *seed)
        assert all(here <= haversine_m(point.x, point.y, *other) + 1e-6 for other in seeds)


def test_voronoi_edge_cases():
    boundary = community(2)
    assert partition_voronoi(boundary, []) == []
    assert partition_voronoi(boundary, [(112.5, 27.3)]) == [boundary]
    with pytest.raises(GeoError, match="distinct"):
        partition_voronoi(boundary, [(112.5, 27.3), (112.5, 27.3)])


def test_buffer_m_is_a_circle_in_metres():
    circle = buffer_m(112.5, 27.3, 250.0)
    distances = [haversine_m(112.5, 27.3, lon, lat) for lon, lat in circle.exterior.coords]
    assert min(distances) == pytest.approx(250.0, rel=0.01)
    assert max(distances) == pytest.approx(250.0, rel=0.01)
