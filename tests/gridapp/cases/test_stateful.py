"""Random sequences of actions by random demo roles, through the HTTP API (issue 10).

A hypothesis state machine reports a few cases, then lets demo users fire actions at them, some
taken from what the case offers them and some at random. After every step it checks:

* the case's state is what the workflow definition says: on success the transition's target
  (``workflow.fire`` of the row the action selected), on refusal unchanged;
* exactly one history event per accepted action, none for a refused one;
* the ETag moved on success and stayed on refusal;
* nobody saw a case outside their scope, in a list or by id (grid_worker2 works other grids and
  never sees these cases at all).

Bounded (derandomized, few examples, short runs) so it stays well under a minute per backend.
"""

from __future__ import annotations

import io
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from PIL import Image

import workflow
from tests.gridapp.case_helpers import grid_point, report
from tests.gridapp.conftest import login_headers

# In the order the urban process needs them, so that hypothesis's simplest draws (the first
# ones) walk a case forward rather than closing it by the reporter's self-handling.
PEOPLE = (
    "acceptor",
    "shift_leader",
    "dispatcher",
    "handler2",
    "grid_worker",
    "handler",
    "supervisor",
    "community_center",
    "grid_worker2",
)
OUTSIDER = "grid_worker2"
URBAN = workflow.PROCESSES["urban"]
ACTIONS = tuple(action.value for action in URBAN.actions)
VALUES = {
    workflow.FieldKind.text: "checked on site",
    workflow.FieldKind.moment: "2030-01-01T10:00:00+08:00",
    workflow.FieldKind.score: 90,
}


def _photo(client: Any, headers: dict[str, str]) -> int:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (40, 120, 40)).save(buffer, "JPEG")
    response = client.post(
        "/api/v1/media",
        data={"file": (io.BytesIO(buffer.getvalue()), "p.jpg")},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def test_random_actions_keep_the_workflow_history_etag_and_scope(client: Any) -> None:
    people = {name: login_headers(client, name) for name in PEOPLE}
    me = {
        name: client.get("/api/v1/auth/me", headers=headers).get_json()
        for name, headers in people.items()
    }
    point = grid_point(client, people["grid_worker"], me["grid_worker"]["grids"][0])
    seer = people["supervisor"]  # sees every case of the district, with its history
    accepted: list[str] = []

    def payload(action: str, actor: str, cases: list[int], flag: bool) -> dict[str, Any]:
        row = next((r for r in URBAN.transitions if r.action.value == action), None)
        body: dict[str, Any] = {}
        for requirement in row.requirements if row else ():
            if requirement.kind in VALUES:
                body[requirement.field] = VALUES[requirement.kind]
            elif requirement.kind == workflow.FieldKind.flag:
                body[requirement.field] = flag
            elif requirement.field == "grid_worker":
                body["grid_worker"] = me["grid_worker"]["id"]
            elif requirement.field == "duplicate_of":
                body["duplicate_of"] = cases[0]
        if row is not None and row.min_photos:
            body["photos"] = [_photo(client, people[actor])]
        return body

    class Cases(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.cases: list[int] = []
            self.state: dict[int, str] = {}
            self.version: dict[int, int] = {}
            self.events: dict[int, int] = {}

        def seen_by_seer(self, case_id: int) -> tuple[dict[str, Any], str, int]:
            response = client.get(f"/api/v1/cases/{case_id}", headers=seer)
            assert response.status_code == 200
            history = client.get(f"/api/v1/cases/{case_id}/history", headers=seer).get_json()
            return response.get_json(), response.headers["ETag"], len(history["events"])

        @initialize()
        def report_cases(self) -> None:
            for _ in range(2):
                response = report(client, people["grid_worker"], *point)
                assert response.status_code == 201, response.get_json()
                case_id = response.get_json()["id"]
                case, _etag, events = self.seen_by_seer(case_id)
                self.cases.append(case_id)
                self.state[case_id] = case["state"]
                self.version[case_id] = case["version"]
                self.events[case_id] = events

        @rule(
            actor=st.sampled_from(PEOPLE),
            which=st.integers(0, 1),
            offered=st.booleans(),
            random_action=st.sampled_from(ACTIONS),
            pick=st.integers(0, 20),
            flag=st.booleans(),
        )
        def act(
            self,
            actor: str,
            which: int,
            offered: bool,
            random_action: str,
            pick: int,
            flag: bool,
        ) -> None:
            case_id = self.cases[which]
            action = random_action
            if offered:
                # Someone the case offers an action to, from the drawn actor on: progress.
                start = PEOPLE.index(actor)
                for name in PEOPLE[start:] + PEOPLE[:start]:
                    shown = client.get(f"/api/v1/cases/{case_id}", headers=people[name])
                    choices = [a["name"] for a in (shown.get_json() or {}).get("actions", [])]
                    if shown.status_code == 200 and choices:
                        actor, action = name, choices[pick % len(choices)]
                        break
            headers = people[actor]
            before, etag_before, events_before = self.seen_by_seer(case_id)
            assert before["state"] == self.state[case_id]

            response = client.post(
                f"/api/v1/cases/{case_id}/actions/{action}",
                json=payload(action, actor, self.cases, flag),
                headers={**headers, "If-Match": etag_before},
            )

            after, etag_after, events_after = self.seen_by_seer(case_id)
            assert response.status_code < 500, response.get_data(as_text=True)
            if response.status_code == 200:
                row = URBAN.transition(workflow.State(before["state"]), workflow.Action(action))
                assert row is not None and row.permits_role(workflow.Role(me[actor]["role"]))
                assert after["state"] == (row.target or row.source).value
                assert events_after == events_before + 1
                assert etag_after != etag_before
                assert after["version"] == before["version"] + 1
                accepted.append(action)
            else:
                assert after["state"] == before["state"]
                assert events_after == events_before
                assert etag_after == etag_before
                if URBAN.transition(workflow.State(before["state"]), workflow.Action(action)):
                    assert response.status_code in (403, 404, 409, 412, 422), response.get_json()
            self.state[case_id] = after["state"]
            self.version[case_id] = after["version"]
            self.events[case_id] = events_after

        @invariant()
        def nobody_sees_outside_their_scope(self) -> None:
            if not self.cases:
                return
            for name in ("handler2", OUTSIDER):
                listed = client.get("/api/v1/cases?limit=200", headers=people[name]).get_json()
                ids = {item["id"] for item in listed["items"]}
                for case_id in self.cases:
                    status = client.get(f"/api/v1/cases/{case_id}", headers=people[name])
                    # A list and a read by id agree, and the outsider gets neither.
                    assert (case_id in ids) == (status.status_code == 200), (name, case_id)
                    if name == OUTSIDER:
                        assert status.status_code == 404
                    elif status.status_code == 200:
                        department = status.get_json()["department"]
                        assert department == me[name]["department"], (name, department)

    run_state_machine_as_test(
        Cases,
        settings=settings(
            max_examples=4,
            stateful_step_count=12,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # The runs moved cases on, not only collected refusals.
    assert len(set(accepted)) >= 3, accepted
