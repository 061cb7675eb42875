"""Photos as evidence (取证照片): checked by content, stored by hash, read within scope.

An upload is read in chunks into a temporary file under ``media_dir/tmp`` while it is counted and
hashed, so an oversized body is refused before any decoding. Pillow then decides what it is (the
file name and the declared type are only hints a client can get wrong or fake), decodes it fully
once, and the file is renamed into place as ``media_dir/<sha[:2]>/<sha>``: the same photo sent
twice is two attachment rows and one file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import pillow_heif
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case
from gridapp.cases.scope import case_visible
from gridapp.core.config import Config
from gridapp.core.errors import (
    NotFound,
    OutOfScope,
    PayloadTooLarge,
    UnsupportedMedia,
    ValidationFailed,
)
from gridapp.core.i18n import _
from gridapp.core.outbox import enqueue_after_commit
from gridapp.media.models import Attachment
from gridapp.media.sweep import touch

log = logging.getLogger(__name__)

MAX_PHOTOS = 9
CHUNK_BYTES = 64 * 1024
# EXIF clocks are the camera's local time; the phones this serves are set to China time.
# A camera's EXIF time without an offset is wall-clock time where the county is.
EXIF_LOCAL_ZONE = workflow.LOCAL_ZONE

# iPhones take HEIC by default; pillow-heif teaches Pillow to read it (and its EXIF).
pillow_heif.register_heif_opener()

# Pillow format → the content type we store and serve. MPO is how Pillow names phone JPEGs
# with a multi-picture index.
CONTENT_TYPES: Mapping[str, str] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}
_OPENERS = ("JPEG", "PNG", "WEBP", "HEIF")

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_ORIENTATION = 0x0112
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4


@dataclass(frozen=True)
class ImageFacts:
    """What the content of an accepted image says about itself."""

    format: str
    content_type: str
    width: int
    height: int
    taken_at: datetime | None
    lon: float | None
    lat: float | None


def accepted_formats() -> list[str]:
    """Return the Pillow formats this installation can open and we accept."""
    Image.init()
    return [name for name in _OPENERS if name in Image.OPEN]


def accepted_content_types() -> list[str]:
    """Return the accepted content types, for error messages and the API description."""
    names = accepted_formats()
    return sorted({CONTENT_TYPES[name] for name in names})


def storage_path(config: Config, key: str) -> Path:
    """Return where a stored key lives on disk."""
    return config.media_dir / key


def store_upload(
    session: Session,
    config: Config,
    user: User,
    data: IO[bytes] | bytes,
    filename: str | None = None,
    declared_content_type: str | None = None,
) -> Attachment:
    """Check, store and record an uploaded photo; its thumbnail is made by a job after commit."""
    stream: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    tmp_dir = config.media_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    tmp_path = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            sha, size = _copy_limited(stream, out, config.max_upload_bytes)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise ValidationFailed(
                _("The file is empty."), errors={"file": _("The file is empty.")}
            )
        facts = inspect_image(tmp_path, declared_content_type, config.media_max_pixels)
        key = f"{sha[:2]}/{sha}"
        final = storage_path(config, key)
        # Reusing a stored copy refreshes its mtime, which tells the media sweep it is wanted.
        if touch(final):
            tmp_path.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            # Same file system as tmp/, so the rename is atomic: readers never see half a file.
            os.replace(tmp_path, final)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    attachment = Attachment(
        sha256=sha,
        content_type=facts.content_type,
        size=size,
        storage_key=key,
        original_name=_clean_name(filename),
        width=facts.width,
        height=facts.height,
        taken_at=facts.taken_at,
        exif_lon=facts.lon,
        exif_lat=facts.lat,
        uploaded_by=user.id,
    )
    session.add(attachment)
    session.flush()
    # Imported here: gridapp.media.jobs imports this module (storage_path).
    from gridapp.media.jobs import make_thumbnail

    enqueue_after_commit(session, make_thumbnail, [attachment.id])
    return attachment


def _copy_limited(stream: IO[bytes], out: IO[bytes], limit: int) -> tuple[str, int]:
    """Copy ``stream`` to ``out`` while hashing; stop as soon as it exceeds ``limit`` bytes."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            message = _too_large_message(limit)
            raise PayloadTooLarge(message, errors={"file": message})
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest(), size


