"""``make bench``: every benchmark with its own defaults, each printing ratios against a baseline
measured in the same run. Run one with options as ``python -m bench.bench_geo --help`` says."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["bench.bench_geo", "bench.bench_postgis", "bench.bench_http"]


def main() -> int:
    status = 0
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        status |= subprocess.call([sys.executable, "-m", module])
    return status


if __name__ == "__main__":
    sys.exit(main())
