"""Photos and other evidence: upload, metadata, original and thumbnail."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request, send_file, url_for
from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow import fields
from werkzeug.datastructures import FileStorage

from gridapp.core.blueprint import Blueprint
from gridapp.core.config import Config
from gridapp.core.errors import NotFound, PayloadTooLarge, ValidationFailed
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.schemas import StrictSchema
from gridapp.media.models import Attachment
from gridapp.media.services import get_attachment_for, storage_path, store_upload

blp = Blueprint("media", __name__, url_prefix="/api/v1/media", description="Photos (取证照片)")

# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
BINARY = {"type": "string", "format": "binary"}


class FileSchema(StrictSchema):
    file = Upload(
        required=True,
        metadata={"description": "The photo: JPEG, PNG, WebP or HEIC, checked by its content."},
    )


class ExifLocationSchema(StrictSchema):
    lon = fields.Float()
    lat = fields.Float()


class AttachmentSchema(StrictSchema):
    id = fields.Integer(metadata={"description": "Refer to it as one of a report's `photos`."})
    sha256 = fields.String()
    content_type = fields.String()
    size = fields.Integer(metadata={"description": "Bytes."})
    width = fields.Integer(allow_none=True, metadata={"description": "Pixels, as displayed."})
    height = fields.Integer(allow_none=True)
    taken_at = fields.DateTime(allow_none=True, metadata={"description": "EXIF time, in UTC."})
    exif_location = fields.Nested(
        ExifLocationSchema,
        allow_none=True,
        metadata={"description": "WGS84 position from the photo's EXIF GPS, if any."},
    )
    thumbnail_url = fields.String(
        allow_none=True, metadata={"description": "Null until the thumbnail job has run."}
    )
    url = fields.String(metadata={"description": "The original file."})


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    """Describe an attachment as the API shows it."""
    location = None
    if attachment.exif_lon is not None and attachment.exif_lat is not None:
        location = {"lon": attachment.exif_lon, "lat": attachment.exif_lat}
    thumbnail = (
        url_for("media.MediaThumbnail", attachment_id=attachment.id)
        if attachment.thumbnail_key
        else None
    )
    return {
        "id": attachment.id,
        "sha256": attachment.sha256,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "taken_at": attachment.taken_at,
        "exif_location": location,
        "thumbnail_url": thumbnail,
        "url": url_for("media.MediaContent", attachment_id=attachment.id),
    }


def refuse_oversized_body() -> None:
    """Refuse an upload whose declared length is over the limit before the body is parsed."""
    if request.method != "POST" or request.content_length is None:
        return
    limit = current_app.config["GRIDAPP"].max_upload_bytes
    if request.content_length > limit + MULTIPART_OVERHEAD_BYTES:
        message = f"The upload is larger than the limit of {limit} bytes."
        raise PayloadTooLarge(message, errors={"file": message})


def reject_unknown_parts(*, form: tuple[str, ...] = (), files: tuple[str, ...] = ()) -> None:
    """Refuse multipart parts other than those named, as JSON bodies refuse unknown fields."""
    names = (set(request.form) - set(form)) | (set(request.files) - set(files))
    unknown = sorted(name or "(a part without a name)" for name in names)
    if unknown:
        raise ValidationFailed(
            "The request has unknown parts.", errors={name: "Unknown field." for name in unknown}
        )


def upload_file(files: dict[str, Any]) -> dict[str, Any]:
    """Store the uploaded ``file`` for the signed-in user and describe it."""
    reject_unknown_parts(files=("file",))
    upload: FileStorage = files["file"]
    attachment = store_upload(
        db.session(),
        current_app.config["GRIDAPP"],
        current_user(),
        upload.stream,
        upload.filename,
        upload.mimetype or None,
    )
    return attachment_json(attachment)


def _send_stored(config: Config, key: str, content_type: str, etag: str) -> Response:
    path = storage_path(config, key)
    if not path.is_file():
        raise NotFound("The file is not available.")
    response = send_file(path, mimetype=content_type, conditional=True, etag=etag)
    # Photos are personal evidence: browsers may keep them, shared caches may not.
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


blp.before_request(refuse_oversized_body)


@blp.route("")
class Media(MethodView):
    @blp.doc(security=BEARER)
    @blp.arguments(FileSchema, location="files")
    @blp.response(201, AttachmentSchema)
    @login_required()
    def post(self, files: dict[str, Any]) -> dict[str, Any]:
        """Upload a photo (multipart field `file`); refer to its id in `photos`."""
        return upload_file(files)


@blp.route("/<int:attachment_id>")
class MediaItem(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, AttachmentSchema)
    @login_required()
    def get(self, attachment_id: int) -> dict[str, Any]:
        """Describe a photo: hash, size, EXIF time and place, links."""
        return attachment_json(get_attachment_for(db.session(), current_user(), attachment_id))


@blp.route("/<int:attachment_id>/content")
class MediaContent(MethodView):
    @blp.doc(security=BEARER)
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
    @blp.doc(security=BEARER)
    @blp.response(200, BINARY, content_type="image/jpeg")
    @login_required()
    def get(self, attachment_id: int) -> Response:
        """Download the photo's thumbnail (at most 320 px, JPEG)."""
        attachment = get_attachment_for(db.session(), current_user(), attachment_id)
        if not attachment.thumbnail_key:
            raise NotFound("The thumbnail is not made yet; try again shortly.")
        return _send_stored(
            current_app.config["GRIDAPP"],
            attachment.thumbnail_key,
            "image/jpeg",
            f"{attachment.sha256}-thumb",
        )
