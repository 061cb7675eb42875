"""The console in a real browser: Debian's headless Chromium driven by Playwright.

A real server (gridapp's `make run`: gunicorn and the RQ worker) runs on a free port against a
database of its own (a SQLite file, or a PostgreSQL database made for the run), seeded with the
demo county. The scenario is the closed loop at the desk: the dispatcher signs in with the second
factor, finds a filed case in the queue and on the map and dispatches it to the suggested
department; that department's handler acknowledges it (签收) from the department queue's "to
acknowledge" tab and gives feedback with a photo; the acceptor assigns the
verification; the grid worker verifies (phone API); the case closes. Screenshots of the map, the
case and the ranking page are saved under var/screenshots/.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright import sync_api

from tests.conftest import BACKEND, PG_ADMIN_URL, REDIS_URL
from tests.gridapp.console.build import ROOT, built_console

CHROMIUM = os.environ.get("GRIDAPP_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "demo-pass-2026"
MFA = {
    "acceptor",
    "dispatcher",
    "shift_leader",
    "supervisor",
    "admin",
    "hotline_operator",
    "security_admin",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    """A small JSON client for the server under test (the test's own hands, not the page's)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.tokens: dict[str, str] = {}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept-Language", "en")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            text, status = error.read(), error.code
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def login(self, username: str) -> str:
        """Sign a demo user in once per test (access tokens last minutes; codes work once)."""
        if username in self.tokens:
            return self.tokens[username]
        body: dict[str, Any] = {"username": username, "password": PASSWORD}
        if username in MFA:
            body["otp"] = totp(username)
        status, answer = self.call("POST", "/api/v1/auth/login", body)
        assert status == 200, answer
        self.tokens[username] = str(answer["access_token"])
        return self.tokens[username]

    def act(self, token: str, case: dict[str, Any], action: str, body: Any = None, *, mobile=False):
        prefix = "/api/v1/mobile" if mobile else "/api/v1"
        status, answer = self.call(
            "POST",
            f"{prefix}/cases/{case['id']}/actions/{action}",
            body or {},
            token,
            {"If-Match": f'"{case["version"]}"'},
        )
        assert status == 200, (action, answer)
        return answer

    def case(self, token: str, case_id: int) -> dict[str, Any]:
        status, answer = self.call("GET", f"/api/v1/cases/{case_id}", token=token)
        assert status == 200, answer
        return answer


STEP = 30
# The last TOTP step each user signed in with: a code may work only once (identity hardening),
# and the scenario signs the same people in several times a minute, in the page and by API.
USED_STEPS: dict[str, int] = {}


def totp(username: str) -> str:
    """Return a code the server takes for ``username`` now: the earliest step not used yet."""
    from gridapp.accounts.totp import totp_now
    from gridapp.seed.demo import DEMO_TOTP_SECRET

    while True:
        moment = time.time()
        now = int(moment // STEP)
        # The previous step only while it stays good for the seconds a sign-in takes.
        steps = (now - 1, now, now + 1) if moment % STEP < STEP - 10 else (now, now + 1)
        for step in steps:
            if step > USED_STEPS.get(username, -1):
                USED_STEPS[username] = step
                return totp_now(DEMO_TOTP_SECRET, at=step * STEP + 1)
        time.sleep(STEP - moment % STEP + 0.5)


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, run_id: str) -> Iterator[str]:
    """Serve the demo with `python -m gridapp.core.serve` on a free port; its own database."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browsers` installs Debian's chromium")
    built_console()
    var = tmp_path_factory.mktemp("console-server")
    port = free_port()
    env = {
        **os.environ,
        "GRIDAPP_VAR_DIR": str(var),
        "GRIDAPP_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "DEMO": "1",
        "SECRET_KEY": "browser-test-" + run_id,
        # Every user of every test signs in from 127.0.0.1 within minutes; the limits themselves
        # are pinned in tests/gridapp/core/test_limits.py.
        "RATE_LIMITS": "0",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "mobile-api")]),
    }
    database = None
    if BACKEND == "postgres":
        import psycopg
        from sqlalchemy.engine import make_url

        database = f"gridapp_console_{run_id}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        url = make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        env.update(DATABASE_URL=url, REDIS_URL=REDIS_URL, QUEUE_PREFIX=f"test{run_id}console")
    else:
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
    log = (var / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gridapp.core.serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                pytest.fail("the server stopped:\n" + (var / "server.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("the server did not start:\n" + (var / "server.log").read_text())
                time.sleep(0.5)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        if database is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--use-gl=swiftshader"]
        )
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh page that records every request it makes to a host other than the server."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.outside = []
    own = urlsplit(server).netloc

    def record(request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https") and parts.netloc != own:
            page.outside.append(request.url)

    page.on("request", record)
    yield page
    assert page.outside == [], f"the console asked other hosts: {page.outside}"
    context.close()


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{BACKEND}.png"
    page.screenshot(path=str(path), full_page=False)
    print(f"screenshot: {path}")
    return path


def sign_in(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/console/")
    page.wait_for_url("**/console/login**")
    page.fill("[data-test=username]", username)
    page.fill("[data-test=password]", PASSWORD)
    page.click("[data-test=sign-in]")
    if username in MFA:
        # The role needs the second factor: the page asks for it after the password.
        page.wait_for_selector("[data-test=otp]")
        page.fill("[data-test=otp]", totp(username))
        page.click("[data-test=sign-in]")
    page.wait_for_selector("[data-test=who]")
    assert username in page.inner_text("[data-test=who]")


def sign_out(page: Any) -> None:
    page.click("[data-test=sign-out]")
    page.wait_for_url("**/console/login**")


def take(page: Any, action: str) -> None:
    """Open an action's form from the case page."""
    page.click(f"[data-test=action-{action}]")
    page.wait_for_selector("[data-test=action-dialog]")


