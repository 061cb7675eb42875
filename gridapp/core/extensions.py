"""Extensions created unbound; ``create_app`` attaches them."""

from __future__ import annotations

import http

from flask_babel import Babel
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from gridapp.core.db import Database
from gridapp.core.queue import RedisProvider
from gridapp.core.schemas import ProblemSchema

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemApi(Api):  # type: ignore[misc]
    """Documents every error answer as what the app sends: RFC 9457 problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # flask-smorest documents its own error schema as application/json; replace both.
        for status in http.HTTPStatus:
            response: dict[str, object] = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                content_type = PROBLEM_CONTENT_TYPE
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


babel = Babel()
db = Database()
redis = RedisProvider()
api = ProblemApi()
