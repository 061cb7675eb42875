"""Run Alembic migrations from code (``flask db upgrade``, tests, ``make run``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, ForeignKeyConstraint, Index, UniqueConstraint, text
from sqlalchemy.exc import DBAPIError

from gridapp.core.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str, connection: Connection | None = None) -> AlembicConfig:
    # Alembic is imported where a migration runs, not at start-up: every web worker imports this
    # module (the CLI commands) and Alembic would cost each one ~8 MB resident.
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str, revision: str = "head", connection: Connection | None = None) -> None:
    """Bring the schema at ``url`` up to ``revision``."""
    from alembic import command  # lazily, as in alembic_config

    command.upgrade(alembic_config(url, connection), revision)


def downgrade(url: str, revision: str, connection: Connection | None = None) -> None:
    from alembic import command  # lazily, as in alembic_config

    command.downgrade(alembic_config(url, connection), revision)


# PostgreSQL's SQLSTATE for "permission denied".
INSUFFICIENT_PRIVILEGE = "42501"


def ensure_postgis(connection: Connection) -> None:
    """Create the PostGIS extension unless the database has it (PostgreSQL only)."""
    if connection.dialect.name != "postgresql":
        return
    major = int(connection.scalar(text("SHOW server_version_num")) or 0) // 10000
    ensure_extension(connection, "postgis", f"postgresql-{major}-postgis-3")


def ensure_extension(connection: Connection, name: str, debian_package: str) -> None:
    """Create extension ``name`` unless present; say what an administrator must do if we cannot."""
    if connection.scalar(text("SELECT 1 FROM pg_extension WHERE extname = :n"), {"n": name}):
        return
    database, role = connection.execute(text("SELECT current_database(), current_user")).one()
    # Missing files on the server and a role that lacks the privilege have different remedies.
    available = text("SELECT 1 FROM pg_available_extensions WHERE name = :n")
    if not connection.scalar(available, {"n": name}):
        raise ConfigurationError(
            f"The PostgreSQL server has no {name} extension to create in database "
            f'"{database}": install it on the server as root (on Debian `apt-get install '
            f"{debian_package}`), then run the migrations again."
        )
    # Try rather than predict: managed services let non-superusers create allow-listed extensions.
    try:
        with connection.begin_nested():
            connection.execute(text(f'CREATE EXTENSION IF NOT EXISTS "{name}"'))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        raise ConfigurationError(
            f'Database "{database}" has no {name} extension and role "{role}" may not create '
            f"it: a superuser must run `CREATE EXTENSION {name};` in that database (e.g. "
            f"`psql -d {database} -c 'CREATE EXTENSION {name};'`), then run the migrations again."
        ) from None


IncludeObject = Callable[[object, str | None, str, bool, object], bool]


def include_object(dialect: str) -> IncludeObject:
    """Return Alembic's filter: what the models declare for this dialect, nothing of PostGIS's."""

    def include(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        if type_ == "table" and name in POSTGIS_TABLES:
            return False
        if dialect == "postgresql" and _partitioning(obj, name, type_):
            return False
        if type_ == "index" and _on_expressions(obj):
            # Alembic compares PostgreSQL's rewriting of an index's expression (casts, IN as
            # = ANY) with the model's text, never equal; SQLite cannot reflect one at all.
            # Such an index is tested by the queries that use it (ix_case_event_task_deadline:
            # tests/gridapp/evaluation/test_department_tasks.py).
            return False
        # GiST indexes are declared with ddl_if(dialect="postgresql"); SQLite has none.
        return not (type_ == "index" and dialect != "postgresql" and (name or "").endswith("_gist"))

    return include


POSTGIS_TABLES = frozenset({"spatial_ref_sys"})

# PostgreSQL partitions case and case_event by month (migration 0025): their partitions and key
# tables are the migration's, not the models', the models' unique constraints on them and
# foreign keys to them live on the key tables there, and plain "_lookup" indexes stand in.
# SQLite keeps the models' plain shape, so its drift check still covers those;
# tests/gridapp/core/test_partitions.py checks PostgreSQL's.
PARTITIONED = frozenset({"case", "case_event"})
PARTITION_TABLE = re.compile(r"^(case|case_event)_(p\d{6}|default|key)$")


def _on_expressions(obj: object) -> bool:
    return isinstance(obj, Index) and any(not isinstance(e, Column) for e in obj.expressions)


def _partitioning(obj: object, name: str | None, type_: str) -> bool:
    if type_ == "table":
        return bool(PARTITION_TABLE.match(name or ""))
    if type_ == "index":
        # The plain indexes 0025 keeps on each moved unique constraint's columns.
        return (
            isinstance(obj, Index)
            and obj.table is not None
            and (obj.table.name in PARTITIONED and (name or "").endswith("_lookup"))
        )
    if type_ == "unique_constraint":
        return isinstance(obj, UniqueConstraint) and obj.table.name in PARTITIONED
    if type_ == "foreign_key_constraint" and isinstance(obj, ForeignKeyConstraint):
        target = obj.referred_table.name
        return target in PARTITIONED or bool(PARTITION_TABLE.match(target))
    return False
