"""SQLite as a multi-process store: WAL, immediate write transactions and a writer queue.

gunicorn's workers, the RQ worker and the CLI share one database file. Each transaction takes
the write lock up front (``BEGIN IMMEDIATE``): a deferred transaction that reads and then writes
after another process committed fails at once with SQLITE_BUSY_SNAPSHOT, which busy_timeout
does not cover. WAL readers are never blocked by it.

SQLite's own busy wait sleeps 1, 2, 5, 10 … ms between tries, much longer than our
transactions last, so a waiting writer idles while the lock is free. Writers therefore queue
first on an ``flock`` of a file beside the database: the kernel wakes the next one the moment
the previous one commits or rolls back. busy_timeout stays as the fallback for programs that
do not take the queue (the sqlite3 shell, a backup).

Requests that only read (GET, HEAD) run in a deferred transaction instead: a WAL snapshot, no
queue, no write lock, so lists and maps stay fast while phones report.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection


class QueuedConnection(sqlite3.Connection):
    """A pysqlite connection that holds the writer queue from ``BEGIN`` to commit/rollback."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        path = os.fsdecode(database) if isinstance(database, str | bytes | os.PathLike) else ""
        in_memory = not path or path == ":memory:" or path.startswith("file:")
        self._queue_fd: int | None = (
            None if in_memory else os.open(f"{path}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
        )
        self._queued = False

    def begin_immediate(self) -> None:
        if self._queue_fd is not None and not self._queued:
            fcntl.flock(self._queue_fd, fcntl.LOCK_EX)
            self._queued = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._leave_queue()
            raise

    def wait_for_writer(self) -> None:
        """Return once no other connection is in a write transaction (the queue taken and left).

        A writer that takes the queue after this returns reads its clock after this returned.
        """
        if self._queue_fd is None or self._queued:
            return  # in memory (no other process), or this connection is the writer
        fcntl.flock(self._queue_fd, fcntl.LOCK_EX)
        fcntl.flock(self._queue_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._leave_queue()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave_queue()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._queue_fd is not None:
                os.close(self._queue_fd)  # drops the queue lock too
                self._queue_fd, self._queued = None, False

    def _leave_queue(self) -> None:
        if self._queued and self._queue_fd is not None:
            fcntl.flock(self._queue_fd, fcntl.LOCK_UN)
        self._queued = False


CONNECT_ARGS: dict[str, Any] = {
    "check_same_thread": False,
    "timeout": 15,
    "isolation_level": None,  # SQLAlchemy's begin event issues BEGIN IMMEDIATE itself
    "factory": QueuedConnection,
}


# A checkpoint runs in the commit that fills the WAL past this many pages, while that writer
# still holds the queue: it syncs the WAL and the database file (2-4 ms each on our disks) and
# every other writer waits. A phone report writes ~28 pages (the case's indexes, its event, the
# acceptors' notifications), so SQLite's default of 1 000 made every ~35th report such a wait;
# at 10 000 (40 MB of WAL at most) it is ten times rarer, and a reader's look-up in the WAL index
# stays a few hash probes.
WAL_CHECKPOINT_PAGES = 10_000


def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the gunicorn processes and the RQ worker read while one of them writes;
    # busy_timeout turns a short write lock into a wait instead of an error.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.close()


# Set for the duration of a request that only reads (GET, HEAD): its transaction is deferred,
# takes neither the queue nor the write lock, and reads a WAL snapshot while writers go on.
READ_ONLY: ContextVar[bool] = ContextVar("gridapp_sqlite_read_only", default=False)


def begin_immediate(conn: Connection) -> None:
    dbapi_connection = conn.connection.dbapi_connection
    if READ_ONLY.get():
        conn.exec_driver_sql("BEGIN")
    elif isinstance(dbapi_connection, QueuedConnection):
        dbapi_connection.begin_immediate()
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
