"""Regenerate the worked examples (``python mobile-api/examples/generate.py``).

Every example is a real request against a throw-away demo database, so the examples show what
the server answers today. One case walks the whole process, report to evaluation, phone and
desk steps alike, with the answers a client must handle on the way (401, 409, 412, 422).

Two files come out:

- ``README.md``: the walk, request by request, per role;
- ``examples.json``: per operation (``"METHOD /path/{template}"``) the first request body and
  success answer of the walk (per action for the action operations), which
  ``gridapp.core.openapi_examples`` puts into the OpenAPI document. Regenerate
  ``mobile-api/openapi.json`` (``make openapi``) after this.

The inputs are fixed; ids, times, hashes and cursors are whatever the run produced.
"""

from __future__ import annotations

import io
import json
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask
from PIL import Image

from gridapp import create_app
from gridapp.accounts.totp import totp_now
from gridapp.core.extensions import db
from gridapp.core.migrate import upgrade
from gridapp.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, demo_users, seed_demo

OUT = Path(__file__).resolve().parent
# Tokens are secrets of the run: never written out.
PLACEHOLDERS = {"access_token": "<access token>", "refresh_token": "<refresh token>"}
# A list longer than this is cut to its first LIST_KEPT items (categories, grids, events).
LIST_LIMIT = 6
LIST_KEPT = 3
HEX64 = re.compile(r"[0-9a-f]{64}")


