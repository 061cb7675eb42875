"""Grid and component codes per GB/T 30428.1."""

import pytest

from geo import (
    ComponentCode,
    InvalidCode,
    Level,
    check_area_code,
    check_component_code,
    expected_parent_prefix,
    parent_level,
    parse_component_code,
)


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("430423", Level.district),
        ("430423100", "street"),
        ("430423100001", Level.community),
        ("430423100001001", Level.grid),
        ("43042310000101", Level.grid),  # the older 2-digit grid sequence
    ],
)
def test_well_formed_area_codes_have_no_problems(code, level):
    assert check_area_code(code, level) == []


@pytest.mark.parametrize(
    ("code", "level", "fragment"),
    [
        ("4304231", Level.district, "6 digits"),
        ("430423100001001", Level.community, "12 digits"),
        ("4304231000010011", Level.grid, "15 or 14 digits"),
        ("43042310000100A", Level.grid, "digits 0-9 only"),
        ("４３０４２３", Level.district, "digits 0-9 only"),
        ("", Level.district, "empty"),
        ("990423", Level.district, "province"),
    ],
)
def test_bad_area_codes_say_why(code, level, fragment):
    problems = check_area_code(code, level)
    assert any(fragment in p for p in problems), problems


def test_non_string_code_is_a_problem():
    assert check_area_code(430423, Level.district) == ["code must be a string of digits, not int"]


def test_levels_are_ordered_with_parents():
    assert [lv.value for lv in Level] == ["district", "street", "community", "grid"]
    assert Level.grid.parent_level is Level.community
    assert Level.community.parent_level is Level.street
    assert Level.street.parent_level is Level.district
    assert Level.district.parent_level is None
    assert parent_level("grid") is Level.community
    assert Level.district.child_level is Level.street
    assert Level.grid.child_level is None


def test_unknown_level_raises():
    with pytest.raises(InvalidCode, match="district, street, community, grid"):
        check_area_code("430423", "county")


@pytest.mark.parametrize(
    ("code", "level", "prefix"),
    [
        ("430423", Level.district, None),
        ("430423100", Level.street, "430423"),
        ("430423100001", Level.community, "430423100"),
        ("430423100001001", Level.grid, "430423100001"),
        ("43042310000101", Level.grid, "430423100001"),
    ],
)
def test_expected_parent_prefix(code, level, prefix):
    assert expected_parent_prefix(code, level) == prefix


def test_component_code_parses_into_its_parts():
    parsed = parse_component_code("3205080101000001")
    assert parsed == ComponentCode(county="320508", major="01", minor="01", sequence="000001")
    assert str(parsed) == "3205080101000001"
    assert check_component_code("3205080101000001") == []


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("320508010100001", "16 digits"),
        ("32050801010000011", "16 digits"),
        ("32050801010000a1", "digits 0-9 only"),
        ("3205080001000001", "major class 00"),
        ("3205080100000001", "minor class 00"),
        ("3205080101000000", "sequence 000000"),
        ("9905080101000001", "province"),
    ],
)
def test_bad_component_codes_are_refused(code, fragment):
    assert any(fragment in p for p in check_component_code(code))
    with pytest.raises(InvalidCode, match=fragment):
        parse_component_code(code)
