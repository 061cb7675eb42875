"""Make photo thumbnails (queued through the outbox after an upload commits)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import current_app
from PIL import Image, ImageOps

from gridapp.core.config import Config
from gridapp.core.jobs import job_context, own_transactions
from gridapp.media.models import Attachment
from gridapp.media.services import pixel_limit, storage_path
from gridapp.media.sweep import touch

THUMBNAIL_PX = 320
THUMBNAIL_QUALITY = 80


def thumbnail_key(sha256: str) -> str:
    """Return the storage key of a photo's thumbnail (content-addressed, like the original)."""
    return f"thumbs/{sha256[:2]}/{sha256}-{THUMBNAIL_PX}.jpg"


@own_transactions
def make_thumbnail(attachment_id: int) -> str | None:
    """Make a ≤320 px JPEG thumbnail of an attachment; return its key (None if it is gone).

    The photo is decoded outside any write transaction (tens of ms for a phone's JPEG, a few
    hundred for a large PNG: on SQLite every writer would wait that long), then the key is
    written in a short transaction of its own.
    """
    with job_context(read_only=True) as session:
        attachment = session.get(Attachment, attachment_id)
        if attachment is None:
            return None  # the upload was rolled back or removed: nothing to do
        config: Config = current_app.config["GRIDAPP"]
        if attachment.thumbnail_key and storage_path(config, attachment.thumbnail_key).exists():
            return attachment.thumbnail_key
        key = thumbnail_key(attachment.sha256)
        target = storage_path(config, key)
        source = storage_path(config, attachment.storage_key)
    if not _within_limit(source, config.media_max_pixels):
        # Stored before the limit was lowered: no thumbnail rather than a worker out of memory.
        return None
    # Another upload of the same bytes may already have made it; only the row is missing.
    # Touching it also tells the media sweep it is wanted again.
    if not touch(target):
        _render(source, target)
    with job_context() as session:
        attachment = session.get(Attachment, attachment_id)
        if attachment is None:
            return None  # removed meanwhile: the media sweep takes the unused file
        attachment.thumbnail_key = key
    return key


def _within_limit(source: Path, max_pixels: int) -> bool:
    """Tell from the file's header alone whether its pixels are within the limit."""
    with Image.open(source) as image:
        return image.width * image.height <= pixel_limit(max_pixels)


def _render(source: Path, target: Path) -> None:
    """Write the thumbnail to a temporary file, then rename it into place atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        # Let JPEG decode at reduced scale; the thumbnail never needs the full pixels.
        image.draft(None, (THUMBNAIL_PX * 2, THUMBNAIL_PX * 2))
        upright = ImageOps.exif_transpose(image)
        upright.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
        rgb = _flatten(upright)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".thumb-")
    try:
        with os.fdopen(fd, "wb") as out:
            # No EXIF in the thumbnail: it is already upright and must not carry the GPS along.
            rgb.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _flatten(image: Image.Image) -> Image.Image:
    """Return an RGB image, putting transparent areas on white (JPEG has no alpha)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
