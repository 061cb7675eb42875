"""The write path's catalogue from a per-process copy, rebuilt when the catalogue version moves.

Every change to a category, department or responsibility rule moves the stored version on in
its own flush, whatever makes it; this process drops its copy at the commit, another process
when it next reads the stored version (``CACHE_SECONDS``).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from gridapp.catalogue import services
from gridapp.catalogue.models import Category, Department, ResponsibilityRule
from gridapp.catalogue.services import (
    CATALOGUE_VERSION,
    create_category,
    create_department,
    create_rule,
    delete_rule,
    find_category,
    find_department,
    responsible_department,
    update_category,
    update_department,
    update_rule,
)
from gridapp.core.versions import bump_version, stored_version

STREET = "430423100"  # the county seat's street


def test_the_write_path_reads_the_catalogue_without_a_query(session, statements):
    find_category(session, "SJ0102")
    responsible_department(session, "SJ0102", [STREET, "430423"])

    statements.clear()
    category = find_category(session, "SJ0102")
    rule = responsible_department(session, "SJ0102", [STREET, "430423"])
    department = find_department(session, "sanitation")

    assert statements == []
    assert category is not None and category.code == "SJ0102" and category in session
    assert rule is not None and rule.department_code == "sanitation" and rule in session
    assert department is not None and department.name


def test_each_session_gets_its_own_object(session):
    category = find_category(session, "SJ0102")
    assert category is not None
    category.time_limits["handling"] = {"amount": 99, "unit": "days"}
    session.expunge(category)

    again = find_category(session, "SJ0102")

    assert again is not category and again is not None
    assert again.time_limits.get("handling") != {"amount": 99, "unit": "days"}


def test_a_session_holding_the_row_gets_its_own(session):
    held = session.get(Category, find_category(session, "SJ0102").id)
    held.name = "changed, not flushed"

    assert find_category(session, "SJ0102") is held


def _category(code: str = "SJ9801") -> dict[str, Any]:
    return {"code": code, "name": "测试类别", "kind": "event"}


@pytest.mark.parametrize(
    "change",
    [
        "create_category",
        "update_category",
        "create_department",
        "update_department",
        "create_rule",
        "update_rule",
        "delete_rule",
        "orm_add",
    ],
)
def test_every_change_moves_the_version_and_the_next_read_sees_it(session, change):
    find_category(session, "SJ0102")  # a copy made before the change
    before = stored_version(session, CATALOGUE_VERSION)

    if change == "create_category":
        create_category(session, _category())
        session.commit()
        assert find_category(session, "SJ9801") is not None
    elif change == "update_category":
        update_category(session, "SJ0102", {"active": False})
        session.commit()
        assert find_category(session, "SJ0102").active is False
    elif change == "create_department":
        create_department(session, {"code": "new-dept", "name": "新部门"})
        session.commit()
        assert find_department(session, "new-dept") is not None
    elif change == "update_department":
        update_department(session, "sanitation", {"name": "环卫处"})
        session.commit()
        assert find_department(session, "sanitation").name == "环卫处"
    elif change in ("create_rule", "update_rule", "delete_rule"):
        rule = create_rule(
            session,
            {
                "category_code": "SJ0102",
                "area_code": STREET,
                "department_code": "urban-enforcement",
            },
        )
        session.commit()
        found = responsible_department(session, "SJ0102", [STREET, "430423"])
        assert found is not None and found.department_code == "urban-enforcement"
        if change == "update_rule":
            before = stored_version(session, CATALOGUE_VERSION)
            update_rule(session, rule.id, {"department_code": "sanitation"})
            session.commit()
            found = responsible_department(session, "SJ0102", [STREET, "430423"])
            assert found is not None and found.id == rule.id
            assert found.department_code == "sanitation"
        elif change == "delete_rule":
            before = stored_version(session, CATALOGUE_VERSION)
            delete_rule(session, rule.id)
            session.commit()
            found = responsible_department(session, "SJ0102", [STREET, "430423"])
            assert found is not None and found.area_code == "430423"
    else:  # the seed and imports add rows through the ORM
        session.add(Department(code="seeded", name="种子部门"))
        session.add(
            Category(
                code="SJ9802",
                name="种子类别",
                kind="event",
                standard="local",
                major_code="98",
                major_name="",
                minor_code="02",
            )
        )
        session.add(
            ResponsibilityRule(category_code=None, area_code="430423999", department_code="seeded")
        )
        session.commit()
        assert find_category(session, "SJ9802") is not None
        assert responsible_department(session, "SJ9802", ["430423999"]) is not None

    assert stored_version(session, CATALOGUE_VERSION) != before


def test_another_process_change_is_seen_when_the_version_is_next_read(session, monkeypatch):
    """Another process's change reaches this one through the stored version alone."""
    assert find_category(session, "SJ0102").active is True
    # What another process's flush leaves: the row changed and the version moved, and nothing
    # here told (a Core UPDATE runs no flush listener, bump_version no commit hook).
    session.execute(update(Category).where(Category.code == "SJ0102").values(active=False))
    bump_version(session, CATALOGUE_VERSION)
    session.commit()

    monkeypatch.setattr(services, "CACHE_SECONDS", 3600.0)
    assert find_category(session, "SJ0102").active is True
    monkeypatch.setattr(services, "CACHE_SECONDS", 0.0)  # the interval has passed
    assert find_category(session, "SJ0102").active is False


def test_a_change_rolled_back_leaves_no_copy_behind(session):
    with session.begin_nested() as savepoint:
        update_category(session, "SJ0102", {"name": "never committed"})
        assert find_category(session, "SJ0102").name == "never committed"
        savepoint.rollback()

    assert find_category(session, "SJ0102").name != "never committed"
