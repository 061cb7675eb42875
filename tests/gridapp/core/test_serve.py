"""``make run`` tells a new real instance how to create its first admin, and no one else."""

from __future__ import annotations

import dataclasses
import re
import secrets
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from gridapp.accounts.cli import user_create
from gridapp.accounts.models import ROLES
from gridapp.core import migrate
from gridapp.core.db import make_engine
from gridapp.core.serve import first_admin_hint
from tests.conftest import BACKEND, PG_ADMIN_URL


@pytest.fixture()
def empty_session(tmp_path: Path) -> Iterator[Session]:
    """A session on a freshly migrated database that has no users; dropped afterwards."""
    if BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        admin, name = None, None
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        name = f"gridapp_serve_{secrets.token_hex(4)}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()
        if admin is not None:
            import psycopg

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_new_instance_outside_demo_mode_says_how_to_create_the_first_admin(config, empty_session):
    hint = first_admin_hint(dataclasses.replace(config, demo=False), empty_session)

    assert hint is not None
    assert "flask user create admin --role admin --totp" in hint


def test_the_hinted_command_is_one_the_cli_accepts(config, empty_session):
    hint = first_admin_hint(dataclasses.replace(config, demo=False), empty_session)
    assert hint is not None
    command = re.search(r"`([^`]*)`", hint)
    assert command is not None
    words = shlex.split(command.group(1))
    assert words[1:3] == ["user", "create"]

    context = user_create.make_context("create", [*words[3:], "--password", "x" * 12])

    assert context.params["role"] in ROLES
    assert context.params["totp"] is True


def test_demo_mode_gives_no_hint(config, empty_session):
    assert first_admin_hint(dataclasses.replace(config, demo=True), empty_session) is None


def test_an_instance_with_users_gives_no_hint(config, session):
    assert first_admin_hint(dataclasses.replace(config, demo=False), session) is None