def _too_large_message(limit: int) -> str:
    return _(
        "The file is larger than the limit of %(megabytes).1f MB (%(bytes)s bytes).",
        megabytes=limit / (1024 * 1024),
        bytes=limit,
    )


def _clean_name(filename: str | None) -> str | None:
    # Only kept for display; strip any path a client sent along and cap it to the column.
    if not filename:
        return None
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255] or None


def inspect_image(
    path: Path, declared_content_type: str | None = None, max_pixels: int | None = None
) -> ImageFacts:
    """Identify and fully decode an image; refuse anything but an intact accepted photo."""
    formats = accepted_formats()
    accepted = ", ".join(accepted_content_types())
    if declared_content_type:
        not_accepted = _(
            "The file is not an accepted image (sent as %(declared)s). Accepted types: "
            "%(accepted)s.",
            declared=declared_content_type,
            accepted=accepted,
        )
    else:
        not_accepted = _(
            "The file is not an accepted image. Accepted types: %(accepted)s.", accepted=accepted
        )
    try:
        # Only our formats' parsers ever see the bytes (no EPS/Ghostscript, no exotic codecs).
        # verify() checks structure (PNG CRCs) but leaves the image unusable, so reopen.
        with Image.open(path, formats=formats) as probe:
            # The header's dimensions, before a single pixel is decoded: a small file claiming
            # 9000×9000 is refused here, for the cost of reading its header.
            _refuse_bomb(*probe.size, max_pixels)
            probe.verify()
        with Image.open(path, formats=formats) as image:
            fmt = image.format or ""
            width, height = image.size
            if fmt in ("JPEG", "MPO"):
                # Decode at 1/8 scale: the whole stream is still read (a cut-off file fails) but
                # a 50-megapixel photo does not need 150 MB to be checked.
                image.draft(None, (max(1, width // 8), max(1, height // 8)))
            image.load()
            # Read after load(): a PNG's eXIf chunk may follow the pixel data.
            orientation, taken_at, lon, lat = _exif_facts(image)
    except Image.DecompressionBombError as exc:
        message = _(
            "The image has too many pixels (more than %(pixels)s); send a photo of normal size.",
            pixels=pixel_limit(max_pixels),
        )
        raise ValidationFailed(message, errors={"file": message}) from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedMedia(not_accepted, errors={"file": not_accepted}) from exc
    except _DECODE_ERRORS as exc:
        # Pillow reports cut-off or corrupt data with different exceptions depending on the codec.
        message = _(
            "The image is damaged or incomplete and can't be decoded (%(error)s).", error=exc
        )
        raise UnsupportedMedia(message, errors={"file": message}) from exc
    if fmt not in CONTENT_TYPES:
        raise UnsupportedMedia(not_accepted, errors={"file": not_accepted})
    if orientation in (5, 6, 7, 8):
        # Rotated a quarter turn: report the size people see, as the thumbnail shows it.
        width, height = height, width
    return ImageFacts(
        format=fmt,
        content_type=CONTENT_TYPES[fmt],
        width=width,
        height=height,
        taken_at=taken_at,
        lon=lon,
        lat=lat,
    )


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)


def pixel_limit(max_pixels: int | None = None) -> int:
    """The most pixels a photo may have: MEDIA_MAX_PIXELS, never above Pillow's own limit."""
    limits = [n for n in (max_pixels, Image.MAX_IMAGE_PIXELS) if n]
    return min(limits) if limits else 0


def _refuse_bomb(width: int, height: int, max_pixels: int | None = None) -> None:
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that; refuse the whole range, and
    # below it what the workers should not spend memory on (a 50 MP photo decodes to 150 MB).
    limit = pixel_limit(max_pixels)
    if limit and width * height > limit:
        raise Image.DecompressionBombError(f"{width}×{height} pixels")


def _exif_facts(
    image: Image.Image,
) -> tuple[int | None, datetime | None, float | None, float | None]:
    """Return orientation, time taken and GPS (lon, lat) from EXIF, or Nones when unreadable."""
    try:
        exif = image.getexif()
        orientation = exif.get(_ORIENTATION)
        taken_at = exif_taken_at(exif.get_ifd(_EXIF_IFD))
        lon, lat = exif_location(exif.get_ifd(_GPS_IFD))
    except _DECODE_ERRORS as exc:
        # Broken metadata is common (editing apps) and no reason to refuse the photo itself.
        log.info("unreadable EXIF ignored: %s", exc)
        return None, None, None, None
    return (orientation if isinstance(orientation, int) else None), taken_at, lon, lat


def exif_taken_at(exif_ifd: Mapping[int, Any]) -> datetime | None:
    """Read DateTimeOriginal as aware UTC (local camera time; China time unless an offset says)."""
    raw = _text(exif_ifd.get(_DATETIME_ORIGINAL))
    if not raw:
        return None
    try:
        local = datetime.strptime(raw[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None  # cameras without a set clock write "0000:00:00 00:00:00" or blanks
    zone = _offset_zone(_text(exif_ifd.get(_OFFSET_TIME_ORIGINAL)))
    return local.replace(tzinfo=zone or EXIF_LOCAL_ZONE).astimezone(UTC)


def _offset_zone(raw: str | None) -> timezone | None:
    # OffsetTimeOriginal is "+08:00" / "-05:30"; anything else means "unknown".
    if not raw or len(raw) < 6 or raw[0] not in "+-" or raw[3] != ":":
        return None
    try:
        hours, minutes = int(raw[1:3]), int(raw[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes > 59:
        return None
    sign = 1 if raw[0] == "+" else -1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def exif_location(gps_ifd: Mapping[int, Any]) -> tuple[float | None, float | None]:
    """Read the GPS position as decimal (lon, lat), honouring the N/S and E/W references."""
    lat = _degrees(gps_ifd.get(_GPS_LAT))
    lon = _degrees(gps_ifd.get(_GPS_LON))
    if lat is None or lon is None:
        return None, None
    if (_text(gps_ifd.get(_GPS_LAT_REF)) or "N").upper().startswith("S"):
        lat = -lat
    if (_text(gps_ifd.get(_GPS_LON_REF)) or "E").upper().startswith("W"):
        lon = -lon
    # A receiver without a fix often writes 0/0; out-of-range values are garbage, not places.
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
        return None, None
    return round(lon, 7), round(lat, 7)


def _degrees(value: Any) -> float | None:
    """Turn EXIF degrees/minutes/seconds rationals into decimal degrees."""
    if not isinstance(value, tuple | list) or not 1 <= len(value) <= 3:
        return None
    try:
        parts = [float(part) for part in value]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if any(part != part or part < 0 for part in parts):  # NaN from a 0/0 rational, or negative
        return None
    parts += [0.0] * (3 - len(parts))
    return parts[0] + parts[1] / 60.0 + parts[2] / 3600.0


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value).strip("\x00 ")
    return text or None


def get_attachment_for(session: Session, user: User, attachment_id: int) -> Attachment:
    """Return an attachment the user may see: their own upload, or a photo of a visible case."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is not None:
        if attachment.uploaded_by == user.id:
            return attachment
        if attachment.case_id is not None:
            case = session.get(Case, attachment.case_id)
            if case is not None and case_visible(user, case):
                return attachment
    # The same answer for "missing" and "not yours", so ids can't be probed.
    if attachment is None:
        raise NotFound(_("There is no media %(id)s.", id=attachment_id))
    raise OutOfScope(
        _("There is no media %(id)s.", id=attachment_id),
        target_type="attachment",
        target_id=attachment_id,
    )


def attachments_for_claim(
    session: Session, user: User, ids: Sequence[int], case: Case | None = None
) -> list[Attachment]:
    """Return the photos ``user`` may attach to a report or an action, in the order given."""
    if not ids:
        return []
    if len(ids) > MAX_PHOTOS:
        raise ValidationFailed(
            _("Too many photos."),
            errors={"photos": _("At most %(max)s photos at once.", max=MAX_PHOTOS)},
        )
    rows = {a.id: a for a in session.scalars(select(Attachment).where(Attachment.id.in_(ids)))}
    bad: list[str] = []
    for photo_id in ids:
        row = rows.get(photo_id)
        mine = row is not None and row.uploaded_by == user.id and row.case_id is None
        on_case = row is not None and case is not None and row.case_id == case.id
        if not (mine or on_case):
            bad.append(str(photo_id))
    if bad:
        raise ValidationFailed(
            _("Some photos can't be used."),
            errors={"photos": _("Unknown or not yours to attach: %(ids)s.", ids=", ".join(bad))},
        )
    return [rows[i] for i in ids]
