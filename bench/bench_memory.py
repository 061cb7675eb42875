"""Benchmark one gunicorn worker's memory holding a 100 000-cell map, against a bare Flask worker.

Run: python -m bench.bench_memory [--cells N] [--backend sqlite|postgres ...]
[--database-url URL ...] [--profile]

Without ``--database-url`` it creates a throw-away database per backend (SQLite, default; PostGIS
on ``TEST_DATABASE_URL``), migrates it, seeds the demo county and adds the generated county's
map of N unit grids (``bench.generate.county_map`` and ``write_map``; no cases). With
``--database-url`` (repeatable) it serves a database ``bench.generate`` already filled, such as
the one ``python -m bench`` generates once per backend (nothing is generated or dropped; the
sign-in writes its session and audit rows, so never point it at a database to keep untouched).

It starts gridapp's ``wsgi:app`` with one sync worker as ``make run`` starts its web server
(``bench.bench_http.Server``: the access log written; the Redis ``make run`` would use), signs in
as the admin, makes the worker load the grid index (``GET /api/v1/grid/locate`` of points in
generated grids, twice each: the index is built on the first), then asks what a command centre
asks: case list pages, the generated grids' GeoJSON, and z14 vector tiles of unit grids and open
cases around those points. It then reads the worker's resident set (``VmRSS`` of the worker, not
the master, in ``/proc``). The baseline is ``bench.hello_app``'s worker under the same gunicorn
set-up after a few requests. Target: ≤ 300 MB.

``--profile`` (or a missed target) adds a tracemalloc snapshot of the same requests in this
process (test client, the same database): the top allocation sites of Python objects and numpy
arrays; what GEOS holds (shapely geometries' coordinates) is outside tracemalloc and shows as the
difference to the resident set.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.bench_http import HOST, Server, call_json, sign_in
from bench.demo_db import offline_config, release_db, seed_demo_county, throwaway_postgis
from bench.generate import COUNTY, county_map, write_map
from bench.report import Row, emit
from bench.serving import existing_backend, memory_mb, worker_pids

TARGET_MB = 300.0
POINTS = 24  # generated grids located, and the tiles around each
BUILD_TIMEOUT_S = 600  # a worker builds the index at start: minutes on a loaded machine


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


@contextlib.contextmanager
def generated_database(backend: str, cells: int, seed: int, tmp: Path) -> Iterator[str]:
    """A throw-away database with the demo county and a generated map of `cells` unit grids."""
    from sqlalchemy.orm import Session

    from gridapp.core.db import make_engine

    with contextlib.ExitStack() as stack:
        if backend == "postgres":
            url = stack.enter_context(throwaway_postgis("memory"))
        else:
            url = f"sqlite:///{tmp / 'memory.db'}"
        config = offline_config(url, tmp)
        started = time.perf_counter()
        seed_demo_county(config)
        county = county_map(cells, seed)
        engine = make_engine(url)
        try:
            with Session(engine) as session, session.begin():
                write_map(session, county)
        finally:
            engine.dispose()
        print(
            f"[{backend}] seeded and wrote a map of {len(county.grids)} unit grids in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        yield url


def generated_grids(database_url: str, count: int, seed: int) -> list[str]:
    """Codes of `count` generated unit grids spread over the county (a fixed choice)."""
    import random

    from sqlalchemy import select

    from gridapp.core.db import make_engine
    from gridapp.grid.models import Area

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            codes = list(
                conn.scalars(
                    select(Area.code)
                    .where(Area.level == "grid", Area.code.startswith(COUNTY))
                    .order_by(Area.code)
                )
            )
    finally:
        engine.dispose()
    if not codes:
        raise RuntimeError(f"{database_url} holds no generated unit grids of {COUNTY}")
    return sorted(random.Random(seed).sample(codes, min(count, len(codes))))


Get = Callable[[str], tuple[int, Any]]


def read_grids(get: Get, codes: list[str]) -> list[tuple[float, float]]:
    """Read the grids' GeoJSON (what a map shows on a click); a point inside each."""
    import shapely.geometry

    points = []
    for code in codes:
        status, feature = get(f"/api/v1/areas/{code}?format=geojson")
        if status != 200:
            raise RuntimeError(f"/api/v1/areas/{code} answered {status}: {str(feature)[:300]}")
        point = shapely.geometry.shape(feature["geometry"]).representative_point()
        points.append((point.x, point.y))
    return points


