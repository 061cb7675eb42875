"""Configuration: production secrets have no defaults; the embedded mode makes its own (STYLE 1)."""

from __future__ import annotations

import stat

import pytest

from gridapp.core.config import Config
from gridapp.core.errors import ConfigurationError

# A random-looking key: production refuses short, known and placeholder ones.
STRONG_KEY = "q7Vb2mX9pL4sR1tK8wZ3nF6hJ0cD5gYa"


@pytest.mark.parametrize(
    "environ",
    [
        {"DATABASE_URL": "postgresql://x/y"},
        {"REDIS_URL": "redis://127.0.0.1:6379/0"},
        {"GRIDAPP_ENV": "production"},
        {"GRIDAPP_ENV": "Production"},
        {"DATABASE_URL": "postgresql://x/y", "SECRET_KEY": ""},
    ],
)
def test_production_without_secret_key_fails_clearly(environ, tmp_path):
    with pytest.raises(ConfigurationError) as caught:
        Config.from_env(environ, var_dir=tmp_path)

    message = str(caught.value)
    assert "SECRET_KEY" in message
    assert "not set" in message
    assert not (tmp_path / "secret_key").exists()


def test_production_with_secret_key(tmp_path):
    config = Config.from_env(
        {
            "DATABASE_URL": "postgresql://x/y",
            "REDIS_URL": "redis://r:6379/0",
            "SECRET_KEY": STRONG_KEY,
            "GRIDAPP_ENV": "production",
        },
        var_dir=tmp_path,
    )

    assert config.secret_key == STRONG_KEY
    assert config.embedded is False
    assert config.embedded_redis is False
    assert config.demo is False
    assert config.database_url == "postgresql://x/y"
    assert config.redis_url == "redis://r:6379/0"


def test_make_run_passes_its_embedded_redis_socket_to_gunicorn(tmp_path):
    config = Config.from_env(
        {
            "REDIS_URL": "unix:///srv/var/redis.socket",
            "GRIDAPP_EMBEDDED_REDIS": "1",
            "SECRET_KEY": STRONG_KEY,
        },
        var_dir=tmp_path,
    )

    assert config.redis_url == "unix:///srv/var/redis.socket"
    assert config.embedded_redis is True


def test_embedded_default_makes_and_keeps_a_secret(tmp_path):
    first = Config.from_env({}, var_dir=tmp_path)
    second = Config.from_env({}, var_dir=tmp_path)

    assert first.embedded is True
    assert first.demo is True
    assert first.redis_url is None
    assert first.embedded_redis is True
    assert first.database_url == f"sqlite:///{tmp_path / 'gridapp.db'}"
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    secret_file = tmp_path / "secret_key"
    assert secret_file.read_text().strip() == first.secret_key
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_each_installation_has_its_own_secret(tmp_path):
    one = Config.from_env({}, var_dir=tmp_path / "one")
    two = Config.from_env({}, var_dir=tmp_path / "two")

    assert one.secret_key != two.secret_key


def test_demo_mode_may_run_without_secret_on_postgres(tmp_path):
    config = Config.from_env({"DATABASE_URL": "postgresql://x/y", "DEMO": "yes"}, var_dir=tmp_path)

    assert config.demo is True
    assert config.secret_key


def test_environment_settings_are_read(tmp_path):
    config = Config.from_env(
        {"ACCESS_TOKEN_MINUTES": "5", "REFRESH_TOKEN_DAYS": "7", "QUEUE_PREFIX": "city"},
        var_dir=tmp_path,
    )

    assert config.access_token_minutes == 5
    assert config.refresh_token_days == 7
    assert config.queue_prefix == "city"


def test_overrides_win(tmp_path):
    config = Config.from_env(
        {"DATABASE_URL": "postgresql://x/y"},
        var_dir=tmp_path,
        secret_key=STRONG_KEY,
        max_failed_logins=3,
    )

    assert config.secret_key == STRONG_KEY
    assert config.max_failed_logins == 3


def test_unknown_override_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="Unknown settings: colour"):
        Config.from_env({}, var_dir=tmp_path, colour="red")


def test_config_is_frozen(tmp_path):
    config = Config.from_env({}, var_dir=tmp_path)

    with pytest.raises(AttributeError):
        config.secret_key = "x"  # type: ignore[misc]
