"""The leader's dashboard and hot spots: a history written by hand, numbers counted by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
import shapely
from sqlalchemy import select

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case
from gridapp.catalogue.models import Category
from gridapp.core.extensions import db
from gridapp.grid.models import Area
from tests.gridapp.case_helpers import write_history
from tests.gridapp.conftest import problem_of

Z = workflow.LOCAL_ZONE
COUNTY = "430423"
OTHER = "430499"
PERIOD = "from=2025-03-10&to=2025-03-12"
_numbers = count(1)


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, second, tzinfo=Z).astimezone(UTC)


def user(username: str) -> User:
    found = db.session().scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def make_case(
    session: Any,
    created: datetime,
    *,
    grid: str | None,
    category: str,
    source: str = "grid_worker",
    district: str = COUNTY,
    state: str = "reported",
    deadline: datetime | None = None,
    events: tuple[tuple[str, str, datetime, str], ...] = (),
) -> Case:
    """A case with its history: ``events`` are (action, to_state, at, role) after the report."""
    case = Case(
        number=f"T{next(_numbers):08d}",
        process="urban",
        state="reported",
        version=1,
        source=source,
        category_code=category,
        description="hand-written history",
        grid_code=grid,
        community_code=grid[:12] if grid else None,
        street_code=grid[:9] if grid else None,
        district_code=district,
        created_at=created,
        updated_at=created,
    )
    if grid:
        case.location = shapely.Point(112.86, 27.23)
        case.lon, case.lat = 112.86, 27.23
    session.add(case)
    session.flush()
    write_history(session, case, source, [(a, to, at, role, None) for a, to, at, role in events])
    for action, to_state, at, _role in events:
        # As an action does (gridapp.cases.actions.apply_transition and its effects).
        case.updated_at = at
        if to_state == "closed":
            case.closed_at = at
        if action == "file":
            case.filed_at = at
    case.state, case.deadline = state, deadline
    session.flush()
    return case


@pytest.fixture()
def history(session: Any) -> dict[str, Any]:
    """Cases A–I, each described where it is made; the tests count them by hand."""
    grids = session.scalars(select(Area.code).where(Area.level == "grid").order_by(Area.code)).all()
    g1 = grids[0]
    g3 = next(g for g in grids if g[:9] == g1[:9] and g != g1)  # same street, another grid
    g2 = next(g for g in grids if g[:9] != g1[:9])  # another street
    c1, c2 = session.scalars(select(Category.code).order_by(Category.code).limit(2)).all()
    far = datetime(2099, 1, 1, tzinfo=UTC)

    def f(at: datetime) -> tuple[str, str, datetime, str]:
        return ("file", "filed", at, "shift_leader")

    def closed(at: datetime) -> tuple[str, str, datetime, str]:
        return ("close", "closed", at, "shift_leader")

    make_case(  # A: reported 10th, filed 10th, closed 11th, on time
        session,
        local(10, 9),
        grid=g1,
        category=c1,
        events=(f(local(10, 10)), closed(local(11, 15))),
        state="closed",
    )
    make_case(  # B: reported 10th 23:30 (still the 10th), filed 11th, overdue, closed 12th
        session,
        local(10, 23, 30),
        grid=g1,
        category=c2,
        source="hotline",
        events=(
            f(local(11, 8)),
            ("supervise", "filed", local(11, 20), "system"),
            closed(local(12, 10)),
        ),
        state="closed",
    )
    make_case(  # C: reported in the last half minute of the 12th, open, overdue now
        session,
        local(12, 23, 59, 30),
        grid=g2,
        category=c1,
        deadline=local(13, 12),
    )
    make_case(  # D: reported just before the period, filed in it, handling, not overdue
        session,
        local(9, 23, 59),
        grid=g2,
        category=c1,
        events=(f(local(10, 0, 30)),),
        state="handling",
        deadline=far,
    )
    make_case(  # E: reported just after the period
        session,
        local(13, 0, 0, 1),
        grid=g1,
        category=c1,
    )
    make_case(  # F: reported 11th by a citizen, rejected (void) the same day
        session,
        local(11, 12),
        grid=g3,
        category=c2,
        source="citizen",
        events=(("reject", "void", local(11, 13), "acceptor"),),
        state="void",
    )
    make_case(  # G: another county, no point
        session,
        local(11, 9),
        grid=None,
        category=c1,
        district=OTHER,
    )
    make_case(  # H: reported before, closed on the 10th, on time
        session,
        local(5, 9),
        grid=g2,
        category=c1,
        events=(f(local(5, 10)), closed(local(10, 10))),
        state="closed",
    )
    make_case(  # I: reported and filed 11th, closed after the period: open at its end
        session,
        local(11, 9),
        grid=g1,
        category=c1,
        events=(f(local(11, 10)), closed(local(13, 10))),
        state="closed",
        deadline=local(12, 0),
    )
    return {"g1": g1, "g2": g2, "g3": g3, "s1": g1[:9], "s2": g2[:9], "c1": c1, "c2": c2}


def get(client: Any, headers: dict[str, str], url: str) -> dict[str, Any]:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def by_code(rows: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {row["code"]: row for row in rows}


def test_the_supervisors_numbers_are_those_counted_by_hand(client, auth, history):
    board = get(client, auth("supervisor"), f"/api/v1/dashboard?{PERIOD}")

    assert (board["from"], board["to"]) == ("2025-03-10", "2025-03-12")
    # reported A B C F I; filed A B D I (A, B closed by the end); closed A B H (B was overdue);
    # open at the end C D I; overdue now C.
    assert board["totals"] == {
        "reported": 5,
        "filed": 4,
        "closed": 3,
        "open": 3,
        "overdue": 1,
        "closure_rate": 0.5,
        "on_time_rate": 0.6667,
    }
    streets = by_code(board["by_street"])
    assert set(streets) == {history["s1"], history["s2"]}
    assert streets[history["s1"]] == {
        "code": history["s1"],
        "name": streets[history["s1"]]["name"],
        "reported": 4,  # A B F I
        "filed": 3,  # A B I
        "closed": 2,  # A B
        "open": 1,  # I
        "overdue": 0,
        "closure_rate": 0.6667,
        "on_time_rate": 0.5,
    }
    assert streets[history["s1"]]["name"]
    s2 = streets[history["s2"]]
    assert (s2["reported"], s2["filed"], s2["closed"], s2["open"], s2["overdue"]) == (1, 1, 1, 2, 1)
    assert (s2["closure_rate"], s2["on_time_rate"]) == (0.0, 1.0)
    assert [row["code"] for row in board["by_street"]] == [history["s1"], history["s2"]]

    sources = by_code(board["by_source"])
    assert {code: row["reported"] for code, row in sources.items()} == {
        "grid_worker": 3,
        "hotline": 1,
        "citizen": 1,
    }
    categories = by_code(board["by_category"])
    assert categories[history["c1"]]["reported"] == 3  # A C I
    assert categories[history["c2"]]["reported"] == 2  # B F
    assert categories[history["c1"]]["name"]

    assert board["trend"] == [
        {"date": "2025-03-10", "reported": 2, "closed": 1},  # A B; H
        {"date": "2025-03-11", "reported": 2, "closed": 1},  # F I; A
        {"date": "2025-03-12", "reported": 1, "closed": 1},  # C; B
    ]


def test_admins_count_every_district_and_cases_without_a_street(client, auth, history):
    board = get(client, auth("admin"), f"/api/v1/dashboard?{PERIOD}")
    assert board["totals"]["reported"] == 6  # and G
    assert by_code(board["by_street"])[None]["reported"] == 1


def test_the_command_centre_counts_its_area(client, auth, history, session):
    street_centre = user("street_center")
    street_centre.district_code = history["s1"]
    session.flush()
    board = get(client, auth("street_center"), f"/api/v1/dashboard?{PERIOD}")
    assert board["totals"]["reported"] == 4
    assert [row["code"] for row in board["by_street"]] == [history["s1"]]


def test_a_supervisor_of_another_district_sees_only_theirs(client, auth, history, session):
    user("supervisor").district_code = OTHER
    session.flush()
    board = get(client, auth("supervisor"), f"/api/v1/dashboard?{PERIOD}")
    assert board["totals"]["reported"] == 1  # G
    spots = get(client, auth("supervisor"), f"/api/v1/hotspots?{PERIOD}")
    assert spots["features"] == []  # G has no grid


@pytest.mark.parametrize("role", ["grid_worker", "handler", "dept_admin"])
def test_other_roles_are_refused(client, auth, role):
    problem_of(client.get(f"/api/v1/dashboard?{PERIOD}", headers=auth(role)), 403)
    problem_of(client.get(f"/api/v1/hotspots?{PERIOD}", headers=auth(role)), 403)


@pytest.mark.parametrize(
    "query",
    [
        "from=2025-03-12&to=2025-03-10",
        "from=2024-01-01&to=2025-03-10",
        "from=2025-13-01",
        "level=planet",
        "form=2025-03-01",
        "from=0001-01-01&to=0001-01-01",
        "from=9999-12-31&to=9999-12-31",
    ],
    ids=["backwards", "too long", "bad date", "bad level", "misspelt", "year 1", "year 9999"],
)
def test_a_bad_period_is_a_422(client, auth, query):
    problem_of(client.get(f"/api/v1/hotspots?{query}", headers=auth("supervisor")), 422)


def test_hotspots_count_cases_per_grid_with_the_polygon(client, auth, history):
    response = client.get(f"/api/v1/hotspots?{PERIOD}", headers=auth("supervisor"))

    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    spots = response.get_json()
    assert spots["type"] == "FeatureCollection"
    assert spots["level"] == "grid"
    counted = [(f["id"], f["properties"]["cases"]) for f in spots["features"]]
    # A B I in g1; C in g2; F in g3 (the period's reported cases with a grid).
    assert counted == [(history["g1"], 3), *sorted([(history["g2"], 1), (history["g3"], 1)])]
    first = spots["features"][0]
    assert first["properties"]["code"] == history["g1"]
    assert first["properties"]["name"]
    assert first["properties"]["level"] == "grid"
    assert first["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_hotspots_by_street_and_community(client, auth, history):
    headers = auth("supervisor")
    streets = get(client, headers, f"/api/v1/hotspots?{PERIOD}&level=street")
    assert [(f["id"], f["properties"]["cases"]) for f in streets["features"]] == [
        (history["s1"], 4),
        (history["s2"], 1),
    ]
    communities = get(client, headers, f"/api/v1/hotspots?{PERIOD}&level=community")
    assert sum(f["properties"]["cases"] for f in communities["features"]) == 5


@pytest.mark.parametrize("level", ["grid", "community", "street"])
def test_hotspot_counts_are_the_polygons_counts_without_geometry(client, auth, history, level):
    headers = auth("supervisor")
    response = client.get(f"/api/v1/hotspots?{PERIOD}&level={level}&format=counts", headers=headers)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    counts = response.get_json()
    assert (counts["from"], counts["to"], counts["level"]) == ("2025-03-10", "2025-03-12", level)
    spots = get(client, headers, f"/api/v1/hotspots?{PERIOD}&level={level}")
    expected = {f["id"]: f["properties"]["cases"] for f in spots["features"]}
    assert {item["code"]: item["cases"] for item in counts["items"]} == expected
    assert len(counts["items"]) == len(expected)
    assert counts["total"] == sum(expected.values())
    assert set(counts["items"][0]) == {"code", "cases"}


def test_hotspot_counts_by_grid_counted_by_hand(client, auth, history):
    counts = get(client, auth("supervisor"), f"/api/v1/hotspots?{PERIOD}&format=counts")
    # A B I in g1; C in g2; F in g3.
    assert sorted((i["code"], i["cases"]) for i in counts["items"]) == sorted(
        [(history["g1"], 3), (history["g2"], 1), (history["g3"], 1)]
    )
    assert counts["total"] == 5


def test_hotspot_counts_of_nothing_are_empty(client, auth, history, session):
    user("supervisor").district_code = OTHER
    session.flush()
    counts = get(client, auth("supervisor"), f"/api/v1/hotspots?{PERIOD}&format=counts")
    assert (counts["items"], counts["total"]) == ([], 0)


def test_an_unknown_hotspot_format_is_a_422(client, auth):
    response = client.get(f"/api/v1/hotspots?{PERIOD}&format=shapefile", headers=auth("admin"))
    problem_of(response, 422)


def test_a_case_reported_through_the_api_counts_today(client, auth):
    from tests.gridapp.case_helpers import grid_point, report

    supervisor = auth("supervisor")
    today = datetime.now(UTC).astimezone(Z).date().isoformat()
    url = f"/api/v1/dashboard?from={today}&to={today}"
    before = get(client, supervisor, url)["totals"]["reported"]
    worker = auth("grid_worker")
    grid = client.get("/api/v1/auth/me", headers=worker).get_json()["grids"][0]
    assert report(client, worker, *grid_point(client, worker, grid)).status_code == 201
    after = get(client, supervisor, url)
    assert after["totals"]["reported"] == before + 1
    assert after["trend"][-1]["reported"] == after["totals"]["reported"]
