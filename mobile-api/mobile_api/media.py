"""Photo upload for the phone apps (the same service and answer as ``/api/v1/media``)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from gridapp.api import Blueprint
from gridapp.api.media import AttachmentSchema, FileSchema, refuse_oversized_body, upload_file
from gridapp.auth import BEARER, login_required

blp = Blueprint(
    "mobile_media", __name__, url_prefix="/api/v1/mobile/media", description="Mobile: photos"
)
blp.before_request(refuse_oversized_body)


@blp.route("")
class MobileMedia(MethodView):
    @blp.doc(security=BEARER)
    @blp.arguments(FileSchema, location="files")
    @blp.response(201, AttachmentSchema)
    @login_required()
    def post(self, files: dict[str, Any]) -> dict[str, Any]:
        """Upload a photo taken on site (multipart field `file`); send its id in `photos`."""
        return upload_file(files)
