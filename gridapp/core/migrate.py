"""Run Alembic migrations from code (``flask db upgrade``, tests, ``make run``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str, connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str, revision: str = "head", connection: Connection | None = None) -> None:
    """Bring the schema at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url, connection), revision)


def downgrade(url: str, revision: str, connection: Connection | None = None) -> None:
    command.downgrade(alembic_config(url, connection), revision)


IncludeObject = Callable[[object, str | None, str, bool, object], bool]


def include_object(dialect: str) -> IncludeObject:
    """Return Alembic's filter: what the models declare for this dialect, nothing of PostGIS's."""

    def include(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        if type_ == "table" and name in POSTGIS_TABLES:
            return False
        # GiST indexes are declared with ddl_if(dialect="postgresql"); SQLite has none.
        return not (type_ == "index" and dialect != "postgresql" and (name or "").endswith("_gist"))

    return include


POSTGIS_TABLES = frozenset({"spatial_ref_sys"})
