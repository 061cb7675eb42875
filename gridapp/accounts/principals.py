"""The signed-in user without a query: per-process copies of users, checked by their version.

Every change to a user (role, department, district, grids, active, password, second factor,
sign-in bookkeeping), whoever makes it (the admin API, ``flask user``, the seed, a sign-in),
moves the user's ``version`` on: a flush listener here does it, so no write path can forget.
The new version is published in Redis once the transaction commits; the published one is
deleted as soon as the change is flushed, so until the commit is published every process
reads the row.

Each authenticated request asks Redis, in one round trip (MGET), whether its session was
revoked and which version of its user is published. A process keeps a copy of each user's
row keyed by version: when the copy's version is the published one, the request's user is
built from the copy, attached to the request's session, without a query. Otherwise (nothing
published, another version) the row is read as before and its version published if none was;
when Redis cannot answer, the row and the revocation are read from the database. A disabled
user, a new role, department, district or grid, a revoked session: the next request, in any
process, sees it.

When Redis fails between a change's flush and its publication (the deletion failed), a copy
may outlive the change until the published version expires: the access-token lifetime, the
same bound as a revocation written while Redis was unreachable.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from flask import current_app, has_app_context
from redis.exceptions import RedisError
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from gridapp.accounts.models import User, UserGrid
from gridapp.accounts.sessions import revoked_key
from gridapp.core.extensions import db, redis
from gridapp.core.versions import attached_copy, next_tag, row_values

log = logging.getLogger(__name__)

# The users whose version this transaction moved (objects until flushed, then id → version).
_CHANGED = "gridapp.accounts.changed_users"
_PUBLISH = "gridapp.accounts.publish_versions"
# Enough for every member of staff a city has; past it the copies start over.
MAX_COPIES = 20_000


def version_key(user_id: int) -> str:
    """Return the Redis key of a user's published version."""
    return f"{redis.prefix}:user-version:{user_id}"


def published_seconds() -> int:
    """How long a published version lives: an access token's lifetime (and a minute)."""
    minutes = current_app.config["GRIDAPP"].access_token_minutes if has_app_context() else 15
    return int(minutes) * 60 + 60


# -- every change moves the version on ---------------------------------------------------------


@event.listens_for(Session, "before_flush")
def _move_versions(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    changed: set[User] = set()
    for obj in session.new:
        if isinstance(obj, User):
            changed.add(obj)
    for obj in session.dirty:
        if isinstance(obj, User) and session.is_modified(obj):
            changed.add(obj)
    owners: set[int] = set()
    for obj in chain(session.new, session.deleted, session.dirty):
        if isinstance(obj, UserGrid) and obj.user_id is not None:
            owners.add(obj.user_id)
        elif isinstance(obj, UserGrid) and obj.user is not None:
            changed.add(obj.user)
    with session.no_autoflush:
        for user_id in owners:
            owner = session.get(User, user_id)
            if owner is not None:
                changed.add(owner)
    for user in changed:
        user.version = next_tag(user.__dict__.get("version") or "0")
    deleted = [obj for obj in session.deleted if isinstance(obj, User)]
    if changed or deleted:
        pending = session.info.setdefault(_CHANGED, set())
        pending.update(changed)
        pending.update(deleted)


@event.listens_for(Session, "after_flush_postexec")
def _unpublish(session: Session, _flush: UOWTransaction) -> None:
    """Delete the flushed users' published versions: until the commit, processes read rows."""
    pending: set[User] | None = session.info.pop(_CHANGED, None)
    if not pending:
        return
    publish: dict[int, str | None] = session.info.setdefault(_PUBLISH, {})
    for user in pending:
        gone = inspect(user).was_deleted
        publish[user.id] = None if gone else user.version
    try:
        redis.connection.delete(*(version_key(user_id) for user_id in publish))
    except RedisError:
        log.warning("user versions not unpublished: Redis unreachable")


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    """Publish the committed versions, so every process's copies of those users are dropped."""
    publish: dict[int, str | None] | None = session.info.pop(_PUBLISH, None)
    if not publish:
        return
    ttl = published_seconds()
    try:
        pipe = redis.connection.pipeline(transaction=False)
        for user_id, version in publish.items():
            if version is None:
                pipe.delete(version_key(user_id))
            else:
                pipe.set(version_key(user_id), version, ex=ttl)
        pipe.execute()
    except RedisError:
        # Deleted at the flush: every process reads these users' rows until a version is back.
        log.warning("user versions not published: Redis unreachable")


@event.listens_for(Session, "after_rollback")
def _forget_unpublished(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop(_CHANGED, None)
        session.info.pop(_PUBLISH, None)


# -- per-process copies --------------------------------------------------------------------------


@dataclass(frozen=True)
class PrincipalState:
    """What Redis says of a request's session and user."""

    revoked: bool
    version: str | None  # None: no version published


def principal_keys(session_id: str, user_id: int) -> tuple[str, str]:
    """Return the Redis keys of a session's revocation and of its user's published version."""
    return revoked_key(session_id), version_key(user_id)


def read_principal_state(reply: Sequence[Any]) -> PrincipalState:
    """Read the MGET of `principal_keys`."""
    revoked, version = reply
    if isinstance(version, bytes):
        version = version.decode()
    return PrincipalState(revoked is not None, version)


def principal_state(session_id: str, user_id: int) -> PrincipalState | None:
    """Ask Redis, in one round trip, for the session's revocation and the user's version.

    None when Redis cannot answer: the caller reads the database instead.
    """
    try:
        reply = redis.connection.mget(*principal_keys(session_id, user_id))
    except RedisError:
        return None
    return read_principal_state(reply)


class UserCopies:
    """This process's copies of users' rows, each with the version it was read at."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._copies: dict[int, tuple[str, dict[str, Any]]] = {}
        self._engine: object | None = None

    def user(self, session: Session, user_id: int, published: str | None) -> User | None:
        """Return the user as ``session``'s object: from the copy when its version is the
        published one, else read from the database (and published when nothing was)."""
        if db.engine is not self._engine:  # another database: nothing copied applies
            with self._lock:
                self._copies, self._engine = {}, db.engine
        copy = self._copies.get(user_id)
        if published is not None and copy is not None and copy[0] == published:
            return attached_copy(session, User, copy[1])
        # A session holding the row already (its own changes, not yet committed) answers it:
        # nothing it holds is copied or published.
        held = session.identity_map.get(session.identity_key(User, user_id))
        if held is not None:
            return held  # type: ignore[no-any-return]
        user = session.get(User, user_id)
        if user is None:
            return None
        values = row_values(user)
        with self._lock:
            if len(self._copies) >= MAX_COPIES:
                self._copies = {}
            self._copies[user_id] = (user.version, values)
        if published is None:
            # Only when none was: a newer version published meanwhile must not be overwritten.
            with contextlib.suppress(RedisError):  # else the row is read again next time
                redis.connection.set(
                    version_key(user_id), user.version, ex=published_seconds(), nx=True
                )
        return user

    def forget(self) -> None:
        """Drop every copy (this process reads each user's row on their next request)."""
        with self._lock:
            self._copies = {}


copies = UserCopies()
