"""The benchmarks' databases: a throw-away PostGIS database, and the demo county seeded in it."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geo

PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def throwaway_postgis(label: str) -> Iterator[str]:
    """Create a database with PostGIS on the admin connection; yield its URL; drop it after."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"gridapp_bench_{label}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield url
    finally:
        release_db()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def offline_config(database_url: str, var_dir: Path) -> Any:
    """The configuration of a database written outside any server: no Redis, a fresh secret."""
    from gridapp.core.config import Config

    return Config(
        database_url=database_url,
        redis_url=None,
        var_dir=var_dir,
        secret_key=secrets.token_urlsafe(32),
        embedded=False,
    )


def seed_demo_county(config: Any) -> list[geo.AreaShape]:
    """Migrate and seed the demo county for `config`; return the stored urban grid map.

    The engine is released afterwards, so servers started next own the database alone.
    """
    from gridapp import create_app
    from gridapp.core.extensions import db
    from gridapp.core.migrate import upgrade
    from gridapp.grid.services import load_area_shapes
    from gridapp.seed.demo import seed_demo

    app = create_app(config)
    upgrade(config.database_url)
    try:
        with app.app_context():
            with db.transaction() as session:
                seed_demo(session)
            return load_area_shapes(db.session())
    finally:
        release_db()


def release_db() -> None:
    """Close the session and every pooled connection of this process."""
    from gridapp.core.extensions import db

    db.session.remove()
    if db.engine is not None:
        db.engine.dispose()