def _readable(value: Any) -> Any:
    """Shorten an answer for the README: tokens hidden, hashes and long lists cut, marked …."""
    if isinstance(value, dict):
        return {k: ("…" if k in PLACEHOLDERS else _readable(v)) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > LIST_LIMIT:
            return [_readable(v) for v in value[:LIST_KEPT]] + ["…"]
        return [_readable(v) for v in value]
    if isinstance(value, str) and HEX64.fullmatch(value):
        return value[:12] + "…"
    return value


def _example(value: Any) -> Any:
    """Shorten a body for examples.json so that it still validates: no markers, full hashes."""
    if isinstance(value, dict):
        return {
            k: (PLACEHOLDERS[k] if k in PLACEHOLDERS else _example(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        kept = value[:LIST_KEPT] if len(value) > LIST_LIMIT else value
        return [_example(v) for v in kept]
    return value


class Recorder:
    """Send requests through the test client; write each into the README and examples."""

    def __init__(self, client: Any, paths: Iterable[str]) -> None:
        self.client = client
        self.parts: list[str] = []
        self.examples: dict[str, dict[str, dict[str, Any]]] = {}
        # Fixed paths before templated ones: /notifications/read is not /notifications/{id}/read.
        self.templates = [
            (template, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"))
            for template in sorted(paths, key=lambda p: (p.count("{"), p))
        ]

    def title(self, text: str) -> None:
        self.parts.append(f"\n## {text}\n")

    def text(self, text: str) -> None:
        self.parts.append(f"{text}\n")

    def operation(self, path: str) -> tuple[str, dict[str, str]] | None:
        """Return the document's path template for a concrete path, with its parameters."""
        bare = path.partition("?")[0]
        for template, pattern in self.templates:
            found = pattern.match(bare)
            if found:
                return template, found.groupdict()
        return None

    def call(
        self,
        note: str,
        method: str,
        path: str,
        *,
        auth: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        shown_body: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Send one request; show it (``shown_body`` in place of a secret-bearing body)."""
        response = self.client.open(
            path,
            method=method,
            headers={**(auth or {}), **(headers or {})},
            json=json_body,
            **kwargs,
        )
        self._show(note, method, path, auth, headers, json_body, shown_body, response, kwargs)
        self._record(note, method, path, json_body if shown_body is None else shown_body, response)
        return response

    def _show(
        self,
        note: str,
        method: str,
        path: str,
        auth: dict[str, str] | None,
        headers: dict[str, str] | None,
        json_body: Any,
        shown_body: Any,
        response: Any,
        kwargs: dict[str, Any],
    ) -> None:
        lines = [f"{note}\n", "```http", f"{method} {path}"]
        if auth:
            lines.append("Authorization: Bearer <access token>")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        body = json_body if shown_body is None else shown_body
        if body is not None:
            lines += ["Content-Type: application/json", "", _dumps(body)]
        elif "data" in kwargs:
            lines += ["Content-Type: multipart/form-data", "", "(file field `file`: a JPEG)"]
        lines += ["```", "", "```http", f"HTTP/1.1 {response.status}"]
        for key in ("Content-Type", "ETag"):
            if key in response.headers:
                lines.append(f"{key}: {response.headers[key]}")
        answer = response.get_json(silent=True)
        if answer is not None:
            lines += ["", _dumps(_readable(answer))]
        lines.append("```\n")
        self.parts.append("\n".join(lines))

    def _record(self, note: str, method: str, path: str, body: Any, response: Any) -> None:
        """Keep the first success of each operation (of each action, for the action ones)."""
        found = self.operation(path)
        if found is None or not 200 <= response.status_code < 300:
            return
        template, params = found
        name = params.get("action", "default")
        named = self.examples.setdefault(f"{method} {template}", {})
        if name in named:
            return
        summary = note.rstrip(".:")
        if "action" in params:  # one of several in a drop-down: say which
            summary = f"{name}: {summary[0].lower()}{summary[1:]}"
        example: dict[str, Any] = {"summary": summary, "status": response.status_code}
        if body is not None:
            example["request"] = _example(body)
        answer = response.get_json(silent=True)
        if answer is not None:
            example["response"] = _example(answer)
            if response.mimetype != "application/json":
                example["content_type"] = response.mimetype
        named[name] = example


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _jpeg(shade: int) -> dict[str, Any]:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (shade, shade, shade)).save(buffer, "JPEG")
    return {"file": (io.BytesIO(buffer.getvalue()), "photo.jpg")}


def _if_match(case: dict[str, Any]) -> dict[str, str]:
    return {"If-Match": f'"{case["version"]}"'}


def _hotline_step(
    rec: Recorder,
    auth: dict[str, str],
    case: dict[str, Any],
    action: str,
    note: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    answer: dict[str, Any] = rec.call(
        note,
        "POST",
        f"/api/v1/cases/{case['id']}/actions/{action}",
        auth=auth,
        headers=_if_match(case),
        json_body=body,
    ).get_json()
    return answer


def walk(app: Flask, client: Any) -> Recorder:
    """Take one case from the grid worker's report to the reporter's rating, and around it."""
    from gridapp.core.extensions import api

    with app.app_context():
        rec = Recorder(client, api.spec.to_dict()["paths"])
        handler_of = {
            u.department: u.username
            for u in reversed(demo_users(db.session()))
            if u.role == "handler" and u.department
        }

    def login(user: str) -> dict[str, str]:
        # Roles without a second factor ignore `otp`; sending it always keeps this simple.
        body = {"username": user, "password": DEMO_PASSWORD, "otp": totp_now(DEMO_TOTP_SECRET)}
        token = client.post("/api/v1/auth/login", json=body).get_json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    rec.parts.append(
        "# Worked examples: the phone and the desks, report to evaluation\n\n"
        "Generated by `generate.py` from real calls against the demo county; the same calls "
        "give the examples in the OpenAPI document (`examples.json`). Ids, times, hashes and "
        "cursors differ from run to run. Long lists are cut (…), tokens and hashes shortened."
    )

    rec.title("Grid worker (网格员): sign in")
    signed_in = rec.call(
        "Sign in; grid workers need no second factor.",
        "POST",
        "/api/v1/auth/login",
        json_body={"username": "grid_worker", "password": DEMO_PASSWORD},
    ).get_json()
    worker = {"Authorization": f"Bearer {signed_in['access_token']}"}
    worker_refresh = signed_in["refresh_token"]
    me = rec.call(
        "Who am I: role, grids, district.", "GET", "/api/v1/auth/me", auth=worker
    ).get_json()
    grid = me["grids"][0]

    rec.title("Grid worker: the report form's lists and the map")
    rec.call(
        "The categories a report may take (部件 here; `kind=event` for 事件).",
        "GET",
        "/api/v1/categories?kind=component",
        auth=worker,
    )
    rec.call("One of my grids.", "GET", f"/api/v1/areas/{grid}", auth=worker)
    feature = client.get(f"/api/v1/areas/{grid}?format=geojson", headers=worker).get_json()
    import shapely

    import geo

    point = shapely.geometry.shape(feature["geometry"]).representative_point()
    gcj_lon, gcj_lat = geo.wgs84_to_gcj02(point.x, point.y)

    rec.title("Grid worker: where am I (落格)")
    rec.call(
        "The phone's SDK gives GCJ-02; the answer is in WGS84 with the original kept.",
        "GET",
        f"/api/v1/grid/locate?lon={gcj_lon:.6f}&lat={gcj_lat:.6f}&crs=gcj02",
        auth=worker,
    )

    rec.title("Grid worker: upload a photo, then report (上报)")
    photo = rec.call(
        "Photos first (or multipart in the report itself).",
        "POST",
        "/api/v1/mobile/media",
        auth=worker,
        data=_jpeg(120),
        content_type="multipart/form-data",
    ).get_json()
    report = {
        "category": "BJ0101",
        "description": "上水井盖破损，有安全隐患",
        "location": {"lon": round(gcj_lon, 6), "lat": round(gcj_lat, 6), "crs": "gcj02"},
        "address": "衡山县开云镇",
        "photos": [photo["id"]],
    }
    key = {"Idempotency-Key": "2f1c9a52-report-0001"}
    case = rec.call(
        "Report with an Idempotency-Key; a retry answers the same case.",
        "POST",
        "/api/v1/mobile/reports",
        auth=worker,
        headers=key,
        json_body=report,
    ).get_json()
    case_path = f"/api/v1/cases/{case['id']}"
    rec.call(
        "The same key with another body is refused.",
        "POST",
        "/api/v1/mobile/reports",
        auth=worker,
        headers=key,
        json_body={**report, "description": "something else"},
    )

    rec.title("Acceptor (受理员): sign in with a second factor, review, accept (受理)")
    rec.call(
        "Command-center roles sign in with a TOTP code; without it:",
        "POST",
        "/api/v1/auth/login",
        json_body={"username": "acceptor", "password": DEMO_PASSWORD},
    )
    otp = totp_now(DEMO_TOTP_SECRET)
    signed_in = rec.call(
        "With the code of the authenticator app (RFC 6238, 30 s, 6 digits):",
        "POST",
        "/api/v1/auth/login",
        json_body={"username": "acceptor", "password": DEMO_PASSWORD, "otp": otp},
        shown_body={"username": "acceptor", "password": DEMO_PASSWORD, "otp": "<6 digits>"},
    ).get_json()
    acceptor = {"Authorization": f"Bearer {signed_in['access_token']}"}
    rec.call(
        "New reports in the district are notified to its acceptors.",
        "GET",
        "/api/v1/notifications?unread=true",
        auth=acceptor,
    )
    rec.call(
        "The queue: reported cases, oldest deadline first; each case lists your `actions`.",
        "GET",
        "/api/v1/cases?state=reported&sort=deadline&limit=2",
        auth=acceptor,
    )
    case = rec.call(
        "One case; its ETag is the version to send as If-Match.",
        "GET",
        case_path,
        auth=acceptor,
    ).get_json()
    case = rec.call(
        "Accept, with the case's version as If-Match.",
        "POST",
        f"{case_path}/actions/accept",
        auth=acceptor,
        headers=_if_match(case),
        json_body={},
    ).get_json()

    rec.title("Shift leader (值班长): file (立案)")
    leader = login("shift_leader")
    rec.call(
        "A stale version (someone acted since you loaded the case) is 412: reload it.",
        "POST",
        f"{case_path}/actions/file",
        auth=leader,
        headers={"If-Match": '"1"'},
        json_body={},
    )
    case = rec.call(
        "File it; category and urgency may be corrected here. Filing and dispatch share one "
        "limit from acceptance (30 working minutes, 10 for an urgent case).",
        "POST",
        f"{case_path}/actions/file",
        auth=leader,
        headers=_if_match(case),
        json_body={"urgency": "normal", "comment": "立案，按一般问题处置"},
    ).get_json()

    rec.title("Dispatcher (派遣员): dispatch (派遣) by the responsibility rules")
    dispatcher = login("dispatcher")
    rec.call("The departments a case may go to.", "GET", "/api/v1/departments", auth=dispatcher)
    case = rec.call(
        "Without a department the most specific rule decides; the event records it. The case "
        "waits for the department to acknowledge it (待签收); the department is told.",
        "POST",
        f"{case_path}/actions/dispatch",
        auth=dispatcher,
        headers=_if_match(case),
        json_body={},
    ).get_json()
    rec.call(
        "An action this state does not take is 409; `waiting_for` says who acts next.",
        "POST",
        f"{case_path}/actions/close",
        auth=dispatcher,
        headers=_if_match(case),
        json_body={},
    )

    handler_name = handler_of[case["department"]]
    rec.title(
        f"Handler (处置人员, `{handler_name}`): acknowledge (签收), photo of the fix, feedback"
    )
    handler = login(handler_name)
    case = rec.call(
        "Acknowledge the dispatched case within its limit; the handling clock starts now.",
        "POST",
        f"{case_path}/actions/acknowledge",
        auth=handler,
        headers=_if_match(case),
        json_body={},
    ).get_json()
    fixed = rec.call(
        "The department's photo of the repaired cover.",
        "POST",
        "/api/v1/media",
        auth=handler,
        data=_jpeg(160),
        content_type="multipart/form-data",
    ).get_json()
    case = rec.call(
        "Feedback needs at least one photo.",
        "POST",
        f"{case_path}/actions/feedback",
        auth=handler,
        headers=_if_match(case),
        json_body={"photos": [fixed["id"]], "comment": "已更换井盖"},
    ).get_json()

    rec.title("Acceptor: send a grid worker to verify (核查)")
    case = rec.call(
        "Name the grid worker who goes to look.",
        "POST",
        f"{case_path}/actions/assign_verification",
        auth=acceptor,
        headers=_if_match(case),
        json_body={"grid_worker": me["id"]},
    ).get_json()

    rec.title("Grid worker: verify on the phone (核查反馈)")
    rec.call("What waits for me.", "GET", "/api/v1/mobile/tasks", auth=worker)
    case = rec.call(
        "The case as the phone sees it; `actions` offers verify_reply.",
        "GET",
        f"/api/v1/mobile/cases/{case['id']}",
        auth=worker,
    ).get_json()
    checked = client.post(
        "/api/v1/mobile/media", headers=worker, data=_jpeg(200), content_type="multipart/form-data"
    ).get_json()
    case = rec.call(
        "Passed, with a photo; the Idempotency-Key makes a retry safe.",
        "POST",
        f"/api/v1/mobile/cases/{case['id']}/actions/verify_reply",
        auth=worker,
        headers={**_if_match(case), "Idempotency-Key": "2f1c9a52-verify-0001"},
        json_body={"passed": True, "photos": [checked["id"]], "comment": "现场核查已修复"},
    ).get_json()

    rec.title("Shift leader: close (结案)")
    case = rec.call(
        "Close, since the verification passed.",
        "POST",
        f"{case_path}/actions/close",
        auth=leader,
        headers=_if_match(case),
        json_body={"comment": "核查通过，结案"},
    ).get_json()

    rec.title("Grid worker: rate the result (评价), then catch up")
    rec.call(
        "The reporter rates the handling, 0–100 (a supervisor may instead).",
        "POST",
        f"/api/v1/mobile/cases/{case['id']}/actions/evaluate",
        auth=worker,
        headers=_if_match(case),
        json_body={"score": 95, "comment": "处理及时"},
    )
    rec.call(
        "Catch up after being offline (keep `cursor` for the next call as `since`).",
        "GET",
        "/api/v1/mobile/sync",
        auth=worker,
    )

    rec.title("Notifications (消息提醒): read them")
    notes = rec.call(
        "Mine, oldest first; page with `after`.",
        "GET",
        "/api/v1/notifications",
        auth=worker,
    ).get_json()
    rec.call(
        "Mark one read.",
        "POST",
        f"/api/v1/notifications/{notes[0]['id']}/read",
        auth=worker,
    )
    rec.call(
        "Mark all the rest read; the answer counts those this call marked.",
        "POST",
        "/api/v1/notifications/read",
        auth=worker,
        json_body={"all": True},
    )

    rec.title("Hotline operator (12345 话务员): take a call at the desk (受理登记)")
    operator = login("hotline_operator")
    rec.call(
        "A citizen's call becomes a case; the category decides the process.",
        "POST",
        "/api/v1/cases",
        auth=operator,
        json_body={
            "category": "RX8003",
            "description": "市民来电：夜间施工噪音扰民",
            "source": "hotline",
            "address": "开云镇建设路12号",
            "caller": {"name": "张先生", "phone": "13800000000"},
        },
    )

    rec.title("Hotline operator (12345 话务员): a call through the hotline desk, to 办结")
    call = rec.call(
        "The operator's call record (来电记录) becomes a case with `source=hotline`; with "
        "`answer` (直接答复) it would be closed at once.",
        "POST",
        "/api/v1/hotline/calls",
        auth=operator,
        json_body={
            "caller": {"name": "李女士", "phone": "13900000000"},
            "summary": "小区门口道路积水，车辆无法通行",
            "category": "RX8004",
            "address": "开云镇建设路18号",
        },
    ).get_json()
    call = _hotline_step(rec, operator, call, "accept", "Accept it (受理).", {})
    call = _hotline_step(
        rec,
        operator,
        call,
        "dispatch",
        "Send it to a department (派单); the responsibility rules choose when none is named.",
        {},
    )
    handler = login("handler")
    call = _hotline_step(
        rec,
        handler,
        call,
        "acknowledge",
        "The department signs for it (签收) within its own limit; the handling limit starts.",
        {},
    )
    call = _hotline_step(
        rec,
        handler,
        call,
        "feedback",
        "The department's reply to the citizen (答复) ends the handling.",
        {"comment": "已疏通排水管道，积水已排除"},
    )
    rec.call(
        "The operator's call-backs due (待回访), soonest deadline first.",
        "GET",
        "/api/v1/hotline/call-backs",
        auth=operator,
    )
    call = _hotline_step(
        rec,
        operator,
        call,
        "call_back",
        "The call-back (回访) records resolved and satisfaction separately (or "
        '`{"unreachable": true}`, up to three attempts).',
        {"resolved": True, "satisfaction": "basically_satisfied", "comment": "市民基本满意"},
    )
    _hotline_step(rec, operator, call, "close", "Close it (办结).", {})

    rec.title("Supervisor (领导): history and its hash chain")
    supervisor = login("supervisor")
    rec.call(
        "Every event with actor, role, time and hashes.",
        "GET",
        f"{case_path}/history",
        auth=supervisor,
    )
    rec.call("Recompute the chain.", "GET", f"{case_path}/history/verify", auth=supervisor)

    rec.title("Grid worker: patrol (巡查), a batch of GPS fixes")
    from datetime import UTC, datetime, timedelta

    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    fixes = [
        {
            "lon": round(gcj_lon + 0.0002 * i, 6),
            "lat": round(gcj_lat, 6),
            "crs": "gcj02",
            "t": (started + timedelta(seconds=30 * i)).isoformat(),
        }
        for i in range(4)
    ]
    batch = {"batch_id": "walk-0001", "points": fixes}
    rec.call(
        "Send fixes as they come, a batch every minute or so; any `crs`, stored in WGS84 with "
        "the unit grid each falls in.",
        "POST",
        "/api/v1/mobile/patrol",
        auth=worker,
        json_body=batch,
    )
    rec.call(
        "No answer came? Send the same batch again: it is stored once, answered the same.",
        "POST",
        "/api/v1/mobile/patrol",
        auth=worker,
        json_body=batch,
    )
    rec.call(
        "My track today as GeoJSON: a LineString per stretch, a MultiPoint with every fix.",
        "GET",
        "/api/v1/patrols",
        auth=worker,
    )

    rec.title("Supervisor: patrols, the dashboard and hot spots (领导驾驶舱)")
    rec.call(
        "A grid worker's track (personal information: the read goes to the audit trail).",
        "GET",
        f"/api/v1/patrols?worker={me['id']}",
        auth=supervisor,
    )
    rec.call(
        "Today's coverage of the district's grid workers: grids visited, time, distance.",
        "GET",
        "/api/v1/patrols/coverage?limit=2",
        auth=supervisor,
    )
    rec.call(
        "This month's numbers: reported, filed, closed, open, overdue, rates, a daily trend.",
        "GET",
        "/api/v1/dashboard",
        auth=supervisor,
    )
    rec.call(
        "Where cases were reported this month, per street (`level=grid` by default).",
        "GET",
        "/api/v1/hotspots?level=street",
        auth=supervisor,
    )

    rec.title("Grid worker: refresh the tokens, sign out")
    pair = rec.call(
        "Swap the refresh token for a new pair; the old one stops working.",
        "POST",
        "/api/v1/auth/refresh",
        json_body={"refresh_token": worker_refresh},
    ).get_json()
    rec.call(
        "Sign out: the refresh token and its family stop working.",
        "POST",
        "/api/v1/auth/logout",
        auth={"Authorization": f"Bearer {pair['access_token']}"},
        json_body={"refresh_token": pair["refresh_token"]},
    )
    return rec


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {"var_dir": Path(tmp), "database_url": f"sqlite:///{tmp}/x.db", "testing": True}
        )
        upgrade(f"sqlite:///{tmp}/x.db")
        with app.app_context(), db.transaction() as session:
            seed_demo(session)
        rec = walk(app, app.test_client())
        (OUT / "README.md").write_text("\n".join(rec.parts) + "\n", encoding="utf-8")
        (OUT / "examples.json").write_text(
            json.dumps(rec.examples, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
