"""The first migration creates PostGIS when it may, and otherwise says who must do what."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from gridapp.core import migrate
from gridapp.core.db import make_engine
from gridapp.core.errors import ConfigurationError
from tests.conftest import BACKEND, PG_ADMIN_URL

# These pin what 0001 does on PostgreSQL (create PostGIS or say who must); SQLite has no
# extension to create. make test runs the suite on both backends, so they run every time.
pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="PostGIS is PostgreSQL's")

ADMIN = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")


@dataclass(frozen=True)
class OwnedDatabase:
    name: str
    role: str
    # The database owner's connection (not a superuser) and the superuser's, to the same database.
    owner_url: str
    admin_url: str


@pytest.fixture()
def owned_database() -> Iterator[OwnedDatabase]:
    """A database without PostGIS, owned by a new role that is no superuser; both dropped after."""
    suffix = secrets.token_hex(4)
    role, name, password = f"gridapp_owner_{suffix}", f"gridapp_postgis_{suffix}", suffix * 4
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{role}\" LOGIN NOSUPERUSER PASSWORD '{password}'")
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
    url = make_url(ADMIN).set(database=name)
    try:
        yield OwnedDatabase(
            name=name,
            role=role,
            owner_url=url.set(username=role, password=password).render_as_string(False),
            admin_url=url.render_as_string(False),
        )
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def has_postgis(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")))
    finally:
        engine.dispose()


def schema_state(url: str) -> tuple[str | None, set[str]]:
    """Return the database's Alembic revision and its tables."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
        return revision, set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def head() -> str:
    return str(ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head())


def test_an_owner_who_may_not_create_postgis_is_told_what_to_run(owned_database):
    assert not has_postgis(owned_database.admin_url)

    with pytest.raises(ConfigurationError) as caught:
        migrate.upgrade(owned_database.owner_url)

    message = caught.value.detail
    assert "a superuser must run `CREATE EXTENSION postgis;` in that database" in message
    assert f'Database "{owned_database.name}"' in message
    assert f'role "{owned_database.role}"' in message
    assert "\n" not in message
    # The driver's error is not chained on: the sentence is the whole report.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    # Nothing of the schema was left behind, not even Alembic's version table.
    assert schema_state(owned_database.admin_url) == (None, set())
    assert not has_postgis(owned_database.admin_url)


def test_the_owner_migrates_once_a_superuser_did_what_the_sentence_says(owned_database):
    with psycopg.connect(owned_database.admin_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis;")

    migrate.upgrade(owned_database.owner_url)

    revision, tables = schema_state(owned_database.owner_url)
    assert revision == head()
    assert {"area", "case", "user"} <= tables


def test_a_superuser_upgrade_creates_postgis(owned_database):
    migrate.upgrade(owned_database.admin_url)

    assert has_postgis(owned_database.admin_url)
    assert schema_state(owned_database.admin_url)[0] == head()


def test_an_extension_the_server_lacks_names_the_package_to_install(owned_database):
    engine = make_engine(owned_database.admin_url)
    try:
        with engine.connect() as conn, pytest.raises(ConfigurationError) as caught:
            migrate.ensure_extension(conn, "gridapp_absent", "postgresql-15-gridapp-absent")
    finally:
        engine.dispose()

    message = caught.value.detail
    assert "server has no gridapp_absent extension" in message
    assert "`apt-get install postgresql-15-gridapp-absent`" in message
    assert f'"{owned_database.name}"' in message
    assert "\n" not in message
