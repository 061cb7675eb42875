"""Photo upload for the phone apps (the same service and answer as ``/api/v1/media``)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from gridapp.core.blueprint import Blueprint
from gridapp.core.principal import BEARER, login_required
from gridapp.media.blueprint import AttachmentSchema, FileSchema, refuse_oversized_body, upload_file

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
