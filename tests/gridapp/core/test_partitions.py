"""Migration 0025: case and case_event partitioned by month on PostgreSQL, every guarantee kept.

A populated database one revision before 0025 (the generated county's year of cases, events,
attachments, notifications) is migrated up and back down; every row and a few answers of the
services stay identical, and on the partitioned schema the database still refuses what the
plain one refused: a duplicate submission, a duplicate case number, two events at one place of
a hash chain, an event or attachment for a case or event that does not exist, and any change
to the history by the app's role.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, Engine, exc, func, select, text
from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.models import User
from gridapp.cases.history import verify_chain
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.partitions import (
    case_in_month,
    case_in_month_for_update,
    case_month,
    load_case,
)
from gridapp.cases.queries import CaseFilters, list_cases
from gridapp.core import migrate
from gridapp.core.db import make_engine
from gridapp.core.partitions import ensure_partitions, is_partitioned, partition_states
from gridapp.evaluation.dashboard import dashboard
from gridapp.evaluation.rollup import rollup_until
from gridapp.evaluation.services import evaluate
from gridapp.media.models import Attachment
from gridapp.notifications.models import Notification
from tests.conftest import BACKEND
from tests.gridapp.throwaway import ADMIN_URL, _url

postgres_only = pytest.mark.skipif(BACKEND != "postgres", reason="partitioning is PostgreSQL's")

BEFORE = "0025-1"  # the revision before this migration, wherever the chain puts it
WRITER = "gridapp_writer"
NOW = datetime(2026, 11, 26, 4, tzinfo=UTC)
# Tables the migration adds (partitions and key tables); every other table must be untouched.
ADDED = r"^(case|case_event)_(p\d{6}|default|key)$"


@pytest.fixture(scope="module")
def populated(app: Any, postgis_template: str | None) -> Iterator[str]:
    """A database at the revision before 0025 holding the generated county's year of cases."""
    if BACKEND != "postgres":
        pytest.skip("partitioning is PostgreSQL's")
    from bench.generate import SIZES, generate
    from gridapp.seed.demo import seed_demo

    name = f"gridapp_parts_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgis_template}"')
    url = _url(name)
    try:
        migrate.upgrade(url, BEFORE)
        engine = make_engine(url)
        with app.app_context(), Session(engine) as session:
            seed_demo(session, secrets.token_urlsafe(32))
            session.commit()
        engine.dispose()
        generate(url, SIZES["test"], 2026)
        engine = make_engine(url)
        with Session(engine) as session:
            _attach_and_notify(session)
            session.commit()
        engine.dispose()
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _attach_and_notify(session: Session) -> None:
    """Photos on some events and notifications about some cases, spread over the months."""
    user = session.scalar(select(User.id).order_by(User.id))
    events = session.execute(
        select(CaseEvent.id, CaseEvent.case_id).where(CaseEvent.seq == 1).order_by(CaseEvent.id)
    ).all()
    for n, (event_id, case_id) in enumerate(events[::40]):
        session.add(
            Attachment(
                sha256=f"{n:064x}",
                content_type="image/jpeg",
                size=1000 + n,
                storage_key=f"photo/{n}",
                case_id=case_id,
                event_id=event_id,
                uploaded_by=user,
            )
        )
        session.add(Notification(user_id=user, kind="assigned", case_id=case_id, message="x"))


@pytest.fixture()
def url(populated: str) -> Iterator[str]:
    """A copy of the populated database, dropped after the test."""
    name = f"{populated}_{secrets.token_hex(2)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{populated}"')
    try:
        yield _url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def every_row(engine: Engine) -> dict[str, tuple[int, str | None]]:
    """Each table's row count and a digest of its rows in id order (partitions and key tables
    are read through their parents)."""
    with engine.connect() as conn:
        tables = conn.scalars(
            text(
                "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
                "AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname !~ :added "
                "AND c.relname NOT IN ('spatial_ref_sys', 'alembic_version')"
            ),
            {"added": ADDED},
        ).all()
        return {
            table: tuple(
                conn.execute(
                    text(
                        f"SELECT count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) "
                        f'FROM public."{table}" x'
                    )
                ).one()
            )
            for table in tables
        }


