"""Bad input is refused with a 4xx problem, never a 500, signed in or not (issue 10, finding 3).

Each class of input is tried on every JSON route and, where it applies, in paths, queries,
cursors, If-Match and token subjects: nesting deeper than the parser's recursion, text that is not
Unicode (lone surrogates, escaped or raw) or that the database cannot store (NUL), numbers the
parser chokes on, digits other than 0-9.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridapp.core.inputs import MAX_JSON_DEPTH, load_json_text
from gridapp.core.security import ACCESS_AUDIENCE, ALGORITHM
from tests.gridapp.case_helpers import grid_point, report
from tests.gridapp.conftest import PROBLEM_JSON, login_headers, problem_of


def reported_case(client: Any) -> dict[str, Any]:
    worker = login_headers(client, "grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    response = report(client, worker, *grid_point(client, worker, me["grids"][0]))
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


# Every route that reads a JSON body, with the method.
JSON_ROUTES = [
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/cases",
    "/api/v1/cases/1/actions/accept",
    "/api/v1/notifications/read",
    "/api/v1/mobile/reports",
    "/api/v1/mobile/cases/1/actions/accept",
]

BAD_BODIES = {
    "nested arrays": b"[" * 5000 + b"]" * 5000,
    "nested objects": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "just too deep": b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1),
    "escaped lone surrogate": b'{"username":"\\ud800","password":"x"}',
    "escaped low surrogate key": b'{"\\udfff":"x","password":"x"}',
    "raw encoded surrogate": b'{"username":"\xed\xa0\x80","password":"x"}',
    "invalid utf-8": b'{"username":"\xff\xfe","password":"x"}',
    "NUL escaped": b'{"username":"a\\u0000b","password":"x"}',
    "NUL in a list": b'{"username":"a","password":"x","otp":["\\u0000"]}',
    "5000-digit integer": b'{"username":' + b"9" * 5000 + b',"password":"x"}',
    "NaN": b'{"username":NaN,"password":"x"}',
    "infinite float": b'{"username":1e999,"password":"x"}',
    "truncated": b'{"username":"a',
}


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_no_json_body_makes_a_server_error(client: Any, route: str, signed_in: bool) -> None:
    headers = login_headers(client, "grid_worker") if signed_in else {}
    headers["If-Match"] = '"1"'

    for name, body in BAD_BODIES.items():
        response = client.post(route, data=body, content_type="application/json", headers=headers)

        assert response.status_code < 500, (name, response.get_data(as_text=True))
        assert response.mimetype == PROBLEM_JSON, name


@pytest.mark.parametrize("name", ["escaped lone surrogate", "NUL escaped", "NUL in a list"])
def test_unstorable_text_is_a_field_error(client: Any, name: str) -> None:
    response = client.post(
        "/api/v1/auth/login", data=BAD_BODIES[name], content_type="application/json"
    )

    body = problem_of(response, 422)
    assert set(body["errors"]) <= {"username", "otp.0", "_schema"}


@pytest.mark.parametrize("name", ["nested arrays", "just too deep", "5000-digit integer", "NaN"])
def test_malformed_json_is_a_bad_request(client: Any, name: str) -> None:
    response = client.post(
        "/api/v1/auth/login", data=BAD_BODIES[name], content_type="application/json"
    )

    problem_of(response, 400)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
)


@given(JSON_VALUES)
@settings(max_examples=200, derandomize=True, database=None)
def test_the_json_gate_accepts_or_refuses_but_never_crashes(document: Any) -> None:
    from gridapp.core.errors import GridappError

    raw = json.dumps(document, ensure_ascii=True)
    try:
        assert load_json_text(raw.encode()) == document
    except GridappError as exc:
        assert exc.status in (400, 422)


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


BAD_CURSORS = [
    "x" * 10_000,
    "!!!",
    "٣٣٣٣",
    _cursor([]),
    _cursor(["x"]),
    _cursor([1, 2]),
    _cursor(["\ud800", 1]),
    _cursor(["a\u0000", 1]),
    _cursor(["2026-01-01T00:00:00+00:00", 10**22]),
    _cursor(["2026-01-01T00:00:00+00:00", -(10**22)]),
    _cursor(["9999-12-31T23:59:59-14:00", 1]),
    _cursor(["０２０２６-01-01", 1]),
    _cursor([[1], {"a": 1}]),
    _cursor([None, None]),
    _cursor([1e308, True]),
    base64.urlsafe_b64encode(b"[" * 200 + b"]" * 200).decode(),
]
LISTS = ["/api/v1/cases", "/api/v1/mobile/tasks", "/api/v1/mobile/sync", "/api/v1/notifications"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("parameter", ["cursor", "since"])
def test_no_cursor_makes_a_server_error(client: Any, path: str, parameter: str) -> None:
    headers = login_headers(client, "grid_worker")
    for cursor in BAD_CURSORS:
        response = client.get(path, query_string={parameter: cursor}, headers=headers)

        assert response.status_code < 500, (cursor, response.get_data(as_text=True))


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_random_cursors_never_make_a_server_error(client: Any, raw: bytes) -> None:
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = client.get("/api/v1/cases", query_string={"cursor": cursor})

    assert response.status_code < 500


IF_MATCH_VALUES = [
    '"²"',
    '"٣"',
    '"３"',
    "9" * 5000,
    '"' + "9" * 30 + '"',
    "*",
    '"1", "2"',
    'W/"1", W/"2"',
    '"é"',
    '""',
    "W/",
    '"-1"',
    '"1.0"',
    '"0x1"',
    " ",
]


@pytest.mark.parametrize("value", IF_MATCH_VALUES)
def test_unusual_if_match_is_refused_as_no_version(client: Any, value: str) -> None:
    case = reported_case(client)
    headers = login_headers(client, "acceptor")

    response = client.post(
        f"/api/v1/cases/{case['id']}/actions/accept",
        json={},
        headers={**headers, "If-Match": value.encode("utf-8").decode("latin-1")},
    )

    problem_of(response, 412)
    again = client.get(f"/api/v1/cases/{case['id']}", headers=headers)
    assert again.get_json()["version"] == case["version"]


@pytest.mark.parametrize("tag", ['W/"{v}"', '"{v}"', "{v}"])
def test_a_weak_or_bare_tag_still_names_the_version(client: Any, tag: str) -> None:
    case = reported_case(client)
    headers = login_headers(client, "acceptor")

    response = client.post(
        f"/api/v1/cases/{case['id']}/actions/accept",
        json={},
        headers={**headers, "If-Match": tag.format(v=case["version"])},
    )

    assert response.status_code == 200, response.get_json()


NON_ASCII_DIGITS = ["٣", "３", "۳", "३", "²", "১২"]


@pytest.mark.parametrize("digits", NON_ASCII_DIGITS)
def test_ids_in_paths_are_ascii_digits_only(client: Any, digits: str) -> None:
    case = reported_case(client)
    headers = login_headers(client, "grid_worker")
    # The same id spelt in another script must not name the same case.
    alias = str(case["id"]).translate(str.maketrans("0123456789", digits[0] * 10))

    paths = (f"/api/v1/cases/{alias}", f"/api/v1/mobile/cases/{alias}", f"/api/v1/media/{digits}")
    for path in paths:
        response = client.get(path, headers=headers)

        problem_of(response, 404)


@pytest.mark.parametrize("digits", NON_ASCII_DIGITS)
@pytest.mark.parametrize(
    "path,name",
    [
        ("/api/v1/cases", "limit"),
        ("/api/v1/mobile/tasks", "limit"),
        ("/api/v1/notifications", "after"),
        ("/api/v1/notifications", "limit"),
        ("/api/v1/areas", "limit"),
        ("/api/v1/grid/locate", "lon"),
    ],
)
def test_numbers_in_queries_are_ascii_digits_only(
    client: Any, path: str, name: str, digits: str
) -> None:
    headers = login_headers(client, "grid_worker")
    query = {"lon": "112.86", "lat": "27.23"} if "locate" in path else {}
    query[name] = digits

    response = client.get(path, query_string=query, headers=headers)

    assert name in problem_of(response, 422)["errors"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/areas/a%00b",
        "/api/v1/processes/a%00b",
        "/api/v1/cases?q=a%00b",
        "/api/v1/cases?category=%00",
        "/api/v1/areas/%ED%A0%80",
        "/api/v1/areas/٣",
    ],
)
def test_text_in_paths_and_queries_never_makes_a_server_error(client: Any, path: str) -> None:
    headers = login_headers(client, "grid_worker")

    response = client.get(path, headers=headers)

    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON


@pytest.mark.parametrize(
    "subject", ["abc", "٣", "３", "1" * 30, "-1", "0x10", "", " 1", 1, None, ["1"], {"a": 1}]
)
def test_a_signed_token_with_an_odd_subject_is_a_401(app: Any, client: Any, subject: Any) -> None:
    claims: dict[str, Any] = {
        "typ": "access",
        "aud": ACCESS_AUDIENCE,
        "exp": datetime.now(UTC) + timedelta(minutes=5),
        "iat": datetime.now(UTC),
    }
    if subject is not None:
        claims["sub"] = subject
    token = jwt.encode(claims, app.config["GRIDAPP"].secret_key, algorithm=ALGORITHM)

    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})

    problem_of(response, 401)
