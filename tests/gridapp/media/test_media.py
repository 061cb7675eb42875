"""Photo upload, content checks, storage by hash, scope and thumbnails (DESIGN §3, §7, §8, §9)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import random
import re
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from gridapp.accounts.models import User
from gridapp.cases.services import report_case
from gridapp.catalogue.models import Category
from gridapp.core.errors import NotFound, PayloadTooLarge, ValidationFailed
from gridapp.core.extensions import db
from gridapp.core.models import OutboxMessage
from gridapp.core.queue import job_path
from gridapp.media.jobs import make_thumbnail
from gridapp.media.models import Attachment
from gridapp.media.services import (
    attachments_for_claim,
    get_attachment_for,
    store_upload,
)
from tests.gridapp.conftest import problem_of

MEDIA = "/api/v1/media"
MOBILE_MEDIA = "/api/v1/mobile/media"
# 衡山县城 (Hengshan county seat): 27°14'24" N, 112°52'12" E.
TAKEN_LAT, TAKEN_LON = 27.24, 112.87


def photo(
    fmt: str = "JPEG",
    size: tuple[int, int] = (64, 48),
    *,
    taken: str | None = None,
    offset: str | None = None,
    gps: bool = False,
    south_west: bool = False,
    orientation: int | None = None,
) -> bytes:
    """Draw a small image in a random colour (so each test has its own bytes) with EXIF."""
    colour = tuple(random.randrange(256) for _ in range(3))
    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
        if offset:
            exif.get_ifd(0x8769)[0x9011] = offset
    if gps:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2] = ("S" if south_west else "N"), (27.0, 14.0, 24.0)
        ifd[3], ifd[4] = ("W" if south_west else "E"), (112.0, 52.0, 12.0)
    out = io.BytesIO()
    image.save(out, fmt, exif=exif)
    return out.getvalue()


def upload(
    client: Any, headers: dict[str, str], data: bytes, name: str = "x.jpg", url: str = MEDIA
) -> Any:
    return client.post(
        url,
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        headers=headers,
    )


def user_named(username: str) -> User:
    user = db.session().scalar(select(User).where(User.username == username))
    assert user is not None
    return user


def media_dir(app: Any) -> Path:
    return Path(app.config["GRIDAPP"].media_dir)


def test_jpeg_upload_answers_hash_exif_time_and_place(client: Any, auth: Any, app: Any) -> None:
    data = photo(taken="2026:03:14 09:30:00", gps=True)

    response = upload(client, auth("grid_worker"), data)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["content_type"] == "image/jpeg"
    assert (body["size"], body["width"], body["height"]) == (len(data), 64, 48)
    # 09:30 on a camera clock in China is 01:30 UTC.
    assert datetime.fromisoformat(body["taken_at"]) == datetime(2026, 3, 14, 1, 30, tzinfo=UTC)
    assert body["exif_location"] == pytest.approx({"lon": TAKEN_LON, "lat": TAKEN_LAT})
    assert body["thumbnail_url"] is None
    assert body["url"] == f"{MEDIA}/{body['id']}/content"
    stored = media_dir(app) / body["sha256"][:2] / body["sha256"]
    assert stored.read_bytes() == data
    assert list((media_dir(app) / "tmp").iterdir()) == []


def test_exif_offset_and_southern_western_refs_are_honoured(client: Any, auth: Any) -> None:
    data = photo(taken="2026:03:14 09:30:00", offset="-05:00", gps=True, south_west=True)

    body = upload(client, auth("grid_worker"), data).get_json()

    assert datetime.fromisoformat(body["taken_at"]) == datetime(2026, 3, 14, 14, 30, tzinfo=UTC)
    assert body["exif_location"] == pytest.approx({"lon": -TAKEN_LON, "lat": -TAKEN_LAT})


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_are_accepted_by_content(
    client: Any, auth: Any, fmt: str, content_type: str
) -> None:
    # The name says .jpg: the content decides.
    response = upload(client, auth("grid_worker"), photo(fmt), name="x.jpg")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["content_type"] == content_type
    assert (body["taken_at"], body["exif_location"]) == (None, None)


def test_iphone_heic_keeps_its_exif_and_gets_a_jpeg_thumbnail(
    client: Any, auth: Any, app: Any
) -> None:
    headers = auth("grid_worker")
    data = photo("HEIF", size=(120, 90), taken="2026:03:14 09:30:00", gps=True)

    response = upload(client, headers, data, name="IMG_0001.HEIC")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["content_type"] == "image/heic"
    assert (body["width"], body["height"]) == (120, 90)
    assert datetime.fromisoformat(body["taken_at"]) == datetime(2026, 3, 14, 1, 30, tzinfo=UTC)
    assert body["exif_location"] == pytest.approx({"lon": TAKEN_LON, "lat": TAKEN_LAT})
    original = client.get(body["url"], headers=headers)
    assert original.status_code == 200
    assert original.mimetype == "image/heic"
    key = make_thumbnail(body["id"])
    assert key is not None
    with Image.open(media_dir(app) / key) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (120, 90)


def test_mobile_upload_answers_the_same(client: Any, auth: Any) -> None:
    data = photo(gps=True)

    response = upload(client, auth("grid_worker"), data, url=MOBILE_MEDIA)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_text_named_jpg_is_refused_naming_the_accepted_types(client: Any, auth: Any) -> None:
    response = upload(client, auth("grid_worker"), b"just some text, not a photo\n" * 20)

    body = problem_of(response, 415)
    assert "image/jpeg" in body["detail"] and "image/png" in body["detail"]
    assert "file" in body["errors"]


def test_truncated_jpeg_is_refused(client: Any, auth: Any) -> None:
    noise = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG")
    data = out.getvalue()

    response = upload(client, auth("grid_worker"), data[: len(data) // 2])

    assert response.status_code in (415, 422)
    assert "file" in problem_of(response, response.status_code)["errors"]


def png_header_only(width: int, height: int) -> bytes:
    """Make a tiny PNG that claims ``width`` × ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [10_000, 20_000])
