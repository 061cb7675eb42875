"""The bare write that ``bench.bench_http`` measures the write rows' ceiling with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bench import floor_app
from gridapp.core.db import make_engine
from tests.gridapp.throwaway import throwaway_database

BODY = {
    "category": "SJ0102",
    "description": "基准测试 bench report 1: 人行道上有暴露垃圾",
    "location": {"lon": 112.7, "lat": 27.2, "crs": "wgs84"},
    "address": "衡山县开云镇 bench street 1",
}


@pytest.fixture()
def floor(
    tmp_path: Path,
    postgis_template: str | None,
    redis_url: str | None,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Any, str, str]]:
    """The floor app's test client on its own database, a token for it, and that database."""
    from gridapp.core.extensions import redis

    with throwaway_database(tmp_path, "floor", postgis_template) as url:
        engine = make_engine(url)
        floor_app.create_tables(engine)
        engine.dispose()
        secret = "a secret of the floor app, long enough for HS256"
        monkeypatch.setenv("FLOOR_DATABASE_URL", url)
        monkeypatch.setenv("REDIS_URL", redis_url or redis.socket_url)
        monkeypatch.setenv("FLOOR_SECRET", secret)
        monkeypatch.setattr(floor_app, "_engine", None)
        monkeypatch.setattr(floor_app, "_redis", None)
        try:
            yield floor_app.app.test_client(), floor_app.sign(secret), url
        finally:
            if floor_app._engine is not None:
                floor_app._engine.dispose()
            if floor_app._redis is not None:
                floor_app._redis.close()


def _counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            reports = conn.scalar(text("SELECT count(*) FROM bench_floor_report"))
            events = conn.scalar(text("SELECT count(*) FROM bench_floor_event"))
    finally:
        engine.dispose()
    return int(reports or 0), int(events or 0)


def test_a_report_is_written_with_its_event_and_answered_whole(
    floor: tuple[Any, str, str],
) -> None:
    client, token, url = floor
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "floor-1"}
    answer = client.post("/api/v1/mobile/reports", json=BODY, headers=headers)
    assert answer.status_code == 201
    case = answer.get_json()
    assert case["state"] == "reported" and case["location"] == BODY["location"]
    assert case["description"] == BODY["description"]
    assert _counts(url) == (1, 1)


def test_a_bad_token_writes_nothing(floor: tuple[Any, str, str]) -> None:
    client, token, url = floor
    for header in ("", f"Bearer {token}x", "Bearer not-a-token"):
        answer = client.post(
            "/api/v1/mobile/reports",
            json=BODY,
            headers={"Authorization": header, "Idempotency-Key": "floor-2"},
        )
        assert answer.status_code == 401
    assert _counts(url) == (0, 0)
