"""Benchmark the leader's dashboard and hot spots over a million cases on PostGIS (DESIGN §10).

Run: python -m bench.bench_dashboard [--cases N] [--repeats N]

Creates a throw-away PostGIS database (``TEST_DATABASE_URL``), seeds the demo county, then writes
N cases spread over a year with their history in bulk (``generate_series``: every case a report
event; 80 % filed, 60 % closed, 5 % with an automatic 督办), and times one month:

- baseline: ``SELECT count(*)`` of the month's cases (one index range scan, nothing grouped);
- ``dashboard()`` for an admin (every district) and ``hotspots()`` per unit grid.

It prints milliseconds (best of ``--repeats``) and each as a ratio of the baseline. The targets
(DESIGN §10: hot spots ≤ 300 ms) are absolute, so the milliseconds are what to read; the
ratio says how much of that is the grouping rather than the machine.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.bench_postgis import best_of
from bench.demo_db import release_db, seed_demo_county, throwaway_postgis

HOTSPOT_TARGET_MS = 300.0
CASES_SQL = """
INSERT INTO "case" (number, process, state, version, source, category_code, urgency,
    description, layer, grid_code, community_code, street_code, district_code,
    reporter_contact, sla_flag, rework_count, supervise_count, created_at, updated_at, deadline,
    closed_at)
SELECT 'B' || i, 'urban',
    CASE WHEN i % 10 < 6 THEN 'closed' WHEN i % 10 < 8 THEN 'handling' ELSE 'reported' END,
    1, (ARRAY['grid_worker', 'hotline', 'citizen', 'sensor'])[1 + i % 4],
    cats[1 + i % array_length(cats, 1)], 'normal', '', 'urban',
    grids[1 + (i::bigint * 7919) % array_length(grids, 1)],
    substr(grids[1 + (i::bigint * 7919) % array_length(grids, 1)], 1, 12),
    substr(grids[1 + (i::bigint * 7919) % array_length(grids, 1)], 1, 9),
    '430423', '{}', 'ok', 0, 0,
    t0 + (i * interval '1 second') * (31536000.0 / :n),
    t0 + (i * interval '1 second') * (31536000.0 / :n),
    t0 + (i * interval '1 second') * (31536000.0 / :n) + interval '3 days',
    CASE WHEN i % 10 < 6 THEN t0 + (i * interval '1 second') * (31536000.0 / :n)
        + interval '5 days' END
FROM generate_series(1, :n) AS i,
    (SELECT array_agg(code ORDER BY code) AS grids FROM area WHERE level = 'grid') AS g,
    (SELECT array_agg(code ORDER BY code) AS cats FROM category) AS c,
    (SELECT timestamptz '2025-01-01 00:00:00+08' AS t0) AS t
"""
EVENTS_SQL = """
INSERT INTO case_event (case_id, seq, action, actor_id, role, from_state, to_state, data,
    created_at, prev_hash, hash)
SELECT id, 1, 'report', NULL::int, source, NULL::text, 'reported', '{}'::jsonb, created_at,
    '', '' FROM "case"
UNION ALL
SELECT id, 2, 'file', NULL, 'shift_leader', 'accepted', 'filed', '{}',
    created_at + interval '2 hours', '', '' FROM "case" WHERE state <> 'reported'
UNION ALL
SELECT id, 3, 'supervise', NULL, 'system', 'handling', 'handling', '{}',
    created_at + interval '4 days', '', '' FROM "case" WHERE id % 20 = 0
UNION ALL
SELECT id, 4, 'close', NULL, 'shift_leader', 'verified', 'closed', '{}',
    closed_at, '', '' FROM "case" WHERE state = 'closed'
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from sqlalchemy import select, text

    from gridapp import create_app
    from gridapp.accounts.models import User
    from gridapp.core.config import Config
    from gridapp.core.extensions import db
    from gridapp.evaluation.dashboard import dashboard, hotspots

    var_dir = Path(tempfile.mkdtemp(prefix="gridapp-bench-dashboard-"))
    try:
        with throwaway_postgis("dashboard") as url:
            config = Config(
                database_url=url,
                redis_url=None,
                var_dir=var_dir,
                secret_key=secrets.token_urlsafe(32),
                embedded=False,
            )
            seed_demo_county(config)
            app = create_app(config)
            with app.app_context():
                start = time.perf_counter()
                with db.transaction() as session:
                    session.execute(text(CASES_SQL), {"n": args.cases})
                    session.execute(text(EVENTS_SQL))
                with db.transaction() as session:
                    session.execute(text('ANALYZE "case"'))
                    session.execute(text("ANALYZE case_event"))
                written = time.perf_counter() - start
                print(f"{args.cases} cases with history written in {written:.0f} s")
                session = db.session()
                admin = session.scalar(select(User).where(User.username == "admin"))
                assert admin is not None
                first, last = date(2025, 6, 1), date(2025, 6, 30)

                def baseline() -> int:
                    return int(
                        session.scalar(
                            text(
                                'SELECT count(*) FROM "case" WHERE created_at >= '
                                "'2025-06-01 00:00+08' AND created_at < '2025-07-01 00:00+08'"
                            )
                        )
                        or 0
                    )

                base_s, month_cases = best_of(args.repeats, baseline)
                board_s, board = best_of(
                    args.repeats, lambda: dashboard(session, admin, first, last)
                )
                spots_s, spots = best_of(
                    args.repeats, lambda: hotspots(session, admin, first, last, "grid")
                )
                assert board["totals"]["reported"] == month_cases, (board["totals"], month_cases)
                print(
                    f"a month ({month_cases} cases reported): count(*) {base_s * 1e3:.1f} ms; "
                    f"dashboard {board_s * 1e3:.0f} ms ({board_s / base_s:.1f}x); hot spots "
                    f"{spots_s * 1e3:.0f} ms ({spots_s / base_s:.1f}x, {len(spots['features'])} "
                    f"grids; target ≤ {HOTSPOT_TARGET_MS:.0f} ms, "
                    f"{'met' if spots_s * 1e3 <= HOTSPOT_TARGET_MS else 'NOT met'})"
                )
                release_db()
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
