"""The database helper: sessions bound to a test connection and back (STYLE 10)."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridapp.accounts.models import User
from gridapp.core.extensions import db
from gridapp.core.security import issue_access_token


def test_session_works_again_after_unbinding(app):
    """After a test's connection is unbound, the scoped session must open on the engine again."""
    assert db.engine is not None
    with app.app_context():
        connection = db.engine.connect()
        try:
            db.bind_connection(connection)
            assert db.session().scalar(select(1)) == 1
        finally:
            db.unbind_connection()
            connection.close()

        assert db.session().scalar(select(1)) == 1
        db.session.remove()


def test_transaction_inside_a_test_commits_only_a_savepoint(app, session):
    from gridapp.catalogue.models import Department

    with db.transaction() as inner:
        inner.add(Department(code="test-dept", name="测试部门"))

    assert (
        db.session().scalar(select(Department.name).where(Department.code == "test-dept"))
        == "测试部门"
    )


def test_savepoint_commit_was_rolled_back(session):
    from gridapp.catalogue.models import Department

    assert session.scalar(select(Department).where(Department.code == "test-dept")) is None


def test_a_read_request_does_not_wait_for_a_writer(app):
    """A GET reads while another transaction holds the write lock (SQLite: the database's,
    taken by a program outside the writer queue; PostgreSQL: the user row's)."""
    config = app.config["GRIDAPP"]
    with app.app_context(), Session(db.engine) as session:
        user = session.scalar(select(User).where(User.username == "grid_worker"))
        token, _expires = issue_access_token(user.id, user.role, config.secret_key, 5, "test")
        user_id = user.id
    if db.dialect == "sqlite":
        writer: Any = sqlite3.connect(db.engine.url.database, isolation_level=None, timeout=1)
        writer.execute("BEGIN IMMEDIATE")
    else:
        writer = db.engine.raw_connection()
        writer.cursor().execute('SELECT id FROM "user" WHERE id = %s FOR UPDATE', (user_id,))
    try:
        reading = app.test_client().get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        writer.rollback()
        writer.close()

    assert reading.status_code == 200, reading.get_json()
    assert reading.get_json()["username"] == "grid_worker"