def locate(get: Get, points: list[tuple[float, float]]) -> int:
    """Locate every point twice: the first builds the worker's grid index, then lookups."""
    for _ in range(2):
        for lon, lat in points:
            status, found = get(f"/api/v1/grid/locate?lon={lon:.7f}&lat={lat:.7f}")
            if status != 200:
                raise RuntimeError(f"locate answered {status}: {str(found)[:300]}")
    return 2 * len(points)


def list_pages(get: Get, street: str) -> int:
    paths = (
        "/api/v1/cases?limit=50",
        "/api/v1/cases?state=handling&limit=50",
        f"/api/v1/cases?street={street}&overdue=true&limit=50",
    )
    for path in paths:
        status, page = get(path)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {str(page)[:300]}")
    return len(paths)


def draw_tiles(get: Get, points: list[tuple[float, float]]) -> int:
    """z14 tiles of unit grids and of open cases around each point (3 × 3 tiles)."""
    tiles = sorted(
        {
            (x + dx, y + dy)
            for lon, lat in points
            for x, y in [tile_xy(lon, lat, 14)]
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
        }
    )
    for x, y in tiles:
        for layer in ("areas", "cases"):
            status, _ = get(f"/api/v1/tiles/{layer}/14/{x}/{y}.mvt")
            if status not in (200, 204):
                raise RuntimeError(f"tile {layer}/14/{x}/{y} answered {status}")
    return 2 * len(tiles)


def typical_requests(get: Get, codes: list[str]) -> dict[str, int]:
    """Locate, list, read grids and draw tiles as a command centre does; count the answers."""
    points = read_grids(get, codes)
    return {
        "area": len(points),
        "locate": locate(get, points),
        "list": list_pages(get, codes[0][:9]),
        "tile": draw_tiles(get, points),
    }


def http_get(port: int, token: str) -> Callable[[str], tuple[int, Any]]:
    import http.client
    import json

    bearer = [token]

    def once(path: str) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(HOST, port, timeout=BUILD_TIMEOUT_S)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {bearer[0]}"})
            response = conn.getresponse()
            data = response.read()
            kind = response.getheader("Content-Type") or ""
            return response.status, json.loads(data) if data and "json" in kind else data
        finally:
            conn.close()

    def get(path: str) -> tuple[int, Any]:
        status, answer = once(path)
        if status == 401:
            # On a loaded machine the requests outlast the access token: sign in again.
            bearer[0] = sign_in(port, "admin")
            status, answer = once(path)
        return status, answer

    return get


def hello_worker_mb(tmp: Path) -> float:
    """The baseline: a bare Flask app's one worker, after a few requests."""
    server = Server("hello-memory", "bench.hello_app:app", dict(os.environ), 1, tmp)
    try:
        server.wait_ready()
        for _ in range(20):
            status, _ = call_json(server.port, "POST", "/hello", {"hello": "world"})
            assert status == 200
        (pid,) = worker_pids(server.process.pid)
        return memory_mb(pid)[0]
    finally:
        server.stop()


def measure(
    database_url: str, backend: str, tmp: Path, hello_mb: float, seed: int, always_profile: bool
) -> float:
    """Serve the database with one worker, ask the typical requests, read the worker's RSS."""
    codes = generated_grids(database_url, POINTS, seed)
    with existing_backend(database_url, tmp / f"var-{backend}") as env:
        # The worker builds its index of the whole map before it answers (wsgi.py): at 100 000
        # cells on a loaded machine that is minutes. The requests' own timeout is raised too,
        # as it was when the first locate built the index: a worker killed half-way through a
        # slow request on a loaded machine would measure nothing.
        env = {**env, "GUNICORN_CMD_ARGS": f"--timeout {BUILD_TIMEOUT_S}"}
        server = Server(f"gridapp-memory-{backend}", "wsgi:app", {**os.environ, **env}, 1, tmp)
        try:
            server.wait_ready(timeout=BUILD_TIMEOUT_S)
            (pid,) = worker_pids(server.process.pid)
            before, _ = memory_mb(pid)
            token = sign_in(server.port, "admin")
            started = time.perf_counter()
            counts = typical_requests(http_get(server.port, token), codes)
            took = time.perf_counter() - started
            rss, peak = memory_mb(pid)
        finally:
            server.stop()
        grids = count_grids(database_url)
        print(
            f"[{backend}] worker {pid}: {before:.0f} MB after start-up, {rss:.0f} MB (peak "
            f"{peak:.0f} MB) after {counts} in {took:.1f} s; {grids} unit grids",
            flush=True,
        )
        emit(
            Row(
                f"one gunicorn worker holding a {grids}-cell map, RSS [{backend}]",
                f"a bare Flask worker {hello_mb:.0f} MB; this one {before:.0f} MB at start, "
                f"peak {peak:.0f} MB",
                rss,
                "MB",
                TARGET_MB,
                at_least=False,
            )
        )
        if always_profile or rss > TARGET_MB:
            profile(database_url, backend, env, token, seed)
    return rss


