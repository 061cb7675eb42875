"""The generated city of one ``python -m bench`` run: made once per backend, read by every module.

Run: python -m bench.city_db DATABASE_URL [--size city|county|test] [--seed N]

Migrates an empty database, seeds the demo county (users, catalogue, the demo map) and adds the
generated county and its year of cases (``bench.generate``). ``city_database`` makes a
throw-away one (PostGIS on ``TEST_DATABASE_URL``, or a SQLite file), filled in a child process so
the runner does not keep the generator's arrays, and removes it when the block ends; the
benchmarks that read the city (``bench.bench_city``, ``bench.bench_memory``) are given its URL
with ``--database-url`` instead of generating their own.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.demo_db import offline_config, seed_demo_county, throwaway_postgis
from bench.generate import SIZES, generate


def fill(database_url: str, size: str, seed: int) -> dict[str, float]:
    """Migrate and seed an empty database, then add the generated county of `size`."""

    with tempfile.TemporaryDirectory(prefix="gridapp-bench-city-db-") as var_dir:
        config = offline_config(database_url, Path(var_dir))
        started = time.perf_counter()
        seed_demo_county(config)
        timings = {"seeded": time.perf_counter() - started}
        timings.update(generate(database_url, SIZES[size], seed))
    return timings


def _remove_sqlite(path: Path) -> None:
    """The database file and what SQLite and its lock leave beside it (-wal, -shm, …)."""
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def city_database(backend: str, size: str, seed: int, tmp: Path) -> Iterator[str]:
    """A throw-away database of `backend` holding the generated `size`; removed after."""
    with contextlib.ExitStack() as stack:
        if backend == "postgres":
            url = stack.enter_context(throwaway_postgis("run"))
        else:
            path = tmp / f"city-{secrets.token_hex(4)}.db"
            stack.callback(_remove_sqlite, path)
            url = f"sqlite:///{path}"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bench.city_db", url, "--size", size, "--seed", str(seed)],
            check=True,
        )
        print(f"[{backend}] {size} generated in {time.perf_counter() - started:.0f} s", flush=True)
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="an empty database (PostGIS: the extension on)")
    parser.add_argument("--size", choices=sorted(SIZES), default="city")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    timings = fill(args.database_url, args.size, args.seed)
    print(", ".join(f"{name} {value:.0f}" for name, value in timings.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
