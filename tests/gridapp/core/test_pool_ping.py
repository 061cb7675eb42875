"""PostgreSQL's pooled connections: pinged only after sitting idle, and a stale one replaced.

`pool_pre_ping` pinged every checkout, a round trip of its own on every request; now a
connection is pinged once it has sat unused `PING_AFTER_IDLE_SECONDS` (gridapp/core/db.py).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gridapp.core import db as database
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="SQLite has no server connections to ping"
)


def _admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pinged(engine: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    pings: list[Any] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return bool(real(dbapi_connection))

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_in_steady_use_is_not_pinged(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = database.make_engine(config.database_url)
    try:
        pings = _pinged(engine, monkeypatch)
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)
        for _ in range(5):
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT 1")) == 1
        # A new connection is pinged on its first checkout; one just checked in is not.
        assert len(pings) == 1
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        with engine.connect() as conn:
            conn.scalar(text("SELECT 1"))
        assert len(pings) == 2
    finally:
        engine.dispose()


def test_a_connection_broken_while_idle_is_replaced_before_use(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = database.make_engine(config.database_url)
    try:
        with engine.connect() as conn:
            first = conn.scalar(text("SELECT pg_backend_pid()"))
        # The server ends it while it sits in the pool (a restart, a firewall's idle timeout).
        with psycopg.connect(_admin_url(config.database_url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        with engine.connect() as conn:
            # No error reaches the caller: the ping found it broken and the pool reconnected.
            assert conn.scalar(text("SELECT pg_backend_pid()")) != first
    finally:
        engine.dispose()
