"""``flask`` commands: grid map import, users, calendar (DESIGN §4, §9).

The ``runner`` fixture runs inside the test's rolled-back transaction: the commands commit a
savepoint, never the database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import box, shape
from sqlalchemy import func, select

import geo
from gridapp.accounts.models import User
from gridapp.core.extensions import db
from gridapp.grid.models import Area
from tests.gridapp.conftest import DEMO_PASSWORD, problem_of

pytestmark = pytest.mark.usefixtures("fresh_caches")

# A made-up county far from 衡山县 (near 湘阴, lon 113.5 lat 28.0).
NEW_DISTRICT = "430499"


def feature(code: str, level: str, parent: str | None, geometry: Any, **props: Any) -> dict:
    properties: dict[str, Any] = {"code": code, "name": f"测试{code}", "level": level, **props}
    if parent is not None:
        properties["parent"] = parent
    return {
        "type": "Feature",
        "geometry": geometry if isinstance(geometry, dict) else shapely.geometry.mapping(geometry),
        "properties": properties,
    }


def collection(*features: dict, **top: Any) -> dict:
    return {"type": "FeatureCollection", **top, "features": list(features)}


def square(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> Any:
    """A box with a vertex every 0.002° (about 200 m).

    GCJ-02 and BD-09 offsets bend long straight edges by metres once converted (BD-09's has a
    0.12° period), so a grid's corner on its parent's long edge would stick out after conversion.
    """
    return shapely.segmentize(box(min_lon, min_lat, max_lon, max_lat), 0.002)


def small_county(district: str, lon: float = 113.5, lat: float = 28.0) -> dict:
    """A district, a street, a community and two unit grids side by side, nested."""
    street, community = f"{district}001", f"{district}001001"
    return collection(
        feature(district, "district", None, square(lon - 0.1, lat - 0.1, lon + 0.1, lat + 0.1)),
        feature(street, "street", district, square(lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05)),
        feature(
            community, "community", street, square(lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02)
        ),
        feature(
            f"{community}001", "grid", community, square(lon - 0.02, lat - 0.02, lon, lat + 0.02)
        ),
        feature(
            f"{community}002", "grid", community, square(lon, lat - 0.02, lon + 0.02, lat + 0.02)
        ),
    )


@pytest.fixture()
def write_json(tmp_path: Path) -> Any:
    def write(data: Any, name: str = "map.geojson") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return path

    return write


def area_count() -> int:
    return int(db.session().scalar(select(func.count()).select_from(Area)) or 0)


def output_of(result: Any) -> str:
    """Both streams: the import lists its problems on stderr."""
    stderr = getattr(result, "stderr", "")  # click ≥ 8.2 also mixes it into output
    return result.output if stderr in result.output else result.output + stderr


def import_map(runner: Any, path: Path) -> Any:
    return runner.invoke(args=["grid", "import", str(path)])


# -- refusing a bad file -----------------------------------------------------------------------


def bad_county() -> tuple[dict, dict[int, str]]:
    """A file with one problem per feature (but 0, 4 and 8): feature number → expected words."""
    d = "430498"
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[113.41, 27.61], [113.43, 27.63], [113.43, 27.61], [113.41, 27.63], [113.41, 27.61]]
        ],
    }
    data = collection(
        feature(d, "district", None, box(113.3, 27.5, 113.7, 27.9)),  # 0 fine
        feature(f"{d}001", "street", d, bowtie),  # 1 self-intersecting
        feature(f"{d}002", "street", "430497", box(113.31, 27.51, 113.34, 27.54)),  # 2 parent
        feature("43049800X", "street", d, box(113.36, 27.51, 113.39, 27.54)),  # 3 bad code
        feature(f"{d}003", "street", d, box(113.50, 27.70, 113.60, 27.80)),  # 4 fine
        feature(f"{d}003", "street", d, box(113.61, 27.81, 113.65, 27.85)),  # 5 duplicate code
        feature(f"{d}004001", "community", d, box(113.31, 27.81, 113.34, 27.84)),  # 6 level
        feature(f"{d}003001", "community", f"{d}003", box(113.36, 27.81, 113.39, 27.84)),  # 7 out
        feature(f"{d}003002", "community", f"{d}003", box(113.51, 27.71, 113.55, 27.75)),  # 8 fine
        feature(f"{d}003002001", "grid", f"{d}003002", box(113.51, 27.71, 113.53, 27.75)),  # 9
        feature(f"{d}003002002", "grid", f"{d}003002", box(113.52, 27.71, 113.55, 27.75)),  # 10
    )
    expected = {
        1: "invalid polygon",
        2: "unknown",
        3: "digits",
        5: "duplicate",
        6: "district",
        7: "sticks out",
        10: "overlaps feature 9",
    }
    return data, expected


def test_bad_file_is_refused_with_every_problem(runner, write_json):
    data, expected = bad_county()
    before = area_count()

    result = import_map(runner, write_json(data))

    assert result.exit_code != 0
    text = output_of(result)
    assert "nothing was imported" in text
    lines = [line for line in text.splitlines() if line.strip().startswith("- feature")]
    for number, words in expected.items():
        mine = [line for line in lines if line.strip().startswith(f"- feature {number} ")]
        assert mine, f"feature {number} not reported:\n{text}"
        assert any(words in line for line in mine), f"feature {number}: {mine}"
    assert len(lines) == len(expected), text
    assert f"{len(expected)} problem(s)" in text
    for fine in (0, 4, 8, 9):
        assert not any(line.strip().startswith(f"- feature {fine} ") for line in lines), text
    assert area_count() == before
    assert db.session().scalar(select(Area).where(Area.code.like("430498%"))) is None


def test_bad_file_does_not_move_the_map_version(runner, write_json, session):
    from gridapp.grid.services import map_version

    version = map_version(session)
    data, _expected = bad_county()

    import_map(runner, write_json(data))

    assert map_version(db.session()) == version


def test_file_that_is_not_json(runner, tmp_path):
    path = tmp_path / "map.geojson"
    path.write_text("{not json", encoding="utf-8")

    result = import_map(runner, path)

    assert result.exit_code != 0
    assert "not a JSON file" in output_of(result)


def test_missing_file(runner, tmp_path):
    result = import_map(runner, tmp_path / "absent.geojson")

    assert result.exit_code != 0


def test_child_overlapping_a_stored_grid_is_refused(runner, write_json, client, auth):
    """The overlap check includes the stored map, not just the file."""
    headers = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    code = me["grids"][0]
    grid = shape(
        client.get(f"/api/v1/areas/{code}?format=geojson", headers=headers).get_json()["geometry"]
    )
    community = code[:12]
    intruder = f"{community}999"
    before = area_count()

    result = import_map(runner, write_json(collection(feature(intruder, "grid", community, grid))))

    assert result.exit_code != 0
    text = output_of(result)
    assert "feature 0" in text and f"stored area {code}" in text
    assert area_count() == before


# -- importing a good file ---------------------------------------------------------------------


def test_valid_file_imports_and_reimports_unchanged(runner, write_json, client, auth):
    path = write_json(small_county(NEW_DISTRICT))
    before = area_count()

    first = import_map(runner, path)

    assert first.exit_code == 0, output_of(first)
    assert "5 created, 0 updated, 0 unchanged" in first.output
    assert area_count() == before + 5

    again = import_map(runner, path)

    assert again.exit_code == 0, output_of(again)
    assert "0 created, 0 updated, 5 unchanged" in again.output
    assert area_count() == before + 5

    # The new grid answers at once (the grid index follows the map version).
    response = client.get(
        "/api/v1/grid/locate",
        query_string={"lon": 113.51, "lat": 28.0},
        headers=auth("grid_worker"),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["grid"]["code"] == f"{NEW_DISTRICT}001001002"
    assert body["community"]["code"] == f"{NEW_DISTRICT}001001"
    assert body["street"]["code"] == f"{NEW_DISTRICT}001"
    assert body["district"]["code"] == NEW_DISTRICT
    assert body["grid_workers"] == []


def test_imported_areas_are_stored_as_given(runner, write_json):
    import_map(runner, write_json(small_county(NEW_DISTRICT)))

    rows = {
        a.code: a
        for a in db.session().scalars(select(Area).where(Area.code.like(f"{NEW_DISTRICT}%")))
    }

    assert set(rows) == {
        NEW_DISTRICT,
        f"{NEW_DISTRICT}001",
        f"{NEW_DISTRICT}001001",
        f"{NEW_DISTRICT}001001001",
        f"{NEW_DISTRICT}001001002",
    }
    assert rows[NEW_DISTRICT].parent_code is None
    assert rows[f"{NEW_DISTRICT}001001001"].parent_code == f"{NEW_DISTRICT}001001"
    assert rows[f"{NEW_DISTRICT}001001001"].level == "grid"
    assert rows[f"{NEW_DISTRICT}001001001"].layer == "urban"
    assert rows[f"{NEW_DISTRICT}001001001"].generated is False
    assert shapely.equals_exact(
        rows[f"{NEW_DISTRICT}001001001"].geometry,
        square(113.48, 27.98, 113.5, 28.02),
        tolerance=1e-9,
    )


def test_changed_name_reimports_as_an_update(runner, write_json):
    data = small_county(NEW_DISTRICT)
    import_map(runner, write_json(data))
    data["features"][3]["properties"]["name"] = "改名网格"

    result = import_map(runner, write_json(data, "renamed.geojson"))

    assert result.exit_code == 0, output_of(result)
    assert "0 created, 1 updated, 4 unchanged" in result.output
    grid = db.session().scalar(select(Area).where(Area.code == f"{NEW_DISTRICT}001001001"))
    assert grid.name == "改名网格"


def test_gaps_are_warnings_not_errors(runner, write_json):
    result = import_map(runner, write_json(small_county(NEW_DISTRICT)))

    assert result.exit_code == 0
    assert "warning:" in output_of(result)  # the street is larger than its one community


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_chinese_datum_file_lands_at_converted_coordinates(runner, write_json, client, auth, crs):
    district = "430497"
    lon, lat = 113.3, 28.3
    to_wgs84 = geo.gcj02_to_wgs84 if crs == "gcj02" else geo.bd09_to_wgs84
    data = small_county(district, lon, lat)
    data["crs_name"] = crs

    result = import_map(runner, write_json(data))

    assert result.exit_code == 0, output_of(result)
    grid = db.session().scalar(select(Area).where(Area.code == f"{district}001001001"))
    stored = shapely.get_coordinates(grid.geometry)
    given = shapely.get_coordinates(square(lon - 0.02, lat - 0.02, lon, lat + 0.02))
    for (slon, slat), (glon, glat) in zip(stored, given, strict=True):
        wlon, wlat = to_wgs84(glon, glat)
        assert geo.haversine_m(slon, slat, wlon, wlat) < 0.05
        assert geo.haversine_m(slon, slat, glon, glat) > 100  # it was moved, not kept as given
    centre = grid.geometry.representative_point()
    body = client.get(
        "/api/v1/grid/locate",
        query_string={"lon": centre.x, "lat": centre.y},
        headers=auth("grid_worker"),
    ).get_json()
    assert body["grid"]["code"] == f"{district}001001001"


def test_unknown_file_crs_is_refused(runner, write_json):
    data = small_county(NEW_DISTRICT)
    data["crs_name"] = "epsg3857"
    before = area_count()

    result = import_map(runner, write_json(data))

    assert result.exit_code != 0
    assert "crs_name" in output_of(result) or "epsg3857" in output_of(result)
    assert area_count() == before


def test_cli_import_stays_inside_the_test_transaction(runner, write_json):
    """The command commits; the test's outer transaction still owns the connection."""
    import_map(runner, write_json(small_county(NEW_DISTRICT)))

    assert db.session().get(Area, _area_id(f"{NEW_DISTRICT}001001001")) is not None