def count_grids(database_url: str) -> int:
    from sqlalchemy import func, select

    from gridapp.core.db import make_engine
    from gridapp.grid.models import Area

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).where(Area.level == "grid")) or 0)
    finally:
        engine.dispose()


def profile(
    database_url: str, backend: str, env: dict[str, str], token: str, seed: int, top: int = 12
) -> None:
    """The same requests in this process, step by step: the resident set after each, and a
    tracemalloc snapshot of what building the grid index allocated."""
    import gc

    from gridapp import create_app
    from gridapp.core.config import Config

    codes = generated_grids(database_url, POINTS, seed)
    steps: list[tuple[str, float]] = [("this process before the app", memory_mb(os.getpid())[0])]
    config = Config(
        database_url=database_url,
        redis_url=env["REDIS_URL"],
        var_dir=Path(env["GRIDAPP_VAR_DIR"]),
        secret_key=env["SECRET_KEY"],
        embedded=False,
        demo=True,
        queue_prefix=env.get("QUEUE_PREFIX", "gridapp"),
    )
    app = create_app(config)
    client = app.test_client()
    # The server's session (a second sign-in would reuse the TOTP code, which is refused).
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str) -> tuple[int, Any]:
        response = client.get(path, headers=headers)
        return response.status_code, response.get_json(silent=True) or response.get_data()

    def step(name: str) -> None:
        gc.collect()
        steps.append((name, memory_mb(os.getpid())[0]))

    try:
        step("the app made")
        points = read_grids(get, codes)
        step(f"{len(points)} grids read")
        tracemalloc.start(8)
        before = tracemalloc.take_snapshot()
        locate(get, points)
        after = tracemalloc.take_snapshot()
        traced, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        step("the grid index built (locate)")
        list_pages(get, codes[0][:9])
        step("case list pages")
        draw_tiles(get, points)
        step("z14 tiles")
    finally:
        release_db()
    print(f"[{backend}] profile in this process (resident set after each step, gc collected):")
    for name, mb in steps:
        print(f"  {mb:7.0f} MB  {name}")
    print(
        f"[{backend}] building the grid index: {traced / 1e6:.0f} MB traced by tracemalloc "
        f"(peak {traced_peak / 1e6:.0f} MB; GEOS geometries are not traced); top sites:"
    )
    for stat in after.compare_to(before, "traceback")[:top]:
        # Innermost first: where the memory was asked for, then this project's callers.
        frames = list(reversed(stat.traceback))
        ours = [f for f in frames[1:] if "/site-packages/" not in f.filename][:2]
        where = " ← ".join(f"{Path(f.filename).name}:{f.lineno}" for f in [frames[0], *ours])
        print(f"  {stat.size_diff / 1e6:8.1f} MB  {where}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000, help="unit grids to generate")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], action="append")
    parser.add_argument(
        "--database-url", action="append", help="a database bench.generate already filled"
    )
    parser.add_argument("--profile", action="store_true", help="tracemalloc the same requests")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="gridapp-bench-memory-"))
    try:
        hello_mb = hello_worker_mb(tmp)
        print(f"bare Flask worker: {hello_mb:.0f} MB", flush=True)

        def one(url: str, backend: str) -> None:
            measure(url, backend, tmp, hello_mb, args.seed, args.profile)

        if args.database_url:
            for url in args.database_url:
                one(url, "postgres" if url.startswith("postgres") else "sqlite")
        else:
            for backend in args.backend or ["sqlite"]:
                with generated_database(backend, args.cells, args.seed, tmp) as url:
                    one(url, backend)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
