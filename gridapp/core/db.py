"""The SQLAlchemy engine and session, attached to an app in ``create_app``.

Services flush and never commit: the request (or job, or CLI command) that called them commits
once at its boundary, so one use case is one transaction.

A read replica (``READ_DATABASE_URL``, 只读副本) is a second engine. A view that tolerates a few
seconds of lag declares it (``@db.reads_replica``, or ``with db.read_session()`` around part of
a view); ``Database.replica_usable`` alone decides whether the replica answers now. Everything
else, writes and the reads that decide them (the caller's token, idempotency keys, action
guards), stays on the primary.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from gridapp.core import db_sqlite

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

# How often one process asks the replica how far behind it is: a query per request would cost
# more than the replica saves.
LAG_CHECK_SECONDS = 5.0
REPLICA_CONNECT_TIMEOUT = 3
# The replica's replay lag in seconds. Not in recovery (a primary reached through a read-only
# role) or every received WAL record replayed: no lag, even when the last replayed transaction
# is old because nothing was written since. NULL (a standby that never replayed one): unknown.
REPLICA_LAG_SQL = text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
)


def make_engine(
    url: str, role: str | None = None, *, read_only: bool = False, **kwargs: Any
) -> Engine:
    """Create an engine with the settings each backend needs.

    ``role`` (PostgreSQL) is switched to on every new connection, so the app holds only that
    role's rights (``gridapp_writer``: no UPDATE or DELETE on the history or the audit trail).
    ``read_only`` makes a replica's engine: on SQLite its transactions are deferred (a read-only
    file refuses ``BEGIN IMMEDIATE``) and it never queues for the write lock.
    """
    if url.startswith("sqlite"):
        # Pooled: opening a connection and setting its pragmas cost more than a whole insert.
        engine = create_engine(url, connect_args=db_sqlite.CONNECT_ARGS, **kwargs)
        event.listen(engine, "connect", db_sqlite.set_pragmas)
        event.listen(engine, "begin", _begin_deferred if read_only else db_sqlite.begin_immediate)
    else:
        url = url.replace("postgres://", "postgresql+psycopg://", 1)
        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        if read_only and "connect_timeout" not in url:
            # A replica that does not answer (a dead host drops packets) costs the reads routed
            # to it a few seconds, then the primary takes them, instead of minutes of TCP retries.
            kwargs.setdefault("connect_args", {"connect_timeout": REPLICA_CONNECT_TIMEOUT})
        engine = create_engine(url, pool_size=5, max_overflow=10, **kwargs)
        _ping_idle_connections(engine)
        if role:
            event.listen(engine, "connect", _set_role(role))
    _ENGINES.add(engine)
    return engine


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()

# A pooled PostgreSQL connection is pinged before use only once it has sat unused this long.
# Pinging every checkout (`pool_pre_ping`) was a round trip of its own on every request, ~0.5 ms
# of a worker's CPU and ~0.15 ms of the server's per phone report (docs/performance.md). A
# connection in steady use is not one that a server restart or a firewall's idle timeout could
# have broken unnoticed; one that breaks in use fails its request, and SQLAlchemy then
# invalidates the whole pool, so the next checkouts reconnect.
PING_AFTER_IDLE_SECONDS = 1.0
_CHECKED_IN = "gridapp_checked_in"


def _ping_idle_connections(engine: Engine) -> None:
    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The pool then connects afresh and checks out the new connection instead.
                raise exc.DisconnectionError(str(error)) from error
            raise

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checkout)


def _begin_deferred(conn: Connection) -> None:
    # A SQLite replica's transactions are WAL snapshots: a read-only file refuses BEGIN IMMEDIATE.
    conn.exec_driver_sql("BEGIN")


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
    """Engine plus a scoped session; created unbound, bound by ``init``.

    With a replica, a second engine and a scoped session of its own (``read_sessions``) serve
    the views that declared they read from it.
    """

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.factory = sessionmaker(expire_on_commit=False, autoflush=True)
        self.session = scoped_session(self.factory)
        self.read_engine: Engine | None = None
        self.read_factory = sessionmaker(expire_on_commit=False, autoflush=True)
        self.read_sessions = scoped_session(self.read_factory)
        self.max_lag_seconds: float | None = None
        self._lag_lock = threading.Lock()
        self._lag_checked_at: float | None = None
        self._replica_ok = False

    def init(
        self,
        url: str,
        role: str | None = None,
        read_url: str | None = None,
        max_lag_seconds: float | None = None,
    ) -> None:
        if self.engine is not None:
            self.session.remove()
            self.engine.dispose()
        self.engine = make_engine(url, role)
        self.factory.configure(bind=self.engine)
        self.init_replica(read_url, max_lag_seconds)

    def init_replica(self, url: str | None, max_lag_seconds: float | None = None) -> None:
        """Attach the read replica at ``url`` (None: none, reads stay on the primary).

        The replica is reached as its URL's own user, without ``SET ROLE``: a standby refuses
        every write anyway, and a primary reached through a SELECT-only role does too.
        ``max_lag_seconds`` (PostgreSQL): a replica further behind answers nothing until it
        catches up; the primary does instead.
        """
        self.read_sessions.remove()
        if self.read_engine is not None:
            self.read_engine.dispose()
        self.read_engine = None if url is None else make_engine(url, read_only=True)
        self.read_factory.configure(bind=self.read_engine)
        self.max_lag_seconds = max_lag_seconds
        self._lag_checked_at = None

    def replica_usable(self) -> bool:
        """Decide whether reads declared for the replica go there now (the one place that does).

        No replica: no. A replica that cannot be reached, or (PostgreSQL, with a maximum lag)
        is further behind than allowed, is not used until the next check says otherwise, so
        reads fall back to the primary instead of failing or showing stale data.
        """
        if self.read_engine is None:
            return False
        if self.read_engine.dialect.name != "postgresql":
            return True
        now = time.monotonic()
        with self._lag_lock:
            if self._lag_checked_at is not None and now - self._lag_checked_at < LAG_CHECK_SECONDS:
                return self._replica_ok
            self._lag_checked_at = now
            self._replica_ok = self._replica_within_lag(self.read_engine)
            return self._replica_ok

    def _replica_within_lag(self, engine: Engine) -> bool:
        try:
            with engine.connect() as connection:
                lag = connection.scalar(REPLICA_LAG_SQL)
        except Exception:  # a replica that is down must not take the reads down with it
            log.warning("read replica unreachable: reading from the primary", exc_info=True)
            return False
        if self.max_lag_seconds is None:
            return True
        if lag is None or float(lag) > self.max_lag_seconds:
            log.warning(
                "read replica %s s behind (at most %s): reading from the primary",
                lag,
                self.max_lag_seconds,
            )
            return False
        return True

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """Make ``db.session()`` a session on the replica within the block, when it is usable.

        Without a usable replica it is the request's own session, so nothing changes. The
        replica's session stays open after the block, until ``remove``: the view's answer is
        serialised after it returns, and loads what it still needs through that session.
        Writing through it fails (a standby, or a SELECT-only role, refuses): a view that writes
        must not read from the replica.
        """
        if not self.replica_usable():
            yield self.session()
            return
        reading = self.read_sessions()
        registry = self.session.registry
        previous = registry() if registry.has() else None
        registry.set(reading)
        try:
            yield reading
        finally:
            if previous is None:
                registry.clear()
            else:
                registry.set(previous)

    def reads_replica(self, view: F) -> F:
        """Declare that a view reads from the replica (读副本).

        For views that tolerate seconds of lag and write nothing. Place it directly above the
        view function, under ``login_required``, so the caller's token is still checked on the
        primary.
        """

        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.read_session():
                return view(*args, **kwargs)

        return cast(F, wrapper)

    def remove(self) -> None:
        """End this thread's sessions, the replica's included (at the end of each request)."""
        self.session.remove()
        self.read_sessions.remove()

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
