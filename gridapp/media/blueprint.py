"""Photos and other evidence: upload, metadata, original and thumbnail."""

from __future__ import annotations

from flask import Response, current_app, send_file
from flask.views import MethodView

from gridapp.core.config import Config
from gridapp.core.errors import NotFound
from gridapp.core.extensions import db
from gridapp.core.i18n import _
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.media.models import Attachment
from gridapp.media.services import get_attachment_for, storage_path
from gridapp.media.upload import BINARY, AttachmentSchema, mount_upload

blp = Blueprint("media", __name__, url_prefix="/api/v1/media", description="Photos")


def _send_stored(config: Config, key: str, content_type: str, etag: str) -> Response:
    path = storage_path(config, key)
    if not path.is_file():
        raise NotFound(_("The file is not available."))
    response = send_file(path, mimetype=content_type, conditional=True, etag=etag)
    # Photos are personal evidence: browsers may keep them, shared caches may not.
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


mount_upload(blp)


@blp.route("/<int:attachment_id>")
class MediaItem(MethodView):
    @blp.doc(
        security=BEARER,
        description="Your own uploads, and the photos of the cases you may see. Anything else "
        "is a 404, the same as a missing id. `thumbnail_url` is null until the thumbnail is "
        "made.",
    )
    @blp.response(200, AttachmentSchema)
    @login_required()
    def get(self, attachment_id: int) -> Attachment:
        """Describe a photo: hash, size, EXIF time and place, links."""
        return get_attachment_for(db.session(), current_user(), attachment_id)


@blp.route("/<int:attachment_id>/content")
class MediaContent(MethodView):
    @blp.doc(
        security=BEARER,
        description="Who may see the photo (GET /api/v1/media/{attachment_id}); else 404. The "
        "ETag is the file's SHA-256: send it as If-None-Match for a 304. Private caching only.",
    )
    @blp.response(200, BINARY, content_type="image/*")
    @login_required()
    def get(self, attachment_id: int) -> Response:
        """Download the original photo."""
        attachment = get_attachment_for(db.session(), current_user(), attachment_id)
        return _send_stored(
            current_app.config["GRIDAPP"],
            attachment.storage_key,
            attachment.content_type,
            attachment.sha256,
        )


@blp.route("/<int:attachment_id>/thumbnail")
class MediaThumbnail(MethodView):
    @blp.doc(
        security=BEARER,
        description="Who may see the photo; else 404. A 404 also while the thumbnail is being "
        "made, shortly after the upload: retry, or wait for `thumbnail_url`.",
    )
    @blp.response(200, BINARY, content_type="image/jpeg")
    @login_required()
    def get(self, attachment_id: int) -> Response:
        """Download the photo's thumbnail (at most 320 px, JPEG)."""
        attachment = get_attachment_for(db.session(), current_user(), attachment_id)
        if not attachment.thumbnail_key:
            raise NotFound(_("The thumbnail is not made yet; try again shortly."))
        return _send_stored(
            current_app.config["GRIDAPP"],
            attachment.thumbnail_key,
            "image/jpeg",
            f"{attachment.sha256}-thumb",
        )