def _area_id(code: str) -> Any:
    area_id = db.session().scalar(select(Area.id).where(Area.code == code))
    assert area_id is not None, code
    return area_id


def test_previous_test_left_nothing_behind(session):
    """Runs after the imports above (same module, file order): the rollback undid them."""
    assert session.scalar(select(Area).where(Area.code.like(f"{NEW_DISTRICT}%"))) is None
    assert session.scalar(select(Area).where(Area.code.like("430497%"))) is None


# -- users -------------------------------------------------------------------------------------


@pytest.fixture()
def demo_grid(session: Any) -> str:
    code = session.scalar(
        select(Area.code)
        .where(Area.level == "grid", Area.parent_code.like("430423100%"))
        .order_by(Area.code.desc())
    )
    assert code is not None
    return str(code)


def test_user_create_with_password_option(runner, client, demo_grid):
    result = runner.invoke(
        args=[
            "user",
            "create",
            "worker9",
            "--role",
            "grid_worker",
            "--grid",
            demo_grid,
            "--password",
            "secret-pass-9",
            "--name",
            "王九",
        ]
    )

    assert result.exit_code == 0, output_of(result)
    assert "created user worker9" in result.output
    response = client.post(
        "/api/v1/auth/login", json={"username": "worker9", "password": "secret-pass-9"}
    )
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    assert user["role"] == "grid_worker"
    assert user["grids"] == [demo_grid]
    assert user["display_name"] == "王九"


