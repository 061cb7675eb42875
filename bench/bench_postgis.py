"""Benchmark GridIndex.locate against a PostGIS prepared single-point query (DESIGN §10).

Run: python -m bench.bench_postgis [--points N] [--repeats N]

Creates a throw-away PostGIS database on the admin connection (``TEST_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it, seeds the demo county and adds
the generated county of ``--cells`` unit grids (``bench.generate.county_map``: jittered Voronoi
cells, holes, MultiPolygons), then:

- places ``--points`` random points of the generated county's bounding box one at a time, two
  ways: PostGIS, a server-side prepared statement (psycopg 3, ``prepare=True``) over one open
  connection, the GiST index on ``area.geometry`` doing the search; and ``geo.GridIndex`` built
  from the stored grid map, ``locate(lon, lat)``. The ratio is the PostGIS time over the
  GridIndex time;
- places ``--bulk`` points of the same box (1 % of them exactly on cell vertices) with
  ``GridIndex.locate_many`` and with one PostGIS query over all of them (``COPY`` in, the same
  ``ST_Covers`` condition per point, ``COPY`` out), and compares EVERY answer.

Answers must be identical (the exit status is 1 otherwise; the lowest code wins on a shared
edge both ways). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely

import geo
from bench.demo_db import offline_config, seed_demo_county, throwaway_postgis
from bench.report import Row, emit, interleaved_best

TARGET = 100.0  # DESIGN §10
LOCATE_SQL = (
    "SELECT code FROM area WHERE layer = 'urban' AND level = 'grid' "
    "AND ST_Covers(geometry, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) ORDER BY code LIMIT 1"
)
# The same condition for every row of a table of points, written out in point order.
BULK_SQL = (
    "COPY (SELECT p.i, (SELECT a.code FROM area a WHERE a.layer = 'urban' AND a.level = 'grid' "
    "AND ST_Covers(a.geometry, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)) "
    "ORDER BY a.code LIMIT 1) FROM bench_point p ORDER BY p.i) TO STDOUT"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5_000, help="random points, one at a time")
    parser.add_argument("--bulk", type=int, default=1_000_000, help="points compared in bulk")
    parser.add_argument("--cells", type=int, default=10_000, help="about how many unit grids")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    import psycopg

    var_dir = Path(tempfile.mkdtemp(prefix="gridapp-bench-postgis-"))
    try:
        with throwaway_postgis("postgis") as url:
            config = offline_config(url, var_dir)
            start = time.perf_counter()
            areas = seed_demo_county(config)
            print(f"demo county: {len(areas)} areas seeded in {time.perf_counter() - start:.1f} s")
            start = time.perf_counter()
            county, areas = add_county(url, args.cells, args.seed)
            print(
                f"generated county: {len(county.grids)} grids written in "
                f"{time.perf_counter() - start:.1f} s"
            )
            start = time.perf_counter()
            index = geo.GridIndex(areas)
            print(f"index: {len(index)} grids, built in {time.perf_counter() - start:.2f} s")
            bounds = shapely.total_bounds(np.array([a.geometry for a in county.grids]))
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE area")
                failed = compare(conn, index, bounds, args)
                failed |= compare_bulk(conn, index, county, bounds, args)
                return failed
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def add_county(url: str, cells: int, seed: int) -> tuple[Any, list[geo.AreaShape]]:
    """Store the generated county beside the demo one; return it and the stored grid map."""
    from sqlalchemy.orm import Session

    from bench.generate import county_map, write_map
    from gridapp.core.db import make_engine
    from gridapp.grid.services import load_area_shapes

    county = county_map(cells, seed)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            write_map(session, county)
        with Session(engine) as session:
            return county, load_area_shapes(session)
    finally:
        engine.dispose()


def compare(conn: Any, index: geo.GridIndex, bounds: Any, args: Any) -> int:
    west, south, east, north = (float(b) for b in bounds)
    rng = np.random.default_rng(args.seed)
    lons = rng.uniform(west, east, args.points)
    lats = rng.uniform(south, north, args.points)
    points = list(zip(lons.tolist(), lats.tolist(), strict=True))

    cur = conn.cursor()
    batch = 250
    parts = [points[i : i + batch] for i in range(0, len(points), batch)]

    def postgis(b: int) -> list[str | None]:
        out: list[str | None] = []
        for lon, lat in parts[b]:
            cur.execute(LOCATE_SQL, (lon, lat), prepare=True)
            row = cur.fetchone()
            out.append(row[0] if row else None)
        return out

    def ours(b: int) -> list[str | None]:
        out: list[str | None] = []
        for lon, lat in parts[b]:
            try:
                out.append(index.locate(lon, lat).grid.code)
            except geo.PointOutsideGrids:
                out.append(None)
        return out

    for lon, lat in points[:50]:  # warm up: the statement is prepared, the caches are filled
        cur.execute(LOCATE_SQL, (lon, lat), prepare=True)
        cur.fetchall()
    base_s, ours_s = interleaved_best(args.repeats, len(parts), [postgis, ours])
    want = [code for b in range(len(parts)) for code in postgis(b)]
    got = [code for b in range(len(parts)) for code in ours(b)]
    n = len(points)
    diffs = sum(a != b for a, b in zip(want, got, strict=True))
    inside = sum(code is not None for code in want)
    print(
        f"PostGIS prepared query: {base_s / n * 1e6:.1f} µs/point; "
        f"GridIndex.locate: {ours_s / n * 1e6:.2f} µs/point "
        f"({n} points, {inside} inside a grid, batches of {batch} interleaved, "
        f"each the best of {args.repeats})"
    )
    ratio = base_s / ours_s
    emit(
        Row(
            "GridIndex.locate, one point",
            "prepared PostGIS ST_Covers query, loopback",
            ratio,
            "×",
            TARGET,
            at_least=True,
        )
    )
    print(
        f"locate: {ratio:.1f}x a PostGIS prepared query (target ≥ {TARGET:.0f}x, "
        f"{'met' if ratio >= TARGET else 'NOT met'})"
    )
    if diffs:
        print(f"FAILED: {diffs} of {n} points answered differently", file=sys.stderr)
        shown = [(p, a, b) for p, a, b in zip(points, want, got, strict=True) if a != b][:5]
        for (lon, lat), a, b in shown:
            print(f"  ({lon:.7f}, {lat:.7f}): PostGIS {a}, GridIndex {b}", file=sys.stderr)
        return 1
    return 0


def compare_bulk(conn: Any, index: geo.GridIndex, county: Any, bounds: Any, args: Any) -> int:
    """Compare locate_many with PostGIS for every one of ``--bulk`` points."""
    n = args.bulk
    if n <= 0:
        return 0
    west, south, east, north = (float(b) for b in bounds)
    rng = np.random.default_rng(args.seed + 1)
    lons = rng.uniform(west, east, n)
    lats = rng.uniform(south, north, n)
    # 1 % exactly on vertices, where several grids cover the point and the lowest code wins.
    vertices = shapely.get_coordinates(np.array([a.geometry for a in county.grids]))
    k = n // 100
    pick = rng.integers(0, len(vertices), k)
    lons[:k], lats[:k] = vertices[pick, 0], vertices[pick, 1]

    start = time.perf_counter()
    positions = index.locate_many(lons, lats)
    ours_s = time.perf_counter() - start
    codes = np.array([*index.grid_codes, ""], dtype=object)
    got = codes[positions]  # -1 picks the trailing "" : outside

    start = time.perf_counter()
    conn.execute("CREATE TEMPORARY TABLE bench_point (i integer, lon float8, lat float8)")
    with conn.cursor().copy("COPY bench_point (i, lon, lat) FROM STDIN") as copy:
        # repr() writes the shortest text that reads back as the same double.
        for i, (lon, lat) in enumerate(zip(lons.tolist(), lats.tolist(), strict=True)):
            copy.write(f"{i}\t{lon!r}\t{lat!r}\n")
    want = np.empty(n, dtype=object)
    buffer = bytearray()
    with conn.cursor().copy(BULK_SQL) as copy:
        for data in copy:
            buffer += data
    for line in bytes(buffer).decode().splitlines():
        row, code = line.split("\t")
        want[int(row)] = "" if code == "\\N" else code
    base_s = time.perf_counter() - start
    conn.execute("DROP TABLE bench_point")

    differ = np.flatnonzero(want != got)
    print(
        f"locate_many: {n} points, {int((positions >= 0).sum())} inside a grid, "
        f"{differ.size} answered differently from PostGIS ({ours_s:.2f} s; PostGIS, one "
        f"query with COPY in and out, {base_s:.1f} s)"
    )
    emit(
        Row(
            f"GridIndex.locate_many, {n} points: answers unlike PostGIS",
            "PostGIS ST_Covers per point, lowest code",
            float(differ.size),
            "points",
            0.0,
            at_least=False,
        )
    )
    if differ.size:
        print(f"FAILED: {differ.size} of {n} points answered differently", file=sys.stderr)
        for d in differ[:5].tolist():
            print(
                f"  ({lons[d]!r}, {lats[d]!r}): PostGIS {want[d] or None}, "
                f"GridIndex {got[d] or None}",
                file=sys.stderr,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
