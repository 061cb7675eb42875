"""The photo upload, mounted on the desk's and the phone's blueprints, and its schemas."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask.views import MethodView
from flask_smorest.fields import Upload as UploadField
from marshmallow import fields
from werkzeug.datastructures import FileStorage

from gridapp.core.errors import PayloadTooLarge, ValidationFailed
from gridapp.core.extensions import db
from gridapp.core.i18n import _
from gridapp.core.limits import accepts_upload, rate_limit
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema
from gridapp.media.models import Attachment
from gridapp.media.services import store_upload

# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
BINARY = {"type": "string", "format": "binary"}


class FileSchema(StrictSchema):
    file = UploadField(
        required=True,
        metadata={"description": "The photo: JPEG, PNG, WebP or HEIC, checked by its content."},
    )


class AttachmentSchema(StrictSchema):
    id = fields.Integer(metadata={"description": "Refer to it as one of a report's `photos`."})
    sha256 = fields.String()
    content_type = fields.String()
    size = fields.Integer(metadata={"description": "Bytes."})
    width = fields.Integer(allow_none=True, metadata={"description": "Pixels, as displayed."})
    height = fields.Integer(allow_none=True)
    taken_at = fields.DateTime(allow_none=True, metadata={"description": "EXIF time, in UTC."})
    exif_location = fields.Method(
        "_exif_location",
        allow_none=True,
        metadata={"description": "WGS84 position from the photo's EXIF GPS, if any."},
    )
    thumbnail_url = fields.Method(
        "_thumbnail_url",
        allow_none=True,
        metadata={"description": "Null until the thumbnail job has run."},
    )
    url = fields.Method("_url", metadata={"description": "The original file."})

    def _exif_location(self, attachment: Attachment) -> dict[str, float] | None:
        if attachment.exif_lon is None or attachment.exif_lat is None:
            return None
        return {"lon": attachment.exif_lon, "lat": attachment.exif_lat}

    def _thumbnail_url(self, attachment: Attachment) -> str | None:
        if not attachment.thumbnail_key:
            return None
        return url_for("media.MediaThumbnail", attachment_id=attachment.id)

    def _url(self, attachment: Attachment) -> str:
        return url_for("media.MediaContent", attachment_id=attachment.id)


def refuse_oversized_body() -> None:
    """Refuse an upload whose declared length is over the limit before the body is parsed."""
    if request.method != "POST" or request.content_length is None:
        return
    limit = current_app.config["GRIDAPP"].max_upload_bytes
    if request.content_length > limit + MULTIPART_OVERHEAD_BYTES:
        message = _("The upload is larger than the limit of %(limit)s bytes.", limit=limit)
        raise PayloadTooLarge(message, errors={"file": message})


def reject_unknown_parts(*, form: tuple[str, ...] = (), files: tuple[str, ...] = ()) -> None:
    """Refuse multipart parts other than those named, as JSON bodies refuse unknown fields."""
    names = (set(request.form) - set(form)) | (set(request.files) - set(files))
    unknown = sorted(name or _("(a part without a name)") for name in names)
    if unknown:
        raise ValidationFailed(
            _("The request has unknown parts."),
            errors={name: _("Unknown field.") for name in unknown},
        )


def mount_upload(blp: Blueprint) -> None:
    """Add the photo upload (``POST`` at the blueprint's root) to a blueprint.

    One implementation, mounted at ``/api/v1/media`` and at ``/api/v1/mobile/media``.
    """
    blp.before_request(refuse_oversized_body)

    @blp.route("")
    class Upload(MethodView):
        @accepts_upload(1)
        @blp.doc(
            security=BEARER,
            description="JPEG, PNG, WebP or HEIC, checked by content, up to the configured "
            "size (413 above it, 415 for another kind). The same file twice is stored once. "
            "A photo no report or action claims within MEDIA_UNCLAIMED_DAYS is forgotten.",
        )
        @rate_limit("upload")
        @blp.arguments(FileSchema, location="files")
        @blp.response(201, AttachmentSchema)
        @login_required()
        def post(self, files: dict[str, Any]) -> Attachment:
            """Upload a photo taken on site (multipart field `file`); send its id in `photos`."""
            reject_unknown_parts(files=("file",))
            upload: FileStorage = files["file"]
            return store_upload(
                db.session(),
                current_app.config["GRIDAPP"],
                current_user(),
                upload.stream,
                upload.filename,
                upload.mimetype or None,
            )