def schema(engine: Engine) -> dict[str, Sequence[str]]:
    """The definitions of every constraint and index, and the grants of every table."""
    with engine.connect() as conn:
        return {
            "constraints": conn.scalars(
                text(
                    "SELECT conrelid::regclass || ' ' || conname || ' ' || "
                    "pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE connamespace = 'public'::regnamespace ORDER BY 1"
                )
            ).all(),
            "indexes": conn.scalars(
                text("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
            ).all(),
            "grants": conn.scalars(
                text(
                    "SELECT relname || ' ' || coalesce(relacl::text, '') FROM pg_class "
                    "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'S') "
                    "ORDER BY 1"
                )
            ).all(),
        }


def answers(app: Any, engine: Engine) -> dict[str, Any]:
    """What the services answer over the data: lists, the dashboard, an evaluation, chains."""
    with app.app_context(), Session(engine) as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        newest = session.scalar(select(func.max(Case.created_at)))
        assert newest is not None
        month = newest.astimezone(workflow.LOCAL_ZONE).date().replace(day=1) - timedelta(days=1)
        first, last = month.replace(day=1), month
        pages = {}
        for state in ("handling", "closed", "filed"):
            cases, cursor = list_cases(session, admin, CaseFilters(states=(state,)), limit=20)
            pages[state] = ([c.number for c in cases], cursor)
        ids = session.scalars(select(Case.id).order_by(Case.id).limit(200)).all()
        return {
            "pages": pages,
            # Counted from the cases: the revision before 0025 has no roll-up (0027).
            "dashboard": dashboard(session, admin, first, last, now=NOW, rollup=False),
            "evaluation": evaluate(session, admin, workflow.Kind.departments, first, last, now=NOW),
            "chains": [verify_chain(session, case_id) for case_id in ids[::20]],
            "month": session.scalar(
                select(func.count()).where(
                    Case.created_at >= datetime(first.year, first.month, 1, tzinfo=UTC)
                )
            ),
        }


@postgres_only
def test_upgrade_and_downgrade_keep_every_row_and_answer(app, url, engine):
    rows, before, schema_before = every_row(engine), answers(app, engine), schema(engine)
    assert rows["case"][0] == 3000 and rows["attachment"][0] > 0 and rows["notification"][0] > 0

    migrate.upgrade(url)

    with engine.connect() as conn:
        assert is_partitioned(conn)
        months = {s.table: s for s in partition_states(conn)}
        assert len(months["case"].months) >= 13 and months["case"].default_rows == 0
        assert months["case_event"].default_rows == 0
        # Every case sits in the partition of its own month (Asia/Shanghai).
        misplaced = conn.scalar(
            text(
                'SELECT count(*) FROM "case" c JOIN pg_class p ON p.oid = c.tableoid '
                "WHERE p.relname <> 'case_p' || "
                "to_char(c.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMM')"
            )
        )
        assert misplaced == 0
        # Each key row names its case's month (0028), so a case by id reads one month.
        assert (
            conn.scalar(
                text(
                    'SELECT count(*) FROM case_key k FULL JOIN "case" c ON c.id = k.id '
                    "WHERE k.created_at IS DISTINCT FROM c.created_at"
                )
            )
            == 0
        )
    after = every_row(engine)
    # Head also has the revisions after 0025: their tables (the dashboard's roll-up) start empty.
    assert {table: after[table] for table in rows} == rows
    assert {table: count for table, (count, _) in after.items() if table not in rows} == {
        "dashboard_rollup": 0,
        "dashboard_rollup_day": 0,
    }
    assert answers(app, engine) == before
    # The nightly roll-up over the partitioned months: its month the same as the plain count.
    with app.app_context(), Session(engine) as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        last = before["dashboard"]["to"]
        assert rollup_until(session, last, NOW) > 0
        session.commit()
        rolled = dashboard(session, admin, before["dashboard"]["from"], last, now=NOW)
        assert rolled == before["dashboard"]

    migrate.downgrade(url, BEFORE)

    assert every_row(engine) == rows
    assert answers(app, engine) == before
    assert schema(engine) == schema_before
    with engine.connect() as conn:
        assert not is_partitioned(conn)


def as_writer(conn: Connection) -> None:
    conn.execute(text(f"SET LOCAL ROLE {WRITER}"))


def refused(engine: Engine, statement: str, **params: Any) -> str:
    """Run ``statement`` as the app's role; return the SQLSTATE the database refused it with."""
    with engine.connect() as conn:
        as_writer(conn)
        with pytest.raises(exc.DBAPIError) as caught:
            conn.execute(text(statement), params)
        return str(getattr(caught.value.orig, "sqlstate", ""))


UNIQUE, FOREIGN_KEY, DENIED = "23505", "23503", "42501"


def copy_case(engine: Engine, *changed: str) -> str:
    """An INSERT of a copy of the newest case, the ``changed`` columns bound by name (a new id
    from the sequence unless ``id`` is among them)."""
    with engine.connect() as conn:
        columns = conn.scalars(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'public.case'::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )
        ).all()
    values = [
        f":{c}" if c in changed else ("nextval('case_id_seq')" if c == "id" else f"src.{c}")
        for c in columns
    ]
    names = ", ".join(f'"{c}"' for c in columns)
    return (
        f'INSERT INTO "case" ({names}) SELECT {", ".join(values)} FROM "case" src '
        "ORDER BY src.created_at DESC LIMIT 1"
    )


