"""``make run`` tells a new real instance how to create its first admin, and no one else."""

from __future__ import annotations

import dataclasses
import re
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
from tests.gridapp.throwaway import throwaway_database


@pytest.fixture()
def empty_session(tmp_path: Path, postgis_template: str | None) -> Iterator[Session]:
    """A session on a freshly migrated database that has no users; dropped afterwards."""
    with throwaway_database(tmp_path, "serve", postgis_template) as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(url)
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()


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
