"""Every error as RFC 9457 problem+json, mapped in one place.

Clients get ``type``, ``title``, ``status``, ``detail`` and, for invalid input, ``errors``: field
path → messages, so a phone can put each message beside its field. Whatever raised it
(marshmallow, webargs, a service's ``ValidationFailed``, a workflow requirement), ``errors`` has
one shape: a flat object from a dotted path (``location.lon``, ``photos.0``) to a list of strings,
and every 422 has it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

import geo
import workflow
from gridapp.core.denials import record_denial
from gridapp.core.errors import Forbidden, GridappError, OutOfScope
from gridapp.core.i18n import N_, gettext, join_clauses, translate_message
from gridapp.core.refusals import refusal_detail, requirement_messages

PROBLEM_TYPE_BASE = "https://gridapp.dev/problems/"
log = logging.getLogger(__name__)


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str | None = None,
    errors: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build a problem+json response; ``errors`` may be nested or hold bare strings.

    ``title`` is the English one (a msgid), shown translated; so are the messages.
    """
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": gettext(title),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = request.path if request else None
    field_errors = flatten_messages(errors) if errors else {}
    if status == 422 and not field_errors:
        # A client reads a 422 by its fields; with none to blame, blame the whole body, as
        # marshmallow does for a schema-level error.
        field_errors = {"_schema": [detail or gettext(title)]}
    if field_errors:
        body["errors"] = field_errors
    if extra:
        body.update(extra)
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json"
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn nested messages into ``{"location.lon": ["…"], "photos.0": ["…"]}``.

    Marshmallow nests by field name and list index; services write ``{"field": "message"}``.
    Either way each path gets a list of strings; a message with no path is the body's
    (``_schema``), and a path met twice keeps every message.
    """
    flat: dict[str, list[str]] = {}
    _collect(messages, prefix, flat)
    return flat


def _collect(messages: Any, path: str, flat: dict[str, list[str]]) -> None:
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            _collect(value, f"{path}.{key}" if path else str(key), flat)
    elif isinstance(messages, list | tuple):
        for i, value in enumerate(messages):
            if isinstance(value, Mapping | list | tuple):
                _collect(value, f"{path}.{i}" if path else str(i), flat)
            else:
                _collect(value, path, flat)
    elif messages is not None:
        flat.setdefault(path or "_schema", []).append(translate_message(str(messages)))


def _from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, Mapping) else None
    errors: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        # flask-smorest nests messages under the request location (json, query, files …):
        # the client named the field, not where it went, so the location is dropped.
        for location, fields in messages.items():
            _collect(fields if location in _LOCATIONS else {location: fields}, "", errors)
    elif messages:
        errors = flatten_messages(messages)
    detail = translate_message(exc.description or "")
    if status == 422:
        detail = gettext("The request has invalid fields.")
    headers = {}
    if status == 405 and exc.get_response().headers.get("Allow"):
        headers["Allow"] = exc.get_response().headers["Allow"]
    return problem(status, exc.name, detail, errors=errors or None, headers=headers)


_LOCATIONS = frozenset({"json", "query", "querystring", "form", "files", "headers", "view_args"})


def from_gridapp_error(exc: GridappError) -> Response:
    if isinstance(exc, Forbidden | OutOfScope):
        record_denial(exc)
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.type_slug,
        errors=exc.errors or None,
        extra=exc.extra,
    )


def _from_outside(exc: geo.PointOutsideGrids) -> Response:
    detail = gettext(
        "Point (%(lon)s, %(lat)s) is outside the jurisdiction", lon=exc.lon, lat=exc.lat
    )
    return problem(
        422,
        N_("Outside the jurisdiction"),
        detail,
        slug="outside-jurisdiction",
        errors={"location": [detail]},
    )


def _from_unknown_crs(exc: geo.UnknownCRS) -> Response:
    detail = translate_message(str(exc))
    return problem(422, N_("Invalid input"), detail, slug="validation", errors={"crs": [detail]})


def _from_transition(exc: workflow.TransitionNotAllowed) -> Response:
    # Who may move the case on now, so a client can say "waiting for the dispatcher".
    extra = {"state": str(exc.state), "waiting_for": [dict(who) for who in exc.waiting_for]}
    return problem(
        409,
        N_("Action not allowed"),
        refusal_detail(exc),
        slug="transition-not-allowed",
        extra=extra,
    )


def _from_missing(exc: workflow.MissingRequirement) -> Response:
    messages = requirement_messages(exc)
    return problem(
        422,
        N_("Invalid input"),
        join_clauses(messages.values()),
        slug="validation",
        errors=messages,
    )


def _from_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return problem(
        500, N_("Internal server error"), gettext("The server could not complete the request.")
    )


# Werkzeug's titles and descriptions of the HTTP errors clients meet (msgids = its texts).
HTTP_TEXTS = (
    N_("Bad Request"),
    N_("The browser (or proxy) sent a request that this server could not understand."),
    N_("Not Found"),
    N_(
        "The requested URL was not found on the server. If you entered the URL manually please "
        "check your spelling and try again."
    ),
    N_("Method Not Allowed"),
    N_("The method is not allowed for the requested URL."),
    N_("Request Entity Too Large"),
    N_("The data value transmitted exceeds the capacity limit."),
    N_("Unsupported Media Type"),
    N_("The server does not support the media type transmitted in the request."),
    N_("Unprocessable Entity"),
)


def register_problem_handlers(app: Flask) -> None:
    """Map every error family to problem+json (after flask-smorest registered its own)."""
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(GridappError, from_gridapp_error)
    app.register_error_handler(geo.PointOutsideGrids, _from_outside)
    app.register_error_handler(geo.UnknownCRS, _from_unknown_crs)
    app.register_error_handler(workflow.TransitionNotAllowed, _from_transition)
    app.register_error_handler(workflow.MissingRequirement, _from_missing)
    app.register_error_handler(Exception, _from_unexpected)
