"""Serve the built web console at /console/ (every file from this package: no CDN)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory

from gridapp.core.errors import NotFound
from gridapp.core.i18n import _

STATIC = Path(__file__).resolve().parent / "static"

bp = Blueprint("console", __name__)


@bp.get("/")
def home() -> Response:
    """Send the visitor to the console."""
    return redirect("/console/", code=302)  # type: ignore[return-value]


@bp.get("/console")
@bp.get("/console/")
@bp.get("/console/<path:path>")
def console(path: str = "") -> Response:
    """Serve a built file, or the page itself for the console's own routes (history mode)."""
    target = STATIC / path
    if path and target.is_file():
        response = send_from_directory(STATIC, path)
        if path.startswith("assets/"):
            # Vite names assets by content hash: they never change under the same name.
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
    if path.startswith("assets/") or not (STATIC / "index.html").is_file():
        raise NotFound(_("The console is not built: run `make console`."))
    response = send_from_directory(STATIC, "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response
