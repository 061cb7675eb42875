"""GridIndex: which unit grid holds a point (covers; lowest code wins on shared boundaries)."""

from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from geo import (
    AreaRef,
    AreaShape,
    GridIndex,
    Level,
    PointOutsideGrids,
    UnknownArea,
    generate_unit_grids,
)
from geo.index import _COUNT, SUB
from tests.geo.maps import COMMUNITY, DISTRICT, LAT0, LON0, STEP, STREET, grid, hierarchy, square

# A 2 x 2 block whose codes do not follow the geometric order, so "lowest code wins" cannot pass
# by accident as "first drawn wins" or "west wins":
#   row 1:  004 | 002
#   row 0:  003 | 001
BLOCK = {
    "430423100001003": square(0, 0),
    "430423100001001": square(1, 0),
    "430423100001004": square(0, 1),
    "430423100001002": square(1, 1),
}


def block_index(**kw) -> GridIndex:
    return GridIndex(hierarchy() + [grid(code, geom) for code, geom in BLOCK.items()], **kw)


def test_interior_point_gives_grid_and_ancestors():
    located = block_index().locate(LON0 + 0.5 * STEP, LAT0 + 1.5 * STEP)
    assert located.grid.code == "430423100001004"
    assert located.grid.level is Level.grid
    assert located.grid.name == "网格004"
    assert located.community == AreaRef(COMMUNITY, "师古社区", Level.community)
    assert located.street == AreaRef(STREET, "开云镇", Level.street)
    assert located.district == AreaRef(DISTRICT, "衡山县", Level.district)


@pytest.mark.parametrize(
    ("lon", "lat", "code"),
    [
        # the vertical edge between 003 (west) and 001 (east): 001 is lower though it is east
        (LON0 + STEP, LAT0 + 0.5 * STEP, "430423100001001"),
        # the horizontal edge between 004 (north) and 003 (south)
        (LON0 + 0.5 * STEP, LAT0 + STEP, "430423100001003"),
        # the edge between 002 (north) and 001 (south)
        (LON0 + 1.5 * STEP, LAT0 + STEP, "430423100001001"),
        # the vertex all four share
        (LON0 + STEP, LAT0 + STEP, "430423100001001"),
        # outer boundary points belong to the grid too (covers, not contains)
        (LON0, LAT0 + 0.5 * STEP, "430423100001003"),
        (LON0 + 2 * STEP, LAT0 + 2 * STEP, "430423100001002"),
    ],
)
def test_boundary_points_go_to_the_lowest_code(lon, lat, code):
    index = block_index()
    assert index.locate(lon, lat).grid.code == code
    assert index.codes_many([lon], [lat]) == [code]


def test_outside_raises_with_the_point():
    index = block_index()
    with pytest.raises(PointOutsideGrids) as caught:
        index.locate(112.1, 27.2)
    assert (caught.value.lon, caught.value.lat) == (112.1, 27.2)
    assert str(caught.value) == "Point (112.1, 27.2) is outside the jurisdiction"
    # Just outside the block's edge, and far away in every direction.
    for lon, lat in [(LON0 - 1e-9, LAT0), (LON0 + 2 * STEP + 1e-9, LAT0), (0.0, 0.0), (-180, 90)]:
        with pytest.raises(PointOutsideGrids):
            index.locate(lon, lat)


def test_nan_is_outside():
    with pytest.raises(PointOutsideGrids):
        block_index().locate(float("nan"), LAT0)
    assert block_index().locate_many([np.nan], [LAT0]).tolist() == [-1]


def enclave_map(with_enclave: bool) -> list[AreaShape]:
    """衡山县's grid is a ring around a hole; 南岳区 (430412) sits in the hole as an enclave."""
    outer = square(0, 0, 3)
    hole = square(1, 1)
    areas = [*hierarchy(), grid("430423100001001", Polygon(outer.exterior, [hole.exterior]))]
    if with_enclave:
        areas += [
            AreaShape("430412", "南岳区", Level.district, None, hole),
            AreaShape("430412001", "南岳镇", Level.street, "430412", hole),
            AreaShape("430412001001", "祝融社区", Level.community, "430412001", hole),
            grid("430412001001001", hole, parent="430412001001"),
        ]
    return areas


def test_point_in_a_hole_is_outside_the_holed_grid():
    index = GridIndex(enclave_map(with_enclave=False))
    with pytest.raises(PointOutsideGrids):
        index.locate(LON0 + 1.5 * STEP, LAT0 + 1.5 * STEP)
    # The ring itself still answers, including the hole's rim.
    assert index.locate(LON0 + 0.5 * STEP, LAT0 + 1.5 * STEP).grid.code == "430423100001001"
    assert index.locate(LON0 + STEP, LAT0 + 1.5 * STEP).grid.code == "430423100001001"