def wait_state(page: Any, state: str) -> None:
    page.wait_for_selector(f"[data-test=case-state][data-state={state}]")


def filed_case(api: Api) -> dict[str, Any]:
    """A grid worker's report, accepted and filed through the API: it waits for dispatch."""
    worker = api.login("grid_worker")
    _status, me = api.call("GET", "/api/v1/auth/me", token=worker)
    _status, area = api.call("GET", f"/api/v1/areas/{me['grids'][0]}?format=geojson", token=worker)
    import shapely

    point = shapely.geometry.shape(area["geometry"]).representative_point()
    status, case = api.call(
        "POST",
        "/api/v1/mobile/reports",
        {
            "category": "SJ0102",
            "description": "暴露垃圾 by the market (browser test)",
            "location": {"lon": point.x, "lat": point.y, "crs": "wgs84"},
        },
        worker,
    )
    assert status == 201, case
    case = api.act(api.login("acceptor"), case, "accept")
    return api.act(api.login("shift_leader"), case, "file")


def handler_of(department: str) -> str:
    """The demo handler of a department (gridapp.seed.demo: named ones, then handler-<code>)."""
    return {"urban-enforcement": "handler", "sanitation": "handler2"}.get(
        department, f"handler-{department}"
    )


def test_the_desk_closes_a_case_in_the_browser(page: Any, server: str) -> None:
    api = Api(server)
    case = filed_case(api)
    case_id = case["id"]

    # The dispatcher: password, then the second factor; the queue to dispatch shows the case.
    sign_in(page, server, "dispatcher")
    page.wait_for_url("**/console/queues")
    page.click("[data-test=tab-to_dispatch]")
    page.wait_for_selector(f"[data-test=case-{case_id}]")

    # The map: the case is drawn from the vector tiles, and listed beside the map.
    page.click("[data-test=nav-map]")
    page.wait_for_selector("[data-test=map][data-ready=true]")
    page.wait_for_selector(f"[data-test=map-case-{case_id}]")
    page.click(f"[data-test=map-case-{case_id}]")  # flies to the case
    page.wait_for_function(
        "id => (document.querySelector('[data-test=map]').dataset.caseIds || '')"
        ".split(',').includes(String(id))",
        arg=case_id,
    )
    page.wait_for_selector("[data-test=map][data-idle=true]")  # every tile in view drawn
    shot(page, "map")
    # The filter panel narrows the list beside the map: a search nothing matches empties it,
    # the case's number brings the case back.
    page.fill("input[data-test=filter-q]", "no-such-case-anywhere")
    page.click("[data-test=filter-apply]")
    page.wait_for_selector(f"[data-test=map-case-{case_id}]", state="detached")
    page.fill("input[data-test=filter-q]", case["number"])
    page.click("[data-test=filter-apply]")
    page.wait_for_selector(f"[data-test=map-case-{case_id}]")

    # The case (tokens live in the page's memory: it is opened by a link, never a reload):
    # dispatch to the department the rules suggest, preselected in the picker.
    page.click(f"[data-test=map-case-{case_id}] a")
    wait_state(page, "filed")
    routing_status, routing = api.call(
        "GET", f"/api/v1/cases/{case_id}/routing", token=api.login("dispatcher")
    )
    assert routing_status == 200 and routing["department"], routing
    take(page, "dispatch")
    page.wait_for_selector("[data-test=suggestion]")
    assert routing["department_name"] in page.inner_text("[data-test=suggestion]")
    page.click("[data-test=action-submit]")
    wait_state(page, "dispatched")
    page.wait_for_selector("[data-test=chain]")
    shot(page, "case")
    sign_out(page)

    # The department's handler finds it waiting to be acknowledged (待签收), acknowledges it,
    # and reports it handled.
    sign_in(page, server, handler_of(routing["department"]))
    page.wait_for_url("**/console/department")
    page.click("[data-test=dept-tab-dispatched]")
    page.click(f"[data-test=case-{case_id}]")
    wait_state(page, "dispatched")
    take(page, "acknowledge")
    page.click("[data-test=action-submit]")
    wait_state(page, "handling")
    take(page, "feedback")
    page.set_input_files(
        "[data-test=field-photos]",
        files=[{"name": "done.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}],
    )
    page.wait_for_function(
        "() => document.querySelector('[data-test=action-dialog]').innerText.includes('done.jpg')"
    )
    page.fill("[data-test=field-comment]", "清理完毕")
    page.click("[data-test=action-submit]")
    wait_state(page, "handled")
    page.wait_for_selector("img[data-test^=photo-]")
    sign_out(page)

    # The acceptor assigns the verification to the grid's worker (preselected from the grid).
    sign_in(page, server, "acceptor")
    page.click("[data-test=tab-to_assign]")
    page.click(f"[data-test=case-{case_id}]")
    wait_state(page, "handled")
    take(page, "assign_verification")
    page.wait_for_selector("[data-test=field-grid_worker]")
    page.click("[data-test=action-submit]")
    wait_state(page, "verifying")

    # The grid worker verifies on the phone; the shift leader closes.
    case = api.case(api.login("acceptor"), case_id)
    case = api.act(api.login("grid_worker"), case, "verify_reply", {"passed": True}, mobile=True)
    case = api.act(api.login("shift_leader"), case, "close")
    assert case["state"] == "closed"
    page.click("[data-test=case-reload]")
    wait_state(page, "closed")


def test_a_stale_action_is_explained_and_the_case_reloaded(page: Any, server: str) -> None:
    api = Api(server)
    case = filed_case(api)
    sign_in(page, server, "dispatcher")
    page.click("[data-test=tab-to_dispatch]")
    page.click(f"[data-test=case-{case['id']}]")
    wait_state(page, "filed")
    # Someone else dispatches meanwhile: the page's version is stale (412), said in words.
    api.act(api.login("dispatcher"), case, "dispatch")
    take(page, "dispatch")
    page.wait_for_selector("[data-test=suggestion]")
    page.click("[data-test=action-submit]")
    page.wait_for_selector("[data-test=case-notice]")
    wait_state(page, "dispatched")


def test_the_supervisor_sees_the_closed_case_in_the_ranking(page: Any, server: str) -> None:
    api = Api(server)
    case = filed_case(api)
    case = api.act(api.login("dispatcher"), case, "dispatch")
    handler = api.login(handler_of(case["department"]))
    case = api.act(handler, case, "acknowledge")
    _status, media = api.call(
        "POST",
        "/api/v1/media",
        token=handler,
        headers={"Content-Type": "multipart/form-data; boundary=x"},
        raw=(
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + jpeg() + b"\r\n--x--\r\n"
        ),
    )
    case = api.act(handler, case, "feedback", {"photos": [media["id"]]})
    _status, me = api.call("GET", "/api/v1/auth/me", token=api.login("grid_worker"))
    case = api.act(api.login("acceptor"), case, "assign_verification", {"grid_worker": me["id"]})
    case = api.act(api.login("grid_worker"), case, "verify_reply", {"passed": True}, mobile=True)
    case = api.act(api.login("shift_leader"), case, "close")

    sign_in(page, server, "supervisor")
    page.click("[data-test=nav-rankings]")
    page.wait_for_selector(f"[data-test=ranking] [data-test=subject-{case['department']}]")
    row = page.locator(
        "[data-test=ranking] tr", has=page.locator(f"[data-test=subject-{case['department']}]")
    )
    counted = [int(n) for n, _d in re.findall(r"\((\d+)/(\d+)\)", row.first.inner_text())]
    assert counted and max(counted) >= 1, row.first.inner_text()
    shot(page, "ranking")


def form_error(page: Any, field: str) -> str:
    """The error Element Plus shows under one field of the open admin form."""
    selector = f"[data-test=admin-form] [data-test='form-field-{field}'] .el-form-item__error"
    page.wait_for_selector(selector)
    return str(page.inner_text(selector))


def test_the_admin_edits_departments_and_categories_through_forms(page: Any, server: str) -> None:
    api = Api(server)
    sign_in(page, server, "admin")
    page.wait_for_url("**/console/admin")

    # A new department: the form checks the code's shape before sending anything ...
    page.click("[data-test=admin-tab-departments]")
    page.click("[data-test=create-department]")
    page.fill("[data-test='form-input-code']", "parks dept!")
    page.fill("[data-test='form-input-name']", "园林绿化处（浏览器测试）")
    page.click("[data-test=form-submit]")
    assert "_" in form_error(page, "code")  # "letters, digits, - and _"
    # ... then saves it, and it is listed.
    page.fill("[data-test='form-input-code']", "parks-browser")
    page.click("[data-test=form-submit]")
    page.wait_for_selector("[data-test=admin-form]", state="detached")
    page.wait_for_selector(
        "[data-test=table-department] [data-test=cell-code]:text-is('parks-browser')"
    )
    admin = api.login("admin")
    _status, departments = api.call("GET", "/api/v1/admin/departments?limit=500", token=admin)
    assert {"code": "parks-browser", "name": "园林绿化处（浏览器测试）"}.items() <= next(
        d for d in departments["items"] if d["code"] == "parks-browser"
    ).items()

    # The same code again: the server's field error (problem+json `errors.code`) is shown
    # under the code field, in the page's language.
    page.click("[data-test=create-department]")
    page.fill("[data-test='form-input-code']", "parks-browser")
    page.fill("[data-test='form-input-name']", "又一个")
    page.click("[data-test=form-submit]")
    assert "parks-browser" in form_error(page, "code")
    page.wait_for_selector("[data-test=form-error]")
    shot(page, "admin-form")
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-test=admin-form]", state="detached")

    # A category through its form: the likely-duplicate radius and the Open311 flag change.
    def category() -> dict[str, Any]:
        _status, page_ = api.call("GET", "/api/v1/admin/categories?limit=500", token=admin)
        return dict(next(c for c in page_["items"] if c["code"] == "SJ0102"))

    before = category()
    page.click("[data-test=admin-tab-categories]")
    page.click("[data-test=edit-category-SJ0102]")
    radius = "[data-test=admin-form] [data-test='form-input-duplicate_radius_m'] input"
    page.fill(radius, "80")
    page.locator(radius).blur()
    page.click("[data-test=admin-form] [data-test='form-input-open311']")
    page.click("[data-test=form-submit]")
    page.wait_for_selector("[data-test=admin-form]", state="detached")
    after = category()
    assert after["duplicate_radius_m"] == 80 and after["open311"] is not before["open311"]
    assert {k: v for k, v in after.items() if k not in ("duplicate_radius_m", "open311")} == {
        k: v for k, v in before.items() if k not in ("duplicate_radius_m", "open311")
    }


def pick_option(page: Any, select: str, text: str) -> None:
    """Choose an option of an Element Plus select by its visible text."""
    page.click(select)
    page.click(f".el-select-dropdown__item:visible:has-text('{text}')")


def test_the_admin_pages_answer_in_tables_and_name_each_problem(page: Any, server: str) -> None:
    api = Api(server)
    worker = api.login("grid_worker")
    _status, me = api.call("GET", "/api/v1/auth/me", token=worker)
    _status, area = api.call("GET", f"/api/v1/areas/{me['grids'][0]}?format=geojson", token=worker)
    import shapely

    point = shapely.geometry.shape(area["geometry"]).representative_point()
    admin = api.login("admin")
    _status, expected = api.call(
        "GET",
        f"/api/v1/admin/rules/dry-run?category=SJ0102&lon={point.x}&lat={point.y}",
        token=admin,
    )
    sign_in(page, server, "admin")
    page.wait_for_url("**/console/admin")

    # The rules' dry run at the worker's grid: the answer as a table naming the department.
    page.click("[data-test=admin-tab-rules]")
    pick_option(page, "[data-test=dry-category]", "SJ0102")
    for name, value in (("lon", point.x), ("lat", point.y)):
        page.fill(f"[data-test=dry-{name}] input", f"{value:.6f}")
        page.locator(f"[data-test=dry-{name}] input").blur()
    page.click("[data-test=dry-run-go]")
    table = page.wait_for_selector("[data-test=dry-run-table]")
    assert expected["department"]["code"] in table.inner_text()
    assert expected["grid"]["code"] in table.inner_text()
    shot(page, "admin-rules")

    # The calendar: the years covered; a year at a glance (New Year's Day is a day off) and
    # its days by month.
    _status, overview = api.call("GET", "/api/v1/admin/calendar", token=admin)
    year = overview["years"][-1]["year"]
    page.click("[data-test=admin-tab-calendar]")
    page.click(f"[data-test=year-{year}]")
    page.wait_for_selector(f"[data-test=year-grid] [data-test=day-{year}-01-01].holiday")
    page.wait_for_selector("[data-test=calendar] .entry")
    shot(page, "admin-calendar")

    # A refused map file: every problem, grouped by the feature it is in.
    page.click("[data-test=admin-tab-maps]")
    features = [
        {"type": "Feature", "geometry": None, "properties": {"code": "X1", "name": "坏"}},
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [112.8, 27.2]},
            "properties": {"code": "X2", "name": "也坏", "level": "grid", "parent": "nowhere"},
        },
    ]
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    page.set_input_files(
        "[data-test=map-file]",
        files=[{"name": "bad.geojson", "mimeType": "application/geo+json", "buffer": body}],
    )
    page.click("[data-test=map-dry-run]")
    page.wait_for_selector("[data-test=map-refused]")
    page.wait_for_selector("[data-test=map-problems] [data-test=feature-0]")
    page.wait_for_selector("[data-test=map-problems] [data-test=feature-1]")
    shot(page, "admin-maps")

    # Evaluation rules: grade cut-offs that do not fall are refused, said under the grades.
    page.click("[data-test=admin-tab-evaluation_rules]")
    page.fill("[data-test=grade-0] input", "10")
    page.locator("[data-test=grade-0] input").blur()
    page.click("[data-test=rules-save]")
    page.wait_for_selector("[data-test=rules-grades] .el-form-item__error")
    shot(page, "admin-evaluation-rules")


