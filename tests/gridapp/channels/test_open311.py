"""A GeoReport v2 client written from the spec's text, not from this server's code.

It does what the spec describes a client doing: read the discovery document, list services,
read a service definition, POST a form-encoded request with an api_key, then follow it by id
and in lists, in JSON and in XML (parsed with the standard library), and read the spec's
error documents.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.gridapp.case_helpers import act, grid_point

BASE = "/open311/v2"
KEY = "demo-open311-key"
OFFSET = re.compile(r"(Z|[+-]\d\d:\d\d)$")
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
CONTACT = {
    "email": "citizen@example.org",
    "first_name": "Li",
    "last_name": "Hua",
    "phone": "13800138000",
    "device_id": "device-42",
    "account_id": "acct-7",
}


def xml_of(response: Any) -> ET.Element:
    assert response.content_type.startswith("text/xml"), response.content_type
    assert response.data.startswith(b"<?xml"), "the spec asks for the XML declaration"
    return ET.fromstring(response.data)


def records(root: ET.Element, item: str) -> list[dict[str, str]]:
    return [{child.tag: child.text or "" for child in node} for node in root.findall(item)]


@pytest.fixture()
def point(app: Any, client: Any, auth: Any) -> tuple[float, float]:
    grid = app.config["DEMO_REPORT"].users[0].grids[0]  # grid_worker's first grid
    return grid_point(client, auth("grid_worker"), grid)


def post_request(client: Any, fmt: str, **form: Any) -> Any:
    # The spec: "POST ... as application/x-www-form-urlencoded".
    return client.post(f"{BASE}/requests.{fmt}", data=form)


def test_discovery_names_this_endpoint_in_both_formats(client):
    document = client.get(f"{BASE}/discovery.json").get_json()
    endpoint = document["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}

    root = xml_of(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    formats = [f.text for f in root.findall("endpoints/endpoint/formats/format")]
    assert "text/xml" in formats


def test_services_list_public_categories_with_definitions(client):
    services = client.get(f"{BASE}/services.json").get_json()
    codes = {s["service_code"] for s in services}
    assert "SJ0102" in codes and "BJ0101" in codes
    assert not any(code.startswith("SJ9") or code.startswith("RX") for code in codes), (
        "social-governance and hotline classes are not citizens' services"
    )
    for service in services:
        assert {"service_code", "service_name", "metadata", "type"} <= set(service)
        assert service["type"] == "realtime"
    with_metadata = next(s for s in services if s["metadata"] is True)

    root = xml_of(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    xml_codes = {s["service_code"] for s in records(root, "service")}
    assert xml_codes == codes
    assert {s["metadata"] for s in records(root, "service")} <= {"true", "false"}

    definition = client.get(f"{BASE}/services/{with_metadata['service_code']}.json").get_json()
    assert definition["service_code"] == with_metadata["service_code"]
    attribute = definition["attributes"][0]
    assert {"variable", "code", "datatype", "required", "order", "description"} <= set(attribute)

    root = xml_of(client.get(f"{BASE}/services/{with_metadata['service_code']}.xml"))
    assert root.tag == "service_definition"
    assert root.find("attributes/attribute/code").text == attribute["code"]

    missing = client.get(f"{BASE}/services/NOPE.json")
    assert missing.status_code == 404
    assert missing.get_json()[0]["code"] == 404


def test_a_citizen_files_a_request_and_follows_it_to_its_end(client, auth, point):
    lon, lat = point
    response = post_request(
        client,
        "json",
        api_key=KEY,
        jurisdiction_id="430423",
        service_code="SJ0102",
        lat=str(lat),
        long=str(lon),
        description="Rubbish piled at the bus stop",
        media_url="https://example.org/photo.jpg",
        **CONTACT,
    )
    assert response.status_code == 201, response.data
    [created] = response.get_json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["account_id"] == "acct-7"
    request_id = created["service_request_id"]

    [shown] = client.get(f"{BASE}/requests/{request_id}.json").get_json()
    assert set(shown) >= REQUEST_FIELDS
    assert shown["status"] == "open"
    assert shown["service_code"] == "SJ0102"
    assert shown["media_url"] == "https://example.org/photo.jpg"
    assert abs(shown["lat"] - lat) < 1e-6 and abs(shown["long"] - lon) < 1e-6
    assert OFFSET.search(shown["requested_datetime"])
    assert OFFSET.search(shown["updated_datetime"])
    body = client.get(f"{BASE}/requests/{request_id}.json").data.decode()
    for value in CONTACT.values():
        assert value not in body, "contact details never appear in GET output"

    root = xml_of(client.get(f"{BASE}/requests/{request_id}.xml"))
    assert root.tag == "service_requests"
    [xml_request] = records(root, "request")
    assert xml_request["service_request_id"] == request_id
    assert xml_request["status"] == "open"
    assert "13800138000" not in client.get(f"{BASE}/requests/{request_id}.xml").data.decode()

    # The desk sees a citizen's request sent to the on-site check, with the caller's details.
    acceptor = auth("acceptor")
    listed = client.get(
        "/api/v1/cases", query_string={"source": "citizen", "q": request_id}, headers=acceptor
    ).get_json()["items"]
    [case] = listed
    assert case["state"] == "checking"
    assert case["caller"]["phone"] == "13800138000"
    grid_worker = auth("grid_worker")
    case = act(client, grid_worker, case, "check_reply", {"confirmed": False}, mobile=True)
    assert case["state"] == "reported"
    case = client.get(f"/api/v1/cases/{case['id']}", headers=acceptor).get_json()
    act(client, acceptor, case, "reject", {"reason": "nothing found on site"})

    [closed] = client.get(f"{BASE}/requests/{request_id}.json").get_json()
    assert closed["status"] == "closed"
    assert closed["status_notes"]
    listed_ids = client.get(f"{BASE}/requests.json", query_string={"status": "closed"}).get_json()
    assert request_id in {r["service_request_id"] for r in listed_ids}
    open_ids = client.get(f"{BASE}/requests.json", query_string={"status": "open"}).get_json()
    assert request_id not in {r["service_request_id"] for r in open_ids}


def test_requests_are_filtered_by_ids_service_and_dates_in_xml(client, point):
    lon, lat = point
    ids = []
    for service in ("SJ0102", "SJ0101"):
        root = xml_of(
            post_request(
                client,
                "xml",
                api_key=KEY,
                service_code=service,
                lat=str(lat),
                long=str(lon),
                description=f"{service} here",
            )
        )
        assert root.tag == "service_requests"
        ids.append(root.find("request/service_request_id").text)

    root = xml_of(
        client.get(f"{BASE}/requests.xml", query_string={"service_request_id": ",".join(ids)})
    )
    assert {r["service_request_id"] for r in records(root, "request")} == set(ids)

    by_service = client.get(
        f"{BASE}/requests.json", query_string={"service_code": "SJ0101"}
    ).get_json()
    assert ids[1] in {r["service_request_id"] for r in by_service}
    assert ids[0] not in {r["service_request_id"] for r in by_service}

    now = datetime.now(UTC)
    window = {
        "start_date": (now - timedelta(hours=1)).isoformat(),
        "end_date": (now + timedelta(hours=1)).isoformat(),
    }
    recent = client.get(f"{BASE}/requests.json", query_string=window).get_json()
    assert set(ids) <= {r["service_request_id"] for r in recent}
    earlier = {
        "start_date": (now - timedelta(days=3)).isoformat(),
        "end_date": (now - timedelta(days=2)).isoformat(),
    }
    old = client.get(f"{BASE}/requests.json", query_string=earlier).get_json()
    assert not set(ids) & {r["service_request_id"] for r in old}


def test_an_address_without_a_point_is_accepted(client):
    response = post_request(
        client, "json", api_key=KEY, service_code="SJ0102", address_string="开云镇 解放路 12 号"
    )
    assert response.status_code == 201, response.data
    [shown] = client.get(
        f"{BASE}/requests/{response.get_json()[0]['service_request_id']}.json"
    ).get_json()
    assert shown["address"] == "开云镇 解放路 12 号"
    assert shown["lat"] is None


def test_a_json_body_is_accepted_too(client, point):
    lon, lat = point
    response = client.post(
        f"{BASE}/requests.json",
        json={
            "api_key": KEY,
            "service_code": "BJ0101",
            "lat": lat,
            "long": lon,
            "attribute": {"component_code": "nothing-like-it"},
        },
    )
    assert response.status_code == 201, response.data


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_come_in_the_specs_format(client, point, fmt):
    lon, lat = point

    def error(response: Any, status: int) -> str:
        assert response.status_code == status, response.data
        if fmt == "json":
            [item] = response.get_json()
            assert item["code"] == status and item["description"]
            return str(item["description"])
        root = xml_of(response)
        assert root.tag == "errors"
        assert root.find("error/code").text == str(status)
        return str(root.find("error/description").text)

    place = {"lat": str(lat), "long": str(lon)}
    error(post_request(client, fmt, service_code="SJ0102", **place), 403)
    error(post_request(client, fmt, api_key="not-a-key", service_code="SJ0102", **place), 403)
    error(post_request(client, fmt, api_key=KEY, **place), 400)
    error(post_request(client, fmt, api_key=KEY, service_code="SJ0102"), 400)
    error(post_request(client, fmt, api_key=KEY, service_code="SJ0102", lat="north"), 400)
    error(post_request(client, fmt, api_key=KEY, service_code="SJ0102", lat="0", long="0"), 400)
    error(post_request(client, fmt, api_key=KEY, service_code="NOPE", **place), 404)
    error(post_request(client, fmt, api_key=KEY, service_code="SJ9001", **place), 404)
    error(client.get(f"{BASE}/requests/00000000000000.{fmt}"), 404)
    error(client.get(f"{BASE}/requests.{fmt}", query_string={"start_date": "yesterday"}), 400)
    error(client.get(f"{BASE}/requests.{fmt}", query_string={"status": "pending"}), 400)


def test_admins_issue_and_revoke_integrator_keys(client, auth, session, point):
    from sqlalchemy import select

    from gridapp.core.audit import AuditEntry

    lon, lat = point
    admin = auth("admin")
    assert client.get("/api/v1/admin/open311-keys", headers=auth("acceptor")).status_code == 403

    issued = client.post("/api/v1/admin/open311-keys", json={"name": "city app"}, headers=admin)
    assert issued.status_code == 201, issued.get_json()
    key = issued.get_json()
    secret = key["api_key"]
    listed = client.get("/api/v1/admin/open311-keys", headers=admin).get_json()
    assert key["id"] in {k["id"] for k in listed}
    assert secret not in client.get("/api/v1/admin/open311-keys", headers=admin).data.decode()

    form = {"service_code": "SJ0102", "lat": str(lat), "long": str(lon)}
    assert post_request(client, "json", api_key=secret, **form).status_code == 201

    revoked = client.delete(f"/api/v1/admin/open311-keys/{key['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.get_json()["active"] is False
    assert post_request(client, "json", api_key=secret, **form).status_code == 403
    assert client.delete("/api/v1/admin/open311-keys/999999", headers=admin).status_code == 404

    actions = set(
        session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.target_type == "open311_key", AuditEntry.target_id == str(key["id"])
            )
        )
    )
    assert actions == {"open311_key.create", "open311_key.revoke"}


def test_an_integrator_key_is_rate_limited_in_the_spec_format(app, client, point):
    import dataclasses

    lon, lat = point
    config = app.config["GRIDAPP"]
    app.config["GRIDAPP"] = dataclasses.replace(
        config, rate_limits_enabled=True, rate_limits={**config.rate_limits, "open311": "2/minute"}
    )
    try:
        form = dict(api_key=KEY, service_code="SJ0102", lat=str(lat), long=str(lon))
        answers = [post_request(client, "json", **form) for _ in range(3)]
        refused = post_request(client, "xml", **form)
    finally:
        app.config["GRIDAPP"] = config

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].get_json()[0]["code"] == 429
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert refused.status_code == 429
    assert xml_of(refused).find("error/code").text == "429"
