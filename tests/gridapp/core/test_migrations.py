"""The migrations build exactly the schema the models declare, on both backends, both ways."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, select, text

from gridapp.calendar.models import CalendarEntry
from gridapp.core import migrate
from gridapp.core.db import make_engine
from gridapp.core.models import Base
from tests.conftest import BACKEND
from tests.gridapp.throwaway import throwaway_database


@pytest.fixture()
def fresh_url(tmp_path: Path, postgis_template: str | None) -> Iterator[str]:
    """An empty database of the backend under test, dropped afterwards."""
    with throwaway_database(tmp_path, "migrations", postgis_template) as url:
        yield url


@pytest.fixture()
def engine(fresh_url: str) -> Iterator[Engine]:
    engine = make_engine(fresh_url)
    yield engine
    engine.dispose()


def differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": migrate.include_object(conn.dialect.name),
                "target_metadata": Base.metadata,
            },
        )
        return list(compare_metadata(context, Base.metadata))


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - migrate.POSTGIS_TABLES


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    return str(ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head())


def calendar_rows(engine: Engine, year: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(CalendarEntry)
                .where(CalendarEntry.day.between(date(year, 1, 1), date(year, 12, 31)))
            )
            or 0
        )


def test_fresh_database_matches_the_models(fresh_url, engine):
    migrate.upgrade(fresh_url)

    assert current_revision(engine) == head()
    assert differences(engine) == []
    assert set(Base.metadata.tables) <= tables(engine)


def test_calendar_is_seeded_up_to_2026(fresh_url, engine):
    migrate.upgrade(fresh_url)

    assert calendar_rows(engine, 2026) > 0
    assert calendar_rows(engine, 2004) > 0
    with engine.connect() as conn:
        national_day = conn.scalar(
            select(CalendarEntry.kind).where(CalendarEntry.day == date(2026, 10, 1))
        )
    assert national_day == "holiday"


def test_downgrade_to_base_and_up_again(fresh_url, engine):
    migrate.upgrade(fresh_url)

    migrate.downgrade(fresh_url, "base")

    assert current_revision(engine) is None
    assert tables(engine) <= {"alembic_version"}

    migrate.upgrade(fresh_url)

    assert current_revision(engine) == head()
    assert differences(engine) == []
    assert calendar_rows(engine, 2026) > 0


def test_every_revision_steps_down_and_up(fresh_url, engine):
    """Each revision's downgrade undoes exactly its upgrade."""
    script = ScriptDirectory.from_config(migrate.alembic_config(fresh_url))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert len(revisions) >= 2

    for revision in revisions:
        migrate.upgrade(fresh_url, revision)
        assert current_revision(engine) == revision
        before = tables(engine)
        migrate.downgrade(fresh_url, "-1")
        migrate.upgrade(fresh_url, revision)
        assert tables(engine) == before

    assert differences(engine) == []


def test_upgrade_is_idempotent_at_head(fresh_url, engine):
    migrate.upgrade(fresh_url)
    rows = calendar_rows(engine, 2026)

    migrate.upgrade(fresh_url)

    assert calendar_rows(engine, 2026) == rows


def test_geometry_columns_use_the_backend_type(fresh_url, engine):
    migrate.upgrade(fresh_url)

    with engine.connect() as conn:
        if BACKEND == "postgres":
            kind = conn.scalar(
                text(
                    "SELECT type FROM geometry_columns "
                    "WHERE f_table_name = 'area' AND f_geometry_column = 'geometry'"
                )
            )
            assert kind is not None
            assert (
                conn.scalar(text("SELECT srid FROM geometry_columns WHERE f_table_name = 'area'"))
                == 4326
            )
        else:
            columns = {c["name"]: c for c in inspect(conn).get_columns("area")}
            assert "BLOB" in str(columns["geometry"]["type"]).upper()


def test_comparison_notices_a_drift(fresh_url, engine):
    """The check above can fail: an index missing from the database shows as a difference."""
    migrate.upgrade(fresh_url)
    index = next(
        i
        for table in Base.metadata.sorted_tables
        for i in table.indexes
        if not (i.name or "").endswith("_gist")
    )

    with engine.begin() as conn:
        conn.execute(text(f'DROP INDEX "{index.name}"'))

    found = differences(engine)
    assert [d[0] for d in found] == ["add_index"]
    assert found[0][1].name == index.name
