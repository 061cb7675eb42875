"""A case travels the urban-management process through the API (DESIGN §5, §9)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.gridapp.case_helpers import act, grid_point, photo_id, report


@pytest.fixture()
def people(auth: Any) -> dict[str, dict[str, str]]:
    names = [
        "grid_worker",
        "grid_worker2",
        "acceptor",
        "dispatcher",
        "shift_leader",
        "handler",
        "handler2",
        "supervisor",
    ]
    return {name: auth(name) for name in names}


@pytest.fixture()
def worker_point(client: Any, people: dict[str, dict[str, str]]) -> tuple[float, float]:
    me = client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()
    return grid_point(client, people["grid_worker"], me["grids"][0])


def new_case(client: Any, people: Any, point: tuple[float, float], **extra: Any) -> dict[str, Any]:
    response = report(client, people["grid_worker"], *point, **extra)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_happy_path_to_evaluation(client, people, worker_point):
    me = client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()
    case = new_case(client, people, worker_point)
    assert case["state"] == "reported"
    assert case["grid_code"] == me["grids"][0]
    assert case["street_code"] == "430423100"
    assert case["district_code"] == "430423"
    assert case["number"][:8].isdigit() and len(case["number"]) == 14
    assert case["sla"]["status"] == "ok" and case["deadline"] is not None
    case = act(client, people["acceptor"], case, "accept")
    case = act(client, people["shift_leader"], case, "file")
    case = act(client, people["dispatcher"], case, "dispatch")
    assert case["state"] == "dispatched"
    assert case["department"] == "sanitation"  # SJ0102 暴露垃圾 → 环卫处 by the directory rule
    # Another department may not acknowledge (签收) it; the department's handler does.
    act(client, people["handler"], case, "acknowledge", expect=404)
    case = act(client, people["handler2"], case, "acknowledge")
    assert case["state"] == "handling"
    case = act(
        client,
        people["handler2"],
        case,
        "feedback",
        {"photos": [photo_id(client, people["handler2"])], "comment": "cleaned"},
    )
    case = act(client, people["acceptor"], case, "assign_verification", {"grid_worker": me["id"]})
    case = act(client, people["grid_worker"], case, "verify_reply", {"passed": True}, mobile=True)
    case = act(client, people["shift_leader"], case, "close")
    assert case["state"] == "closed" and case["deadline"] is None
    case = act(client, people["grid_worker"], case, "evaluate", {"score": 95}, mobile=True)
    assert case["state"] == "evaluated" and case["score"] == 95

    history = client.get(
        f"/api/v1/cases/{case['id']}/history", headers=people["supervisor"]
    ).get_json()["events"]
    assert [e["action"] for e in history] == [
        "report",
        "accept",
        "file",
        "dispatch",
        "acknowledge",
        "feedback",
        "assign_verification",
        "verify_reply",
        "close",
        "evaluate",
    ]
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(history))
    chain = client.get(
        f"/api/v1/cases/{case['id']}/history/verify", headers=people["supervisor"]
    ).get_json()
    assert chain["intact"] is True and chain["events"] == 10
    notes = client.get("/api/v1/notifications", headers=people["grid_worker"]).get_json()
    assert {"assign_verification", "close"} <= {n["kind"] for n in notes}
    notes = client.get("/api/v1/notifications", headers=people["handler2"]).get_json()
    assert "dispatch" in {n["kind"] for n in notes}


def test_side_paths_return_extension_suspension_rework(client, people, worker_point):
    me = client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()
    case = new_case(client, people, worker_point)
    case = act(client, people["acceptor"], case, "accept")
    case = act(client, people["shift_leader"], case, "file")
    case = act(client, people["dispatcher"], case, "dispatch", {"department": "urban-enforcement"})
    case = act(client, people["handler"], case, "acknowledge")
    case = act(client, people["handler"], case, "request_return", {"reason": "not ours"})
    # The shift leader approves a return (回退), no longer the dispatcher.
    act(client, people["dispatcher"], case, "approve_return", expect=409)
    case = act(client, people["shift_leader"], case, "approve_return")
    assert case["state"] == "filed" and case["department"] is None
    case = act(client, people["dispatcher"], case, "dispatch")
    case = act(client, people["handler2"], case, "acknowledge")
    case = act(
        client,
        people["handler2"],
        case,
        "request_extension",
        {"until": "2030-01-01T10:00:00+08:00", "reason": "parts on order"},
    )
    case = act(client, people["dispatcher"], case, "approve_extension")
    assert case["state"] == "handling" and case["deadline"].startswith("2030-01-01T02:00:00")
    case = act(client, people["handler2"], case, "request_suspension", {"reason": "winter"})
    case = act(client, people["shift_leader"], case, "approve_suspension")
    assert case["state"] == "suspended"
    case = act(client, people["dispatcher"], case, "resume")
    case = act(
        client,
        people["handler2"],
        case,
        "feedback",
        {"photos": [photo_id(client, people["handler2"])]},
    )
    case = act(client, people["acceptor"], case, "assign_verification", {"grid_worker": me["id"]})
    case = act(client, people["grid_worker"], case, "verify_reply", {"passed": False}, mobile=True)
    act(client, people["shift_leader"], case, "close", expect=409)
    case = act(client, people["shift_leader"], case, "rework")
    assert case["state"] == "handling" and case["rework_count"] == 1


def test_reject_merge_self_handle(client, people, worker_point):
    first = new_case(client, people, worker_point)
    second = new_case(client, people, worker_point, description="same heap again")
    merged = act(client, people["acceptor"], second, "merge", {"duplicate_of": first["id"]})
    assert merged["state"] == "void" and merged["duplicate_of"] == first["id"]
    rejected = act(client, people["acceptor"], first, "reject", {"reason": "not in our remit"})
    assert rejected["state"] == "void"
    third = new_case(client, people, worker_point)
    act(client, people["grid_worker"], third, "self_handle", {}, mobile=True, expect=422)
    fixed = act(
        client,
        people["grid_worker"],
        third,
        "self_handle",
        {"photos": [photo_id(client, people["grid_worker"])]},
        mobile=True,
    )
    # The acceptor reviews a 自处置 before it closes.
    assert fixed["state"] == "self_handled"
    act(client, people["acceptor"], fixed, "deny_self_handling", expect=422)
    closed = act(client, people["acceptor"], fixed, "approve_self_handling")
    assert closed["state"] == "closed" and closed["closed_at"] is not None


def test_preconditions_and_scope(client, people, worker_point):
    case = new_case(client, people, worker_point)
    url = f"/api/v1/cases/{case['id']}/actions/accept"
    assert client.post(url, json={}, headers=people["acceptor"]).status_code == 428
    stale = client.post(url, json={}, headers={**people["acceptor"], "If-Match": '"99"'})
    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == "application/problem+json"
    wrong_role = act(client, people["dispatcher"], case, "accept", expect=409)
    assert wrong_role
    response = client.post(
        f"/api/v1/cases/{case['id']}/actions/dispatch",
        json={},
        headers={**people["dispatcher"], "If-Match": '"1"'},
    )
    assert response.status_code == 409
    refusal = response.get_json()
    assert refusal["detail"].startswith(
        "Can't dispatch when in reported: waiting for the acceptor to accept"
    )
    assert refusal["state"] == "reported"
    assert refusal["waiting_for"][0] == {
        "role": "acceptor",
        "relation": None,
        "actions": ["accept", "request_check", "reject", "merge"],
    }
    # Out of scope: another grid's worker and a department the case was not sent to.
    assert (
        client.get(f"/api/v1/cases/{case['id']}", headers=people["grid_worker2"]).status_code == 404
    )
    assert client.get(f"/api/v1/cases/{case['id']}", headers=people["handler"]).status_code == 404
    response = client.post(
        f"/api/v1/cases/{case['id']}/actions/accept",
        json={},
        headers={**people["handler"], "If-Match": '"1"'},
    )
    assert response.status_code == 404
    detail = client.get(f"/api/v1/cases/{case['id']}", headers=people["acceptor"])
    assert detail.status_code == 200 and detail.headers["ETag"] == '"1"'


def test_report_idempotency_and_validation(client, people, worker_point):
    headers = {**people["grid_worker"], "Idempotency-Key": "phone-1-report-7"}
    first = report(client, headers, *worker_point)
    again = report(client, headers, *worker_point)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    different = report(client, headers, *worker_point, description="another thing")
    assert different.status_code == 422
    outside = report(client, people["grid_worker"], 116.4, 39.9)
    assert outside.status_code == 422 and "location" in outside.get_json()["errors"]
    unknown = report(client, people["grid_worker"], *worker_point, category="XX9999")
    assert unknown.status_code == 422 and "category" in unknown.get_json()["errors"]


def test_gcj02_report_lands_in_same_grid(client, people, worker_point):
    import geo

    gcj = geo.wgs84_to_gcj02(*worker_point)
    case = new_case(client, people, gcj, crs="gcj02")
    direct = new_case(client, people, worker_point)
    assert case["grid_code"] == direct["grid_code"]
    assert case["original_location"]["crs"] == "gcj02"
    assert geo.haversine_m(case["location"]["lon"], case["location"]["lat"], *worker_point) < 0.5


def test_lists_filter_and_paginate(client, people, worker_point):
    made = [new_case(client, people, worker_point, description=f"case {i}") for i in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        query = {"limit": 2, "state": "reported", **({"cursor": cursor} if cursor else {})}
        page = client.get(
            "/api/v1/cases", query_string=query, headers=people["acceptor"]
        ).get_json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {c["id"] for c in made} <= set(seen) and len(seen) == len(set(seen))
    found = client.get(
        "/api/v1/cases", query_string={"q": "case 3"}, headers=people["acceptor"]
    ).get_json()["items"]
    assert [c["id"] for c in found] == [made[3]["id"]]
    tasks = client.get("/api/v1/mobile/tasks", headers=people["grid_worker"])
    assert tasks.status_code == 200
    sync = client.get("/api/v1/mobile/sync", headers=people["grid_worker"]).get_json()
    assert {c["id"] for c in made} <= {c["id"] for c in sync["cases"]}
    accepted = act(client, people["acceptor"], made[0], "accept")
    later = client.get(
        "/api/v1/mobile/sync", query_string={"since": sync["cursor"]}, headers=people["grid_worker"]
    ).get_json()
    # What changed after the cursor comes at its new version; what changed in the seconds
    # before it may come again (tests.gridapp.cases.test_change_feeds), as it was.
    versions = {c["id"]: c["version"] for c in later["cases"]}
    assert versions[accepted["id"]] == accepted["version"] == 2
    assert all(versions.get(c["id"], c["version"]) == c["version"] for c in made[1:])


def test_mobile_action_retry_with_idempotency_key(client, people, worker_point):
    case = new_case(client, people, worker_point)
    headers = {**people["grid_worker"], "Idempotency-Key": "fix-1", "If-Match": '"1"'}
    body = {"photos": [photo_id(client, people["grid_worker"])]}
    url = f"/api/v1/mobile/cases/{case['id']}/actions/self_handle"
    first = client.post(url, json=body, headers=headers)
    retry = client.post(url, json=body, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert first.get_json()["version"] == retry.get_json()["version"] == 2
    history = client.get(f"/api/v1/cases/{case['id']}/history", headers=people["grid_worker"])
    assert [e["action"] for e in history.get_json()["events"]] == ["report", "self_handle"]
    stale = client.post(url, json=body, headers={**headers, "Idempotency-Key": "fix-2"})
    assert stale.status_code == 412


def test_dispatch_says_which_rule_it_used(client, people, worker_point):
    case = new_case(client, people, worker_point)
    case = act(client, people["acceptor"], case, "accept")
    case = act(client, people["shift_leader"], case, "file")
    answer = act(client, people["dispatcher"], case, "dispatch")
    rule = answer["event"]["data"]["rule"]
    assert answer["department"] == "sanitation"
    assert rule["category"] == "SJ0102" and rule["area"] == "430423" and rule["id"]
