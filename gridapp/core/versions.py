"""Versions of what admins change (the grid map, the work calendar), stored in the database.

Every gunicorn worker keeps its own in-process copy of what is costly to build (the grid index,
the work calendar). An admin's change bumps a version row in the same transaction; each process
compares its copy's version with the stored one (at most every few seconds) and rebuilds when
they differ, so a change is in effect everywhere without a restart.

A version is a counter plus a random token: a rolled-back change can reuse a counter value, and a
process must never keep a copy built from contents that were never committed.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from gridapp.core.models import Setting

T = TypeVar("T")


def stored_version(session: Session, key: str) -> str:
    """Return the version tag stored under ``key`` ("0" before the first change)."""
    setting = session.get(Setting, key)
    return setting.value if setting else "0"


def version_number(tag: str) -> int:
    """Return the counter part of a version tag."""
    return int(tag.split("-")[0])


def bump_version(session: Session, key: str) -> str:
    """Move the version under ``key`` on (row-locked), in the caller's transaction; return it."""
    setting = session.get(Setting, key, with_for_update=True)
    if setting is None:
        setting = Setting(key=key, value="0")
        session.add(setting)
    setting.value = f"{version_number(setting.value) + 1}-{secrets.token_hex(6)}"
    session.flush()
    return setting.value


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
        with self._lock:
            value = build()
            self._entries[key] = (version, now, value)
            return value

    def forget(self) -> None:
        """Drop every copy (this process rebuilds on next use)."""
        self._entries.clear()

    # The tests' fixture and older callers say clear().
    clear = forget
