"""The benchmark's generated county and year of cases, at the test size (``bench.generate``)."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely

import geo
from bench.generate import HISTORIES, SIZES, county_map, generate, year_of_cases

SIZE = SIZES["test"]


def test_the_map_nests_covers_and_has_holes_and_multipolygons() -> None:
    county = county_map(SIZE.cells, seed=2026)
    by_code = {area.code: area for area in county.areas}
    assert len(by_code) == len(county.areas), "codes are unique"
    grids = county.grids
    assert 0.7 * SIZE.cells <= len(grids) <= 1.5 * SIZE.cells
    geoms = np.array([g.geometry for g in grids], dtype=object)
    assert shapely.is_valid(geoms).all()
    assert any(g.geometry.geom_type == "MultiPolygon" for g in grids)
    assert any(shapely.get_num_interior_rings(p) > 0 for p in shapely.get_parts(geoms))
    # About 20 vertices a cell, as a surveyed map's cells have.
    assert 15 <= float(np.median(shapely.get_num_coordinates(geoms))) <= 35
    for area in county.areas:
        assert geo.check_area_code(area.code, area.level) == []
        if area.parent is not None:
            parent = by_code[area.parent]
            assert area.code.startswith(parent.code)
            assert parent.geometry.buffer(1e-6).covers(area.geometry), area.code
    # The unit grids tile the county: their areas add up to its area.
    district = next(a for a in county.areas if a.level == geo.Level.district)
    assert abs(shapely.area(geoms).sum() / district.geometry.area - 1) < 1e-3


def test_the_same_seed_makes_the_same_data() -> None:
    first, again = county_map(SIZE.cells, seed=7), county_map(SIZE.cells, seed=7)
    assert [a.code for a in first.areas] == [a.code for a in again.areas]
    pairs = zip(first.areas, again.areas, strict=True)
    assert all(a.geometry.equals_exact(b.geometry, 0) for a, b in pairs)


def test_histories_follow_the_process_in_a_citys_proportions() -> None:
    county = county_map(SIZE.cells, seed=2026)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    cases = year_of_cases(
        SIZE.cases, county.grids, county.rural, ["SJ0101", "SJ0102"], ["D1", "D2"], 2026, 1, start
    )
    case, event = cases.case, cases.event
    assert len(cases) == SIZE.cases
    states = Counter(case["state"].tolist())
    # Most close on time; every kind of history is there.
    assert states["closed"] + states["evaluated"] > 0.7 * SIZE.cases
    assert states["void"] > 0
    actions = Counter(event["action"].tolist())
    for action in (
        "rework",
        "approve_extension",
        "approve_suspension",
        "approve_return",
        "supervise",
        "self_handle",
        "reject",
        "evaluate",
    ):
        assert actions[action] > 0, action
    assert abs(sum(share for share, _ in HISTORIES.values()) - 1) < 1e-9
    # Each case's events chain from state to state, and its row says where the chain ends.
    last_state: dict[int, str] = {}
    for case_id, seq, from_state, to_state, action in zip(
        event["case_id"].tolist(),
        event["seq"].tolist(),
        event["from_state"].tolist(),
        event["to_state"].tolist(),
        event["action"].tolist(),
        strict=True,
    ):
        if seq == 1:
            assert from_state is None and action == "report"
        else:
            assert from_state == last_state[case_id], (case_id, seq)
        last_state[case_id] = to_state
    row_state = dict(zip(case["id"].tolist(), case["state"].tolist(), strict=True))
    assert last_state == row_state
    closed = ~np.isnan(case["closed_at"])
    assert set(case["state"][closed].tolist()) <= {"closed", "evaluated"}


def test_writing_a_year_on_sqlite_keeps_every_index(tmp_path: Path) -> None:
    """The indexes dropped before the bulk write are all built again, as the migrations made
    them, and they agree with the rows (``integrity_check`` reads every index entry)."""
    from bench.demo_db import offline_config, release_db, seed_demo_county

    url = f"sqlite:///{tmp_path / 'generated.db'}"
    config = offline_config(url, tmp_path)
    seed_demo_county(config)
    release_db()
    listing = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    with sqlite3.connect(tmp_path / "generated.db") as conn:
        before = conn.execute(listing).fetchall()
    generate(url, SIZE, seed=2026)
    with sqlite3.connect(tmp_path / "generated.db") as conn:
        after = conn.execute(listing).fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        written = conn.execute('SELECT count(*) FROM "case"').fetchone()[0]
    assert after == before
    assert any(row[0] == "index" and row[2] == "case_event" for row in after)
    assert written >= SIZE.cases


def test_writing_a_year_on_partitioned_postgis_indexes_every_month(tmp_path: Path) -> None:
    """On the partitioned schema (migration 0025) the year lands in its months' partitions,
    not in DEFAULT, and the indexes rebuilt after the write are valid on every partition.

    The row triggers are off during the write (``bench.generate.row_triggers_off``): the key
    tables are filled in bulk as the triggers would have filled them, every roll-up day is
    stale, and the triggers are on again afterwards."""
    if os.environ.get("GRIDAPP_TEST_BACKEND", "sqlite") != "postgres":
        pytest.skip("PostgreSQL only (GRIDAPP_TEST_BACKEND=postgres)")
    from sqlalchemy import create_engine, text

    from bench.demo_db import offline_config, release_db, seed_demo_county, throwaway_postgis

    with throwaway_postgis("generate") as url:
        config = offline_config(url, tmp_path)
        seed_demo_county(config)
        release_db()
        generate(url, SIZE, seed=2026)
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as conn:
                invalid = conn.scalars(
                    text(
                        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                        "JOIN pg_class t ON t.oid = i.indrelid "
                        "WHERE t.relname IN ('case', 'case_event') AND NOT i.indisvalid"
                    )
                ).all()
                in_default = conn.scalar(text("SELECT count(*) FROM case_default"))
                months = conn.scalar(text('SELECT count(DISTINCT tableoid) FROM "case"'))
                month_indexes = conn.scalar(
                    text(
                        "SELECT min(n) FROM (SELECT count(x.indexrelid) AS n FROM pg_inherits h "
                        "JOIN pg_class p ON p.oid = h.inhparent "
                        "LEFT JOIN pg_index x ON x.indrelid = h.inhrelid "
                        "WHERE p.relname = 'case' GROUP BY h.inhrelid) per_partition"
                    )
                )
                parent_indexes = conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid "
                        "WHERE t.relname = 'case'"
                    )
                )
                unlike_keys = conn.scalar(
                    text(
                        'SELECT count(*) FROM "case" c FULL JOIN case_key k ON k.id = c.id '
                        "WHERE c.id IS NULL OR k.id IS NULL OR (k.number, k.reporter_id, "
                        "k.client_id, k.created_at) IS DISTINCT FROM (c.number, c.reporter_id, "
                        "c.client_id, c.created_at)"
                    )
                )
                unlike_event_keys = conn.scalar(
                    text(
                        "SELECT count(*) FROM case_event e FULL JOIN case_event_key k "
                        "ON k.id = e.id WHERE e.id IS NULL OR k.id IS NULL "
                        "OR (k.case_id, k.seq) IS DISTINCT FROM (e.case_id, e.seq)"
                    )
                )
                events = conn.scalar(text("SELECT count(*) FROM case_event"))
                triggers_off = conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND "
                        "tgenabled = 'D' AND tgrelid IN (SELECT oid FROM pg_class "
                        "WHERE relname LIKE 'case%')"
                    )
                )
                fresh_days = conn.scalar(text("SELECT count(*) FROM dashboard_rollup_day"))
        finally:
            engine.dispose()
    assert invalid == []
    assert in_default == 0
    assert months >= 12
    assert month_indexes == parent_indexes
    assert events >= SIZE.cases
    assert (unlike_keys, unlike_event_keys) == (0, 0)
    assert triggers_off == 0
    assert fresh_days == 0