def test_enclave_in_a_hole_answers_with_its_own_ancestors():
    index = GridIndex(enclave_map(with_enclave=True))
    inside = index.locate(LON0 + 1.5 * STEP, LAT0 + 1.5 * STEP)
    assert inside.grid.code == "430412001001001"
    assert inside.district == AreaRef("430412", "南岳区", Level.district)
    # On the rim both cover the point; 430412… is the lower code.
    assert index.locate(LON0 + STEP, LAT0 + 1.5 * STEP).grid.code == "430412001001001"
    assert index.locate(LON0 + 0.5 * STEP, LAT0 + 0.5 * STEP).district == AreaRef(
        DISTRICT, "衡山县", Level.district
    )


def test_multipolygon_grid_answers_in_every_part():
    parts = MultiPolygon([square(0, 0), square(3, 0)])
    index = GridIndex([*hierarchy(), grid("430423100001001", parts)])
    assert index.locate(LON0 + 0.5 * STEP, LAT0 + 0.5 * STEP).grid.code == "430423100001001"
    assert index.locate(LON0 + 3.5 * STEP, LAT0 + 0.5 * STEP).grid.code == "430423100001001"
    with pytest.raises(PointOutsideGrids):
        index.locate(LON0 + 2 * STEP, LAT0 + 0.5 * STEP)


def test_missing_ancestors_are_none():
    # The community's street is not in the map; the district cannot be reached either.
    areas = [
        AreaShape(COMMUNITY, "师古社区", Level.community, STREET, square(0, 0, 2)),
        grid("430423100001001", square(0, 0)),
        grid("430423100002001", square(1, 0), parent="430423100002"),
    ]
    index = GridIndex(areas)
    located = index.ancestors("430423100001001")
    assert located.community == AreaRef(COMMUNITY, "师古社区", Level.community)
    assert (located.street, located.district) == (None, None)
    orphan = index.locate(LON0 + 1.5 * STEP, LAT0 + 0.5 * STEP)
    assert (orphan.community, orphan.street, orphan.district) == (None, None, None)


def test_only_grids_of_the_layer_are_indexed():
    areas = [
        *hierarchy(),
        grid("430423100001001", square(0, 0)),
        grid("430423100001901", square(0, 0), layer="social"),
    ]
    urban = GridIndex(areas)
    social = GridIndex(areas, layer="social")
    assert urban.grid_codes == ("430423100001001",)
    assert social.locate(LON0 + 0.5 * STEP, LAT0 + 0.5 * STEP).grid.code == "430423100001901"


def test_map_accessors():
    index = block_index()
    assert index.grid_codes == tuple(sorted(BLOCK))
    assert index.grid_count == len(index) == 4
    assert "430423100001002" in index
    assert index.ancestors("430423100001002").street == AreaRef(STREET, "开云镇", Level.street)
    assert index.geometry("430423100001002").equals(BLOCK["430423100001002"])
    with pytest.raises(UnknownArea):
        index.ancestors("430423100001999")


def test_locate_many_returns_positions_and_codes():
    index = block_index()
    lons = [LON0 + 0.5 * STEP, LON0 + 1.5 * STEP, 0.0]
    lats = [LAT0 + 0.5 * STEP, LAT0 + 1.5 * STEP, 0.0]
    positions = index.locate_many(lons, lats)
    assert positions.dtype == np.int64
    assert [index.grid_codes[i] if i >= 0 else None for i in positions] == [
        "430423100001003",
        "430423100001002",
        None,
    ]
    assert index.codes_many(lons, lats) == ["430423100001003", "430423100001002", None]
    assert index.locate_many([], []).shape == (0,)
    assert index.locate_many(np.full((2, 3), LON0 + 0.5 * STEP), LAT0 + 0.5 * STEP).shape == (2, 3)


def test_empty_index_locates_nothing():
    index = GridIndex(hierarchy())
    assert len(index) == 0
    with pytest.raises(PointOutsideGrids):
        index.locate(LON0, LAT0)
    assert index.locate_many([LON0], [LAT0]).tolist() == [-1]


def test_duplicate_grid_codes_are_refused():
    from geo import GeoError

    with pytest.raises(GeoError, match="twice"):
        GridIndex([grid("430423100001001", square(0, 0)), grid("430423100001001", square(1, 0))])


# -- property: the index agrees exactly with a brute-force reference ----------------------------


def star(lon: float, lat: float, radius: float, rng: np.random.Generator, n: int = 9) -> Polygon:
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.3 * radius, radius, n)
    return Polygon(np.c_[lon + radii * np.cos(angles), lat + radii * np.sin(angles)]).buffer(0)


