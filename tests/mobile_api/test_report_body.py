"""A report's body is loaded as `ReportSchema` loads it, by a fast path or by the schema itself.

`load_report` loads a plainly valid report without marshmallow; these tests hold it to the
schema: on every body (valid, invalid, odd) it gives the schema's dict key for key, or the
schema's own field errors, and through the API the problem+json of a bad report is the one
the schema's errors make.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from mobile_api.views import REPORT_SCHEMA, load_report, plain_report

from gridapp.core.errors import ValidationFailed
from gridapp.core.problems import flatten_messages
from gridapp.core.schemas import MAX_ID
from tests.gridapp.case_helpers import grid_point
from tests.gridapp.conftest import login_headers

# No timing in a test: a loaded machine draws slowly, which says nothing of the code.
UNTIMED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
ABSENT = object()
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def sized(*lengths: int) -> st.SearchStrategy[str]:
    return st.sampled_from(lengths).map(lambda n: "报" * n)


COORDINATE: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([0, 90, -90, 180, -180, 180.0, 180.0000001, -90.5, 90.5, 181, 1e300]),
    st.floats(min_value=-200, max_value=200),
    st.integers(min_value=-200, max_value=200),
    st.sampled_from(["12.5", "１２", " 12", "nan", True, False, None, [], {}]),
)
CRS = st.one_of(
    st.sampled_from(["wgs84", "gcj02", "bd09", "GCJ02", " Bd09 ", "WGS-84", "", "wgs84\n"]),
    ODD,
)
PHOTO = st.one_of(
    st.sampled_from([0, 1, 7, MAX_ID, MAX_ID + 1, -1, 1.0, 2.5, True, "3", "٣", None]),
    st.integers(),
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "category": st.one_of(st.sampled_from(["SJ0102", "", "BJ0101"]), ODD),
    "description": st.one_of(sized(0, 1, 40, 4000, 4001), ODD),
    "address": st.one_of(sized(0, 1, 255, 256), ODD),
    "photos": st.one_of(st.lists(PHOTO, max_size=11), ODD),
    "client_id": st.one_of(sized(0, 1, 80, 81), ODD),
}


VALID: dict[str, st.SearchStrategy[Any]] = {
    "category": st.sampled_from(["SJ0102", "BJ0101", ""]),
    "description": st.one_of(sized(1, 4000), st.text(min_size=1, max_size=20)),
    "address": st.one_of(st.none(), sized(0, 255), st.text(max_size=20)),
    "photos": st.lists(st.integers(1, MAX_ID), max_size=9),
    "client_id": st.one_of(st.none(), sized(1, 80), st.text(min_size=1, max_size=20)),
}


def valid_coordinate(bound: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-bound, bound),
        st.floats(-bound, bound),
        st.sampled_from([bound, -bound, float(bound)]),
    )


def pick(draw: st.DrawFn, valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
    """Mostly a valid value, now and then none at all or an odd one."""
    roll = draw(st.integers(0, 9))
    if roll == 0:
        return ABSENT
    return draw(odd if roll == 1 else valid)


@st.composite
def locations(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(ODD)
    location = {}
    for name, valid, odd in (
        ("lon", valid_coordinate(180), COORDINATE),
        ("lat", valid_coordinate(90), COORDINATE),
        ("crs", st.sampled_from(["wgs84", "gcj02", "BD09", " Gcj02 "]), CRS),
    ):
        value = pick(draw, valid, odd)
        if value is not ABSENT:
            location[name] = value
    if draw(st.integers(0, 19)) == 0:
        location[draw(st.sampled_from(["alt", "LON", "x"]))] = 1
    return location


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid reports, a field now and then absent, odd or just out of bounds."""
    body: dict[str, Any] = {}
    for name in ("category", "description", "location", "address", "photos", "client_id"):
        if name == "location":
            value = draw(locations()) if draw(st.integers(0, 19)) else ABSENT
        else:
            value = pick(draw, VALID[name], FIELDS[name])
        if value is not ABSENT:
            body[name] = value
    if draw(st.integers(0, 19)) == 0:
        body[draw(st.sampled_from(["reporter", "Category", "photo"]))] = "x"
    return body


def schema_load(raw: dict[str, Any]) -> dict[str, Any] | ValidationError:
    try:
        loaded: dict[str, Any] = REPORT_SCHEMA.load(raw)
    except ValidationError as exc:
        return exc
    return loaded


def same_keys_in_order(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_keys_in_order(a[k], b[k]) for k in a)
    return True


@UNTIMED
@given(bodies())
def test_the_fast_path_loads_only_what_the_schema_loads_and_as_it_does(raw: dict[str, Any]) -> None:
    fast = plain_report(raw)
    expected = schema_load(raw)

    if fast is not None:
        assert not isinstance(expected, ValidationError), expected.messages
        assert fast == expected
        assert same_keys_in_order(fast, expected)
        assert type(fast["location"]["lon"]) is float and type(fast["location"]["lat"]) is float


