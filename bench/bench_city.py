"""Benchmark the reads at city scale: lists, the dashboard, hot spots and vector tiles.

Run: python -m bench.bench_city [--size city|county|test] [--backend postgres|sqlite] ...
[--database-url URL] [--samples N] [--rows lists,dashboard,hotspots,tiles,evaluation]

Creates a throw-away database per backend (PostGIS: ``TEST_DATABASE_URL``; SQLite: a temp file),
migrates and seeds the demo county, then adds the generated county and its year of cases
(``bench.generate``; ``city``: 100 000 unit grids, 1 000 000 cases). ``--database-url`` reuses a
database already holding them (nothing is generated or dropped). It then measures, in-process:

- ``GET /api/v1/cases`` as an admin with state + street + overdue filters (every open state and
  street in turn, and the second page by the keyset cursor): p95, target ≤ 50 ms;
- ``dashboard()`` for a month, every district (the leader's numbers), after the nightly roll-up
  has listed every closed day (``rollup_until``, timed and printed; with ``--database-url`` it
  writes the roll-up into that database, as the job would): best of a few, ≤ 300 ms; the same
  month counted from the cases alone (``rollup=False``) is the baseline;
- hot spots per unit grid, the same month, as the console reads them: counts by code
  (``hotspot_counts_json``, ``format=counts``), best of a few, ≤ 300 ms; the GeoJSON with
  polygons (``hotspots_geojson``) is the baseline;
- a z14 vector tile of unit grids (``area_tile``) and of open cases (``case_tile``) over the
  generated map, tiles where the cases are, both made one after the other. First the tiles
  rendered on demand (the baseline), then the precompute job an import enqueues (every area
  tile z0-16 into the shared store; its duration is printed), then the p95 of first requests
  (every tile once, this process's cache empty: areas from the store, cases made now) and of
  viewers asking again and again (Zipf over the same tiles); ≤ 50 ms;
- every department's evaluation for that month recomputed from the history (no snapshots:
  ``bench.bench_evaluation.recompute_row``), ≤ 10 s.

Every figure is printed as a ``bench.report`` row; the exit status is 0 (``python -m bench``
judges the rows).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.demo_db import offline_config, release_db, seed_demo_county, throwaway_postgis
from bench.generate import COUNTY, SIZES, generate
from bench.report import Row, emit, p95

LIST_TARGET_MS = 50.0
DASHBOARD_TARGET_MS = 300.0
HOTSPOT_TARGET_MS = 300.0
TILE_TARGET_MS = 50.0
OPEN_STATES = ("handling", "filed", "verifying", "suspended", "extension_requested")


@contextlib.contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "postgres":
        with throwaway_postgis("city") as url:
            yield url
    else:
        yield f"sqlite:///{tmp / 'city.db'}"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def last_full_month(session: Any) -> tuple[date, date]:
    """The last calendar month the generated year covers in full: what a leader reads."""
    from sqlalchemy import func, select

    import workflow
    from gridapp.cases.models import Case

    newest = session.scalar(select(func.max(Case.created_at)).where(Case.district_code == COUNTY))
    day = newest.astimezone(workflow.LOCAL_ZONE).date().replace(day=1)
    last = day - timedelta(days=1)
    return last.replace(day=1), last


ROWS = ("lists", "dashboard", "hotspots", "tiles", "evaluation")


def measure(
    url: str,
    var_dir: Path,
    backend: str,
    samples: int,
    repeats: int,
    rows: Sequence[str] = ROWS,
) -> None:
    from sqlalchemy import select

    from gridapp import create_app
    from gridapp.accounts.models import User
    from gridapp.accounts.totp import totp_now
    from gridapp.cases.models import Case
    from gridapp.cases.tiles import case_tile
    from gridapp.core.config import Config
    from gridapp.core.extensions import db
    from gridapp.evaluation.dashboard import dashboard, hotspot_counts_json, hotspots_geojson
    from gridapp.evaluation.rollup import rollup_until
    from gridapp.grid.models import Area
    from gridapp.grid.tiles import area_tile
    from gridapp.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    config = Config(
        database_url=url,
        redis_url=None,
        var_dir=var_dir,
        secret_key=secrets.token_urlsafe(32),
        embedded=backend == "sqlite",
        demo=True,
    )
    app = create_app(config)
    rng = np.random.default_rng(7)
    with app.app_context():
        session = db.session()
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        streets = list(
            session.scalars(
                select(Area.code).where(Area.level == "street", Area.parent_code == COUNTY)
            )
        )
        client = app.test_client()
        answer = client.post(
            "/api/v1/auth/login",
            json={
                "username": "admin",
                "password": DEMO_PASSWORD,
                "otp": totp_now(DEMO_TOTP_SECRET),
            },
        )
        assert answer.status_code == 200, answer.get_json()
        headers = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}

        # Lists: every (open state, street) in turn, newest first, and the next page by cursor.
        def list_page(path: str) -> dict[str, Any]:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            body: dict[str, Any] = response.get_json()
            return body

        # Steady state: the first request of a process loads its caches (calendar, catalogue).
        list_page(f"/api/v1/cases?street={streets[0]}&limit=50")
        list_ms: list[float] = []
        listed = 0
        for n in range(samples if "lists" in rows else 0):
            street = streets[n % len(streets)]
            state = OPEN_STATES[(n // len(streets)) % len(OPEN_STATES)]
            overdue = "true" if n % 3 else "false"
            path = f"/api/v1/cases?state={state}&street={street}&overdue={overdue}&limit=50"
            ms, page = timed(partial(list_page, path))
            list_ms.append(ms)
            listed += len(page["items"])
            if page.get("next_cursor"):
                following = f"{path}&cursor={page['next_cursor']}"
                ms, _ = timed(partial(list_page, following))
                list_ms.append(ms)
        if list_ms:
            emit(
                Row(
                    f"GET /cases state+street+overdue, p95 [{backend}]",
                    f"{len(list_ms)} pages, {listed} cases",
                    p95(list_ms),
                    "ms",
                    LIST_TARGET_MS,
                    at_least=False,
                )
            )

        first, last = last_full_month(session)
        if "dashboard" in rows:
            # What the nightly job has done by the time a leader reads last month: every closed
            # day rolled up (timed: a first run rolls up the whole year; a night, one day).
            import workflow

            today = datetime.now(UTC).astimezone(workflow.LOCAL_ZONE).date()
            yesterday = today - timedelta(days=1)
            rollup_ms, days = timed(lambda: rollup_until(session, yesterday))
            session.commit()
            print(
                f"[{backend}] dashboard roll-up: {days} days built in {rollup_ms / 1000:.1f} s",
                flush=True,
            )
            live_ms = min(
                timed(lambda: dashboard(session, admin, first, last, rollup=False))[0]
                for _ in range(repeats)
            )
            session.rollback()
            board_ms = min(
                timed(lambda: dashboard(session, admin, first, last))[0] for _ in range(repeats)
            )
            session.rollback()
            emit(
                Row(
                    f"dashboard, a month, every district [{backend}]",
                    f"counted from the cases {live_ms:.0f} ms; roll-up of {days} days "
                    f"{rollup_ms / 1000:.0f} s",
                    board_ms,
                    "ms",
                    DASHBOARD_TARGET_MS,
                    at_least=False,
                )
            )
        if "hotspots" in rows:
            # Hot spots as a map client reads them: counts by area code (format=counts), the
            # polygons coming from the area tiles; the GeoJSON with polygons is the baseline.
            spots_ms, counts_text = min(
                (timed(lambda: hotspot_counts_json(session, admin, first, last, "grid")))
                for _ in range(repeats)
            )
            geojson_ms, geojson_text = min(
                (timed(lambda: hotspots_geojson(session, admin, first, last, "grid")))
                for _ in range(repeats)
            )
            grids = len(json.loads(counts_text)["items"])
            emit(
                Row(
                    f"hot spots per unit grid, a month, counts by code [{backend}]",
                    f"GeoJSON with polygons {geojson_ms:.0f} ms, {len(geojson_text) >> 20} MB; "
                    f"counts {len(counts_text) >> 10} KB, {grids} grids",
                    spots_ms,
                    "ms",
                    HOTSPOT_TARGET_MS,
                    at_least=False,
                )
            )

        if "tiles" in rows:
            # Tiles where the cases are: z14 tiles around open cases of the generated county.
            points = session.execute(
                select(Case.lon, Case.lat)
                .where(Case.district_code == COUNTY, Case.state.in_(OPEN_STATES))
                .limit(5000)
            ).all()
            picks = rng.choice(len(points), min(samples, len(points)), replace=False)
            tiles = sorted({tile_xy(*points[int(i)], 14) for i in picks})
            from gridapp.grid.tiles import TileStore, precompute_area_tiles, tile_cache

            def tile(x: int, y: int, store: TileStore | None = None) -> bytes:
                return area_tile(session, 14, x, y, store=store) + case_tile(
                    session, admin, 14, x, y
                )

            # Baseline: rendered on demand (an empty store of its own, no process cache): what a
            # viewer pays for a tile nobody precomputed.
            tile_cache.clear()
            empty_store = TileStore(var_dir / "bench-empty-store")
            demand_ms = [timed(partial(tile, x, y, empty_store))[0] for x, y in tiles]
            # What production does after a map import: the precompute job renders every area tile
            # of z0-16 into the shared store (timed: it is part of an import's cost).
            tile_cache.clear()
            store = TileStore(var_dir / "tiles")
            job_ms, job = timed(lambda: precompute_area_tiles(session, store))
            print(
                f"[{backend}] area tile precompute: {job['tiles']} tiles z{job['zooms'][0]}-"
                f"{job['zooms'][1]} ({job['empty']} empty, {job['bytes'] >> 20} MB) in "
                f"{job_ms / 1000:.1f} s",
                flush=True,
            )
            # First renders: every tile once after the job, nothing in this process's cache (a
            # worker that never drew it): the areas read from the store, the open cases made now.
            tile_cache.clear()
            first_ms: list[float] = []
            sizes = 0
            for x, y in tiles:
                ms, data = timed(partial(tile, x, y, store))
                first_ms.append(ms)
                sizes += len(data)
            emit(
                Row(
                    f"z14 tile, unit grids + open cases, first request after the precompute job, "
                    f"p95 [{backend}]",
                    f"{len(tiles)} tiles, {sizes // max(1, len(tiles))} B each; job "
                    f"{job['tiles']} tiles in {job_ms / 1000:.0f} s; on demand p95 "
                    f"{p95(demand_ms):.0f} ms",
                    p95(first_ms),
                    "ms",
                    TILE_TARGET_MS,
                    at_least=False,
                )
            )
            # Viewers: the command centre's screens ask for the same few tiles again and again
            # (Zipf over the tiles), the open cases always read afresh.
            order = rng.zipf(1.5, samples * 2) % len(tiles)
            view_ms = [timed(partial(tile, *tiles[int(i)], store))[0] for i in order]
            emit(
                Row(
                    f"z14 tile, unit grids + open cases, viewers p95 [{backend}]",
                    f"{len(view_ms)} requests over {len(tiles)} tiles (Zipf)",
                    p95(view_ms),
                    "ms",
                    TILE_TARGET_MS,
                    at_least=False,
                )
            )
        if "evaluation" in rows:
            from bench.bench_evaluation import recompute_row

            emit(recompute_row(session, admin))
        session.close()
    release_db()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="city")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], action="append")
    parser.add_argument("--database-url", help="a database bench.generate already filled")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--rows", default=",".join(ROWS), help=f"which rows, comma-separated: {', '.join(ROWS)}"
    )
    args = parser.parse_args(argv)
    rows = [row for row in args.rows.split(",") if row]
    if unknown := set(rows) - set(ROWS):
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")

    tmp = Path(tempfile.mkdtemp(prefix="gridapp-bench-city-"))
    try:
        if args.database_url:
            backend = "postgres" if args.database_url.startswith("postgres") else "sqlite"
            measure(args.database_url, tmp, backend, args.samples, args.repeats, rows)
            return 0
        for backend in args.backend or ["postgres", "sqlite"]:
            with database(backend, tmp) as url:
                config = offline_config(url, tmp)
                start = time.perf_counter()
                seed_demo_county(config)
                timings = generate(url, SIZES[args.size], args.seed)
                print(
                    f"[{backend}] {args.size}: seeded and generated in "
                    f"{time.perf_counter() - start:.0f} s ("
                    + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
                    + ")",
                    flush=True,
                )
                measure(url, tmp, backend, args.samples, args.repeats, rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
