"""Helpers to drive cases through the API in tests, and to write a case's history directly."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from PIL import Image


def grid_point(client: Any, headers: dict[str, str], grid_code: str) -> tuple[float, float]:
    import shapely

    feature = client.get(f"/api/v1/areas/{grid_code}?format=geojson", headers=headers).get_json()
    point = shapely.geometry.shape(feature["geometry"]).representative_point()
    return point.x, point.y


def own_grid_point(client: Any, worker: dict[str, str]) -> tuple[float, float]:
    """A point in the first of the signed-in grid worker's own grids."""
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    return grid_point(client, worker, me["grids"][0])


def report_in_own_grid(
    session: Any, config: Any, worker: Any, *, description: str, client_id: str
) -> int:
    """Report a case through the service in the worker's first grid; return its id (the
    caller commits)."""
    from sqlalchemy import select

    from gridapp.accounts.models import UserGrid
    from gridapp.cases.services import report_case
    from gridapp.grid.models import Area

    grid = session.scalar(select(UserGrid.grid_code).where(UserGrid.user_id == worker.id))
    point = session.scalar(select(Area).where(Area.code == grid)).geometry.representative_point()
    reported = report_case(
        session,
        config,
        worker,
        category="SJ0102",
        description=description,
        lon=point.x,
        lat=point.y,
        client_id=client_id,
    )
    return int(reported.case.id)


# What differs between two answers for one case only because time passed.
TIME_DEPENDENT = ("sla",)


def photo_id(client: Any, headers: dict[str, str]) -> int:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(buffer, "JPEG")
    response = client.post(
        "/api/v1/media",
        data={"file": (io.BytesIO(buffer.getvalue()), "p.jpg")},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def report(client: Any, headers: dict[str, str], lon: float, lat: float, **extra: Any) -> Any:
    body = {
        "category": extra.pop("category", "SJ0102"),
        "description": extra.pop("description", "暴露垃圾 on the pavement"),
        "location": {"lon": lon, "lat": lat, "crs": extra.pop("crs", "wgs84")},
        **extra,
    }
    return client.post("/api/v1/mobile/reports", json=body, headers=headers)


def act(
    client: Any,
    headers: dict[str, str],
    case: dict[str, Any],
    action: str,
    body: dict[str, Any] | None = None,
    *,
    mobile: bool = False,
    expect: int = 200,
) -> dict[str, Any]:
    prefix = "/api/v1/mobile" if mobile else "/api/v1"
    response = client.post(
        f"{prefix}/cases/{case['id']}/actions/{action}",
        json=body or {},
        headers={**headers, "If-Match": f'"{case["version"]}"'},
    )
    assert response.status_code == expect, (action, response.get_json())
    return response.get_json() if expect == 200 else case


# A step of a hand-written history: (action, to_state, at, role, data).
Step = tuple[str, str, datetime, str, dict[str, Any] | None]


def write_history(session: Any, case: Any, reporter_role: str, steps: Iterable[Step]) -> str:
    """Append a new case's report event, then each step, to its chain; return the last state.

    For tests that need histories no API call could make (past times, other offsets); the
    case's own columns are the caller's to set.
    """
    from gridapp.cases.history import append_event

    previous = "reported"
    append_event(
        session,
        case,
        action="report",
        actor_id=None,
        role=reporter_role,
        from_state=None,
        to_state=previous,
        at=case.created_at,
        first=True,
    )
    for action, to_state, at, role, data in steps:
        append_event(
            session,
            case,
            action=action,
            actor_id=None,
            role=role,
            from_state=previous,
            to_state=to_state,
            data=data,
            at=at,
        )
        previous = to_state
    return previous