@cache
def random_map() -> tuple[tuple[AreaShape, ...], tuple[Polygon, ...]]:
    """Cut a jittered community with a lake into ~40 m cells, then add overlapping odd shapes."""
    rng = np.random.default_rng(2026)
    community = star(LON0 + 0.004, LAT0 + 0.004, 0.004, rng, n=14)
    lake = star(LON0 + 0.004, LAT0 + 0.004, 0.001, rng)
    cells = generate_unit_grids(community.difference(lake), cell_m=40.0)
    shapes: list[Polygon | MultiPolygon] = list(cells)
    # Irregular extras that overlap the cells and each other: the lowest code must still win.
    for _ in range(6):
        lon, lat = rng.uniform(0.0, 0.008, 2)
        shapes.append(star(LON0 + lon, LAT0 + lat, 0.0008, rng))
    shapes.append(MultiPolygon([square(9, 0), square(10, 2)]))
    codes = [f"430423100001{i:03d}" for i in range(len(shapes))]
    order = rng.permutation(len(shapes))  # codes unrelated to position on the map
    areas = tuple(grid(codes[j], shapes[i]) for i, j in enumerate(order))
    by_code = sorted(areas, key=lambda a: a.code)
    return tuple(hierarchy()) + areas, tuple(a.geometry for a in by_code)


@cache
def random_index() -> GridIndex:
    return GridIndex(random_map()[0])


def reference(lon: float, lat: float) -> int:
    """Return the position of the lowest code whose shape covers the point, or -1."""
    covering = np.flatnonzero(shapely.covers(np.array(random_map()[1]), Point(lon, lat)))
    return int(covering.min()) if covering.size else -1


@st.composite
def awkward_points(draw) -> tuple[float, float]:
    """Draw points that stress the index: vertices, on edges, on pixel edges, or anywhere."""
    index = random_index()
    geoms = random_map()[1]
    kind = draw(
        st.sampled_from(
            ["anywhere", "vertex", "edge", "pixel", "pixel_corner", "subpixel", "subpixel_corner"]
        )
    )
    if kind == "anywhere":
        return (
            draw(st.floats(LON0 - 0.001, LON0 + 0.012)),
            draw(st.floats(LAT0 - 0.001, LAT0 + 0.01)),
        )
    geom = geoms[draw(st.integers(0, len(geoms) - 1))]
    coords = shapely.get_coordinates(geom)
    i = draw(st.integers(0, len(coords) - 2))
    (lon_a, lat_a), (lon_b, lat_b) = coords[i], coords[i + 1]
    if kind == "vertex":
        return float(lon_a), float(lat_a)
    if kind == "edge":
        t = draw(st.floats(0.0, 1.0))
        # On axis-parallel edges (most generated cells) this point is exactly on the edge.
        return float(lon_a + t * (lon_b - lon_a)), float(lat_a + t * (lat_b - lat_a))
    (lon0, lat0), (dlon, dlat) = index.pixel_origin, index.pixel_size
    rows, cols = index.raster_shape
    if kind.startswith("subpixel"):
        # The lines between sub-pixels, where a mixed pixel's answers change level.
        dlon /= SUB
        dlat /= SUB
        rows *= SUB
        cols *= SUB
    col = draw(st.integers(0, cols))
    row = draw(st.integers(0, rows))
    if kind.endswith("corner"):
        return lon0 + col * dlon, lat0 + row * dlat
    return lon0 + col * dlon, float(lat_a)


@settings(max_examples=200, deadline=None)
@given(points=st.lists(awkward_points(), min_size=1, max_size=40))
def test_index_agrees_exactly_with_brute_force(points):
    index = random_index()
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    want = [reference(lon, lat) for lon, lat in points]
    assert index.locate_many(lons, lats).tolist() == want
    assert [index.position(lon, lat) for lon, lat in points] == want
    for (lon, lat), expected in zip(points, want, strict=True):
        if expected >= 0:
            assert index.locate(lon, lat).grid.code == index.grid_codes[expected]


def dense_reference(geoms, lons, lats) -> np.ndarray:
    """Lowest covering position per point via an STRtree, a path independent of the index."""
    tree = shapely.STRtree(np.array(geoms))
    point_i, geom_i = tree.query(shapely.points(lons, lats), predicate="covered_by")
    want = np.full(len(lons), np.iinfo(np.int64).max)
    np.minimum.at(want, point_i, geom_i)
    want[want == np.iinfo(np.int64).max] = -1
    return want


@pytest.mark.parametrize("options", [{}, {"max_pixels": 400}, {"pixel_m": 3.0}, {"pixel_m": 40.0}])
def test_dense_sample_agrees_with_brute_force(options):
    areas, geoms = random_map()
    index = GridIndex(areas, **options)
    rng = np.random.default_rng(5)
    vertices = shapely.get_coordinates(np.array(geoms))
    lons = np.concatenate([rng.uniform(LON0, LON0 + 0.008, 20_000), vertices[:, 0]])
    lats = np.concatenate([rng.uniform(LAT0, LAT0 + 0.008, 20_000), vertices[:, 1]])
    want = dense_reference(geoms, lons, lats)
    assert (want >= 0).sum() > 4_000  # the sample really hits the map
    assert index.locate_many(lons, lats).tolist() == want.tolist()
    sample = slice(0, None, 7)
    assert [index.position(a, b) for a, b in zip(lons[sample], lats[sample], strict=True)] == want[
        sample
    ].tolist()


