"""Production hashes passwords at RFC 9106's cost; the suite runs at a cheaper one.

``tests/conftest.py`` passes ``TEST_PASSWORD_HASHING`` (a sign-in at production cost takes a
quarter second of CPU, and the suite signs in over a thousand times). These tests pin what every
deployment gets and show that a hash of another cost is made anew at the next sign-in.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import select

from gridapp.accounts.models import User
from gridapp.core.config import Config
from gridapp.core.extensions import db
from gridapp.core.security import hash_password, needs_rehash, verify_password
from tests.conftest import TEST_PASSWORD_HASHING
from tests.gridapp.conftest import DEMO_PASSWORD

PRODUCTION_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


@pytest.fixture()
def production_cost(app: Any) -> Iterator[None]:
    """Run the app at the cost a deployment gets (its configuration read from the environment)."""
    config = app.config["GRIDAPP"]
    production = Config.from_env(
        {"GRIDAPP_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48)},
        var_dir=config.var_dir,
    )
    app.config["GRIDAPP"] = dataclasses.replace(
        config, password_hashing=production.password_hashing
    )
    yield
    app.config["GRIDAPP"] = config


@pytest.mark.parametrize(
    "environ",
    [
        {"GRIDAPP_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48)},
        {"DATABASE_URL": "postgresql://x/y", "SECRET_KEY": secrets.token_urlsafe(48)},
        {},  # the embedded default
    ],
)
def test_every_deployment_hashes_at_rfc_9106_low_memory_cost(environ, tmp_path):
    hashing = Config.from_env(environ, var_dir=tmp_path).password_hashing

    assert hashing == RFC_9106_LOW_MEMORY
    assert (hashing.time_cost, hashing.memory_cost, hashing.parallelism) == (3, 64 * 1024, 4)
    assert (hashing.salt_len, hashing.hash_len) == (16, 32)


def test_the_cost_is_not_read_from_the_environment(tmp_path):
    """No variable lowers it: a deployment cannot weaken its hashes by a typo in a unit file."""
    from tests.gridapp.core.test_settings_documented import settings_read

    assert not [name for name in settings_read() if "HASH" in name or "ARGON" in name]
    environ = {"PASSWORD_HASHING": "cheap", "ARGON2_TIME_COST": "1", "DEMO": "1"}
    assert Config.from_env(environ, var_dir=tmp_path).password_hashing == RFC_9106_LOW_MEMORY


def test_the_suite_hashes_cheaper_in_the_same_form(app):
    assert app.config["GRIDAPP"].password_hashing == TEST_PASSWORD_HASHING
    assert TEST_PASSWORD_HASHING.type == RFC_9106_LOW_MEMORY.type
    assert TEST_PASSWORD_HASHING.salt_len == RFC_9106_LOW_MEMORY.salt_len
    assert TEST_PASSWORD_HASHING.hash_len == RFC_9106_LOW_MEMORY.hash_len


def test_production_cost_hashes_and_verifies(app, production_cost):
    with app.app_context():
        hashed = hash_password("a-long-enough-password")

        assert hashed.startswith(PRODUCTION_PREFIX)
        assert verify_password(hashed, "a-long-enough-password")
        assert not verify_password(hashed, "another-long-password")
        assert not verify_password(None, "a-long-enough-password")
        assert not needs_rehash(hashed)


def test_a_hash_of_another_cost_is_made_anew_at_the_next_sign_in(client, production_cost):
    """The demo users were seeded at the suite's cost; production's sign-in rehashes at its own."""
    before = db.session.scalar(select(User.password_hash).where(User.username == "grid_worker"))
    assert before is not None and not before.startswith(PRODUCTION_PREFIX)

    response = client.post(
        "/api/v1/auth/login", json={"username": "grid_worker", "password": DEMO_PASSWORD}
    )

    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    after = db.session.scalar(select(User.password_hash).where(User.username == "grid_worker"))
    assert after is not None and after.startswith(PRODUCTION_PREFIX)
