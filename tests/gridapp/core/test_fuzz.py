"""Property-based fuzzing of every operation from the OpenAPI document: never a server error.

schemathesis generates requests from the served document, valid and invalid ones, and sends
them through the app as a grid worker and as a supervisor, inside the test's rolled-back
transaction. Any 5xx fails, naming the request. Sign-in, refresh and logout are left out:
fuzzing them would only lock the demo accounts, and test_auth.py covers them. Generation is
derandomized so a run is repeatable.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from tests.gridapp.conftest import login_headers

LEFT_OUT = ["/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"]


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
def test_no_request_makes_a_server_error(app: Any, client: Any, mode: GenerationMode) -> None:
    signed_in = [login_headers(client, name) for name in ("grid_worker", "supervisor")]
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app).exclude(path=LEFT_OUT)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, "every operation of the document is fuzzed"

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            # max_examples: the Hypothesis profile's (tests/conftest.py; `make test` runs "ci")
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: Any) -> None:
            for headers in signed_in:
                case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()