def test_raster_stays_bounded_for_a_huge_sparse_extent():
    # Two small cells 20° apart: the raster coarsens instead of allocating billions of pixels.
    areas = [
        grid("430423100001001", box(75.0, 30.0, 75.001, 30.001)),
        grid("430423100001002", box(95.0, 30.0, 95.001, 30.001)),
    ]
    index = GridIndex(areas, max_pixels=10_000)
    assert index.raster_shape[0] * index.raster_shape[1] <= 10_000
    assert index.locate(75.0005, 30.0005).grid.code == "430423100001001"
    assert index.locate(95.001, 30.001).grid.code == "430423100001002"
    with pytest.raises(PointOutsideGrids):
        index.locate(85.0, 30.0)


def test_a_located_point_carries_its_grids_setting():
    cells = [grid(code, geom) for code, geom in BLOCK.items()]
    cells = [replace(c, setting="rural") if c.code.endswith("004") else c for c in cells]
    index = GridIndex(hierarchy() + cells)
    assert index.locate(LON0 + 0.5 * STEP, LAT0 + 1.5 * STEP).setting == "rural"
    assert index.locate(LON0 + 1.5 * STEP, LAT0 + 0.5 * STEP).setting == "urban"


def test_sub_pixels_leave_only_points_near_a_boundary_to_exact_tests():
    index = random_index()
    # Every mixed pixel is split, and most of its sub-pixels answer without an exact test.
    assert 0 < index.exact_subpixel_count < 0.6 * SUB * SUB * index.mixed_pixel_count
    # A point at the centre of a sub-pixel no boundary touches is answered like any other.
    geoms = random_map()[1]
    rng = np.random.default_rng(11)
    (lon0, lat0), (dlon, dlat) = index.pixel_origin, index.pixel_size
    rows, cols = index.raster_shape
    col = rng.integers(0, cols * SUB, 20_000)
    row = rng.integers(0, rows * SUB, 20_000)
    lons = lon0 + (col + 0.5) * dlon / SUB
    lats = lat0 + (row + 0.5) * dlat / SUB
    want = dense_reference(geoms, lons, lats)
    assert (want >= 0).sum() > 1_000
    assert index.locate_many(lons, lats).tolist() == want.tolist()


def test_a_pixel_with_more_candidates_than_a_sub_pixel_can_name():
    # 300 large squares around one point, each its own grid, codes in no particular order, and
    # a small one across the middle: the pixels there are mixed and have all 301 as candidates
    # (more than a byte names), so their points are all tested exactly, the lowest code winning.
    rng = np.random.default_rng(3)
    centre = (LON0 + 0.02, LAT0 + 0.02)
    codes = [f"430423100{c // 999 + 1:03d}{c % 999 + 1:03d}" for c in rng.permutation(301)]
    shapes = [
        box(centre[0] - r, centre[1] - r, centre[0] + r, centre[1] + r)
        for r in np.linspace(0.010, 0.013, 300).tolist()
    ]
    shapes.append(box(centre[0] - 0.0003, centre[1] - 0.0002, centre[0] + 0.0001, centre[1]))
    areas = [grid(code, shape) for code, shape in zip(codes, shapes, strict=True)]
    index = GridIndex(areas, pixel_m=100.0)
    starts = index._raster.record_starts()  # the case under test (a private look)
    assert index._raster.mixed[starts + _COUNT].max() > 254
    geoms = [index.geometry(code) for code in index.grid_codes]
    lons = rng.uniform(centre[0] - 0.002, centre[0] + 0.002, 3_000)
    lats = rng.uniform(centre[1] - 0.002, centre[1] + 0.002, 3_000)
    want = dense_reference(geoms, lons, lats)
    assert index.locate_many(lons, lats).tolist() == want.tolist()
    assert [index.position(a, b) for a, b in zip(lons, lats, strict=True)] == want.tolist()


def test_outside_error_keeps_the_point_through_pickling():
    import pickle

    error = pickle.loads(pickle.dumps(PointOutsideGrids(112.5, 27.25)))
    assert (error.lon, error.lat) == (112.5, 27.25)
    assert str(error) == "Point (112.5, 27.25) is outside the jurisdiction"