@postgres_only
def test_the_partitioned_schema_refuses_what_the_plain_one_did(app, url, engine):
    migrate.upgrade(url)
    with engine.connect() as conn:
        case_id, number, created = conn.execute(
            text('SELECT id, number, created_at FROM "case" ORDER BY created_at LIMIT 1')
        ).one()
        event = (
            conn.execute(
                text("SELECT * FROM case_event WHERE case_id = :id ORDER BY seq LIMIT 1"),
                {"id": case_id},
            )
            .mappings()
            .one()
        )
    later = created + timedelta(days=62)  # another month, so another partition

    # A case number twice, even in another month's partition.
    duplicate_number = copy_case(engine, "number", "created_at")
    assert refused(engine, duplicate_number, number=number, created_at=later) == UNIQUE
    # The same id twice (the primary key is (id, created_at): the key table keeps id unique).
    duplicate_id = copy_case(engine, "id", "number", "created_at")
    assert refused(engine, duplicate_id, id=case_id, number="X-1", created_at=later) == UNIQUE
    # A submission stored twice (exactly-once: the reporter's client-generated id).
    with engine.begin() as conn:
        reporter = conn.scalar(text('SELECT min(id) FROM "user"'))
        conn.execute(
            text("UPDATE \"case\" SET reporter_id = :user, client_id = 'phone-1' WHERE id = :id"),
            {"id": case_id, "user": reporter},
        )
    resubmitted = copy_case(engine, "number", "reporter_id", "client_id", "created_at")
    assert (
        refused(
            engine,
            resubmitted,
            number="X-2",
            reporter_id=reporter,
            client_id="phone-1",
            created_at=later,
        )
        == UNIQUE
    )
    # Two events at one place of a case's chain, the second in another month.
    event_insert = (
        "INSERT INTO case_event (case_id, seq, action, actor_id, role, from_state, to_state, "
        "comment, data, created_at, prev_hash, hash) VALUES (:case_id, :seq, 'note', NULL, "
        "NULL, NULL, 'closed', NULL, '{}', :at, :prev, :hash)"
    )
    chain = {"prev": event["prev_hash"], "hash": "0" * 64}
    assert refused(engine, event_insert, case_id=case_id, seq=1, at=later, **chain) == UNIQUE
    # An event, an attachment, a notification for a case (or event) that does not exist.
    assert refused(engine, event_insert, case_id=10**8, seq=1, at=later, **chain) == FOREIGN_KEY
    assert (
        refused(
            engine,
            "INSERT INTO attachment (sha256, content_type, size, storage_key, event_id, "
            "created_at) VALUES ('x', 'image/jpeg', 1, 'k', :event, now())",
            event=10**8,
        )
        == FOREIGN_KEY
    )
    assert (
        refused(
            engine,
            "INSERT INTO notification (user_id, kind, case_id, message, created_at) "
            "SELECT id, 'x', :case, 'x', now() FROM \"user\" LIMIT 1",
            case=10**8,
        )
        == FOREIGN_KEY
    )
    # A case its events point at cannot go.
    assert refused(engine, 'DELETE FROM "case" WHERE id = :id', id=case_id) == FOREIGN_KEY
    # The history is append-only for the app's role: through the parent and through a partition.
    partition = conn_scalar(
        engine, "SELECT tableoid::regclass::text FROM case_event WHERE id = :id", id=event["id"]
    )
    for statement in (
        "UPDATE case_event SET comment = 'x' WHERE id = :id",
        "DELETE FROM case_event WHERE id = :id",
        f"UPDATE {partition} SET comment = 'x' WHERE id = :id",
        f"DELETE FROM {partition} WHERE id = :id",
        "UPDATE case_event_key SET seq = 99 WHERE id = :id",
        "DELETE FROM case_event_key WHERE id = :id",
    ):
        assert refused(engine, statement, id=event["id"]) == DENIED, statement
    assert refused(engine, "TRUNCATE case_event") == DENIED
    assert refused(engine, f"SELECT * FROM {partition} LIMIT 1") == DENIED

    # What the plain schema allowed still goes: a new case and its first event, as the app.
    with engine.begin() as conn:
        as_writer(conn)
        new_id = conn.scalar(
            text(copy_case(engine, "number", "client_id", "created_at") + " RETURNING id"),
            {"number": "X-3", "client_id": None, "created_at": NOW},
        )
        conn.execute(text(event_insert), {"case_id": new_id, "seq": 1, "at": NOW, **chain})
    assert conn_scalar(engine, "SELECT number FROM case_key WHERE id = :id", id=new_id) == "X-3"