def test_decompression_bombs_are_refused(client: Any, auth: Any, side: int) -> None:
    response = upload(client, auth("grid_worker"), png_header_only(side, side), name="bomb.png")

    body = problem_of(response, 422)
    assert "pixels" in body["errors"]["file"][0]


def test_missing_file_is_a_field_error(client: Any, auth: Any) -> None:
    response = client.post(
        MEDIA, data={}, content_type="multipart/form-data", headers=auth("grid_worker")
    )

    assert "file" in problem_of(response, 422)["errors"]


@pytest.mark.parametrize("url", [MEDIA, "/api/v1/mobile/media"])
def test_unknown_multipart_parts_are_field_errors(client: Any, auth: Any, url: str) -> None:
    response = client.post(
        url,
        data={
            "file": (io.BytesIO(photo()), "p.jpg"),
            "caption": "井盖",
            "extra": (io.BytesIO(b"x"), "x"),
        },
        content_type="multipart/form-data",
        headers=auth("grid_worker"),
    )

    assert set(problem_of(response, 422)["errors"]) == {"caption", "extra"}


def test_upload_needs_sign_in(client: Any) -> None:
    problem_of(upload(client, {}, photo()), 401)


@pytest.mark.parametrize("extra", [1, 1024 * 1024])
def test_oversize_upload_is_refused_before_decoding(
    client: Any, auth: Any, app: Any, extra: int
) -> None:
    # Random bytes would be a 415 if decoded: a 413 shows the size was checked first. One byte
    # over reaches the service's counting read; a megabyte over is refused by Content-Length.
    limit = app.config["GRIDAPP"].max_upload_bytes
    headers = auth("grid_worker")
    before = db.session().scalar(select(func.count()).select_from(Attachment))

    response = upload(client, headers, os.urandom(limit + extra), name="huge.png")

    body = problem_of(response, 413)
    assert str(limit) in body["detail"]
    assert db.session().scalar(select(func.count()).select_from(Attachment)) == before


