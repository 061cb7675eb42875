"""Benchmark the likely-duplicate lookup against reading the case itself (PostGIS).

Run: python -m bench.bench_duplicates [--cases N] [--probes N]

Creates a throw-away PostGIS database, seeds the demo county and adds N open cases of the
urban event classes at random points of the county seat over the last 30 days (bulk insert).
Then, for random probe cases, times two things in one session:

- the baseline: the desk's read of one case by id (``gridapp.cases.partitions.load_case``);
- ``likely_duplicates`` for that case (class and time prefilter in SQL, a bounding box and
  ``ST_DWithin`` on geography, the exact distance in Python).

Prints the median and 95th percentile of each and the ratio of the p95s (duplicates / read):
the price a desk list pays per case for its ``duplicates``.
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.demo_db import release_db, seed_demo_county, throwaway_postgis
from bench.generate import row_triggers_off


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    from shapely.geometry import Point
    from sqlalchemy import insert, select

    from gridapp.core.metadata import load_models

    load_models()  # every table mapped before a module builds a statement at import
    from gridapp import create_app
    from gridapp.cases.models import Case
    from gridapp.cases.partitions import load_case
    from gridapp.cases.services import likely_duplicates
    from gridapp.catalogue.models import Category
    from gridapp.core.config import Config
    from gridapp.core.extensions import db

    var_dir = Path(tempfile.mkdtemp(prefix="gridapp-bench-dup-"))
    try:
        with throwaway_postgis("duplicates") as url:
            config = Config(
                database_url=url,
                redis_url=None,
                var_dir=var_dir,
                secret_key=secrets.token_urlsafe(32),
                embedded=False,
                demo=True,
                testing=True,
            )
            shapes = seed_demo_county(config)
            seat = [s for s in shapes if s.code.startswith("430423100") and len(s.code) == 15]
            bounds = [s.geometry.bounds for s in seat]
            min_lon = min(b[0] for b in bounds)
            min_lat = min(b[1] for b in bounds)
            max_lon = max(b[2] for b in bounds)
            max_lat = max(b[3] for b in bounds)
            app = create_app(config)
            with app.app_context():
                session = db.session()
                categories = list(
                    session.scalars(
                        select(Category.code).where(
                            Category.process == "urban", Category.kind == "event"
                        )
                    )
                )
                now = datetime.now(UTC)
                rows: list[dict[str, Any]] = []
                for i in range(args.cases):
                    lon = rng.uniform(min_lon, max_lon)
                    lat = rng.uniform(min_lat, max_lat)
                    at = now - timedelta(minutes=rng.uniform(0, 30 * 24 * 60))
                    rows.append(
                        {
                            "number": f"B{i:013d}",
                            "process": "urban",
                            "state": "reported",
                            "version": 1,
                            "source": "citizen",
                            "category_code": rng.choice(categories),
                            "urgency": "normal",
                            "description": "bench",
                            "location": Point(lon, lat),
                            "lon": lon,
                            "lat": lat,
                            "layer": "urban",
                            "reporter_contact": {},
                            "step_pauses": [],
                            "sla_flag": "ok",
                            "rework_count": 0,
                            "supervise_count": 0,
                            "created_at": at,
                            "updated_at": at,
                        }
                    )
                started = time.perf_counter()
                # The partitions' row triggers off while the rows go in, their key rows written
                # in bulk after: in one transaction they went quadratic (380 s for 100 000).
                raw = session.connection().connection.driver_connection
                with row_triggers_off(raw) as fill_keys:
                    for start in range(0, len(rows), 10_000):
                        session.execute(insert(Case), rows[start : start + 10_000])
                    fill_keys("case")
                session.commit()
                session.execute(select(Case.id).limit(1))
                print(f"inserted {args.cases} cases in {time.perf_counter() - started:.1f} s")
                session.connection().exec_driver_sql("ANALYZE")
                ids = list(session.scalars(select(Case.id)))
                probes = rng.sample(ids, min(args.probes, len(ids)))
                read_ms: list[float] = []
                dup_ms: list[float] = []
                found = 0
                for case_id in probes:
                    session.expunge_all()
                    started = time.perf_counter()
                    case = load_case(session, case_id)
                    read_ms.append((time.perf_counter() - started) * 1000)
                    assert case is not None
                    _ = case.category  # loaded by the case's JSON anyway
                    started = time.perf_counter()
                    found += len(likely_duplicates(session, case))
                    dup_ms.append((time.perf_counter() - started) * 1000)
            read_p95, dup_p95 = _percentile(read_ms, 0.95), _percentile(dup_ms, 0.95)
            print(
                f"read one case:      median {statistics.median(read_ms):.2f} ms, "
                f"p95 {read_p95:.2f} ms"
            )
            print(
                f"likely_duplicates:  median {statistics.median(dup_ms):.2f} ms, "
                f"p95 {dup_p95:.2f} ms ({found} duplicates over {len(probes)} probes)"
            )
            print(f"ratio (p95 duplicates / p95 read): {dup_p95 / read_p95:.1f}")
            release_db()
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
