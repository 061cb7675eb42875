"""Ending a write request's transaction before its answer is written.

A write request commits at its boundary (``gridapp.core.app``), after flask-smorest has written
the answer. A view whose answer is made from objects already in hand may commit first, with
`commit_before_answer`: the answer's serialization (a case's JSON is a fifth of a phone
report's work) then runs outside the write lock, SQLite's writer queue
(``gridapp.core.db_sqlite``) that every other writer waits on, and PostgreSQL's row locks. The
use case is still one transaction; only the answer comes after it.

What the answer still reads runs as a read-only request's does, in a snapshot without the write
lock. An answer that fails to be written after the commit is a 500 over stored work, so the views
that commit first are those whose retry answers the same (a report's idempotency key).
"""

from __future__ import annotations

from flask import g

from gridapp.core import db_sqlite
from gridapp.core.extensions import db


def commit_before_answer() -> None:
    """Commit the request's work now; the rest of the request reads like a GET."""
    db.session.commit()
    if "read_only_token" not in g:
        # Reset with the request (gridapp.core.app's teardown), as a GET's is.
        g.read_only_token = db_sqlite.READ_ONLY.set(True)
