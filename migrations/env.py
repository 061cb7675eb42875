"""Alembic environment: the URL comes from gridapp's configuration, the target from its models."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from gridapp.core.db import make_engine
from gridapp.core.metadata import load_models
from gridapp.core.migrate import include_object

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=load_models(),
        include_object=include_object(connection.dialect.name),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a column by copying its table; with foreign keys on, dropping the
            # old copy of a table other rows point at fails. Off outside the transaction (a
            # PRAGMA inside one is ignored), checked before the commit, on again after it.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows without their parents: {broken}")
        conn.commit()
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("gridapp migrations run online only (flask db upgrade)")
run_migrations_online()
