"""The REST base: flask-smorest's blueprint with the strict parser, shared parameters."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Request
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser, is_json_request

from gridapp.core.inputs import load_json_text


class StrictParser(FlaskParser):
    """Refuse unknown query parameters too: a misspelt ``crs`` must not fall back to WGS84."""

    DEFAULT_UNKNOWN_BY_LOCATION = {  # noqa: RUF012 - webargs reads it as a plain attribute
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instances: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: Request) -> ma.Schema:
        # webargs builds a new instance of a schema class on every request (deep-copying each
        # field: profiled, a third of an action's argument parsing). A schema keeps no state
        # of its own between loads, so one instance per class serves every request.
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._instances.get(argmap)
            if schema is None:
                schema = self._instances[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: Request) -> Any:
        # Every JSON body goes through the one gate (depth, numbers, storable text).
        if not is_json_request(req):
            return ma.missing
        raw = req.get_data(cache=True)
        if not raw.strip():
            return ma.missing
        return load_json_text(raw)


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
