"""The database helper: sessions bound to a test connection and back (STYLE 10)."""

from __future__ import annotations

from sqlalchemy import select

from gridapp.extensions import db


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
    from gridapp.models import Department

    with db.transaction() as inner:
        inner.add(Department(code="test-dept", name="测试部门"))

    assert (
        db.session().scalar(select(Department.name).where(Department.code == "test-dept"))
        == "测试部门"
    )


def test_savepoint_commit_was_rolled_back(session):
    from gridapp.models import Department

    assert session.scalar(select(Department).where(Department.code == "test-dept")) is None