def conn_scalar(engine: Engine, statement: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.scalar(text(statement), params)


@postgres_only
def test_a_case_moved_to_another_month_keeps_its_key_and_events(app, url, engine):
    migrate.upgrade(url)
    case_id, number = conn_scalar_row(
        engine, 'SELECT id, number FROM "case" ORDER BY created_at LIMIT 1'
    )
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE \"case\" SET created_at = created_at + interval '95 days' WHERE id = :id"),
            {"id": case_id},
        )
    assert conn_scalar_row(
        engine, "SELECT id, number FROM case_key WHERE id = :id", id=case_id
    ) == (
        case_id,
        number,
    )
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE \"case\" SET number = 'renumbered' WHERE id = :id"), {"id": case_id}
        )
    assert (
        conn_scalar(engine, "SELECT number FROM case_key WHERE id = :id", id=case_id)
        == "renumbered"
    )
    # The key's month follows the case, within a month and across one; the case is found by id.
    for shift in ("1 second", "40 days"):
        with engine.begin() as conn:
            conn.execute(
                text(
                    'UPDATE "case" SET created_at = created_at + CAST(:shift AS interval) '
                    "WHERE id = :id"
                ),
                {"id": case_id, "shift": shift},
            )
        assert conn_scalar(
            engine, "SELECT created_at FROM case_key WHERE id = :id", id=case_id
        ) == conn_scalar(engine, 'SELECT created_at FROM "case" WHERE id = :id', id=case_id)
        with Session(engine) as session:
            found = load_case(session, case_id)
            assert found is not None and found.number == "renumbered"


@postgres_only
def test_a_case_by_id_reads_one_month(app, url, engine):
    migrate.upgrade(url)
    case_id = conn_scalar(engine, 'SELECT id FROM "case" ORDER BY created_at DESC LIMIT 1')
    with Session(engine) as session:
        month = case_month(session, case_id)
        assert month is not None and case_month(session, -1) is None
    with engine.connect() as conn:
        assert len(partition_states(conn)[0].months) > 12
        for statement in (case_in_month(month), case_in_month_for_update(month)):
            sql = statement.params(case_id=case_id, month=month).compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True}
            )
            plan = conn.scalars(
                text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}")
            ).all()
            months = [
                line
                for line in plan
                if re.search(r" on case_(p\d{6}|default)\b", line) and "never executed" not in line
            ]
            assert len(months) == 1, "\n".join(plan)
    with Session(engine) as session:
        found = load_case(session, case_id, lock=True)
        assert found is not None and found.id == case_id
        assert load_case(session, -1) is None


