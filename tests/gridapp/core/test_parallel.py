"""A long read in parts on connections of their own (`gridapp.core.parallel`), both backends."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import literal, select, text
from sqlalchemy.orm import Session

from gridapp.accounts.models import User
from gridapp.core.extensions import db
from gridapp.core.parallel import MOST_PARTS, parts_allowed, read_in_parts
from gridapp.core.types import utcnow
from gridapp.notifications.models import Notification
from tests.conftest import BACKEND

CORES = min(MOST_PARTS, os.cpu_count() or 1)


def test_parts_only_where_each_part_sees_what_the_session_sees(app: Any) -> None:
    with app.app_context(), Session(db.engine) as session:
        expected = CORES if BACKEND == "postgres" else 1
        assert parts_allowed(session) == expected
        # Written and not committed: a part, on a connection of its own, would not see it.
        user_id = session.scalar(select(User.id).limit(1))
        session.add(
            Notification(user_id=user_id, kind="test", message="uncommitted", created_at=utcnow())
        )
        session.flush()
        assert parts_allowed(session) == 1
        session.rollback()
        assert parts_allowed(session) == expected


def test_a_session_on_a_connection_reads_in_one_part(session: Any) -> None:
    # The suite's session runs inside a connection's transaction, rolled back after the test.
    assert parts_allowed(session) == 1


def test_each_part_runs_on_a_connection_of_its_own(app: Any) -> None:
    with app.app_context(), Session(db.engine) as session:
        parts = [select(literal(k)) for k in range(3)]
        assert [rows[0][0] for rows in read_in_parts(session, parts)] == [0, 1, 2]
        if BACKEND == "postgres":
            own = session.scalar(text("SELECT pg_backend_pid()"))
            jit = session.scalar(text("SELECT current_setting('jit')"))
            found = read_in_parts(
                session,
                [text("SELECT pg_backend_pid(), current_setting('jit')")] * 2,
                setup=[text("SET LOCAL jit = off")],
            )
            answers = [tuple(rows[0]) for rows in found]
            assert all(pid != own and setting == "off" for pid, setting in answers), answers
            # The setting stayed in the parts' transactions.
            assert session.scalar(text("SELECT current_setting('jit')")) == jit