def test_user_create_with_password_prompt(runner, client, demo_grid):
    result = runner.invoke(
        args=["user", "create", "worker8", "--role", "grid_worker", "--grid", demo_grid],
        input="secret-pass-8\nsecret-pass-8\n",
    )

    assert result.exit_code == 0, output_of(result)
    assert "secret-pass-8" not in result.output  # hidden input
    response = client.post(
        "/api/v1/auth/login", json={"username": "worker8", "password": "secret-pass-8"}
    )
    assert response.status_code == 200, response.get_json()


def test_user_create_handler_in_a_department(runner, client):
    result = runner.invoke(
        args=[
            "user",
            "create",
            "handler9",
            "--role",
            "handler",
            "--department",
            "sanitation",
            "--password",
            "secret-pass-9",
        ]
    )

    assert result.exit_code == 0, output_of(result)
    response = client.post(
        "/api/v1/auth/login", json={"username": "handler9", "password": "secret-pass-9"}
    )
    assert response.get_json()["user"]["department"] == "sanitation"


@pytest.mark.parametrize("totp", [["--totp"], []])
def test_user_create_with_totp_needs_the_code(runner, client, totp):
    """A role that signs in with a second factor gets one whether or not --totp says so."""
    from tests.gridapp.conftest import totp_code

    result = runner.invoke(
        args=[
            "user",
            "create",
            "dispatcher9",
            "--role",
            "dispatcher",
            *totp,
            "--password",
            "secret-pass-9",
        ]
    )

    assert result.exit_code == 0, output_of(result)
    secret = next(
        line.split(":", 1)[1].strip()
        for line in result.output.splitlines()
        if line.startswith("TOTP secret")
    )
    body = {"username": "dispatcher9", "password": "secret-pass-9"}
    assert problem_of(client.post("/api/v1/auth/login", json=body), 401)["mfa_required"] is True
    response = client.post("/api/v1/auth/login", json={**body, "otp": totp_code(secret)})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--role", "mayor"], "Unknown role 'mayor'"),
        (["--role", "grid_worker", "--grid", "430423999999999"], "Unknown unit grids"),
        (["--role", "handler"], "belongs to a department"),
        (["--role", "handler", "--department", "police"], "Unknown department"),
    ],
)
def test_user_create_refuses_bad_input(runner, args, words):
    before = db.session().scalar(select(func.count()).select_from(User))

    result = runner.invoke(args=["user", "create", "someone", *args, "--password", "secret-pass-9"])

    assert result.exit_code != 0
    assert words in output_of(result)
    assert db.session().scalar(select(func.count()).select_from(User)) == before


