"""``make bench``: every benchmark, one table of their rows, a JSON copy under ``var/bench/``.

Run: python -m bench [--size city|county|test]

Each benchmark runs in its own process with its own defaults and prints rows
(``bench.report``); this collects them, prints one table (figure, baseline, ratio or value,
target, met / NOT met), writes it as JSON to ``var/bench/bench-<UTC time>.json`` and exits
non-zero when a row misses its target or a benchmark failed. ``--size`` is the generated
county's (``bench.generate``): ``city`` (100 000 unit grids, 1 000 000 cases, the default) takes
about a quarter of an hour per backend on two cores; ``county`` and ``test`` are smaller.
PostgreSQL and Redis are those of ``make test`` (TEST_DATABASE_URL, TEST_REDIS_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench.report import Row, parse, table

ROOT = Path(__file__).resolve().parent.parent


def benchmarks(size: str) -> list[list[str]]:
    return [
        ["bench.bench_geo"],
        ["bench.bench_postgis"],
        ["bench.bench_http", "--postgres"],
        ["bench.bench_duplicates"],
        ["bench.bench_evaluation"],
        ["bench.bench_city", "--size", size],
        ["bench.bench_partitions", "--size", size],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["city", "county", "test"], default="city")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    failed: list[str] = []
    for module, *options in benchmarks(args.size):
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
