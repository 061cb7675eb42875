"""Worked examples in the OpenAPI document, from ``mobile-api/examples/examples.json``.

``mobile-api/examples/generate.py`` walks a case through the whole process against a throw-away
demo database and records, per operation, the request body and the success answer it saw (per
action for the action operations). ``with_examples`` puts them beside the schemas, so the
document served at ``/openapi.json``, the Swagger UI on it and the checked-in
``mobile-api/openapi.json`` show real bodies.

The file maps ``"METHOD /path/{template}"`` to named examples::

    {"POST /api/v1/auth/login": {"default": {"summary": "…", "request": {…},
                                            "status": 200, "response": {…}}}}

One named example becomes the media type's ``example``; several (one per action) become its
``examples``, keyed by name.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import flask
from flask import Flask, Response, current_app

EXAMPLES_FILE = Path(__file__).resolve().parents[2] / "mobile-api" / "examples" / "examples.json"
JSON = "application/json"


def load_examples(path: Path = EXAMPLES_FILE) -> dict[str, dict[str, dict[str, Any]]]:
    """Read the recorded examples; none when the file is absent (an installed package)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    examples: dict[str, dict[str, dict[str, Any]]] = json.loads(text)
    return examples


def with_examples(
    spec: dict[str, Any], examples: dict[str, dict[str, dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """Return a copy of ``spec`` whose recorded operations carry their examples.

    An entry naming an operation the document lacks is skipped here (the docs test reports it).
    """
    # apispec's to_dict hands out its own path objects: never write examples into them.
    spec = copy.deepcopy(spec)
    recorded = load_examples() if examples is None else examples
    for key, named in recorded.items():
        method, _, path = key.partition(" ")
        operation = spec.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None or not named:
            continue
        requests = {name: ex["request"] for name, ex in named.items() if "request" in ex}
        media = operation.get("requestBody", {}).get("content", {}).get(JSON)
        if requests and media is not None:
            _put(media, requests, named)
        answers: dict[tuple[str, str], dict[str, Any]] = {}
        for name, ex in named.items():
            if "response" in ex:
                where = (str(ex["status"]), ex.get("content_type", JSON))
                answers.setdefault(where, {})[name] = ex["response"]
        for (status, content_type), values in answers.items():
            response = operation.get("responses", {}).get(status, {})
            media = response.get("content", {}).get(content_type)
            if media is not None:
                _put(media, values, named)
    return spec


def _put(media: dict[str, Any], values: dict[str, Any], named: dict[str, dict[str, Any]]) -> None:
    """Set one ``example``, or named ``examples`` when there are several (OpenAPI: not both)."""
    media.pop("example", None)
    media.pop("examples", None)
    if len(values) == 1:
        media["example"] = next(iter(values.values()))
        return
    media["examples"] = {
        name: {"summary": named[name].get("summary", name), "value": value}
        for name, value in values.items()
    }


def serve_with_examples(app: Flask) -> None:
    """Make ``/openapi.json`` answer the document with its examples.

    flask-smorest builds the spec lazily and serves ``api.spec.to_dict()`` from its doc
    blueprint's ``openapi_json`` view; swapping that one view (Flask's public
    ``view_functions``) keeps the URL, the config and the Swagger UI as they are, and lets the
    served document and ``gridapp.core.openapi.document`` share ``with_examples``. An apispec
    plugin would instead have to be handed to ``Api`` at construction and see the examples
    file while the blueprints register; a subclass would override a private method.
    """
    from gridapp.core.extensions import api

    endpoints = [
        r.endpoint for r in app.url_map.iter_rules() if r.endpoint.endswith(".openapi_json")
    ]

    def openapi_json() -> Response:
        body = flask.json.dumps(with_examples(api.spec.to_dict()), indent=2, sort_keys=False)
        return current_app.response_class(body, mimetype=JSON)

    for endpoint in endpoints:  # none when OPENAPI_URL_PREFIX is unset: nothing is served
        app.view_functions[endpoint] = openapi_json
