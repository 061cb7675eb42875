"""Helpers to drive cases through the API in tests."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image


def grid_point(client: Any, headers: dict[str, str], grid_code: str) -> tuple[float, float]:
    import shapely

    feature = client.get(f"/api/v1/areas/{grid_code}?format=geojson", headers=headers).get_json()
    point = shapely.geometry.shape(feature["geometry"]).representative_point()
    return point.x, point.y


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