def test_shapes_come_back_vertex_for_vertex_from_the_packed_coordinates():
    # The index keeps coordinates, not GEOS objects: every shape it builds again is the one it
    # was given (type, holes, parts, vertices), and the accessors of the tile path agree.
    areas, geoms = random_map()
    index = random_index()
    positions = np.arange(len(index))
    rebuilt = index.geometries(positions)
    assert shapely.equals_exact(rebuilt, np.array(geoms), tolerance=0.0).all()
    assert [g.geom_type for g in rebuilt] == [g.geom_type for g in geoms]
    assert any(g.geom_type == "MultiPolygon" for g in rebuilt)
    by_code = {a.code: a for a in areas}
    for position, code in enumerate(index.grid_codes):
        assert index.grid_position(code) == position
        assert index.parent_code(position) == by_code[code].parent
        assert index.geometry(code).wkb == geoms[position].wkb
    assert index.grid_bounds(positions).tolist() == shapely.bounds(np.array(geoms)).tolist()
    west, south, east, north = LON0 + 0.002, LAT0 + 0.002, LON0 + 0.003, LAT0 + 0.0025
    meets = shapely.intersects(shapely.box(west, south, east, north), shapely.envelope(geoms))
    assert index.grids_in_box(west, south, east, north).tolist() == np.flatnonzero(meets).tolist()
    with pytest.raises(UnknownArea):
        index.grid_position("430423100001999")


def test_exact_tests_agree_with_geos_point_by_point_and_in_bulk(monkeypatch):
    # The exact tests walk the packed coordinates (numpy for many points, plain Python for one)
    # instead of asking GEOS: over cells of one ring, with holes and of several parts, with
    # points anywhere, on vertices and along edges (where the doubles cannot always tell the
    # side, and GEOS is asked), both agree with shapely's covers pair by pair.
    import geo.index
    from geo.index import _PackedShapes

    asked = []
    intersects_xy = geo.index._intersects_xy

    def counted(*args):
        asked.append(args)
        return intersects_xy(*args)

    monkeypatch.setattr(geo.index, "_intersects_xy", counted)

    rng = np.random.default_rng(17)
    holed = Polygon(square(0, 0, 3).exterior.coords, [square(1, 1).exterior.coords])
    star_with_hole = star(LON0 + 0.006, LAT0 + 0.006, 0.002, rng, n=11).difference(
        star(LON0 + 0.006, LAT0 + 0.006, 0.0007, rng)
    )
    multi = MultiPolygon([holed, square(5, 5, 2), star(LON0 - 0.003, LAT0, 0.001, rng)])
    # Long edges near (0, 0): the doubles cannot tell the side of points along them.
    wide = Polygon([(0.1, 0.1), (1.3, 0.7), (0.2, 1.9)])
    geoms = np.array([*random_map()[1], holed, star_with_hole, multi, wide], dtype=object)
    shapes = _PackedShapes(geoms)
    assert shapes.one_ring.any() and not shapes.one_ring.all()
    coords = shapely.get_coordinates(geoms)
    t = rng.uniform(0.0, 1.0, coords.shape[0] - 1)
    along = coords[:-1] + t[:, None] * (coords[1:] - coords[:-1])
    n = 20_000
    lons = np.concatenate([rng.uniform(LON0 - 0.005, LON0 + 0.012, n), coords[:, 0], along[:, 0]])
    lats = np.concatenate([rng.uniform(LAT0 - 0.002, LAT0 + 0.012, n), coords[:, 1], along[:, 1]])
    # Each point against every cell whose box holds it: inside, outside, on the boundary.
    points, cells = shapely.STRtree(geoms).query(shapely.points(lons, lats))
    lons, lats = lons[points], lats[points]
    want = shapely.covers(geoms[cells], shapely.points(lons, lats))
    assert want.sum() > 5_000 and (~want).sum() > 5_000
    assert shapes.covers(cells, lons, lats).tolist() == want.tolist()
    one_by_one = [
        shapes.covers_point(c, x, y)
        for c, x, y in zip(cells.tolist(), lons.tolist(), lats.tolist(), strict=True)
    ]
    assert one_by_one == want.tolist()
    assert asked  # the doubtful pairs went to GEOS


def answers_as_geos(index, geoms, lons, lats, monkeypatch) -> list[tuple[float, float]]:
    """Check the points one by one and in bulk against GEOS; return the points walked, one by
    one or in bulk."""
    import geo.index

    want = dense_reference(geoms, lons, lats)
    walked = []
    covers_point = geo.index._PackedShapes.covers_point
    covers = geo.index._PackedShapes.covers

    def counted(self, cell, lon, lat):
        walked.append((lon, lat))
        return covers_point(self, cell, lon, lat)

    def counted_many(self, cells, lons, lats):
        # As on the point path, a point outside its candidate's box is not walked.
        west, south, east, north = index._bounds[cells].T
        boxed = (west <= lons) & (lons <= east) & (south <= lats) & (lats <= north)
        walked.extend(zip(lons[boxed].tolist(), lats[boxed].tolist(), strict=True))
        return covers(self, cells, lons, lats)

    monkeypatch.setattr(geo.index._PackedShapes, "covers_point", counted)
    monkeypatch.setattr(geo.index._PackedShapes, "covers", counted_many)
    assert [index.position(x, y) for x, y in zip(lons, lats, strict=True)] == want.tolist()
    assert index.locate_many(lons, lats).tolist() == want.tolist()
    return walked


