"""The media sweep (照片清理): unclaimed photos forgotten, orphan files removed, nothing else."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gridapp.core.extensions import db
from gridapp.media.housekeeping import next_run, schedule_media_sweep
from gridapp.media.jobs import make_thumbnail
from gridapp.media.models import Attachment
from gridapp.media.services import storage_path, store_upload
from gridapp.media.sweep import (
    ORPHAN_GRACE,
    _remove_if_untouched,
    forget_unclaimed,
    remove_orphan_files,
)
from tests.gridapp.media.test_media import photo, user_named


@pytest.fixture()
def media_config(app: Any, session: Any, tmp_path: Path) -> Any:
    """The app's settings with a media directory of this test's own."""
    return dataclasses.replace(app.config["GRIDAPP"], var_dir=tmp_path)


def stored(
    session: Any, config: Any, *, claimed: bool = False, age: timedelta | None = None
) -> Any:
    """Upload a photo; optionally claim it for a case and age its row and files."""
    attachment = store_upload(session, config, user_named("grid_worker"), photo(), "p.jpg")
    if claimed:
        attachment.case_id = _any_case_id(session, config)
    if age is not None:
        attachment.created_at = datetime.now(UTC) - age
        for path in files_of(config, attachment):
            age_file(path, age)
    session.flush()
    return attachment


def _any_case_id(session: Any, config: Any) -> int:
    from gridapp.cases.services import report_case

    user = user_named("grid_worker")
    grid = user.grid_codes[0]
    from gridapp.grid.models import Area

    point = session.scalar(select(Area).where(Area.code == grid)).geometry.representative_point()
    reported = report_case(
        session, config, user, category="SJ0102", description="x", lon=point.x, lat=point.y
    )
    return int(reported.case.id)


def files_of(config: Any, attachment: Any) -> list[Path]:
    keys = [attachment.storage_key, attachment.thumbnail_key]
    return [storage_path(config, key) for key in keys if key]


def age_file(path: Path, age: timedelta) -> None:
    when = (datetime.now(UTC) - age).timestamp()
    os.utime(path, (when, when))


def test_unclaimed_photos_are_forgotten_after_the_configured_days(session, media_config):
    old = stored(session, media_config, age=timedelta(days=8))
    recent = stored(session, media_config, age=timedelta(days=6))
    claimed = stored(session, media_config, claimed=True, age=timedelta(days=30))

    assert forget_unclaimed(session, media_config) == 1

    remaining = set(session.scalars(select(Attachment.id)))
    assert old.id not in remaining
    assert {recent.id, claimed.id} <= remaining
    assert forget_unclaimed(session, media_config) == 0


def test_the_unclaimed_period_is_a_setting(session, media_config):
    stored(session, media_config, age=timedelta(days=3))

    assert forget_unclaimed(session, dataclasses.replace(media_config, media_unclaimed_days=2)) == 1


def test_files_without_a_row_are_removed_once_they_are_old(session, media_config):
    kept = stored(session, media_config, claimed=True, age=timedelta(days=30))
    forgotten = stored(session, media_config, age=timedelta(days=30))
    forgotten_files = files_of(media_config, forgotten)
    session.delete(forgotten)
    fresh_orphan = stored(session, media_config)
    fresh_files = files_of(media_config, fresh_orphan)
    session.delete(fresh_orphan)
    session.flush()
    size = sum(path.stat().st_size for path in forgotten_files)

    result = remove_orphan_files(session, media_config)

    assert (result.files, result.bytes) == (1, size)
    assert not any(path.exists() for path in forgotten_files)
    assert all(path.exists() for path in files_of(media_config, kept))
    assert all(path.exists() for path in fresh_files), "written within the grace period"
    assert remove_orphan_files(session, media_config).files == 0


def test_thumbnails_follow_their_photos(app, session, media_config, monkeypatch):
    monkeypatch.setitem(app.config, "GRIDAPP", media_config)
    attachment_id = stored(session, media_config).id
    make_thumbnail(attachment_id)
    session = db.session()  # the job's transaction ended the one the fixture began with
    attachment = session.get(Attachment, attachment_id)
    thumbnail = storage_path(media_config, attachment.thumbnail_key)
    original_file = storage_path(media_config, attachment.storage_key)
    assert thumbnail.exists()
    age_file(thumbnail, timedelta(days=2))
    age_file(original_file, timedelta(days=2))

    assert remove_orphan_files(session, media_config).files == 0  # the row still names them

    session.delete(attachment)
    session.flush()
    assert remove_orphan_files(session, media_config).files == 2
    assert not thumbnail.exists() and not original_file.exists()


def test_abandoned_uploads_and_unknown_files_are_handled_apart(session, media_config):
    tmp = media_config.media_dir / "tmp"
    tmp.mkdir(parents=True)
    abandoned = tmp / "upload-abc123"
    abandoned.write_bytes(b"half a photo")
    age_file(abandoned, timedelta(hours=2))
    in_flight = tmp / "upload-def456"
    in_flight.write_bytes(b"arriving")
    unknown = media_config.media_dir / "ab" / "notes.txt"
    unknown.parent.mkdir(parents=True)
    unknown.write_text("not ours to judge")
    age_file(unknown, timedelta(days=30))

    result = remove_orphan_files(session, media_config)

    assert result.stale_uploads == 1
    assert not abandoned.exists()
    assert in_flight.exists()
    assert unknown.exists()


def test_a_file_refreshed_during_the_sweep_is_put_back(tmp_path):
    path = tmp_path / ("a" * 64)
    path.write_bytes(b"the same bytes a new upload brings")
    cutoff = (datetime.now(UTC) - ORPHAN_GRACE).timestamp()
    # The sweep saw an old file with no row; an upload has since refreshed it (its row is on
    # the way), so the second look after the rename must put it back.

    assert _remove_if_untouched(path, cutoff) is None
    assert path.read_bytes() == b"the same bytes a new upload brings"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]

    age_file(path, timedelta(hours=2))
    assert _remove_if_untouched(path, cutoff) == len(b"the same bytes a new upload brings")
    assert list(tmp_path.iterdir()) == []


def test_uploading_stored_bytes_again_refreshes_the_file(session, media_config):
    data = photo()
    user = user_named("grid_worker")
    first = store_upload(session, media_config, user, data, "a.jpg")
    path = storage_path(media_config, first.storage_key)
    age_file(path, timedelta(days=30))

    store_upload(session, media_config, user, data, "b.jpg")

    assert path.stat().st_mtime > (datetime.now(UTC) - ORPHAN_GRACE).timestamp()


def test_uploading_bytes_the_sweep_just_removed_writes_them_again(session, media_config):
    data = photo()
    user = user_named("grid_worker")
    first = store_upload(session, media_config, user, data, "a.jpg")
    path = storage_path(media_config, first.storage_key)
    path.unlink()  # as if the sweep had renamed it aside a moment ago

    second = store_upload(session, media_config, user, data, "b.jpg")

    assert storage_path(media_config, second.storage_key).read_bytes() == data


def test_the_sweep_runs_nightly_at_three_in_shanghai():
    evening = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
    small_hours = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)  # 02:30 the next day there

    assert next_run(evening) == datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
    assert next_run(small_hours) == datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
    assert next_run(datetime(2026, 11, 23, 19, 0, tzinfo=UTC)) == datetime(
        2026, 11, 24, 19, 0, tzinfo=UTC
    )


def test_scheduling_twice_makes_one_job(app):
    from gridapp.core.extensions import redis

    with app.app_context():
        first = schedule_media_sweep()
        second = schedule_media_sweep()
        registry = redis.queue("low").scheduled_job_registry
        try:
            assert first == second
            assert registry.get_job_ids().count(first) == 1
        finally:
            registry.remove(first, delete_job=True)


def test_the_job_commits_rows_before_it_removes_files(app, monkeypatch, tmp_path):
    """Run the real job: an old unclaimed photo's row and file both go; the schedule is kept."""
    from gridapp.media import housekeeping

    config = dataclasses.replace(app.config["GRIDAPP"], var_dir=tmp_path)
    scheduled: list[bool] = []
    monkeypatch.setattr(housekeeping, "schedule_media_sweep", lambda: scheduled.append(True))
    data = photo()
    sha = hashlib.sha256(data).hexdigest()
    path = config.media_dir / sha[:2] / sha
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    age_file(path, timedelta(days=8))
    paths = [path]
    with app.app_context():
        monkeypatch.setitem(app.config, "GRIDAPP", config)
        with db.transaction() as session:
            attachment = Attachment(
                sha256=sha,
                content_type="image/jpeg",
                size=len(data),
                storage_key=f"{sha[:2]}/{sha}",
                uploaded_by=user_named("grid_worker").id,
                created_at=datetime.now(UTC) - timedelta(days=8),
            )
            session.add(attachment)
            session.flush()
            attachment_id = attachment.id
        try:
            result = housekeeping.media_sweep()
        finally:
            with db.transaction() as session:
                leftover = session.get(Attachment, attachment_id)
                if leftover is not None:
                    session.delete(leftover)

    assert result["forgotten"] == 1
    assert result["files"] == 1
    assert not any(path.exists() for path in paths)
    assert scheduled == [True]


def test_the_command_line_runs_the_sweep_now(runner):
    result = runner.invoke(args=["jobs", "media-sweep"])

    assert result.exit_code == 0, result.output
    assert "unclaimed photos" in result.output
    assert "abandoned uploads" in result.output


def test_writers_go_on_while_the_sweep_walks_the_files(app, monkeypatch):
    # A year of photos is a long walk; the file pass reads rows only, so on SQLite it holds no
    # write lock meanwhile (the app's own media directory, committed state: no session fixture).
    from gridapp.media import sweep
    from gridapp.media.housekeeping import media_sweep
    from tests.gridapp.held_jobs import Hold, written_while_held

    config = app.config["GRIDAPP"]
    sha = hashlib.sha256(os.urandom(16)).hexdigest()
    orphan = config.media_dir / sha[:2] / sha
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"no row names it")
    age_file(orphan, 2 * ORPHAN_GRACE)
    hold = Hold(sweep._remove_if_untouched)
    monkeypatch.setattr(sweep, "_remove_if_untouched", hold)

    went_through, summary = written_while_held(app, hold, media_sweep)

    assert went_through  # while the walk was held
    assert summary["files"] >= 1 and not orphan.exists()
