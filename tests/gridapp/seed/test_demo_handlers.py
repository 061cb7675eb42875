"""Every department the rules can send a case to has a demo handler, and `make run` says who."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gridapp.accounts.models import User
from gridapp.catalogue.models import Category, ResponsibilityRule
from tests.gridapp.conftest import DEMO_PASSWORD, DEMO_TOTP_SECRET, problem_of, totp_code

# DESIGN §9: the named demo users keep their names, roles and departments.
NAMED = {
    "grid_worker": ("grid_worker", None),
    "grid_worker2": ("grid_worker", None),
    "acceptor": ("acceptor", None),
    "dispatcher": ("dispatcher", None),
    "shift_leader": ("shift_leader", None),
    "handler": ("handler", "urban-enforcement"),
    "handler2": ("handler", "sanitation"),
    "dept_admin": ("dept_admin", "urban-enforcement"),
    "supervisor": ("supervisor", None),
    "admin": ("admin", None),
    "hotline_operator": ("hotline_operator", None),
}


def choosable_departments(session: Any) -> set[str]:
    rules = set(session.scalars(select(ResponsibilityRule.department_code)))
    defaults = set(session.scalars(select(Category.department_code)))
    return (rules | defaults) - {None}


def active_handlers(session: Any) -> dict[str, list[str]]:
    """Department code → usernames of its active handlers."""
    found: dict[str, list[str]] = {}
    for user in session.scalars(select(User).where(User.role == "handler", User.active)):
        found.setdefault(user.department_code, []).append(user.username)
    return found


def test_every_choosable_department_has_an_active_handler(session):
    departments = choosable_departments(session)
    handlers = active_handlers(session)

    assert len(departments) > 30  # the directory's departments and the township governments
    assert sorted(departments - set(handlers)) == []


def test_the_extra_handlers_are_named_after_their_department(session):
    handlers = active_handlers(session)

    for code in choosable_departments(session) - {"urban-enforcement", "sanitation"}:
        assert f"handler-{code}" in handlers[code]


def test_the_named_demo_users_are_as_designed(session):
    users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(NAMED)))}

    assert {name: (u.role, u.department_code) for name, u in users.items()} == NAMED
    assert users["hotline_operator"].district_code == "430423"


def test_printed_list_names_each_department_and_its_handler(runner, session):
    result = runner.invoke(args=["seed", "users"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for code, usernames in active_handlers(session).items():
        mine = [line for line in lines if f"department {code} (" in line]
        assert any(line.split()[0] in usernames for line in mine), (code, mine)
    hotline = next(line for line in lines if line.split()[:1] == ["hotline_operator"])
    assert "district 430423 (衡山县)" in hotline


def test_department_handler_signs_in_with_the_demo_password(client):
    response = client.post(
        "/api/v1/auth/login",
        json={"username": "handler-water-supply", "password": DEMO_PASSWORD},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["department"] == "water-supply"


def test_hotline_operator_needs_the_second_factor(client):
    body = {"username": "hotline_operator", "password": DEMO_PASSWORD}

    assert problem_of(client.post("/api/v1/auth/login", json=body), 401)["mfa_required"] is True

    response = client.post("/api/v1/auth/login", json={**body, "otp": totp_code(DEMO_TOTP_SECRET)})
    assert response.status_code == 200, response.get_json()
    me = response.get_json()["user"]
    assert (me["role"], me["district"], me["department"]) == ("hotline_operator", "430423", None)