def test_a_pixel_one_edge_crosses_answers_by_the_side_of_it(monkeypatch):
    # Most mixed pixels are crossed by one edge alone: a point in one of their touched
    # sub-pixels is answered by the side of that edge it is on (one determinant), a point on
    # the edge by the walk (the lowest code covering it), and the answers are GEOS's either way.
    # Some of those pixels have a piece too thin for a free sub-pixel, answered at a corner.
    from geo.index import _SEGMENT_EDGE, _SEGMENT_LEFT, _SEGMENT_OUTSIDE, _SEGMENT_RIGHT

    index = random_index()
    geoms = random_map()[1]
    assert index.one_edge_pixel_count > 0.5 * index.mixed_pixel_count
    raster = index._raster  # the records under test (a private look)
    starts = raster.record_starts()
    word = ~raster.mixed[starts + _COUNT].astype(np.int64)
    one = word >= 0  # the complement of a negative word
    starts, word = starts[one], word[one]
    (lon0, lat0), (dlon, dlat) = index.pixel_origin, index.pixel_size
    cols = index.raster_shape[1]
    pixel = np.flatnonzero(raster.values <= -2)[one]
    row, col = pixel // cols, pixel % cols
    coords = index._shapes.coords
    edge = word >> _SEGMENT_EDGE
    a, b = coords[edge], coords[edge + 1]
    # The outside is a piece's answer along the map's rim; where a higher code's edge crosses
    # a lower code's cell (the overlapping extras), both pieces answer the lower code.
    left, right = (word >> _SEGMENT_LEFT) & 3, (word >> _SEGMENT_RIGHT) & 3
    assert (right == _SEGMENT_OUTSIDE).any() and (left == right).any() and (left != right).any()
    # A piece with no free sub-pixel: every sub-pixel centre on that side is touched.
    nibbles = raster.mixed[np.c_[starts, starts + 1]].view(np.uint32)
    exact = ((nibbles[:, :, None] >> (4 * np.arange(8, dtype=np.uint32))) & 15).reshape(-1, 16)
    exact = exact == 15
    local = np.arange(16)
    cu = lon0 + (col[:, None] + (local % SUB + 0.5) / SUB) * dlon
    cv = lat0 + (row[:, None] + (local // SUB + 0.5) / SUB) * dlat
    ax, ay = a[:, None, 0], a[:, None, 1]
    side = (b[:, None, 0] - ax) * (cv - ay) - (b[:, None, 1] - ay) * (cu - ax)
    thin = ((side > 0) & ~exact).sum(axis=1) == 0
    thin |= ((side < 0) & ~exact).sum(axis=1) == 0
    assert thin.any()
    # Points anywhere in those pixels, and on their edges (within the pixel).
    rng = np.random.default_rng(23)
    pick = rng.choice(np.flatnonzero(thin), 2_000) if thin.sum() > 2_000 else np.flatnonzero(thin)
    pick = np.concatenate([pick, rng.choice(pixel.size, 3_000)])
    lons = lon0 + (col[pick] + rng.uniform(0, 1, pick.size)) * dlon
    lats = lat0 + (row[pick] + rng.uniform(0, 1, pick.size)) * dlat
    t = rng.uniform(0, 1, pick.size)
    along = a[pick] + t[:, None] * (b[pick] - a[pick])
    lons = np.concatenate([lons, along[:, 0]])
    lats = np.concatenate([lats, along[:, 1]])
    walked = answers_as_geos(index, geoms, lons, lats, monkeypatch)
    # Off the edges only the points whose sign the filter could not vouch for were walked.
    off = set(lons[: pick.size].tolist())
    assert len({p for p in walked if p[0] in off}) < 0.01 * pick.size


def test_a_pixel_one_bend_crosses_answers_by_its_sides(monkeypatch):
    # Where two edges of one ring meet inside a pixel and nothing else touches it, the bend
    # cuts the pixel in two: a point in a touched sub-pixel is answered by its sides of the
    # two edges (left of both where the bend turns left, of either where it turns right), a
    # point on the bend by the walk, and the answers are GEOS's either way.
    from geo.index import _SEGMENT_BEND, _SEGMENT_EDGE

    index = random_index()
    geoms = random_map()[1]
    # Few here: the cells are squares; the bends are the stars' and the cells' corners.
    assert index.bend_pixel_count >= 20
    raster = index._raster  # the records under test (a private look)
    word = ~raster.mixed[raster.record_starts() + _COUNT].astype(np.int64)
    pixel = np.flatnonzero(raster.values <= -2)
    bend = (word >= 0) & ((word >> _SEGMENT_BEND) & 1 == 1)
    pixel, word = pixel[bend], word[bend]
    (lon0, lat0), (dlon, dlat) = index.pixel_origin, index.pixel_size
    cols = index.raster_shape[1]
    row, col = pixel // cols, pixel % cols
    coords = index._shapes.coords
    edge = word >> _SEGMENT_EDGE
    a, b, c = coords[edge], coords[edge + 1], coords[edge + 2]
    # The bend's vertex lies inside its pixel (in the raster's own arithmetic); both turns are
    # there.
    u = (b[:, 0] - lon0) * (1.0 / dlon) - col
    v = (b[:, 1] - lat0) * (1.0 / dlat) - row
    assert ((u > 0) & (u < 1) & (v > 0) & (v < 1)).all()
    turn = (b[:, 0] - a[:, 0]) * (c[:, 1] - b[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - b[:, 0])
    assert (turn > 0).any() and (turn < 0).any()
    # Points anywhere in those pixels, near the bend's vertex, and on both edges.
    rng = np.random.default_rng(29)
    pick = rng.choice(pixel.size, min(pixel.size, 4_000), replace=False)
    lons = lon0 + (col[pick] + rng.uniform(0, 1, pick.size)) * dlon
    lats = lat0 + (row[pick] + rng.uniform(0, 1, pick.size)) * dlat
    near = b[pick] + rng.normal(0.0, 0.05, (pick.size, 2)) * (dlon, dlat)
    t = rng.uniform(0, 1, (pick.size, 1))
    on_first = a[pick] + t * (b[pick] - a[pick])
    on_second = b[pick] + t * (c[pick] - b[pick])
    lons = np.concatenate([lons, near[:, 0], on_first[:, 0], on_second[:, 0], b[pick, 0]])
    lats = np.concatenate([lats, near[:, 1], on_first[:, 1], on_second[:, 1], b[pick, 1]])
    walked = answers_as_geos(index, geoms, lons, lats, monkeypatch)
    # Off the edges (the pixels' random points and those near the vertex) only the points
    # whose signs the filter could not vouch for were walked.
    off = set(lons[: 2 * pick.size].tolist())
    assert len({p for p in walked if p[0] in off}) < 0.01 * pick.size


def star_pixels(index: GridIndex) -> dict[str, Any]:
    """The stars' records (a private look): pixel row and column, vertex, rays' far ends and
    sectors' kinds (counterclockwise), rays per star."""
    from geo.index import _HEAD, _STAR, _STAR_END, _STAR_KIND, _STAR_RAYS

    raster = index._raster
    starts = raster.record_starts()
    word = raster.mixed[starts + _COUNT].astype(np.int64)
    star = word >= _STAR
    pixel = np.flatnonzero(raster.values <= -2)[star]
    at = starts[star] + _HEAD + (word[star] & 15)
    rays = word[star] >> _STAR_RAYS & 7
    words = [
        raster.mixed[a + 1 : a + 1 + n].astype(np.int64) for a, n in zip(at, rays, strict=True)
    ]
    cols = index.raster_shape[1]
    return {
        "row": pixel // cols,
        "col": pixel % cols,
        "centre": raster.mixed[at].astype(np.int64),
        "ends": [w >> _STAR_END for w in words],
        "kinds": [w >> _STAR_KIND & 3 for w in words],
        "rays": rays,
    }


def points_at_stars(index: GridIndex, stars: dict[str, Any], rng, per: int):
    """Points anywhere in the stars' pixels, near their vertices, on their rays and on the
    vertices; and how many of them are off the boundaries (the first ones)."""
    (lon0, lat0), (dlon, dlat) = index.pixel_origin, index.pixel_size
    coords = index._shapes.coords
    pick = rng.choice(stars["row"].size, per)
    lons = lon0 + (stars["col"][pick] + rng.uniform(0, 1, per)) * dlon
    lats = lat0 + (stars["row"][pick] + rng.uniform(0, 1, per)) * dlat
    centre = coords[stars["centre"][pick]]
    near = centre + rng.normal(0.0, 0.05, (per, 2)) * (dlon, dlat)
    end = coords[[rng.choice(stars["ends"][p]) for p in pick]]
    on_ray = centre + rng.uniform(0, 1, (per, 1)) * (end - centre)
    lons = np.concatenate([lons, near[:, 0], on_ray[:, 0], centre[:, 0]])
    lats = np.concatenate([lats, near[:, 1], on_ray[:, 1], centre[:, 1]])
    return lons, lats, 2 * per


def test_a_pixel_rays_from_one_vertex_cross_answers_by_the_sector(monkeypatch):
    # Where the boundaries of three grids or more meet at a vertex inside a pixel and nothing
    # else touches it (a corner of the map: a star), the rays from the vertex cut the pixel
    # into sectors: a point in a touched sub-pixel is answered by the sector it is in (its
    # side of each ray), a point on a ray by the walk, and the answers are GEOS's either way.
    # The cells here are squares: corners of four, and where the lake and the community's
    # edge cut a row of them, of three, one sector flat (two rays nearly opposite).
    from geo.index import _CONVEX, _FLAT

    index = random_index()
    geoms = random_map()[1]
    stars = star_pixels(index)
    assert index.star_pixel_count == stars["row"].size >= 100
    assert set(stars["rays"].tolist()) == {3, 4}
    kinds = np.concatenate(stars["kinds"])
    assert (kinds == _CONVEX).any() and (kinds == _FLAT).any()
    # The vertex lies inside its pixel (in the raster's own arithmetic).
    (lon0, lat0), (dlon, dlat) = index.pixel_origin, index.pixel_size
    centre = index._shapes.coords[stars["centre"]]
    u = (centre[:, 0] - lon0) * (1.0 / dlon) - stars["col"]
    v = (centre[:, 1] - lat0) * (1.0 / dlat) - stars["row"]
    assert ((u > 0) & (u < 1) & (v > 0) & (v < 1)).all()
    lons, lats, count = points_at_stars(index, stars, np.random.default_rng(31), 4_000)
    walked = answers_as_geos(index, geoms, lons, lats, monkeypatch)
    # Off the rays only the points whose signs the filter could not vouch for were walked.
    off = set(lons[:count].tolist())
    assert len({p for p in walked if p[0] in off}) < 0.01 * count


def test_a_star_with_a_reflex_sector_answers_by_the_sector(monkeypatch):
    # Three grids at a vertex: an L wrapping three quarters round it (its sector reflex) and
    # the last quarter cut in two along its diagonal. Where the quarter's sides reach the
    # map's edge, two more stars: two grids and the outside, its sector flat.
    from geo.index import _FLAT, _REFLEX

    side = STEP
    x, y = LON0 + 0.37 * side, LAT0 + 0.41 * side  # the vertex, off the pixels' lines
    east, north = LON0 + side, LAT0 + side
    ell = Polygon([(LON0, LAT0), (east, LAT0), (east, y), (x, y), (x, north), (LON0, north)])
    lower = Polygon([(x, y), (east, y), (east, north)])
    upper = Polygon([(x, y), (east, north), (x, north)])
    shapes = {"430423100001002": ell, "430423100001003": lower, "430423100001001": upper}
    index = GridIndex(hierarchy() + [grid(code, geom) for code, geom in shapes.items()])
    geoms = tuple(shapes[code] for code in sorted(shapes))
    stars = star_pixels(index)
    vertices = {tuple(c) for c in index._shapes.coords[stars["centre"]].tolist()}
    assert vertices == {(x, y), (east, y), (x, north)}
    kinds = np.concatenate(stars["kinds"])
    assert (kinds == _REFLEX).sum() == 1 and (kinds == _FLAT).sum() == 2
    lons, lats, count = points_at_stars(index, stars, np.random.default_rng(37), 3_000)
    walked = answers_as_geos(index, geoms, lons, lats, monkeypatch)
    off = set(lons[:count].tolist())
    assert len({p for p in walked if p[0] in off}) < 0.01 * count
    # Each grid answers, and the outside.
    assert set(index.locate_many(lons, lats).tolist()) == {-1, 0, 1, 2}


def test_a_corner_whose_grids_do_not_share_its_vertex_exactly_is_walked(monkeypatch):
    # The same corner as above, by the prime meridian (where a longitude is finer than the
    # raster's arithmetic), one grid's copy of the vertex a unit in the last place to the east:
    # in pixels the copies are alike, but the grids leave a sliver between them, so the corner
    # is no star and its points are walked (GEOS's answers all the same).
    side = STEP
    west, south = -0.0006, LAT0
    x, y = west + 0.37 * side, south + 0.41 * side
    east, north = west + side, south + side
    nudged = float(np.nextafter(x, np.inf))
    ell = Polygon([(west, south), (east, south), (east, y), (x, y), (x, north), (west, north)])
    lower = Polygon([(x, y), (east, y), (east, north)])
    # The lowest code: its copies of the edges it shares are the ones the raster keeps.
    upper = Polygon([(nudged, y), (east, north), (x, north)])
    shapes = {"430423100001002": ell, "430423100001003": lower, "430423100001001": upper}
    index = GridIndex(
        hierarchy() + [grid(code, geom) for code, geom in shapes.items()], pixel_m=7.0
    )
    geoms = tuple(shapes[code] for code in sorted(shapes))
    (lon0, _), (dlon, dlat) = index.pixel_origin, index.pixel_size
    assert (x - lon0) * (1.0 / dlon) == (nudged - lon0) * (1.0 / dlon)  # alike in pixels
    stars = star_pixels(index)
    vertices = {tuple(c) for c in index._shapes.coords[stars["centre"]].tolist()}
    assert vertices == {(east, y), (x, north)}
    rng = np.random.default_rng(41)
    lons = np.append(x + rng.normal(0.0, 0.3, 2_000) * dlon, [x, nudged])
    lats = np.append(y + rng.normal(0.0, 0.3, 2_000) * dlat, [y, y])
    answers_as_geos(index, geoms, lons, lats, monkeypatch)
