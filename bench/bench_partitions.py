"""Benchmark the monthly partitions (migration 0025) against the plain schema, a million cases.

Run: python -m bench.bench_partitions [--size city|county|test] [--database-url URL]

Makes (or copies, with ``--database-url``: a PostGIS database ``bench.generate`` filled, at the
plain schema or the partitioned one; it is only read, as a template) a database at the
revision before 0025, copies it, and migrates the copy to head: the migration's own duration at
that many cases (with the revisions after it) is a row. The plain database is then brought to
head without 0025 (stamped past it), so the two differ by the partitions alone. Both are
vacuumed and analysed (as autovacuum leaves a live database), the dashboard's nightly roll-up
is built on each (timed and printed), and the same reads run on each, alternately, in the same
run:

- a month's count of cases (``created_at`` in the last full month);
- the dashboard's month (``gridapp.evaluation.dashboard.dashboard``, every district), its
  closed days from the roll-up as in production; the same month counted from the cases alone
  (``rollup=False``) is printed for the record;
- a month's evaluation of every department recomputed from the history (no snapshots);
- ``GET /cases``' query with state + street + overdue filters (``list_cases``), p95: it names
  no month, so every month's index is probed, the price partitioning asks, shown rather than
  hidden;
- one case by id as the app reads it (``gridapp.cases.partitions.load_case``), p95:
  ``Session.get`` on the plain schema, and on the partitioned one the case's month from
  ``case_key`` (migration 0028), so one month's index is read.

Each comparison row's value is the plain schema's time ÷ the partitioned one's (≥ 1 means the
partitions are as fast or faster). Targets: ≥ 1.0 for the month's reads (what pruning to one
month's partition should give), ≥ 0.5 for the list and the lookup by id (the list reads across
every month, the lookup one more index; ``bench.bench_city`` holds the list to its absolute
50 ms p95 too), and the migration
≤ 600 s at a million cases (a maintenance window). The databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.demo_db import PG_ADMIN_URL, offline_config
from bench.generate import COUNTY, SIZES, generate
from bench.report import Row, emit, p95

PARTITIONS = "0025"
BEFORE = f"{PARTITIONS}-1"  # the revision before the partitions, wherever the chain puts it
MONTH_RATIO_TARGET = 1.0
UNPRUNED_RATIO_TARGET = 0.5
# Lookups by id per pass. The partitioned lookup is a statement per month (each kept on its
# own plan after its first ten calls, gridapp.cases.partitions.in_month); at 100 random ids a
# pass over 17 months, most calls were those first ten, which a server's connections pay once.
LOOKUPS_PER_SAMPLE = 5
MIGRATION_TARGET_S = 600.0
OPEN_STATES = ("handling", "filed", "verifying", "suspended", "extension_requested")


ADMIN = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")


def _admin_url(database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(ADMIN).set(database=database).render_as_string(False)


@contextlib.contextmanager
def database_copy(template: str | None, label: str) -> Iterator[str]:
    """A new database (a copy of ``template`` when given), dropped afterwards; its name."""
    import psycopg

    admin = ADMIN
    name = f"gridapp_bench_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        if template is None:
            with psycopg.connect(_admin_url(name), autocommit=True) as c:
                c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def generated(size: str, tmp: Path) -> tuple[contextlib.ExitStack, str]:
    """A fresh database at the plain schema holding the generated county of ``size``; the
    stack that drops it."""
    stack = contextlib.ExitStack()
    name = stack.enter_context(database_copy(None, "plain"))
    url = _admin_url(name)
    with contextlib.ExitStack() as failing:
        failing.push(stack)  # drop the database if the generation fails
        _fill(url, size, tmp)
        failing.pop_all()
    return stack, name


def _fill(url: str, size: str, tmp: Path) -> None:
    from sqlalchemy.orm import Session

    from gridapp import create_app
    from gridapp.core.db import make_engine
    from gridapp.core.migrate import upgrade
    from gridapp.seed.demo import seed_demo

    upgrade(url, BEFORE)
    config = offline_config(url, tmp)
    engine = make_engine(url)
    with create_app(config).app_context(), Session(engine) as session:
        seed_demo(session)
        session.commit()
    engine.dispose()
    start = time.perf_counter()
    generate(url, SIZES[size], 2026)
    print(f"{size}: generated in {time.perf_counter() - start:.0f} s", flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def migrate_timed(url: str, up: bool) -> float:
    from gridapp.core import migrate

    start = time.perf_counter()
    if up:
        migrate.upgrade(url)
    else:
        migrate.downgrade(url, BEFORE)
    return time.perf_counter() - start


def plain_at_head(url: str) -> None:
    """Bring the plain copy to head without partitioning it: the revisions after 0025 (the
    dashboard's roll-up, …) are the app's at head, so both copies must have them, and only
    0025's change may differ. Alembic is told 0025 ran (``stamp``) and the rest run as usual."""
    from alembic import command

    from gridapp.core import migrate

    command.stamp(migrate.alembic_config(url), PARTITIONS)
    migrate.upgrade(url)


def vacuum(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute('VACUUM (ANALYZE) "case"')
        conn.execute("VACUUM (ANALYZE) case_event")


def measure(
    urls: dict[str, str], tmp: Path, repeats: int, samples: int, *, evaluation: bool = True
) -> None:
    """Time the same reads on each database, alternately; print the comparison rows."""
    import numpy as np
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    import workflow
    from gridapp import create_app
    from gridapp.accounts.models import User
    from gridapp.cases.models import Case
    from gridapp.cases.partitions import load_case
    from gridapp.cases.queries import CaseFilters, list_cases
    from gridapp.core.db import make_engine
    from gridapp.evaluation.dashboard import dashboard
    from gridapp.evaluation.rollup import rollup_until
    from gridapp.evaluation.services import evaluate
    from gridapp.grid.models import Area

    config = offline_config(urls["plain"], tmp)
    engines = {schema: make_engine(url) for schema, url in urls.items()}
    # As the app makes its sessions (gridapp.core.db): a commit leaves what was read loaded.
    sessions = {
        schema: Session(engine, expire_on_commit=False) for schema, engine in engines.items()
    }
    rng = np.random.default_rng(7)
    with create_app(config).app_context():
        any_session = sessions["plain"]
        admin = any_session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        newest = any_session.scalar(
            select(func.max(Case.created_at)).where(Case.district_code == COUNTY)
        )
        assert newest is not None
        first_of_newest = newest.astimezone(workflow.LOCAL_ZONE).date().replace(day=1)
        last = first_of_newest - timedelta(days=1)
        first = last.replace(day=1)
        start = datetime(first.year, first.month, 1, tzinfo=workflow.LOCAL_ZONE)
        end = datetime(first_of_newest.year, first_of_newest.month, 1, tzinfo=workflow.LOCAL_ZONE)
        now = datetime.now(UTC)
        streets = list(
            any_session.scalars(
                select(Area.code).where(Area.level == "street", Area.parent_code == COUNTY)
            )
        )
        lookups_n = samples * LOOKUPS_PER_SAMPLE
        ids = [int(i) for i in rng.integers(1, _max_id(any_session) + 1, lookups_n)]

        def month_count(session: Session) -> Any:
            return session.scalar(
                select(func.count()).where(Case.created_at >= start, Case.created_at < end)
            )

        def board(session: Session) -> Any:
            return dashboard(session, admin, first, last, now=now)

        def evaluate_month(session: Session) -> Any:
            return evaluate(session, admin, workflow.Kind.departments, first, last, now=now)

        # Each list and lookup ends as the request that makes it does: committed (the app's
        # commit hook, gridapp.core.app). Ending it so matters on PostgreSQL: psycopg forgets
        # the connection's prepared statements at a rollback, and with them the plans the
        # server keeps for the next calls. The commit is not timed (nor is the app's in these
        # rows): it is the same round trip on either schema.
        def lists(session: Session) -> list[float]:
            timings = []
            for n in range(samples):
                filters = CaseFilters(
                    states=(OPEN_STATES[n % len(OPEN_STATES)],),
                    street=streets[n % len(streets)],
                    overdue=bool(n % 3),
                )
                ms, _ = timed(partial(list_cases, session, admin, filters, limit=50))
                session.commit()
                timings.append(ms)
            return timings

        def lookups(session: Session) -> list[float]:
            timings = []
            for case_id in ids:
                session.expunge_all()
                ms, _ = timed(partial(load_case, session, case_id))
                session.commit()
                timings.append(ms)
            return timings

        # What the nightly job has done by the time a leader reads last month: every closed
        # day rolled up, on each copy (timed: a first run rolls up the whole history).
        yesterday = now.astimezone(workflow.LOCAL_ZONE).date() - timedelta(days=1)
        for schema, session in sessions.items():
            ms, days = timed(partial(rollup_until, session, yesterday, now))
            session.commit()
            print(f"{schema}: dashboard roll-up of {days} days in {ms / 1000:.1f} s", flush=True)
        for schema, session in sessions.items():
            # The same month counted from the cases alone, for the record (the plans probe
            # every month's partition for ranges of closed_at, filed_at, updated_at).
            ms = min(
                timed(partial(dashboard, session, admin, first, last, now=now, rollup=False))[0]
                for _ in range(repeats)
            )
            session.rollback()
            print(f"{schema}: dashboard counted from the cases {ms:.0f} ms", flush=True)
        best: dict[str, dict[str, float]] = {schema: {} for schema in urls}
        answers: dict[str, dict[str, Any]] = {schema: {} for schema in urls}
        reads: dict[str, Callable[[Session], Any]] = {
            "month_count": month_count,
            "dashboard": board,
        }
        if evaluation:
            reads["evaluation"] = evaluate_month
        for repeat in range(repeats):
            for schema, session in sessions.items():
                for name, read in reads.items():
                    if name == "evaluation" and repeat:
                        # Minutes of Python over a month's histories: once is a fair measure.
                        continue
                    ms, answer = timed(partial(read, session))
                    session.commit()
                    best[schema][name] = min(best[schema].get(name, ms), ms)
                    answers[schema][name] = answer
                best[schema]["list"] = min(best[schema].get("list", 1e9), p95(lists(session)))
                best[schema]["lookup"] = min(best[schema].get("lookup", 1e9), p95(lookups(session)))
        for name in reads:
            assert answers["plain"][name] == answers["partitioned"][name], name
        cases = answers["plain"]["month_count"]
        figures = (
            ("month_count", f"count of a month's cases ({cases})", MONTH_RATIO_TARGET),
            ("dashboard", "dashboard, a month, every district", MONTH_RATIO_TARGET),
            (
                "evaluation",
                "evaluation of every department, a month, from history",
                MONTH_RATIO_TARGET,
            ),
            ("list", f"GET /cases state+street+overdue, p95 of {samples}", UNPRUNED_RATIO_TARGET),
            ("lookup", f"one case by id, p95 of {lookups_n}", UNPRUNED_RATIO_TARGET),
        )
        for key, figure, target in figures:
            if key not in best["plain"]:
                continue
            plain, parted = best["plain"][key], best["partitioned"][key]
            emit(
                Row(
                    f"partitioned by month vs plain: {figure}",
                    f"plain {plain:.1f} ms, partitioned {parted:.1f} ms",
                    plain / parted,
                    "×",
                    target,
                    at_least=True,
                )
            )
    for session in sessions.values():
        session.close()
    for engine in engines.values():
        engine.dispose()


def _max_id(session: Any) -> int:
    from sqlalchemy import func, select

    from gridapp.cases.models import Case

    return int(session.scalar(select(func.max(Case.id))) or 1)


def is_partitioned(url: str) -> bool:
    from gridapp.core.db import make_engine
    from gridapp.core.partitions import is_partitioned as partitioned

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return partitioned(conn)
    finally:
        engine.dispose()


def case_count(url: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute('SELECT count(*) FROM "case"').fetchone()
    return int(row[0]) if row else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="city")
    parser.add_argument(
        "--database-url", help="a PostGIS database bench.generate filled (copied, never written)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument(
        "--skip-evaluation",
        action="store_true",
        help="leave out the month's evaluation from history (minutes on each copy)",
    )
    args = parser.parse_args(argv)
    from sqlalchemy.engine import make_url

    tmp = Path(tempfile.mkdtemp(prefix="gridapp-bench-partitions-"))
    with contextlib.ExitStack() as stack:
        if args.database_url:
            source = make_url(args.database_url).database
            assert source, "--database-url names no database"
            plain = stack.enter_context(database_copy(source, "plain"))
        else:
            inner, plain = generated(args.size, tmp)
            stack.enter_context(inner)
        plain_url = _admin_url(plain)
        if is_partitioned(plain_url):
            seconds = migrate_timed(plain_url, up=False)
            print(f"downgraded the copy to the plain schema in {seconds:.0f} s", flush=True)
        cases = case_count(plain_url)
        parted = stack.enter_context(database_copy(plain, "partitioned"))
        parted_url = _admin_url(parted)
        seconds = migrate_timed(parted_url, up=True)
        plain_at_head(plain_url)
        emit(
            Row(
                f"migration 0025 (partition case and case_event), {cases:,} cases",
                "",
                seconds,
                "s",
                MIGRATION_TARGET_S,
                at_least=False,
            )
        )
        for url in (plain_url, parted_url):
            vacuum(url)
        measure(
            {"plain": plain_url, "partitioned": parted_url},
            tmp,
            args.repeats,
            args.samples,
            evaluation=not args.skip_evaluation,
        )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
