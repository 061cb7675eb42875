"""GET /api/v1/processes answers the process definitions the workflow runs on (DESIGN §9)."""

from __future__ import annotations

from typing import Any

import workflow
from tests.gridapp.case_helpers import grid_point, report
from tests.gridapp.conftest import problem_of

CHINESE = {"Accept-Language": "zh-CN"}  # labels are the definitions' in Chinese


def test_lists_every_process_in_definition_order(client, auth):
    response = client.get("/api/v1/processes", headers=auth("grid_worker"))

    assert response.status_code == 200
    body = response.get_json()
    assert [p["code"] for p in body] == list(workflow.PROCESSES)
    urban = body[0]
    assert urban["name"] == "数字城管七步闭环"
    assert urban["initial"] == "reported"
    assert sorted(urban["ends"]) == ["evaluated", "void"]


def test_shows_one_process_with_labels_limits_and_levels(client, auth):
    response = client.get("/api/v1/processes/social", headers={**auth("handler"), **CHINESE})

    assert response.status_code == 200
    social = response.get_json()
    states = {s["code"]: s for s in social["states"]}
    assert states["reported"] == {
        "code": "reported",
        "label": "待处置",  # the social process names its own label
        "time_limit": {"amount": 2, "unit": "working_hours"},
        "time_limit_by": None,  # the same limit for every case
        "level": "community",
    }
    assert states["street_handling"]["level"] == "street"
    assert states["closed"]["time_limit"] is None
    escalate = next(
        a
        for a in social["actions"]
        if a["from"] == "community_handling" and a["name"] == "escalate"
    )
    assert escalate["to"] == "street_accepting"  # the street accepts (受理) before it handles
    assert states["street_accepting"] == {
        "code": "street_accepting",
        "label": "待街道受理",
        "time_limit": {"amount": 4, "unit": "working_hours"},
        "time_limit_by": None,
        "level": "street",
    }
    assert escalate["label"] == "上报上级"
    assert escalate["who"] == [
        {"role": "dispatcher", "role_label": "派遣员", "relation": "holding_center"}
    ]


def test_an_action_says_its_effects_guard_note_and_photos(client, auth):
    urban = client.get(
        "/api/v1/processes/urban", headers={**auth("grid_worker"), **CHINESE}
    ).get_json()
    actions = {(a["from"], a["name"]): a for a in urban["actions"]}

    close = actions["verified", "close"]
    assert close["effects"] == ["start_clock", "record_closure", "notify_reporter"]
    assert close["guard"] == "Refuse to close unless the latest verification (核查) passed."
    assert close["note"] is None
    feedback = actions["handling", "feedback"]
    assert feedback["min_photos"] == 1
    assert {"name": "photos", "required": True} in feedback["fields"]
    supervise = actions["handled", "supervise"]
    assert supervise["to"] is None and supervise["label"] == "督办"
    assert actions["filed", "dispatch"]["note"].startswith("department omitted")


def test_every_state_action_and_effect_of_the_definitions_appears(client, auth):
    body = client.get("/api/v1/processes", headers=auth("grid_worker")).get_json()

    for answered in body:
        definition = workflow.PROCESSES[answered["code"]]
        assert [s["code"] for s in answered["states"]] == [s.value for s in definition.states]
        assert {(a["from"], a["name"]) for a in answered["actions"]} == {
            (row.source.value, row.action.value) for row in definition.transitions
        }
        assert len(answered["actions"]) == len(definition.transitions)
        for row in definition.transitions:
            action = next(
                a
                for a in answered["actions"]
                if a["from"] == row.source and a["name"] == row.action
            )
            assert action["effects"] == [effect.value for effect in row.effects]
            assert action["to"] == (row.target.value if row.target else None)
            assert [(w["role"], w["relation"]) for w in action["who"]] == [
                (p.role.value, p.relation.value if p.relation else None) for p in row.permits
            ]
    used = {
        effect
        for definition in workflow.PROCESSES.values()
        for row in definition.transitions
        for effect in row.effects
    }
    answered_effects = {e for p in body for a in p["actions"] for e in a["effects"]}
    assert answered_effects == {effect.value for effect in used}


def test_fields_match_a_cases_actions(client, auth):
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    created = report(client, worker, *grid_point(client, worker, me["grids"][0]))
    assert created.status_code == 201, created.get_json()
    acceptor = auth("acceptor")
    case: dict[str, Any] = client.get(
        f"/api/v1/cases/{created.get_json()['id']}", headers=acceptor
    ).get_json()
    process = client.get(f"/api/v1/processes/{case['process']}", headers=acceptor).get_json()
    here = {a["name"]: a for a in process["actions"] if a["from"] == case["state"]}

    assert case["actions"], "the acceptor may act on a new report"
    for action in case["actions"]:
        described = here[action["name"]]
        assert action["label"] == described["label"]
        assert action["fields"] == described["fields"], action["name"]


def test_unknown_process_is_a_404_problem(client, auth):
    response = client.get("/api/v1/processes/nope", headers=auth("grid_worker"))

    assert "urban" in problem_of(response, 404)["detail"]


def test_needs_a_signed_in_user(client):
    problem_of(client.get("/api/v1/processes"), 401)
    problem_of(client.get("/api/v1/processes/urban"), 401)