def test_user_create_refuses_no_totp_for_a_role_that_needs_it(runner):
    result = runner.invoke(
        args=["user", "create", "x", "--role", "admin", "--no-totp", "--password", "secret-pass-9"]
    )

    assert result.exit_code != 0
    assert "second factor" in output_of(result)


def test_user_create_refuses_a_short_password(runner):
    result = runner.invoke(
        args=["user", "create", "someone", "--role", "supervisor", "--password", "short"]
    )

    assert result.exit_code != 0
    assert "12 to 128 characters" in output_of(result)


def test_user_create_refuses_a_taken_name(runner):
    result = runner.invoke(
        args=[
            "user",
            "create",
            "grid_worker",
            "--role",
            "supervisor",
            "--password",
            "secret-pass-9",
        ]
    )

    assert result.exit_code != 0
    assert "exists already" in output_of(result)


# -- other commands ----------------------------------------------------------------------------


def test_seed_demo_refuses_a_seeded_database(runner):
    result = runner.invoke(args=["seed", "demo"])

    assert result.exit_code != 0
    assert "already has a grid map" in output_of(result)


def test_seed_demo_if_empty_is_a_no_op(runner):
    before = area_count()

    result = runner.invoke(args=["seed", "demo", "--if-empty"])

    assert result.exit_code == 0, output_of(result)
    assert area_count() == before


def test_seed_users_lists_the_demo_users(runner):
    result = runner.invoke(args=["seed", "users"])

    assert result.exit_code == 0, output_of(result)
    for name in ("grid_worker", "grid_worker2", "handler2", "admin"):
        assert name in result.output
    assert DEMO_PASSWORD in result.output


def test_calendar_import_and_export(runner, tmp_path):
    path = tmp_path / "2027.csv"
    path.write_text(
        "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-20,workday,春节调休\n", encoding="utf-8"
    )

    result = runner.invoke(args=["calendar", "import", str(path)])

    assert result.exit_code == 0, output_of(result)
    assert "2 calendar rows imported" in result.output
    exported = runner.invoke(args=["calendar", "export"])
    assert exported.exit_code == 0
    assert "2027-01-01,holiday,元旦" in exported.output
    assert "2027-02-20,workday,春节调休" in exported.output
    assert "2026-10-01,holiday" in exported.output  # the seeded years stay
