"""The REST base: flask-smorest's blueprint with the strict parser, shared parameters."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser


class StrictParser(FlaskParser):
    """Refuse unknown query parameters too: a misspelt ``crs`` must not fall back to WGS84."""

    DEFAULT_UNKNOWN_BY_LOCATION = {  # noqa: RUF012 - webargs reads it as a plain attribute
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }


class Blueprint(SmorestBlueprint):  # type: ignore[misc]
    """flask-smorest's blueprint with the strict parser."""

    ARGUMENTS_PARSER = StrictParser()


# State-changing calls on a case name the version they saw (DESIGN §6); desk and phone alike.
IF_MATCH: dict[str, object] = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {"type": "string"},
    "description": 'The ETag, e.g. "3".',
}
