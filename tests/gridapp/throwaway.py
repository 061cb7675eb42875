"""An empty database of the backend under test, for tests that need one of their own."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import BACKEND, PG_ADMIN_URL


@contextlib.contextmanager
def throwaway_database(directory: Path, label: str) -> Iterator[str]:
    """Yield the URL of a new empty database (a file in ``directory`` on SQLite); drop it after."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{directory / f'{label}.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"gridapp_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
