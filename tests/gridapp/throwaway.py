"""An empty database of the backend under test, for tests that need one of their own."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import BACKEND, PG_ADMIN_URL

ADMIN_URL = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")


def _url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def postgis_template(run_id: str) -> Iterator[str | None]:
    """Yield the name of an empty PostgreSQL database with PostGIS to copy (None on SQLite).

    ``CREATE EXTENSION postgis`` takes a second or two of the server's time; copying a database
    that has it takes a tenth of that, and the suite makes some fifteen throw-away databases.
    """
    if BACKEND == "sqlite":
        yield None
        return
    import psycopg

    name = f"gridapp_template_{run_id}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(_url(name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def throwaway_database(directory: Path, label: str, template: str | None) -> Iterator[str]:
    """Yield the URL of a new empty database (a file in ``directory`` on SQLite); drop it after.

    On PostgreSQL it is a copy of ``template`` (the ``postgis_template`` fixture): empty, with
    PostGIS, as an administrator would prepare it.
    """
    if BACKEND == "sqlite":
        yield f"sqlite:///{directory / f'{label}.db'}"
        return
    import psycopg

    assert template is not None, "PostgreSQL databases are copied from the postgis_template"
    name = f"gridapp_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