def test_service_stops_reading_at_the_limit(app: Any, session: Any) -> None:
    config = dataclasses.replace(app.config["GRIDAPP"], max_upload_bytes=1000)
    noise = Image.frombytes("RGB", (40, 40), os.urandom(40 * 40 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    data = out.getvalue()
    assert len(data) > 1000

    with pytest.raises(PayloadTooLarge):
        store_upload(db.session(), config, user_named("grid_worker"), data, "x.png", "image/png")

    assert list((config.media_dir / "tmp").iterdir()) == []


def test_same_photo_twice_is_two_rows_and_one_file(client: Any, auth: Any, app: Any) -> None:
    headers = auth("grid_worker")
    data = photo()

    first = upload(client, headers, data).get_json()
    second = upload(client, headers, data).get_json()

    assert first["id"] != second["id"]
    assert first["sha256"] == second["sha256"]
    rows = db.session().scalars(select(Attachment).where(Attachment.sha256 == first["sha256"]))
    assert {r.storage_key for r in rows} == {f"{first['sha256'][:2]}/{first['sha256']}"}
    folder = media_dir(app) / first["sha256"][:2]
    assert [p.name for p in folder.iterdir() if p.name.startswith(first["sha256"])] == [
        first["sha256"]
    ]


def test_only_the_uploader_reads_an_unattached_photo(client: Any, auth: Any) -> None:
    data = photo()
    created = upload(client, auth("grid_worker"), data).get_json()
    other = auth("grid_worker2")
    owner = auth("grid_worker")

    problem_of(client.get(f"{MEDIA}/{created['id']}", headers=other), 404)
    problem_of(client.get(f"{MEDIA}/{created['id']}/content", headers=other), 404)
    problem_of(client.get(f"{MEDIA}/999999999", headers=owner), 404)
    meta = client.get(f"{MEDIA}/{created['id']}", headers=owner)
    content = client.get(f"{MEDIA}/{created['id']}/content", headers=owner)

    assert meta.status_code == 200
    assert meta.get_json() == created
    assert content.status_code == 200
    assert content.data == data
    assert content.mimetype == "image/jpeg"
    assert "private" in content.headers["Cache-Control"]


def test_a_case_photo_is_visible_to_whoever_sees_the_case(client: Any, auth: Any, app: Any) -> None:
    created = upload(client, auth("grid_worker"), photo()).get_json()
    session = db.session()
    category = session.scalar(select(Category.code).where(Category.active.is_(True)).limit(1))
    lon, lat = app.config["DEMO_REPORT"].sample_point
    report_case(
        session,
        app.config["GRIDAPP"],
        user_named("grid_worker"),
        category=category,
        description="破损井盖",
        lon=lon,
        lat=lat,
        photos=[created["id"]],
    )
    session.commit()

    supervisor = auth("supervisor")
    assert client.get(f"{MEDIA}/{created['id']}", headers=supervisor).status_code == 200
    problem_of(client.get(f"{MEDIA}/{created['id']}", headers=auth("grid_worker2")), 404)


def test_upload_queues_a_thumbnail_job_with_only_the_id(client: Any, auth: Any) -> None:
    created = upload(client, auth("grid_worker"), photo()).get_json()

    jobs = db.session().scalars(
        select(OutboxMessage).where(OutboxMessage.job == job_path(make_thumbnail))
    )

    assert [m.args for m in jobs if m.args == [created["id"]]] == [[created["id"]]]


def test_thumbnail_job_makes_an_upright_small_jpeg_once(client: Any, auth: Any, app: Any) -> None:
    headers = auth("grid_worker")
    # 800 × 600 pixels stored, rotated a quarter turn by EXIF: people see 600 × 800.
    created = upload(client, headers, photo(size=(800, 600), orientation=6)).get_json()
    assert (created["width"], created["height"]) == (600, 800)
    problem_of(client.get(f"{MEDIA}/{created['id']}/thumbnail", headers=headers), 404)

    key = make_thumbnail(created["id"])

    assert key is not None
    path = media_dir(app) / key
    with Image.open(path) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (240, 320)
    made = path.stat().st_mtime_ns
    assert make_thumbnail(created["id"]) == key
    assert path.stat().st_mtime_ns == made
    meta = client.get(f"{MEDIA}/{created['id']}", headers=headers).get_json()
    assert meta["thumbnail_url"] == f"{MEDIA}/{created['id']}/thumbnail"
    response = client.get(meta["thumbnail_url"], headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.data == path.read_bytes()


def test_thumbnail_of_a_missing_attachment_is_nothing(app: Any, session: Any) -> None:
    assert make_thumbnail(999_999_999) is None


def test_get_attachment_for_hides_other_uploads(app: Any, session: Any) -> None:
    config = app.config["GRIDAPP"]
    owner, other = user_named("grid_worker"), user_named("grid_worker2")
    attachment = store_upload(db.session(), config, owner, photo("PNG"), "a.png", "image/png")

    assert get_attachment_for(db.session(), owner, attachment.id) is attachment
    with pytest.raises(NotFound):
        get_attachment_for(db.session(), other, attachment.id)


def test_attachments_for_claim_lists_the_bad_ids(app: Any, session: Any) -> None:
    config = app.config["GRIDAPP"]
    owner, other = user_named("grid_worker"), user_named("grid_worker2")
    mine = store_upload(db.session(), config, owner, photo(), "a.jpg", "image/jpeg")
    theirs = store_upload(db.session(), config, other, photo(), "b.jpg", "image/jpeg")

    assert attachments_for_claim(db.session(), owner, [mine.id]) == [mine]
    assert attachments_for_claim(db.session(), owner, []) == []
    with pytest.raises(ValidationFailed) as caught:
        attachments_for_claim(db.session(), owner, [mine.id, theirs.id, 999_999_999])
    named = set(re.findall(r"\d+", caught.value.errors["photos"]))
    assert named == {str(theirs.id), "999999999"}
    with pytest.raises(ValidationFailed) as too_many:
        attachments_for_claim(db.session(), owner, [mine.id] * 10)
    assert "9" in too_many.value.errors["photos"]


def test_openapi_documents_the_upload_as_multipart(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()

    for path in (MEDIA, MOBILE_MEDIA):
        schema = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
        ref = schema["schema"]["$ref"].rsplit("/", 1)[-1]
        upload_field = spec["components"]["schemas"][ref]["properties"]["file"]
        assert (upload_field["type"], upload_field["format"]) == ("string", "binary")


def jpeg_header_only(width: int, height: int) -> bytes:
    """Make a JPEG of a few hundred bytes whose frame header claims ``width`` × ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


@pytest.mark.parametrize(
    "name,data",
    [
        # Just under Pillow's own limit (89.5 MP), over MEDIA_MAX_PIXELS (50 MP by default).
        ("under-pillow.png", png_header_only(9_000, 9_900)),
        ("under-pillow.jpg", jpeg_header_only(9_000, 9_900)),
        ("wide.jpg", jpeg_header_only(65_000, 1_000)),
    ],
)
def test_too_many_pixels_are_refused_from_the_header(
    client: Any, auth: Any, name: str, data: bytes
) -> None:
    response = upload(client, auth("grid_worker"), data, name=name)

    # 422 "too many pixels", not 415 "damaged": the refusal came before any pixel was decoded
    # (the files hold no pixels to decode).
    body = problem_of(response, 422)
    assert "pixels" in body["errors"]["file"][0]
    assert len(data) < 2_000


def test_the_pixel_limit_is_a_setting(app: Any, client: Any, auth: Any) -> None:
    small = png_header_only(3_000, 3_000)
    config = app.config["GRIDAPP"]
    app.config["GRIDAPP"] = dataclasses.replace(config, media_max_pixels=1_000_000)
    try:
        response = upload(client, auth("grid_worker"), small, name="nine-mp.png")
    finally:
        app.config["GRIDAPP"] = config

    assert "1000000" in problem_of(response, 422)["errors"]["file"][0].replace(",", "")


def test_writers_go_on_while_a_thumbnail_is_decoded(app: Any, monkeypatch: Any) -> None:
    # The decode takes tens of ms for a phone's JPEG, hundreds for a large PNG; on SQLite a
    # transaction that may write holds the one write lock from its start, so the decode runs
    # outside any (committed rows on connections of their own: the suite's session shares one).
    from sqlalchemy import delete
    from sqlalchemy.orm import Session

    from gridapp.core.outbox import run_outbox_message
    from gridapp.media import jobs as media_jobs
    from tests.gridapp.held_jobs import Hold, written_while_held

    config = app.config["GRIDAPP"]
    with app.app_context(), Session(db.engine, expire_on_commit=False) as setup:
        owner = setup.scalar(select(User).where(User.username == "grid_worker"))
        attachment = store_upload(setup, config, owner, photo(size=(640, 480)), "a.jpg")
        message = OutboxMessage(job=job_path(make_thumbnail), args=[attachment.id])
        setup.add(message)
        setup.commit()
    hold = Hold(media_jobs._render)
    monkeypatch.setattr(media_jobs, "_render", hold)
    try:
        went_through, key = written_while_held(app, hold, lambda: run_outbox_message(message.id))
        assert went_through  # while the decode was held
        with app.app_context(), Session(db.engine) as check:
            stored = check.get(Attachment, attachment.id)
            assert key == stored.thumbnail_key and key is not None
            assert (media_dir(app) / stored.thumbnail_key).exists()
            assert check.get(OutboxMessage, message.id).done_at is not None
    finally:
        with app.app_context(), Session(db.engine) as cleanup:
            cleanup.execute(delete(OutboxMessage).where(OutboxMessage.id == message.id))
            cleanup.execute(delete(Attachment).where(Attachment.id == attachment.id))
            cleanup.commit()
