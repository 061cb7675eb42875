"""Photo upload for the phone apps: the same implementation as ``/api/v1/media``."""

from __future__ import annotations

from gridapp.core.rest import Blueprint
from gridapp.media.upload import mount_upload

blp = Blueprint(
    "mobile_media", __name__, url_prefix="/api/v1/mobile/media", description="Mobile: photos"
)
mount_upload(blp)