@postgres_only
def test_a_case_by_id_keeps_its_months_plan(app, url, engine):
    """Each month is a statement of its own, whose generic plan reads that month alone: the
    server keeps it after a statement's first calls instead of planning every lookup."""
    migrate.upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT ON (date_trunc('month', created_at AT TIME ZONE :zone)) id "
                "FROM \"case\" ORDER BY date_trunc('month', created_at AT TIME ZONE :zone), id"
            ),
            {"zone": str(workflow.LOCAL_ZONE)},
        )
        one_a_month = [int(case_id) for (case_id,) in rows][:3]
    assert len(one_a_month) == 3
    with engine.connect() as conn, Session(bind=conn, expire_on_commit=False) as session:
        # One connection throughout: prepared statements are a connection's own.
        # psycopg prepares a statement at its sixth call; the server weighs a generic plan
        # after five custom ones. Committed, as the app ends a request: a rollback would
        # drop the connection's prepared statements.
        for _ in range(15):
            for case_id in one_a_month:
                session.expunge_all()
                found = load_case(session, case_id)
                assert found is not None and found.id == case_id
                session.commit()
        kept = session.execute(
            text(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%FROM \"case\"%' AND statement LIKE '%TIMESTAMPTZ%'"
            )
        ).all()
    assert len(kept) == len(one_a_month), kept
    assert all(generic > 0 for _, generic, _ in kept), kept
    # The generic plan itself: one month's partition, not an Append over every month.
    with Session(engine) as session:
        month = case_month(session, one_a_month[0])
    assert month is not None
    sql = str(case_in_month(month).compile(dialect=engine.dialect))
    prepared = sql.replace("%(case_id)s", "$1").replace("%(month)s", "$2")
    with engine.connect() as conn:
        conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        conn.exec_driver_sql(f"PREPARE by_id AS {prepared}")
        # A utility statement takes no parameters: the values are written in.
        plan = conn.scalars(
            text(
                f"EXPLAIN (COSTS OFF) EXECUTE by_id({one_a_month[0]:d}, "
                f"TIMESTAMPTZ '{month.isoformat()}')"
            )
        ).all()
        conn.exec_driver_sql("DEALLOCATE by_id")
        conn.rollback()
    scanned = [line for line in plan if re.search(r" on case_(p\d{6}|default)\b", line)]
    assert len(scanned) == 1 and "Append" not in "\n".join(plan), "\n".join(plan)


def conn_scalar_row(engine: Engine, statement: str, **params: Any) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(statement), params).one())


@postgres_only
def test_months_are_made_ahead_and_rows_leave_default(app, url, engine):
    migrate.upgrade(url)
    far = NOW.replace(year=2029, month=5)
    with engine.begin() as conn:
        as_writer(conn)
        conn.execute(
            text(copy_case(engine, "number", "created_at")), {"number": "F-1", "created_at": far}
        )
    with engine.connect() as conn:
        assert {s.table: s.default_rows for s in partition_states(conn)}["case"] == 1
        made_before = set(partition_states(conn)[0].months)

    # The app's role asks for the months ahead (what the nightly job does).
    with engine.begin() as conn:
        as_writer(conn)
        assert ensure_partitions(conn) == []  # the migration made the current and next 3
        made = ensure_partitions(conn, 24)
    assert "case_p202811" in made and "case_event_p202811" in made
    with engine.connect() as conn:
        assert set(partition_states(conn)[0].months) == made_before | {
            m for m in made if m.startswith("case_p")
        }

    # The owner adds the far month: its row leaves DEFAULT, keeps its key.
    with engine.begin() as conn:
        conn.execute(text("SELECT gridapp_add_month_partition('case', DATE '2029-05-01')"))
    with engine.connect() as conn:
        assert {s.table: s.default_rows for s in partition_states(conn)}["case"] == 0
        assert (
            conn.scalar(text("SELECT tableoid::regclass::text FROM \"case\" WHERE number = 'F-1'"))
            == "case_p202905"
        )
        assert conn.scalar(text("SELECT count(*) FROM case_key WHERE number = 'F-1'")) == 1
    # Its triggers came back on: a duplicate number is still refused in DEFAULT.
    assert (
        refused(
            engine,
            copy_case(engine, "number", "created_at"),
            number="F-1",
            created_at=NOW.replace(year=2031),
        )
        == UNIQUE
    )


def test_sqlite_and_unpartitioned_databases_have_nothing_to_make(app, session):
    if BACKEND == "sqlite":
        assert not is_partitioned(session)
        assert ensure_partitions(session) == []
        assert partition_states(session) == []
    else:
        # The suite's own database is at head: partitioned, its months already made.
        assert is_partitioned(session)
        assert ensure_partitions(session) == []


def test_the_nightly_job_makes_the_months_and_reschedules(app, session):
    from gridapp.core.partition_jobs import ensure_partitions_job, schedule_partitions

    with app.app_context():
        assert ensure_partitions_job() == []
        job_id = schedule_partitions(datetime(2026, 11, 26, tzinfo=UTC))
    # 08:00 in Shanghai: the next 04:10 is the following night.
    assert job_id.endswith("partition-ensure-20261127")


def test_the_cli_lists_the_months(app, runner):
    result = runner.invoke(args=["db", "partitions"])
    assert result.exit_code == 0, result.output
    if BACKEND == "sqlite":
        assert "no monthly partitions here" in result.output
    else:
        assert "case: " in result.output and "0 rows in case_default" in result.output
