"""``make bench``: every benchmark with its own defaults, each printing ratios against a baseline
measured in the same run. Run one with options as ``python -m bench.bench_geo --help`` says."""

from __future__ import annotations

import subprocess
import sys

# The PostGIS comparison and the HTTP benchmark on PostGIS need PostgreSQL and Redis, as
# `make test` does (TEST_DATABASE_URL, TEST_REDIS_URL).
BENCHMARKS = [
    ["bench.bench_geo"],
    ["bench.bench_postgis"],
    ["bench.bench_http", "--postgres"],
    ["bench.bench_duplicates"],
    ["bench.bench_evaluation"],
]


def main() -> int:
    status = 0
    for module, *options in BENCHMARKS:
        print(f"== {module} {' '.join(options)}", flush=True)
        status |= subprocess.call([sys.executable, "-m", module, *options])
    return status


if __name__ == "__main__":
    sys.exit(main())
