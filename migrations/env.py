"""Alembic environment: the URL comes from gridapp's configuration, the target from its models."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from gridapp.db import make_engine
from gridapp.migrate import include_object
from gridapp.models import Base

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
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
