"""Benchmark GridIndex against shapely's STRtree on a realistic grid map (DESIGN §10).

Run: python -m bench.bench_geo [--points N] [--cells N] [--per-point N]

Builds a district of irregular communities cut into unit grids, with an enclave, then measures in
the same run: per-point STRtree query vs GridIndex.locate, and bulk STRtree query vs
GridIndex.locate_many. Ratios are baseline time / GridIndex time.

The per-point baseline is the issue's, ``STRtree.query(point, predicate="within")``: "within"
leaves out a point on a cell's edge, so its answers are not the index's there (a grid *covers*
its boundary); every answer of ``locate`` is checked instead against the same query with
"intersects" (for a point, the same as covers), and that query's time is printed too. The bulk
baseline answers exactly as the index does. Answers must be identical (the exit status is 1
otherwise).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import tracemalloc

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from bench.report import Row, emit, interleaved_best
from geo import AreaShape, GridIndex, Level, buffer_m, generate_unit_grids, partition_voronoi

CENTRE_LON = 112.60  # 衡山县, roughly
CENTRE_LAT = 27.23
DISTRICT = "430423"
# DESIGN §10: GridIndex against shapely's STRtree, per point and in bulk.
LOCATE_TARGET = 10.0
LOCATE_MANY_TARGET = 12.0
ENCLAVE = "430412"  # 南岳区, an enclave in a hole of the district


def jittered_outline(rng: np.random.Generator, radius_m: float, vertices: int = 48) -> Polygon:
    """Return a blob about radius_m across with an irregular boundary."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    radii = radius_m * (1 + 0.25 * np.sin(3 * angles + rng.uniform(0, 6)))
    radii *= rng.uniform(0.9, 1.1, vertices)
    m_per_lon = 111_320 * math.cos(math.radians(CENTRE_LAT))
    lons = CENTRE_LON + radii * np.cos(angles) / m_per_lon
    lats = CENTRE_LAT + radii * np.sin(angles) / 110_574
    return Polygon(np.c_[lons, lats]).buffer(0)


def build_map(cells: int, seed: int) -> list[AreaShape]:
    """Return district, streets, communities and about `cells` unit grids."""
    rng = np.random.default_rng(seed)
    outline = jittered_outline(rng, radius_m=6_000.0)
    enclave = buffer_m(CENTRE_LON + 0.01, CENTRE_LAT + 0.005, 900.0)
    district = outline.difference(enclave)
    m_per_lon = 111_320 * math.cos(math.radians(CENTRE_LAT))
    cell_m = math.sqrt(shapely.area(outline) * m_per_lon * 110_574 / cells)
    areas = [
        AreaShape(DISTRICT, "衡山县", Level.district, None, district),
        AreaShape(ENCLAVE, "南岳区", Level.district, None, enclave),
    ]
    areas += communities_and_grids(rng, DISTRICT, district, cell_m)
    # The enclave's grids are finer, as a town centre's would be.
    areas += communities_and_grids(rng, ENCLAVE, enclave, cell_m * 0.6)
    return areas


def communities_and_grids(
    rng: np.random.Generator, district_code: str, district: Polygon, cell_m: float
) -> list[AreaShape]:
    """Split a district into Voronoi communities around random centres, then cut grids."""
    m_per_lon = 111_320 * math.cos(math.radians(CENTRE_LAT))
    expected_cells = shapely.area(district) * m_per_lon * 110_574 / cell_m**2
    # About 100 grids a community keeps 3-digit grid sequences (≤ 999) in range.
    n_communities = max(2, round(expected_cells / 100))
    lon0, lat0, lon1, lat1 = district.bounds
    seeds: list[tuple[float, float]] = []
    while len(seeds) < n_communities:
        lon, lat = rng.uniform(lon0, lon1), rng.uniform(lat0, lat1)
        if district.contains(Point(lon, lat)):
            seeds.append((float(lon), float(lat)))
    areas: list[AreaShape] = []
    streets: dict[str, list[Polygon]] = {}
    for c, community in enumerate(partition_voronoi(district, seeds)):
        if community.is_empty:
            continue
        street = f"{district_code}{100 + c // 20:03d}"
        code = f"{street}{c % 20 + 1:03d}"
        streets.setdefault(street, []).append(community)
        areas.append(AreaShape(code, f"社区{c}", Level.community, street, community))
        for g, cell in enumerate(generate_unit_grids(community, cell_m)):
            areas.append(AreaShape(f"{code}{g + 1:03d}", f"网格{g + 1}", Level.grid, code, cell))
    for street, parts in streets.items():
        union = shapely.union_all(parts)
        areas.append(AreaShape(street, f"街道{street[-3:]}", Level.street, district_code, union))
    return areas


