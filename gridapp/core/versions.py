"""Versions of what admins change (the grid map, the work calendar), stored in the database.

Every gunicorn worker keeps its own in-process copy of what is costly to build (the grid index,
the work calendar). An admin's change bumps a version row in the same transaction; each process
compares its copy's version with the stored one (at most every few seconds) and rebuilds when
they differ, so a change is in effect everywhere without a restart.

A version is a counter plus a random token: a rolled-back change can reuse a counter value, and a
process must never keep a copy built from contents that were never committed.
"""

from __future__ import annotations

import copy
import functools
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached

from gridapp.core.heartbeat import kept_alive
from gridapp.core.models import Base, Setting

T = TypeVar("T")
M = TypeVar("M", bound=Base)


def stored_version(session: Session, key: str) -> str:
    """Return the version tag stored under ``key`` ("0" before the first change)."""
    setting = session.get(Setting, key)
    return setting.value if setting else "0"


def version_number(tag: str) -> int:
    """Return the counter part of a version tag."""
    return int(tag.split("-")[0])


def next_tag(tag: str) -> str:
    """Return the tag after ``tag``: the counter moved on, a new random part."""
    return f"{version_number(tag) + 1}-{secrets.token_hex(6)}"


def bump_version(session: Session, key: str) -> str:
    """Move the version under ``key`` on (row-locked), in the caller's transaction; return it."""
    setting = session.get(Setting, key, with_for_update=True)
    if setting is None:
        setting = Setting(key=key, value="0")
        session.add(setting)
    setting.value = next_tag(setting.value)
    session.flush()
    return setting.value


def bump_version_in_flush(session: Session, key: str) -> str:
    """Move the version under ``key`` on from a ``before_flush`` listener: the row is locked
    and read afresh (no flush of its own: the flush under way writes it); return the tag."""
    with session.no_autoflush:
        setting = session.get(Setting, key, with_for_update=True, populate_existing=True)
    if setting is None:
        setting = Setting(key=key, value="0")
        session.add(setting)
    setting.value = next_tag(setting.value)
    return setting.value


def row_values(row: Base) -> dict[str, Any]:
    """Return every column attribute of a loaded row, for a per-process copy of it."""
    mapper: Mapper[Any] = inspect(type(row))
    return {attr.key: getattr(row, attr.key) for attr in mapper.column_attrs}


def attached_copy(session: Session, model: type[M], values: Mapping[str, Any]) -> M:
    """Return the row ``values`` holds (every column) as ``session``'s own object, no query.

    A per-process copy is never handed out itself: each session gets a persistent object of
    its own (as if loaded by a query; relationships load lazily), so nothing a request does to
    it reaches the copy, and no object is shared between sessions or threads. When the session
    holds that row already, its object is the answer, as ``Session.get`` would give.
    """
    mapper: Mapper[Any] = inspect(model)
    key = mapper.identity_key_from_primary_key(tuple(values[k] for k in _primary_keys(mapper)))
    found = session.identity_map.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    # Filled as a query's loading fills it: no constructor, no attribute events (a third of
    # the cost). JSON columns hold dicts and lists: a request may change its own, not the copy.
    row: M = mapper.class_manager.new_instance()
    row.__dict__.update(
        {k: copy.deepcopy(v) if isinstance(v, dict | list) else v for k, v in values.items()}
    )
    make_transient_to_detached(row)
    session.add(row)
    return row


@functools.cache
def _primary_keys(mapper: Mapper[Any]) -> tuple[str, ...]:
    return tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)


class VersionedCache(Generic[T]):
    """Per-process copies keyed by database and name, rebuilt when the stored version moves.

    ``check_seconds`` bounds how often the stored version is read: a change made by another
    process is seen within that time; one made by this process at once (``forget``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[str, float, T]] = {}

    def get(
        self,
        session: Session,
        name: str,
        version_key: str,
        build: Callable[[], T],
        check_seconds: float,
    ) -> T:
        """Return the copy of ``name``, rebuilt with ``build`` when its version changed."""
        key = (str(session.get_bind().engine.url), name)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[1] < check_seconds:
            return entry[2]
        version = stored_version(session, version_key)
        if entry is not None and entry[0] == version:
            self._entries[key] = (version, now, entry[2])
            return entry[2]
        # A build can outlast gunicorn's timeout (the grid index at a city's map).
        with self._lock, kept_alive():
            value = build()
            self._entries[key] = (version, now, value)
            return value

    def peek(self, session: Session, name: str) -> T | None:
        """Return the copy of ``name`` this process holds, whatever its version, or None.

        Neither reads the stored version nor builds: for a caller that can use a copy already
        made (and checks what it takes from it) but must not pay for one.
        """
        entry = self._entries.get((str(session.get_bind().engine.url), name))
        return None if entry is None else entry[2]

    def forget(self) -> None:
        """Drop every copy (this process rebuilds on next use)."""
        self._entries.clear()

    # The tests' fixture and older callers say clear().
    clear = forget
