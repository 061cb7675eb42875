"""Benchmark GridIndex.locate against a PostGIS prepared single-point query (DESIGN §10).

Run: python -m bench.bench_postgis [--points N] [--repeats N]

Creates a throw-away PostGIS database on the admin connection (``TEST_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it and seeds the demo county, then
places N random points of the county's bounding box, one at a time, two ways:

- PostGIS: a server-side prepared statement (psycopg 3, ``prepare=True``) over one open
  connection, the GiST index on ``area.geometry`` doing the search;
- ``geo.GridIndex`` built from the stored grid map, ``locate(lon, lat)``.

Answers must be identical (the exit status is 1 otherwise; the lowest code wins on a shared
edge both ways). The ratio is the PostGIS time over the GridIndex time. The database is dropped
at the end.
"""

from __future__ import annotations

import argparse
import math
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

import geo
from bench.demo_db import seed_demo_county, throwaway_postgis
from bench.report import Row, emit

TARGET = 100.0  # DESIGN §10
LOCATE_SQL = (
    "SELECT code FROM area WHERE layer = 'urban' AND level = 'grid' "
    "AND ST_Covers(geometry, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) ORDER BY code LIMIT 1"
)
T = TypeVar("T")


def best_of(repeats: int, fn: Callable[[], T]) -> tuple[float, T]:
    """Return (fastest seconds, result) over a few runs: the least disturbed by the machine."""
    best = math.inf
    result: T | None = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5_000, help="random points, one at a time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    import psycopg

    from gridapp.core.config import Config

    var_dir = Path(tempfile.mkdtemp(prefix="gridapp-bench-postgis-"))
    try:
        with throwaway_postgis("postgis") as url:
            config = Config(
                database_url=url,
                redis_url=None,  # nothing here needs Redis: the embedded server never starts
                var_dir=var_dir,
                secret_key=secrets.token_urlsafe(32),
                embedded=False,
            )
            start = time.perf_counter()
            areas = seed_demo_county(config)
            print(f"demo county: {len(areas)} areas seeded in {time.perf_counter() - start:.1f} s")
            start = time.perf_counter()
            index = geo.GridIndex(areas)
            print(f"index: {len(index)} grids, built in {time.perf_counter() - start:.2f} s")
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE area")
                return compare(conn, index, areas, args)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def compare(conn: Any, index: geo.GridIndex, areas: list[geo.AreaShape], args: Any) -> int:
    districts = [a.geometry for a in areas if a.level == geo.Level.district]
    bounds = np.array([d.bounds for d in districts])
    west, south = bounds[:, 0].min(), bounds[:, 1].min()
    east, north = bounds[:, 2].max(), bounds[:, 3].max()
    rng = np.random.default_rng(args.seed)
    lons = rng.uniform(west, east, args.points)
    lats = rng.uniform(south, north, args.points)
    points = list(zip(lons.tolist(), lats.tolist(), strict=True))

    cur = conn.cursor()

    def postgis() -> list[str | None]:
        out: list[str | None] = []
        for lon, lat in points:
            cur.execute(LOCATE_SQL, (lon, lat), prepare=True)
            row = cur.fetchone()
            out.append(row[0] if row else None)
        return out

    def ours() -> list[str | None]:
        out: list[str | None] = []
        for lon, lat in points:
            try:
                out.append(index.locate(lon, lat).grid.code)
            except geo.PointOutsideGrids:
                out.append(None)
        return out

    for lon, lat in points[:50]:  # warm up: the statement is prepared, the caches are filled
        cur.execute(LOCATE_SQL, (lon, lat), prepare=True)
        cur.fetchall()
    base_s, want = best_of(args.repeats, postgis)
    ours_s, got = best_of(args.repeats, ours)
    n = len(points)
    diffs = sum(a != b for a, b in zip(want, got, strict=True))
    inside = sum(code is not None for code in want)
    print(
        f"PostGIS prepared query: {base_s / n * 1e6:.1f} µs/point; "
        f"GridIndex.locate: {ours_s / n * 1e6:.2f} µs/point "
        f"({n} points, {inside} inside a grid, best of {args.repeats})"
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


if __name__ == "__main__":
    sys.exit(main())