def sample_points(
    rng: np.random.Generator, geoms: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw points over the map's extent, 1 % of them exactly on cell vertices."""
    lon0, lat0, lon1, lat1 = shapely.total_bounds(geoms)
    lons = rng.uniform(lon0, lon1, n)
    lats = rng.uniform(lat0, lat1, n)
    vertices = shapely.get_coordinates(geoms)
    k = n // 100
    pick = rng.integers(0, len(vertices), k)
    lons[:k], lats[:k] = vertices[pick, 0], vertices[pick, 1]
    order = rng.permutation(n)
    return lons[order], lats[order]


def strtree_bulk(tree: shapely.STRtree, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Return the lowest covering position per point via one bulk STRtree query."""
    points = shapely.points(lons, lats)
    point_i, geom_i = tree.query(points, predicate="intersects")
    return lowest(point_i, geom_i, lons.size)


def lowest(point_i: np.ndarray, geom_i: np.ndarray, n: int) -> np.ndarray:
    sentinel = np.iinfo(np.int64).max
    result = np.full(n, sentinel, dtype=np.int64)
    np.minimum.at(result, point_i, geom_i)
    result[result == sentinel] = -1
    return result


def best_of(repeats: int, fn):
    """Return (fastest seconds, result) over a few runs: the least disturbed by the machine."""
    best = math.inf
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points for the bulk test")
    parser.add_argument("--per-point", type=int, default=20_000, help="points, one at a time")
    parser.add_argument("--cells", type=int, default=10_000, help="about how many unit grids")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    start = time.perf_counter()
    areas = build_map(args.cells, args.seed)
    print(f"map: {time.perf_counter() - start:.1f} s to generate")

    build_s, index = best_of(1, lambda: GridIndex(areas))
    tracemalloc.start()
    GridIndex(areas)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows, cols = index.raster_shape
    print(
        f"index: {len(index)} grids, build {build_s:.2f} s, raster {rows} x {cols} "
        f"({index.pixel_size[1] * 110_574:.1f} m pixels), {index.mixed_pixel_count} mixed pixels "
        f"({index.one_edge_pixel_count} answered by the side of one edge, "
        f"{index.bend_pixel_count} of one bend, {index.star_pixel_count} of a corner's rays), "
        f"{index.exact_subpixel_count} sub-pixels tested exactly, "
        f"arrays {index.nbytes / 2**20:.1f} MiB, build peak {traced_peak / 2**20:.0f} MiB"
    )

    geoms = np.array([index.geometry(code) for code in index.grid_codes], dtype=object)
    tree = shapely.STRtree(geoms)
    failures = 0

    # -- one point at a time (the API's locate) --
    lons, lats = sample_points(rng, geoms, args.per_point)
    inside = index.locate_many(lons, lats) >= 0
    pts = list(zip(lons[inside].tolist(), lats[inside].tolist(), strict=True))
    located = [index.located_at(i) for i in range(len(index))]

    batch = 500
    parts = [pts[i : i + batch] for i in range(0, len(pts), batch)]

    def baseline_each(predicate: str):
        def run(b: int):
            out = []
            for lon, lat in parts[b]:
                hits = tree.query(Point(lon, lat), predicate=predicate)
                out.append(located[int(hits.min())] if hits.size else None)
            return out

        return run

    def ours_each(b: int):
        return [index.locate(lon, lat) for lon, lat in parts[b]]

    within_s, covers_s, ours_s = interleaved_best(
        args.repeats, len(parts), [baseline_each("within"), baseline_each("intersects"), ours_each]
    )
    want = [answer for b in range(len(parts)) for answer in baseline_each("intersects")(b)]
    got = [answer for b in range(len(parts)) for answer in ours_each(b)]
    same = want == got
    failures += not same
    n = len(pts)
    emit(
        Row(
            "GridIndex.locate, one point",
            'shapely STRtree.query(point, predicate="within") per point',
            within_s / ours_s,
            "×",
            LOCATE_TARGET,
            at_least=True,
        )
    )
    print(
        f"locate: {within_s / ours_s:.1f}x per-point STRtree 'within', "
        f"{covers_s / ours_s:.1f}x 'intersects' ({within_s / n * 1e6:.2f} / "
        f"{covers_s / n * 1e6:.2f} vs {ours_s / n * 1e6:.2f} µs/point, {n} points inside, "
        f"{'identical' if same else 'DIFFERENT'} answers to 'intersects')"
    )

    # -- bulk --
    lons, lats = sample_points(rng, geoms, args.points)
    points = shapely.points(lons, lats)
    batches = 10
    cut = np.linspace(0, lons.size, batches + 1).astype(int)

    def span(b: int) -> slice:
        return slice(cut[b], cut[b + 1])

    def query_only(b: int):
        point_i, geom_i = tree.query(points[span(b)], predicate="intersects")
        return lowest(point_i, geom_i, cut[b + 1] - cut[b])

    base_s, query_s, ours_s = interleaved_best(
        args.repeats,
        batches,
        [
            lambda b: strtree_bulk(tree, lons[span(b)], lats[span(b)]),
            query_only,
            lambda b: index.locate_many(lons[span(b)], lats[span(b)]),
        ],
    )
    want_bulk = strtree_bulk(tree, lons, lats)
    got_bulk = index.locate_many(lons, lats)
    same = bool(np.array_equal(want_bulk, got_bulk))
    failures += not same
    n = lons.size
    emit(
        Row(
            f"GridIndex.locate_many, {n} points",
            "shapely bulk STRtree.query",
            base_s / ours_s,
            "×",
            LOCATE_MANY_TARGET,
            at_least=True,
        )
    )
    print(
        f"locate_many: {base_s / ours_s:.1f}x bulk STRtree "
        f"({base_s / n * 1e6:.3f} vs {ours_s / n * 1e6:.3f} µs/point over {n} points, "
        f"{(got_bulk >= 0).mean():.0%} inside, {'identical' if same else 'DIFFERENT'} answers)"
    )
    print(
        f"locate_many: {query_s / ours_s:.1f}x bulk STRtree counting only query + tie-break "
        f"(points already built: {query_s / n * 1e6:.3f} µs/point)"
    )
    if failures:
        print("FAILED: GridIndex and STRtree disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
