"""The SQLAlchemy engine and session, attached to an app in ``create_app``.

Services flush and never commit: the request (or job, or CLI command) that called them commits
once at its boundary, so one use case is one transaction.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from gridapp.core import db_sqlite


def make_engine(url: str, role: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine with the settings each backend needs.

    ``role`` (PostgreSQL) is switched to on every new connection, so the app holds only that
    role's rights (``gridapp_writer``: no UPDATE or DELETE on the history or the audit trail).
    """
    if url.startswith("sqlite"):
        # Pooled: opening a connection and setting its pragmas cost more than a whole insert.
        engine = create_engine(url, connect_args=db_sqlite.CONNECT_ARGS, **kwargs)
        event.listen(engine, "connect", db_sqlite.set_pragmas)
        event.listen(engine, "begin", db_sqlite.begin_immediate)
    else:
        url = url.replace("postgres://", "postgresql+psycopg://", 1)
        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, **kwargs)
        if role:
            event.listen(engine, "connect", _set_role(role))
    _ENGINES.add(engine)
    return engine


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _set_role(role: str) -> Any:
    def set_role(dbapi_connection: Any, _record: Any) -> None:
        from psycopg import sql

        with dbapi_connection.cursor() as cursor:
            cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        dbapi_connection.commit()

    return set_role


def _forget_parent_connections() -> None:
    # A forked child (a gunicorn worker of a preloaded app, an RQ work horse) must not use the
    # parent's pooled connections; dispose(close=False) drops them without closing the parent's.
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parent_connections)


class Database:
    """Engine plus a scoped session; created unbound, bound by ``init``."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.factory = sessionmaker(expire_on_commit=False, autoflush=True)
        self.session = scoped_session(self.factory)

    def init(self, url: str, role: str | None = None) -> None:
        if self.engine is not None:
            self.session.remove()
            self.engine.dispose()
        self.engine = make_engine(url, role)
        self.factory.configure(bind=self.engine)

    @property
    def dialect(self) -> str:
        assert self.engine is not None, "database not initialised"
        return self.engine.dialect.name

    def bind_connection(self, connection: Connection) -> None:
        """Run every session inside an outer transaction of ``connection`` (tests roll it back)."""
        self.session.remove()
        self.factory.configure(bind=connection, join_transaction_mode="create_savepoint")

    def unbind_connection(self) -> None:
        self.session.remove()
        self.factory.configure(bind=self.engine, join_transaction_mode="conditional_savepoint")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit the scoped session at the end of the block, or roll it back on an error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
