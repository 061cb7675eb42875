"""Per-process copies follow the version stored in the database (no restart, every worker)."""

from __future__ import annotations

from gridapp.core.versions import VersionedCache, bump_version, stored_version, version_number


def test_a_copy_is_rebuilt_only_when_the_stored_version_moves(session):
    builds: list[int] = []
    cache: VersionedCache[int] = VersionedCache()

    def build() -> int:
        builds.append(1)
        return len(builds)

    assert cache.get(session, "thing", "test_version", build, 0) == 1
    assert cache.get(session, "thing", "test_version", build, 0) == 1  # same version: kept
    # Another process changes it: only the stored version tells this one.
    tag = bump_version(session, "test_version")
    assert stored_version(session, "test_version") == tag and version_number(tag) == 1
    assert cache.get(session, "thing", "test_version", build, 3600) == 1  # checked recently
    assert cache.get(session, "thing", "test_version", build, 0) == 2  # rebuilt


def test_a_version_is_unique_even_when_its_number_comes_back(session):
    first = bump_version(session, "test_version")
    session.rollback()
    second = bump_version(session, "test_version")
    assert version_number(first) == version_number(second) and first != second
