"""Drive cases through every path of the urban process over HTTP, as a phone and a desk would.

It knows only the API contract (DESIGN §9, the OpenAPI document) and the demo users, retries
every mobile POST, and checks where each case ends, its history, its hash chain, that no report
made two cases, and that 404/409/412/428 answer exactly where they should. The tests run it
through Flask's test client; against a running server:

    .venv/bin/python -m tests.e2e_drive --base http://127.0.0.1:5000 --cases 200
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import struct
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PASSWORD = "demo-pass-2026"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
MFA = {"acceptor", "dispatcher", "shift_leader", "supervisor", "admin"}
# path name → (final state, the actions after report, in order)
PATHS: dict[str, tuple[str, list[str]]] = {
    "happy": (
        "evaluated",
        [
            "accept",
            "file",
            "dispatch",
            "acknowledge",
            "feedback",
            "assign_verification",
            "verify_pass",
            "close",
            "evaluate",
        ],
    ),
    "return": (
        "closed",
        [
            "accept",
            "file",
            "dispatch_named",
            "acknowledge",
            "request_return",
            "approve_return",
            "dispatch",
            "acknowledge",
            "feedback",
            "assign_verification",
            "verify_pass",
            "close",
        ],
    ),
    "extension": (
        "closed",
        [
            "accept",
            "file",
            "dispatch",
            "acknowledge",
            "request_extension",
            "approve_extension",
            "request_extension",
            "approve_second_extension",
            "feedback",
            "assign_verification",
            "verify_pass",
            "close",
        ],
    ),
    "suspension": (
        "closed",
        [
            "accept",
            "file",
            "dispatch",
            "acknowledge",
            "request_suspension",
            "approve_suspension",
            "resume",
            "feedback",
            "assign_verification",
            "verify_pass",
            "close",
        ],
    ),
    "rework": (
        "closed",
        [
            "accept",
            "file",
            "dispatch",
            "acknowledge",
            "feedback",
            "assign_verification",
            "verify_fail",
            "rework",
            "feedback",
            "assign_verification",
            "verify_pass",
            "close",
        ],
    ),
    "self_handle": ("closed", ["self_handle", "approve_self_handling"]),
    "self_handle_denied": ("void", ["self_handle", "deny_self_handling", "reject"]),
    "reject": ("void", ["reject"]),
    "merge": ("void", ["merge"]),
    "denials": (
        "closed",
        [
            "accept",
            "file",
            "dispatch",
            "acknowledge",
            "request_return",
            "deny_return",
            "request_extension",
            "deny_extension",
            "feedback",
            "assign_verification",
            "verify_pass",
            "close",
        ],
    ),
}

Send = Callable[[str, str, dict[str, str], Any], tuple[int, dict[str, str], Any]]


def totp(secret: str, ahead: int = 0) -> str:
    """The code of the step holding now (``ahead`` steps later: each code works once)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int(time.time() // 30) + ahead
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return str((struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**6).zfill(6)


def http_sender(base: str) -> Send:
    def send(method: str, path: str, headers: dict[str, str], body: Any) -> Any:
        data = None
        headers = dict(headers)
        if isinstance(body, bytes):
            data = body
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, dict(response.headers), json.loads(raw or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, dict(error.headers), json.loads(raw or b"null")

    return send


@dataclass
class Driver:
    send: Send
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    me: dict[str, Any] = field(default_factory=dict)
    checks: int = 0
    photo_body: Callable[[str], tuple[bytes, str]] | None = None

    def expect(self, status: int, wanted: int, what: str, body: Any) -> None:
        self.checks += 1
        if status != wanted:
            raise AssertionError(f"{what}: expected {wanted}, got {status}: {body}")

    def login(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            body = {"username": username, "password": PASSWORD}
            if username.rstrip("2") in MFA:
                body["otp"] = totp(TOTP_SECRET)
            status, _, answer = self.send("POST", "/api/v1/auth/login", {}, body)
            if status == 401 and "otp" in body:
                # This user signed in within the last 30 s (another run): the next code.
                body["otp"] = totp(TOTP_SECRET, ahead=1)
                status, _, answer = self.send("POST", "/api/v1/auth/login", {}, body)
            self.expect(status, 200, f"login {username}", answer)
            self.tokens[username] = {"Authorization": f"Bearer {answer['access_token']}"}
            self.me[username] = answer["user"]
        return self.tokens[username]

    def call(
        self,
        user: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        return self.send(method, path, {**self.login(user), **(headers or {})}, body)

    def photo(self, user: str) -> int:
        assert self.photo_body is not None
        payload, content_type = self.photo_body(user)
        status, _, answer = self.send(
            "POST",
            "/api/v1/mobile/media" if user.startswith("grid_worker") else "/api/v1/media",
            {**self.login(user), "Content-Type": content_type},
            payload,
        )
        self.expect(status, 201, "photo upload", answer)
        return int(answer["id"])

    def point(self) -> tuple[float, float]:
        grid = self.me["grid_worker"]["grids"][0] if "grid_worker" in self.me else None
        if grid is None:
            self.login("grid_worker")
            grid = self.me["grid_worker"]["grids"][0]
        _, _, feature = self.call("grid_worker", "GET", f"/api/v1/areas/{grid}?format=geojson")
        ring = feature["geometry"]["coordinates"]
        ring = ring[0][0] if feature["geometry"]["type"] == "MultiPolygon" else ring[0]
        # The mean of a convex-ish 100 m cell's vertices lies inside it.
        lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
        lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
        return lon, lat

    def report(self, n: int, lon: float, lat: float) -> dict[str, Any]:
        body = {
            "category": "SJ0102",
            "description": f"drive case {n}",
            "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        }
        key = {"Idempotency-Key": f"drive-{time.time_ns()}-{n}"}
        first = self.call("grid_worker", "POST", "/api/v1/mobile/reports", body, key)
        retry = self.call("grid_worker", "POST", "/api/v1/mobile/reports", body, key)
        self.expect(first[0], 201, "report", first[2])
        self.expect(retry[0], 201, "report retry", retry[2])
        if retry[2]["id"] != first[2]["id"]:
            raise AssertionError("a retried report made a second case")
        return dict(first[2])

    def act(
        self,
        user: str,
        case: dict[str, Any],
        action: str,
        body: dict[str, Any] | None = None,
        mobile: bool = False,
    ) -> dict[str, Any]:
        prefix = "/api/v1/mobile" if mobile else "/api/v1"
        path = f"{prefix}/cases/{case['id']}/actions/{action}"
        headers = {"If-Match": f'"{case["version"]}"'}
        if mobile:
            headers["Idempotency-Key"] = f"{action}-{case['id']}-{case['version']}"
        status, response_headers, answer = self.call(user, "POST", path, body or {}, headers)
        self.expect(status, 200, f"{action} on {case['id']}", answer)
        if mobile:  # the phone lost the answer and retries
            again = self.call(user, "POST", path, body or {}, headers)
            self.expect(again[0], 200, f"retried {action}", again[2])
            if again[2]["version"] != answer["version"]:
                raise AssertionError("a retried mobile action acted twice")
        if response_headers.get("ETag") != f'"{answer["version"]}"':
            raise AssertionError("the ETag is not the case version")
        # The same version again is stale now.
        stale = self.call(
            user,
            "POST",
            f"/api/v1/cases/{case['id']}/actions/supervise",
            {},
            {"If-Match": f'"{case["version"]}"'},
        )
        self.expect(stale[0], 412, "stale If-Match", stale[2])
        return dict(answer)

    def step(
        self, case: dict[str, Any], step: str, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        worker_id = self.me["grid_worker"]["id"]
        table: dict[str, tuple[str, str, dict[str, Any], bool]] = {
            "accept": ("acceptor", "accept", {}, False),
            "file": ("shift_leader", "file", {}, False),
            "dispatch": ("dispatcher", "dispatch", {}, False),
            "dispatch_named": (
                "dispatcher",
                "dispatch",
                {"department": "urban-enforcement"},
                False,
            ),
            "request_return": (
                "handler" if case.get("department") == "urban-enforcement" else "handler2",
                "request_return",
                {"reason": "not ours"},
                False,
            ),
            "acknowledge": (
                "handler" if case.get("department") == "urban-enforcement" else "handler2",
                "acknowledge",
                {},
                False,
            ),
            "approve_return": ("shift_leader", "approve_return", {}, False),
            "deny_return": ("shift_leader", "deny_return", {}, False),
            "request_extension": (
                "handler2",
                "request_extension",
                {"until": "2031-01-01T10:00:00+08:00", "reason": "parts"},
                False,
            ),
            "approve_extension": ("dispatcher", "approve_extension", {}, False),
            # A second extension: only the shift leader may approve it.
            "approve_second_extension": ("shift_leader", "approve_extension", {}, False),
            "deny_extension": ("shift_leader", "deny_extension", {}, False),
            "request_suspension": ("handler2", "request_suspension", {"reason": "winter"}, False),
            "approve_suspension": ("shift_leader", "approve_suspension", {}, False),
            "resume": ("dispatcher", "resume", {}, False),
            "feedback": ("handler2", "feedback", {"photos": [self.photo("handler2")]}, False),
            "assign_verification": (
                "acceptor",
                "assign_verification",
                {"grid_worker": worker_id},
                False,
            ),
            "verify_pass": ("grid_worker", "verify_reply", {"passed": True}, True),
            "verify_fail": ("grid_worker", "verify_reply", {"passed": False}, True),
            "rework": ("shift_leader", "rework", {}, False),
            "close": ("shift_leader", "close", {}, False),
            "evaluate": ("grid_worker", "evaluate", {"score": 90}, True),
            "self_handle": (
                "grid_worker",
                "self_handle",
                {"photos": [self.photo("grid_worker")]},
                True,
            ),
            "approve_self_handling": ("acceptor", "approve_self_handling", {}, False),
            "deny_self_handling": (
                "acceptor",
                "deny_self_handling",
                {"reason": "the photo shows it still there"},
                False,
            ),
            "reject": ("acceptor", "reject", {"reason": "outside our remit"}, False),
            "merge": (
                "acceptor",
                "merge",
                {"duplicate_of": previous["id"] if previous else case["id"]},
                False,
            ),
        }
        user, action, body, mobile = table[step]
        return self.act(user, case, action, body, mobile)

    def run(self, cases: int) -> dict[str, Any]:
        lon, lat = self.point()
        names = list(PATHS)
        done: list[tuple[dict[str, Any], str, int]] = []
        previous: dict[str, Any] | None = None
        for n in range(cases):
            path = names[n % len(names)]
            case = self.report(n, lon, lat)
            for step in PATHS[path][1]:
                case = self.step(case, step, previous)
            done.append((case, path, len(PATHS[path][1]) + 1))
            previous = case if case["state"] != "void" else previous
        for case, path, events in done:
            _, _, fresh = self.call("supervisor", "GET", f"/api/v1/cases/{case['id']}")
            if fresh["state"] != PATHS[path][0]:
                raise AssertionError(f"case {case['id']} ({path}) ended in {fresh['state']}")
            _, _, history = self.call("supervisor", "GET", f"/api/v1/cases/{case['id']}/history")
            actions = [e for e in history["events"] if e["role"] != "system"]
            if len(actions) != events:
                raise AssertionError(f"case {case['id']}: {len(actions)} events, not {events}")
            _, _, chain = self.call(
                "supervisor", "GET", f"/api/v1/cases/{case['id']}/history/verify"
            )
            if not chain["intact"]:
                raise AssertionError(f"case {case['id']}: broken hash chain")
            self.checks += 3
        self.check_errors(done[0][0])
        return {"cases": len(done), "checks": self.checks}

    def check_errors(self, case: dict[str, Any]) -> None:
        path = f"/api/v1/cases/{case['id']}/actions/accept"
        status, _, body = self.call("acceptor", "POST", path, {})
        self.expect(status, 428, "missing If-Match", body)
        status, _, body = self.call(
            "acceptor", "POST", path, {}, {"If-Match": f'"{case["version"]}"'}
        )
        self.expect(status, 409, "action not allowed in this state", body)
        status, _, body = self.call("grid_worker2", "GET", f"/api/v1/cases/{case['id']}")
        self.expect(status, 404, "out of scope", body)


def png_multipart(_user: str) -> tuple[bytes, str]:
    """A tiny valid PNG in a multipart body (field `file`), made without Pillow."""
    import zlib

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    boundary = "gridappdrive"
    body = io.BytesIO()
    body.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="p.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
    )
    body.write(png)
    body.write(f"\r\n--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="http://127.0.0.1:5000")
    parser.add_argument("--cases", type=int, default=200)
    args = parser.parse_args()
    driver = Driver(http_sender(args.base.rstrip("/")), photo_body=png_multipart)
    result = driver.run(args.cases)
    print(f"{result['cases']} cases, {result['checks']} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
