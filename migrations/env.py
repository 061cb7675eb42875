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
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("gridapp migrations run online only (flask db upgrade)")
run_migrations_online()
