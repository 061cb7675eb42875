"""A gunicorn worker builds the grid index before its first request, and gunicorn's timeout does
not kill it while a request rebuilds it (``wsgi.py``, ``gridapp/core/heartbeat.py``,
``gridapp/core/gunicorn_conf.py``).

Each test starts gunicorn as ``make run`` does (its settings file, sync workers) on a database
of its own with the demo county.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import geo
from bench.bench_http import HOST, Server
from bench.demo_db import offline_config, seed_demo_county
from bench.serving import existing_backend
from gridapp.core.config import Config
from gridapp.core.versions import next_tag
from gridapp.grid.services import DEFAULT_LAYER, version_key
from tests.conftest import BACKEND
from tests.gridapp.throwaway import throwaway_database

BUILT = "grid index: "


@pytest.fixture()
def demo_database(
    tmp_path: Path, postgis_template: str | None, app: Any
) -> Iterator[tuple[str, str]]:
    """A database of its own, migrated, with the demo county, and the query of a point in one
    of its unit grids (the suite's app is attached again after the test)."""
    with throwaway_database(tmp_path, "warm", postgis_template) as url:
        areas = seed_demo_county(offline_config(url, tmp_path / "seed"))
        grid = next(a for a in areas if a.level == geo.Level.grid)
        point = grid.geometry.representative_point()
        yield url, f"/api/v1/grid/locate?lon={point.x}&lat={point.y}"


def _get(port: int, path: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        body = answer.read()
        # gunicorn's own answer for a worker it killed mid-request is an HTML 500.
        is_json = answer.getheader("Content-Type", "").endswith("json")
        return answer.status, json.loads(body) if is_json else body.decode(errors="replace")
    finally:
        conn.close()


@contextlib.contextmanager
def _serve(name: str, url: str, tmp_path: Path, *options: str) -> Iterator[Server]:
    """gunicorn as `make run` starts it (one worker), on ``url``; stopped afterwards."""
    with existing_backend(url, tmp_path / name) as env:
        server = Server(name, "wsgi:app", env, 1, tmp_path, options=options)
        try:
            yield server
        finally:
            server.stop()


def test_a_worker_builds_the_grid_index_before_its_first_request(
    demo_database: tuple[str, str], tmp_path: Path
) -> None:
    url, locate = demo_database
    with _serve("warm", url, tmp_path) as server:
        server.wait_ready(timeout=120)
        status, answer = _get(server.port, locate)
        assert status == 200, answer
        log = server.log_text()

    lines = log.splitlines()
    built = [n for n, line in enumerate(lines) if BUILT in line]
    requests = [n for n, line in enumerate(lines) if '"GET /' in line]
    # Once, at the start, before the first request (the readiness probe's): the located point
    # used the index the worker had built.
    assert len(built) == 1, log
    assert requests and built[0] < requests[0], log


def test_a_worker_whose_map_cannot_be_read_still_starts(
    tmp_path: Path, postgis_template: str | None, app: Any
) -> None:
    """A database not migrated yet: the worker says so and serves what needs no map."""
    with (
        throwaway_database(tmp_path, "unmigrated", postgis_template) as url,
        _serve("unmigrated", url, tmp_path) as server,
    ):
        server.wait_ready(timeout=120)
        log = server.log_text()

    assert "grid index not built at start" in log, log
    assert BUILT not in log, log


@pytest.mark.skipif(
    BACKEND != "postgres",
    reason="holds the map's read with a table lock readers wait on: PostgreSQL's (SQLite's WAL "
    "readers never wait); the heartbeat itself is the same on both backends",
)
def test_gunicorns_timeout_does_not_kill_a_worker_rebuilding_the_index_in_a_request(
    demo_database: tuple[str, str], tmp_path: Path
) -> None:
    """A map change makes the next located point rebuild the index inside its request. gunicorn
    kills a worker silent for ``--timeout`` in a request (while it boots it does not: the
    start's build is safe by itself); the heartbeat keeps this one alive while it builds."""
    import psycopg

    url, locate = demo_database
    timeout = 4
    with (
        psycopg.connect(url.replace("+psycopg", "")) as holder,
        _serve("held", url, tmp_path, "--timeout", str(timeout)) as server,
        ThreadPoolExecutor(1) as client,
    ):
        server.wait_ready(timeout=120)
        key = version_key(DEFAULT_LAYER)
        holder.execute("UPDATE setting SET value = %s WHERE key = %s", (next_tag("1-0"), key))
        holder.commit()
        # The worker reads the map's version at most every CHECK_SECONDS: the next request
        # after that sees the change and rebuilds.
        time.sleep(Config.grid_index_check_seconds + 1)
        holder.execute("LOCK TABLE area IN ACCESS EXCLUSIVE MODE")
        answer = client.submit(_get, server.port, locate)
        _wait_for_a_reader_of_area(holder, server)
        # Held for twice the timeout: without its heartbeat gunicorn kills the worker
        # meanwhile (WORKER TIMEOUT), and the request gets no answer.
        time.sleep(2 * timeout + 1)
        holder.rollback()
        status, body = answer.result(timeout=120)
        log = server.log_text()

    assert status == 200, (body, log)
    assert "WORKER TIMEOUT" not in log, log


def _wait_for_a_reader_of_area(holder: Any, server: Server) -> None:
    """Wait until a worker's read of the map waits on the holder's lock."""
    for _ in range(1200):
        waiting = holder.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'area' AND NOT l.granted"
        ).fetchone()[0]
        if waiting:
            return
        assert server.process.poll() is None, server.log_text()
        time.sleep(0.1)
    raise AssertionError(f"no worker read the map:\n{server.log_text()}")
