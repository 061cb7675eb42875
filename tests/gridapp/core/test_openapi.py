"""The checked-in contract ``mobile-api/openapi.json`` never drifts from the code (DESIGN §2)."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from gridapp.core import openapi
from tests.drift import assert_no_drift

HINT = "mobile-api/openapi.json is out of date: run `make openapi` and commit the result."


def test_checked_in_document_matches_the_code(app):
    assert openapi.CHECKED_IN.exists(), f"{openapi.CHECKED_IN} is missing: run `make openapi`."
    checked_in = openapi.CHECKED_IN.read_text(encoding="utf-8")

    generated = openapi.render(openapi.document(app))

    assert_no_drift(
        checked_in,
        generated,
        ("mobile-api/openapi.json (checked in)", "generated from the code"),
        HINT,
    )


def test_checked_in_document_is_valid_openapi():
    spec = json.loads(openapi.CHECKED_IN.read_text(encoding="utf-8"))

    validate(spec)
    assert "/api/v1/grid/locate" in spec["paths"]
    assert "/api/v1/auth/login" in spec["paths"]


def test_rendering_is_stable(app):
    """Sorted keys and a final newline: regenerating an unchanged API changes no byte."""
    first = openapi.render(openapi.document(app))

    assert first == openapi.render(json.loads(first))
    assert first.endswith("}\n")


def test_every_operation_has_a_summary(app):
    spec = openapi.document(app)

    missing = [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"} and not operation.get("summary")
    ]
    assert missing == [], "views need a one-line docstring (STYLE 2)"


def test_errors_are_documented_as_problem_json(app):
    """The document says what the app sends: RFC 9457 bodies as application/problem+json."""
    spec = openapi.document(app)
    responses = spec["components"]["responses"]

    assert responses, "the error responses the operations refer to"
    for name, response in responses.items():
        assert list(response["content"]) == ["application/problem+json"], name
        assert response["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])
    assert problem.get("additionalProperties", True) is not False, "extension members allowed"
