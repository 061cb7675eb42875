"""Sensor alarms: the HMAC checks (window, replay, wrong key, unknown device) and the rule that
a flapping device opens at most one case while its case is open."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from tests.gridapp.case_helpers import act

URL = "/api/v1/iot/alarms"
DEVICE = "demo-manhole-001"
SECRET = "demo-device-secret-2026"


def signed(
    body: dict[str, Any] | None = None,
    *,
    device: str = DEVICE,
    secret: str = SECRET,
    at: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Sign an alarm as a device does: hex HMAC-SHA256 of "<timestamp>.<raw body>"."""
    # A nonce in each body: a signature is accepted once, and tests run in the same second.
    raw = json.dumps(body or {"type": "tilt", "value": 30, "nonce": secrets.token_hex(8)})
    raw_bytes = raw.encode()
    timestamp = str(int(time.time()) if at is None else at)
    signature = hmac.new(
        secret.encode(), timestamp.encode() + b"." + raw_bytes, hashlib.sha256
    ).hexdigest()
    headers = {
        "X-Device-Id": device,
        "X-Timestamp": timestamp,
        "X-Signature": signature,
        "Content-Type": "application/json",
    }
    return raw_bytes, headers


def alarm(client: Any, **kwargs: Any) -> Any:
    raw, headers = signed(**kwargs)
    return client.post(URL, data=raw, headers=headers)


def refused(response: Any) -> dict[str, Any]:
    assert response.status_code == 401, response.get_json()
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    return body


def test_an_alarm_opens_a_case_on_the_components_category_and_grid(app, client, auth):
    response = alarm(client)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["created"] is True
    case = client.get(f"/api/v1/cases/{result['case']['id']}", headers=auth("acceptor")).get_json()
    assert case["source"] == "sensor"
    assert case["category"] == "BJ0101"
    assert case["grid_code"] in app.config["DEMO_REPORT"].users[0].grids
    assert case["component"] is not None


def test_a_flapping_device_opens_one_case_per_open_period(client, auth):
    first = alarm(client).get_json()
    assert first["created"] is True
    again = alarm(client, body={"type": "tilt", "value": 0, "nonce": secrets.token_hex(8)})
    assert again.status_code == 200
    assert again.get_json() == {**again.get_json(), "created": False}
    assert again.get_json()["case"]["id"] == first["case"]["id"]
    third = alarm(client).get_json()
    assert third["case"]["id"] == first["case"]["id"]

    acceptor = auth("acceptor")
    history = client.get(
        f"/api/v1/cases/{first['case']['id']}/history", headers=acceptor
    ).get_json()["events"]
    notes = [e for e in history if e["action"] == "note"]
    assert len(notes) == 2 and all(e["role"] == "sensor" for e in notes)
    assert notes[0]["from_state"] == notes[0]["to_state"] == "reported"

    # Once the case is over, the next alarm opens a new period: a new case.
    case = client.get(f"/api/v1/cases/{first['case']['id']}", headers=acceptor).get_json()
    act(client, acceptor, case, "reject", {"reason": "sensor fault"})
    after = alarm(client).get_json()
    assert after["created"] is True and after["case"]["id"] != first["case"]["id"]


def test_the_timestamp_must_be_within_300_seconds(client):
    now = int(time.time())
    refused(alarm(client, at=now - 301))
    refused(alarm(client, at=now + 301))
    assert alarm(client, at=now - 290).status_code == 200
    assert alarm(client, at=now + 290).status_code == 200


def test_a_signature_is_accepted_once(client):
    raw, headers = signed()
    assert client.post(URL, data=raw, headers=headers).status_code == 200
    detail = refused(client.post(URL, data=raw, headers=headers))
    assert "used" in detail["detail"]


def test_a_wrong_key_and_an_unknown_device_get_the_same_answer(client):
    wrong = refused(alarm(client, secret="not-the-secret"))
    unknown = refused(alarm(client, device="no-such-device"))
    assert wrong == unknown
    raw, headers = signed()
    tampered = raw.replace(b"tilt", b"tile")
    refused(client.post(URL, data=tampered, headers=headers))
    refused(client.post(URL, data=raw, headers={**headers, "X-Signature": "00" * 32}))
    refused(client.post(URL, data=raw, headers={**headers, "X-Timestamp": "soon"}))
    refused(client.post(URL, data=raw, headers={"Content-Type": "application/json"}))


def test_the_signed_bytes_are_read_whatever_the_content_type(client):
    raw, headers = signed()
    del headers["Content-Type"]
    assert client.post(URL, data=raw, headers=headers).status_code == 200


def test_a_signed_body_must_still_be_an_alarm(client):
    raw, headers = signed(body={"value": 3})
    response = client.post(URL, data=raw, headers=headers)
    assert response.status_code == 422
    assert "type" in response.get_json()["errors"]


def test_an_alarm_that_was_not_stored_does_not_spend_its_signature(client):
    raw, headers = signed(body={"value": 3})
    assert client.post(URL, data=raw, headers=headers).status_code == 422
    # The same signed bytes again: refused for what they say, not as a replay.
    again = client.post(URL, data=raw, headers=headers)
    assert again.status_code == 422, again.get_json()
    stored_raw, stored_headers = signed()
    assert client.post(URL, data=stored_raw, headers=stored_headers).status_code == 200
    assert "used" in refused(client.post(URL, data=stored_raw, headers=stored_headers))["detail"]


def test_admins_register_and_disable_devices(client, auth):
    admin = auth("admin")
    assert client.get("/api/v1/admin/devices", headers=auth("dispatcher")).status_code == 403
    registered = client.post(
        "/api/v1/admin/devices",
        json={"code": "bin-fill-7", "component": "4304230101900001", "name": "满溢"},
        headers=admin,
    )
    assert registered.status_code == 201, registered.get_json()
    device = registered.get_json()
    secret = device["secret"]
    listed = client.get("/api/v1/admin/devices", headers=admin)
    assert "bin-fill-7" in listed.data.decode() and secret not in listed.data.decode()
    assert alarm(client, device="bin-fill-7", secret=secret).status_code == 200

    duplicate = client.post(
        "/api/v1/admin/devices",
        json={"code": "bin-fill-7", "component": "4304230101900001"},
        headers=admin,
    )
    assert duplicate.status_code == 409
    unknown = client.post(
        "/api/v1/admin/devices", json={"code": "x1", "component": "nope"}, headers=admin
    )
    assert unknown.status_code == 422

    disabled = client.delete(f"/api/v1/admin/devices/{device['id']}", headers=admin)
    assert disabled.status_code == 200 and disabled.get_json()["active"] is False
    refused(alarm(client, device="bin-fill-7", secret=secret))


def test_the_secret_is_stored_encrypted(session):
    from sqlalchemy import select

    from gridapp.channels.iot.models import Device

    stored = session.scalar(select(Device.secret_encrypted).where(Device.code == DEVICE))
    assert SECRET not in stored