PLAIN: dict[str, Any] = {
    "category": "SJ0102",
    "description": "x",
    "location": {"lon": 112.9, "lat": 27.2, "crs": "wgs84"},
    "address": "x",
    "photos": [1],
    "client_id": "k",
}
# Each bound of each field, at it and just past it, in the JSON type the field reads.
EDGES: list[tuple[str, Any]] = [
    ("description", ""),
    ("description", "x" * 4000),
    ("description", "x" * 4001),
    ("address", ""),
    ("address", "x" * 255),
    ("address", "x" * 256),
    ("client_id", ""),
    ("client_id", "k" * 80),
    ("client_id", "k" * 81),
    ("photos", list(range(1, 10))),
    ("photos", list(range(1, 11))),
    ("photos", [0]),
    ("photos", [MAX_ID]),
    ("photos", [MAX_ID + 1]),
    ("location.lon", 180),
    ("location.lon", -180.0),
    ("location.lon", 180.000001),
    ("location.lon", -181),
    ("location.lat", 90),
    ("location.lat", -90.0),
    ("location.lat", 90.000001),
    ("location.lat", -91),
    ("location.crs", "GCJ02"),
    ("location.crs", "gcj-02"),
]


@pytest.mark.parametrize(("path", "value"), EDGES)
def test_at_each_bound_the_fast_path_agrees_with_the_schema(path: str, value: Any) -> None:
    raw: dict[str, Any] = {**PLAIN, "location": dict(PLAIN["location"])}
    parent, _dot, name = path.rpartition(".")
    (raw[parent] if parent else raw)[name] = value

    fast = plain_report(raw)
    expected = schema_load(raw)

    assert (fast is None) == isinstance(expected, ValidationError)
    assert fast is None or fast == expected


def test_a_plain_report_takes_the_fast_path() -> None:
    """The tests above would pass with a fast path that never answers: it must answer these."""
    raw: dict[str, Any]
    for raw in (
        {"category": "SJ0102", "description": "x", "location": {"lon": 112, "lat": 27.5}},
        {
            "category": "SJ0102",
            "description": "报" * 4000,
            "location": {"lon": -180, "lat": 90.0, "crs": " GCJ02 "},
            "address": "报" * 255,
            "photos": [1, MAX_ID],
            "client_id": "k" * 80,
        },
        {
            "category": "",
            "description": "x",
            "location": {"lon": 0.0, "lat": 0, "crs": "bd09"},
            "address": None,
            "photos": [],
            "client_id": None,
        },
    ):
        fast = plain_report(raw)
        assert fast is not None
        assert fast == REPORT_SCHEMA.load(raw)


@UNTIMED
@given(bodies())
def test_load_report_answers_as_the_schema(app: Any, raw: dict[str, Any]) -> None:
    expected = schema_load(raw)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        if isinstance(expected, ValidationError):
            with pytest.raises(ValidationFailed) as refused:
                load_report(raw)
            assert refused.value.errors == flatten_messages(expected.messages)
        else:
            assert load_report(raw) == expected


BAD_REPORTS: list[dict[str, Any]] = [
    {},
    {"category": 5, "description": "", "location": None},
    {"category": "SJ0102", "description": "x" * 4001, "location": {"lon": 181, "lat": "north"}},
    {"category": "SJ0102", "description": "x", "location": {"lon": 1, "lat": 1, "crs": "utm"}},
    {"category": "SJ0102", "description": "x", "location": {"lon": True, "lat": 1, "z": 0}},
    {
        "category": "SJ0102",
        "description": "x",
        "location": {"lon": 112.9, "lat": 27.2},
        "photos": [0, 1.5, "x", MAX_ID + 1],
        "address": "x" * 256,
        "client_id": "",
        "extra": 1,
    },
    {
        "category": "SJ0102",
        "description": "x",
        "location": {"lon": 112.9, "lat": 27.2},
        "photos": list(range(1, 11)),
    },
    {"category": None, "description": None, "location": {}, "photos": None, "address": 3},
]


@pytest.mark.parametrize("raw", BAD_REPORTS)
def test_a_bad_report_is_refused_with_the_schemas_field_errors(
    app: Any, client: Any, raw: dict[str, Any]
) -> None:
    worker = login_headers(client, "grid_worker")
    expected = schema_load(raw)
    assert isinstance(expected, ValidationError)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        errors = flatten_messages(expected.messages)

    response = client.post("/api/v1/mobile/reports", json=raw, headers=worker)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"] == errors


def test_a_report_read_by_the_fast_path_is_stored_as_sent(client: Any) -> None:
    worker = login_headers(client, "grid_worker")
    grids = client.get("/api/v1/auth/me", headers=worker).get_json()["grids"]
    lon, lat = grid_point(client, worker, grids[0])
    raw = {
        "category": "SJ0102",
        "description": "垃圾 rubbish",
        "location": {"lon": lon, "lat": lat, "crs": " WGS84 "},
        "address": "衡山县 1 号",
        "client_id": "fast-path-1",
    }

    case = client.post("/api/v1/mobile/reports", json=raw, headers=worker).get_json()

    assert case["description"] == "垃圾 rubbish"
    assert case["address"] == "衡山县 1 号"
    assert case["original_location"] == {"lon": lon, "lat": lat, "crs": "wgs84"}
