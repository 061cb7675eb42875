"""Revision 0005 lets the database hold hotline operators and keeps every user and their links."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, exc, text

from gridapp.core import migrate
from gridapp.core.db import make_engine
from tests.gridapp.throwaway import throwaway_database

USER = (
    'INSERT INTO "user" (id, username, display_name, password_hash, role, active, '
    "failed_logins, created_at) VALUES (:id, :name, '', 'x', :role, true, 0, '2026-11-24')"
)
TOKEN = (
    "INSERT INTO refresh_token (id, user_id, family, issued_at, expires_at) "
    "VALUES (:id, :user_id, 'f', '2026-11-24', '2026-12-24')"
)


@pytest.fixture()
def url(tmp_path: Path, postgis_template: str | None) -> Iterator[str]:
    with throwaway_database(tmp_path, "roles", postgis_template) as database:
        yield database


@pytest.fixture()
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def add_hotline_operator(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(USER), {"id": 9, "name": "operator", "role": "hotline_operator"})


def test_upgrade_keeps_users_that_other_rows_point_at(url, engine):
    migrate.upgrade(url, "0004")
    with engine.begin() as conn:
        conn.execute(text(USER), {"id": 7, "name": "worker", "role": "grid_worker"})
        conn.execute(text(TOKEN), {"id": "t7", "user_id": 7})
    with pytest.raises(exc.IntegrityError):
        add_hotline_operator(engine)

    migrate.upgrade(url, "0005")

    with engine.connect() as conn:
        assert conn.execute(text('SELECT id, username FROM "user"')).all() == [(7, "worker")]
        assert conn.scalar(text("SELECT user_id FROM refresh_token")) == 7
    add_hotline_operator(engine)


def test_downgrade_refuses_while_a_hotline_operator_exists(url, engine):
    migrate.upgrade(url, "0005")
    add_hotline_operator(engine)

    with pytest.raises(exc.IntegrityError):
        migrate.downgrade(url, "0004")

    with engine.begin() as conn:
        conn.execute(text('DELETE FROM "user"'))
    migrate.downgrade(url, "0004")


def add_duty_admins(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(USER), {"id": 11, "name": "security", "role": "security_admin"})
        conn.execute(text(USER), {"id": 12, "name": "auditor", "role": "audit_admin"})


def test_0009_adds_the_duty_roles_and_keeps_every_user(url, engine):
    migrate.upgrade(url, "0008")
    with engine.begin() as conn:
        conn.execute(text(USER), {"id": 7, "name": "worker", "role": "grid_worker"})
        conn.execute(text(TOKEN), {"id": "t7", "user_id": 7})
    with pytest.raises(exc.IntegrityError):
        add_duty_admins(engine)

    migrate.upgrade(url, "0009")

    with engine.connect() as conn:
        assert conn.execute(
            text('SELECT id, username, totp_last_step, totp_pending_secret FROM "user"')
        ).all() == [(7, "worker", None, None)]
        assert conn.scalar(text("SELECT user_id FROM refresh_token")) == 7
    add_duty_admins(engine)
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        conn.execute(text(USER), {"id": 13, "name": "overlord", "role": "overlord"})


def test_0009_downgrade_refuses_while_a_duty_admin_exists(url, engine):
    migrate.upgrade(url, "0009")
    add_duty_admins(engine)

    with pytest.raises(exc.IntegrityError):
        migrate.downgrade(url, "0008")

    with engine.begin() as conn:
        conn.execute(text('DELETE FROM "user"'))
    migrate.downgrade(url, "0008")
