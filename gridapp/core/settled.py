"""The instant a change feed may answer as its watermark (增量同步的水位).

A case's ``updated_at`` and a notification's ``created_at`` are read from the app's clock inside
the transaction that writes them, before it commits. A feed that answered "everything before
now" would skip a transaction still open at that moment: it commits later with an earlier time,
behind the watermark, and no later call asks for it again. `settled_instant` answers an earlier
instant, before which every write is visible to the caller's next statement.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridapp.core.db_sqlite import QueuedConnection

# A writer reads the clock a moment before its transaction begins (intake's checks, an action's
# payload), and another host's clock may be a little off: the instant is set back by this much
# more. What changed in that window comes twice; the feeds say so, and clients keep the higher
# version.
SETTLE_MARGIN = timedelta(seconds=2)

# When the oldest transaction still open on this database began, the caller's own excepted. The
# app's processes (gunicorn's and the workers') sign in as one role, so each sees the others'.
# Read-only transactions count too: a job may read its clock, then read for a while before its
# first write. A long one (a tile precompute) only holds the instant back, so the feeds send
# what changed meanwhile again; a change is never skipped.
OLDEST_OPEN_TRANSACTION = text(
    "SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database()"
    " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


def settled_instant(session: Session) -> datetime:
    """The latest instant before which every write transaction is visible to ``session``.

    Ends the session's transaction first: the reads that follow take a snapshot of their own,
    after the writes this accounts for. PostgreSQL: the earlier of now and the oldest open
    transaction's start (each statement then reads a fresh snapshot). SQLite: writers take one
    queue (`QueuedConnection`), so once it is free every writer that read the clock earlier has
    committed.
    """
    if session.in_transaction():
        session.commit()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        now = datetime.now(UTC)
        # Another session's transaction start is shown only to its login role (or to
        # pg_read_all_stats), and `DATABASE_ROLE` (gridapp.core.db) is another role: the query
        # runs as the login role, in a savepoint whose rollback switches the role back.
        savepoint = session.begin_nested()
        try:
            connection.exec_driver_sql("SET LOCAL ROLE NONE")
            oldest = connection.scalar(OLDEST_OPEN_TRANSACTION)
        finally:
            savepoint.rollback()
        instant = now if oldest is None else min(now, oldest)
    else:
        dbapi_connection = connection.connection.dbapi_connection
        if isinstance(dbapi_connection, QueuedConnection):
            dbapi_connection.wait_for_writer()
        instant = datetime.now(UTC)
    return instant - SETTLE_MARGIN
