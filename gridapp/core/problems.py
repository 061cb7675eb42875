"""Every error as RFC 9457 problem+json, mapped in one place.

Clients get ``type``, ``title``, ``status``, ``detail`` and, for invalid input, ``errors``: field
path → messages, so a phone can put each message beside its field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

import geo
import workflow
from gridapp.core.errors import GridappError

PROBLEM_TYPE_BASE = "https://gridapp.dev/problems/"
log = logging.getLogger(__name__)


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = request.path if request else None
    if errors:
        body["errors"] = dict(errors)
    if extra:
        body.update(extra)
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json"
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into ``{"location.lon": ["…"]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, path))
    elif isinstance(messages, list | tuple) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = [str(m) for m in messages]
    elif isinstance(messages, list | tuple):
        for i, value in enumerate(messages):
            flat.update(flatten_messages(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def _from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    errors: dict[str, list[str]] = {}
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, Mapping) else None
    if messages:
        # flask-smorest nests messages under the request location (json, query, files …).
        for location, fields in messages.items():
            errors.update(
                flatten_messages(fields)
                if location in _LOCATIONS
                else flatten_messages({location: fields})
            )
    detail = exc.description if status != 422 else "The request has invalid fields."
    headers = {}
    if status == 405 and exc.get_response().headers.get("Allow"):
        headers["Allow"] = exc.get_response().headers["Allow"]
    return problem(status, exc.name, detail, errors=errors or None, headers=headers)


_LOCATIONS = frozenset({"json", "query", "querystring", "form", "files", "headers", "view_args"})


def _from_gridapp_error(exc: GridappError) -> Response:
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.type_slug,
        errors=exc.errors or None,
        extra=exc.extra,
    )


def _from_outside(exc: geo.PointOutsideGrids) -> Response:
    return problem(
        422,
        "Outside the jurisdiction",
        str(exc),
        slug="outside-jurisdiction",
        errors={"location": [str(exc)]},
    )


def _from_unknown_crs(exc: geo.UnknownCRS) -> Response:
    return problem(422, "Invalid input", str(exc), slug="validation", errors={"crs": [str(exc)]})


def _from_transition(exc: workflow.TransitionNotAllowed) -> Response:
    # Who may move the case on now, so a client can say "waiting for the dispatcher".
    extra = {"state": str(exc.state), "waiting_for": [dict(who) for who in exc.waiting_for]}
    return problem(409, "Action not allowed", str(exc), slug="transition-not-allowed", extra=extra)


def _from_missing(exc: workflow.MissingRequirement) -> Response:
    return problem(
        422,
        "Invalid input",
        str(exc),
        slug="validation",
        errors={k: [v] for k, v in exc.fields.items()},
    )


def _from_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "Internal server error", "The server could not complete the request.")


def register_problem_handlers(app: Flask) -> None:
    """Map every error family to problem+json (after flask-smorest registered its own)."""
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(GridappError, _from_gridapp_error)
    app.register_error_handler(geo.PointOutsideGrids, _from_outside)
    app.register_error_handler(geo.UnknownCRS, _from_unknown_crs)
    app.register_error_handler(workflow.TransitionNotAllowed, _from_transition)
    app.register_error_handler(workflow.MissingRequirement, _from_missing)
    app.register_error_handler(Exception, _from_unexpected)