def test_the_security_admin_creates_a_user_through_the_form(page: Any, server: str) -> None:
    sign_in(page, server, "security_admin")
    page.wait_for_url("**/console/admin")
    page.click("[data-test=create-user]")
    page.fill("[data-test='form-input-username']", "handler-browser")
    page.fill("[data-test='form-input-display_name']", "浏览器测试处置员")
    pick_option(page, "[data-test='form-input-role']", "处置人员")
    # A handler belongs to a department: the form asks for it only now.
    pick_option(page, "[data-test='form-input-department']", "sanitation")
    page.click("[data-test=form-submit]")
    password = page.wait_for_selector("[data-test=one-time-password]").inner_text()
    assert len(password) >= 12
    shot(page, "admin-user")
    api = Api(server)
    status, answer = api.call(
        "POST", "/api/v1/auth/login", {"username": "handler-browser", "password": password}
    )
    assert status == 200 and answer["user"]["department"] == "sanitation", answer


def test_the_acceptor_merges_a_likely_duplicate_from_the_case_page(page: Any, server: str) -> None:
    api = Api(server)
    worker = api.login("grid_worker")
    _status, me = api.call("GET", "/api/v1/auth/me", token=worker)
    _status, area = api.call("GET", f"/api/v1/areas/{me['grids'][0]}?format=geojson", token=worker)
    import shapely

    point = shapely.geometry.shape(area["geometry"]).representative_point()
    made = []
    for words in ("井盖破损 first report", "井盖破损 the same one again"):
        status, case = api.call(
            "POST",
            "/api/v1/mobile/reports",
            {
                "category": "SJ0102",
                "description": words,
                "location": {"lon": point.x, "lat": point.y, "crs": "wgs84"},
            },
            worker,
        )
        assert status == 201, case
        made.append(case)
    first, second = made

    # The second report's page lists the first as a likely duplicate (the case JSON's own
    # `duplicates`); merging into it is one click and a confirmation.
    sign_in(page, server, "acceptor")
    page.click("[data-test=tab-to_accept]")
    page.click(f"[data-test=case-{second['id']}]")
    wait_state(page, "reported")
    listed = page.wait_for_selector("[data-test=duplicates]")
    assert first["number"] in listed.inner_text()
    page.click(f"[data-test=merge-{first['id']}]")
    page.click(".el-message-box__btns .el-button--primary")
    wait_state(page, "void")
    merged = api.case(api.login("acceptor"), second["id"])
    assert merged["duplicate_of"] == first["id"]
