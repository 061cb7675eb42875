"""A long read split into parts, each on a connection of its own at once (并行读取).

A statement runs on one core: PostgreSQL runs it in the backend that serves the connection. A
read of seconds over many independent rows (a month's evaluation recomputed from the history,
`gridapp.evaluation.tasks`) can be cut into parts that share no row, each run on its own pooled
connection from a thread of its own: psycopg lets go of the GIL while it waits, so the parts
take the server's cores together.

Each part reads what is committed when it starts, in a transaction of its own, so a part never
sees what the asking session wrote and has not committed: `parts_allowed` answers 1 (read in
the session) when that session's transaction has written, and when the session is bound to a
connection rather than an engine.

SQLite answers 1 too. Its threads run at once, but a statement that makes many strings (a
window over each event's text) spends its time in SQLite's allocator, whose statistics are
counted under one lock for the whole process: two such parts on two threads each took 1.2–2
times as long as alone, so the whole took as long as in one statement (docs/performance.md).
Two processes did not slow each other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, Executable, Row, text
from sqlalchemy.orm import Session

# Parts of one read at most: the cores a read may take at once, beside the requests that the
# other workers serve (a county's server has 2 to 8).
MOST_PARTS = 4
WROTE_IN_TRANSACTION = text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")


def parts_allowed(session: Session) -> int:
    """How many parts a read in ``session`` may be cut into now: 1 means read it there."""
    cores = min(MOST_PARTS, os.cpu_count() or 1)
    if cores < 2 or not isinstance(session.get_bind(), Engine):
        return 1
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return 1
    return 1 if connection.scalar(WROTE_IN_TRANSACTION) else cores


def read_in_parts(
    session: Session, parts: Sequence[Executable], *, setup: Sequence[Executable] = ()
) -> list[list[Row[Any]]]:
    """Run each part on a connection of its own, all at once; each part's rows, in order.

    ``setup`` runs first on each connection (a ``SET LOCAL`` the parts need). Each connection's
    transaction only reads, and is rolled back.
    """
    engine = session.get_bind()
    assert isinstance(engine, Engine), "parts_allowed answers 1 for a session on a connection"

    def run(part: Executable) -> list[Row[Any]]:
        with engine.connect() as connection:
            for statement in setup:
                connection.execute(statement)
            rows = list(connection.execute(part).all())
            connection.rollback()
            return rows

    with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="gridapp-read") as pool:
        return list(pool.map(run, parts))
