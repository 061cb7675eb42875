"""`gridapp.core.heartbeat`: a long build tells gunicorn's master the worker is alive."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from gridapp.core import heartbeat
from gridapp.core.versions import VersionedCache


@pytest.fixture(autouse=True)
def _no_heartbeat_after() -> Iterator[None]:
    yield
    heartbeat.beat_with(None)


def _beating() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gridapp-heartbeat"]


def test_a_build_beats_while_it_runs_and_stops_when_it_ends() -> None:
    beats = threading.Semaphore(0)
    heartbeat.beat_with(beats.release, period=0.01)

    with heartbeat.kept_alive():
        # The build is still running: the beat comes from the heartbeat's own thread.
        assert beats.acquire(timeout=30)
        assert _beating()

    assert not _beating()


def test_outside_gunicorn_nothing_beats() -> None:
    heartbeat.beat_with(None)

    with heartbeat.kept_alive():
        assert not _beating()


def test_a_versioned_cache_builds_under_the_heartbeat(session: Session) -> None:
    """The per-process copies (the grid index, the work calendar) are built kept alive."""
    beats = threading.Semaphore(0)
    heartbeat.beat_with(beats.release, period=0.01)
    cache: VersionedCache[str] = VersionedCache()

    def build() -> str:
        # Gives up after 20 s only so that a build without a heartbeat fails instead of hanging.
        assert beats.acquire(timeout=20), "no beat while the copy was built"
        return "built"

    assert cache.get(session, "copy", "test_heartbeat:version", build, 0.0) == "built"
    assert not _beating()
