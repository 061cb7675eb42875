"""`flask backup` / `flask restore`: a backup restored into an empty database keeps everything."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gridapp.accounts.models import User, UserGrid
from gridapp.cases.history import verify_chain
from gridapp.cases.intake import report_case
from gridapp.cases.models import Case, CaseEvent
from gridapp.core.backup import BackupError, backup, file_sha256, restore
from gridapp.core.db import make_engine
from gridapp.core.extensions import db
from gridapp.core.models import OutboxMessage
from gridapp.grid.models import Area
from gridapp.media.models import Attachment
from gridapp.media.services import store_upload
from gridapp.notifications.models import Notification


def _jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (seed % 256, 90, 160)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture()
def committed_cases(app: Any) -> Iterator[list[int]]:
    """Two reported cases with a photo each, committed for real (pg_dump sees only commits)."""
    config = app.config["GRIDAPP"]
    tag = secrets.token_hex(4)
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        outbox_before = session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()))
        worker = session.scalar(select(User).where(User.username == "grid_worker"))
        grid = session.scalar(select(UserGrid.grid_code).where(UserGrid.user_id == worker.id))
        point = session.scalar(
            select(Area).where(Area.code == grid)
        ).geometry.representative_point()
        ids = []
        for n in range(2):
            photo = store_upload(session, config, worker, _jpeg(n + 7), "p.jpg")
            reported = report_case(
                session,
                config,
                worker,
                category="SJ0102",
                description=f"backup {tag} {n}",
                lon=point.x,
                lat=point.y,
                photos=[photo.id],
                client_id=f"backup-{tag}-{n}",
            )
            ids.append(reported.case.id)
        session.commit()
    yield ids
    with app.app_context(), Session(db.engine) as cleanup:
        if cleanup.get_bind().dialect.name == "postgresql":
            # The history is append-only for the app's role: clean up as the owner.
            cleanup.execute(text("SET LOCAL ROLE NONE"))
        cleanup.execute(delete(OutboxMessage).where(OutboxMessage.id > (outbox_before or 0)))
        cleanup.execute(delete(Notification).where(Notification.case_id.in_(ids)))
        cleanup.execute(update(Attachment).where(Attachment.case_id.in_(ids)).values(event_id=None))
        cleanup.execute(delete(Attachment).where(Attachment.case_id.in_(ids)))
        cleanup.execute(delete(CaseEvent).where(CaseEvent.case_id.in_(ids)))
        cleanup.execute(delete(Case).where(Case.id.in_(ids)))
        cleanup.commit()


@pytest.fixture()
def empty_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database on the same server (a new file on SQLite)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    import psycopg

    name = f"{make_url(database_url).database}_restore"
    admin = make_url(database_url).set(drivername="postgresql", database="postgres")
    admin_url = admin.render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                "cases": [
                    tuple(r)
                    for r in connection.execute(
                        text('SELECT id, number, state, version, client_id FROM "case" ORDER BY id')
                    )
                ],
                "events": [
                    tuple(r)
                    for r in connection.execute(
                        text("SELECT id, case_id, seq, prev_hash, hash FROM case_event ORDER BY id")
                    )
                ],
                "photos": [
                    tuple(r)
                    for r in connection.execute(
                        text("SELECT id, sha256, storage_key, case_id FROM attachment ORDER BY id")
                    )
                ],
            }
    finally:
        engine.dispose()


def test_a_restored_backup_has_every_case_event_and_photo_intact(
    app, database_url, empty_database, committed_cases, tmp_path
):
    config = app.config["GRIDAPP"]
    target_media = tmp_path / "restored-media"

    report = backup(database_url, config.media_dir, tmp_path / "backup")
    restored = restore(tmp_path / "backup", empty_database, target_media)

    assert report.revision is not None and restored.revision == report.revision
    source, copy = _rows(database_url), _rows(empty_database)
    assert copy == source
    assert set(committed_cases) <= {row[0] for row in copy["cases"]}
    assert len(copy["events"]) >= len(committed_cases) and copy["photos"]
    engine = make_engine(empty_database)
    try:
        with Session(engine) as session:
            for case_id in session.scalars(select(Case.id)):
                chain = verify_chain(session, case_id)
                assert chain.intact, (case_id, chain)
            for photo in session.scalars(select(Attachment)):
                assert file_sha256(target_media / photo.storage_key) == photo.sha256
    finally:
        engine.dispose()

    with pytest.raises(BackupError, match="not empty"):
        restore(tmp_path / "backup", empty_database, target_media)  # never over live data


def test_a_tampered_photo_in_a_backup_is_refused(app, database_url, empty_database, tmp_path):
    config = app.config["GRIDAPP"]
    with app.app_context(), Session(db.engine) as session:
        worker = session.scalar(select(User).where(User.username == "grid_worker"))
        store_upload(session, config, worker, _jpeg(3), "p.jpg")  # its file stays on disk
        session.rollback()
    backup(database_url, config.media_dir, tmp_path / "backup")
    original = next(p for p in (tmp_path / "backup" / "media").glob("??/*") if len(p.name) == 64)
    original.write_bytes(original.read_bytes() + b"x")

    with pytest.raises(BackupError, match="sha256"):
        restore(tmp_path / "backup", empty_database, tmp_path / "media")


def test_backup_refuses_a_folder_that_is_not_empty(app, database_url, tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "file").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        backup(database_url, app.config["GRIDAPP"].media_dir, tmp_path / "old")


def test_the_cli_backs_up_and_refuses_to_restore_over_the_live_database(app, tmp_path):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["backup", str(tmp_path / "b")])
    assert made.exit_code == 0, made.output
    assert "backed up" in made.output and (tmp_path / "b" / "manifest.json").is_file()
    refused = runner.invoke(args=["restore", str(tmp_path / "b")])
    assert refused.exit_code != 0 and "not empty" in refused.output
