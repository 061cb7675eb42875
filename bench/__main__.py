"""``make bench``: every benchmark, one table of their rows, a JSON copy under ``var/bench/``.

Run: python -m bench [--size city|county|test]

Each benchmark runs in its own process with its own defaults and prints rows
(``bench.report``); this collects them, prints one table (figure, baseline, ratio or value,
target, met / NOT met), writes it as JSON to ``var/bench/bench-<UTC time>.json`` and exits
non-zero when a row misses its target or a benchmark failed. ``--size`` is the generated
county's (``bench.generate``): ``city`` (100 000 unit grids, 1 000 000 cases, the default),
``county`` and ``test`` are smaller. The generated county is made once per backend per run
(``bench.city_db``: PostGIS, then SQLite, one at a time so only one is on disk) and every
module that reads it (``bench.bench_city``, ``bench.bench_memory``, on PostGIS
``bench.bench_partitions``) gets it by ``--database-url``; it is removed when they are done.
The other modules make their own small databases (the demo county, or what they measure) and
remove them.
PostgreSQL and Redis are those of ``make test`` (TEST_DATABASE_URL, TEST_REDIS_URL).

How long ``city`` takes on two cores, measured once in one go (docs/performance.md, "Where each
row stands"): 43 min, with tests running beside parts of it. The modules that make their own data
(geo, PostGIS, HTTP with wrk, the offline replay on both backends, duplicates, evaluation) 14
min; generating the PostGIS city 15 min and reading it 11 min (``bench_partitions``' copies and
migration included); generating the SQLite city 4.5 min and reading it 3.5 min. A loaded
machine takes longer, and a missed memory target adds about 4 min for its profile. (Stop 19:
the PostGIS city generated in 10.5 min beside a run of the test suite, once its load turned the
row triggers off; see ``bench.generate``.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench.city_db import city_database
from bench.report import Row, parse, table

ROOT = Path(__file__).resolve().parent.parent


def benchmarks() -> list[list[str]]:
    """The modules that make their own data."""
    return [
        ["bench.bench_geo"],
        ["bench.bench_postgis"],
        ["bench.bench_http", "--postgres"],
        ["bench.bench_replay", "--postgres"],
        ["bench.bench_duplicates"],
        ["bench.bench_evaluation"],
    ]


def city_benchmarks(database_url: str) -> list[list[str]]:
    """The modules that read the generated city of one backend."""
    modules = [
        ["bench.bench_city", "--database-url", database_url],
        ["bench.bench_memory", "--database-url", database_url],
    ]
    if database_url.startswith("postgresql"):
        # Monthly partitions are PostgreSQL's: the city is copied (as a template) into a plain
        # and a partitioned database, compared side by side.
        modules.append(["bench.bench_partitions", "--database-url", database_url])
    return modules


def run(command: list[str], rows: list[Row], failed: list[str]) -> None:
    """Run one benchmark module, echo its output and collect its rows."""
    module, *options = command
    print(f"== {module} {' '.join(options)}", flush=True)
    process = subprocess.Popen(
        [sys.executable, "-m", module, *options], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        print(line, end="", flush=True)
        row = parse(line)
        if row is not None:
            rows.append(row)
    if process.wait() != 0:
        failed.append(module)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["city", "county", "test"], default="city")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    rows: list[Row] = []
    failed: list[str] = []
    for command in benchmarks():
        run(command, rows, failed)
    with tempfile.TemporaryDirectory(prefix="gridapp-bench-run-") as tmp:
        for backend in ("postgres", "sqlite"):
            try:
                with city_database(backend, args.size, args.seed, Path(tmp)) as url:
                    for command in city_benchmarks(url):
                        run(command, rows, failed)
            except (subprocess.CalledProcessError, OSError) as exc:
                print(f"generating the {backend} city failed: {exc}", file=sys.stderr)
                failed.append(f"bench.city_db [{backend}]")
    print()
    print(table(rows))
    missed = [row for row in rows if not row.met]
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(
        json.dumps(
            {
                "size": args.size,
                "cpus": os.cpu_count(),
                "rows": [{**asdict(row), "met": row.met} for row in rows],
                "failed": failed,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    print(f"\n{len(rows) - len(missed)} of {len(rows)} rows met; written to {path}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if missed or failed else 0


if __name__ == "__main__":
    sys.exit(main())
