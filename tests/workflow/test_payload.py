"""What each action's payload needs (DESIGN §9 "Actions")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from workflow import (
    HOTLINE_12345,
    URBAN_MANAGEMENT,
    MissingRequirement,
    TransitionNotAllowed,
    UnknownAction,
    check_payload,
)


def problems(state: str, action: str, payload: dict[str, Any]) -> dict[str, str]:
    try:
        check_payload(URBAN_MANAGEMENT, state, action, payload)
    except MissingRequirement as error:
        return error.fields
    return {}


@pytest.mark.parametrize(
    ("state", "action", "payload", "expected"),
    [
        ("handling", "feedback", {}, {"photos": "feedback needs at least one photo"}),
        ("handling", "feedback", {"photos": []}, {"photos": "feedback needs at least one photo"}),
        ("reported", "self_handle", {}, {"photos": "self_handle needs at least one photo"}),
        ("reported", "reject", {}, {"reason": "reject needs reason"}),
        ("reported", "reject", {"reason": "   "}, {"reason": "reject needs reason"}),
        ("accepted", "reject", {"comment": "no"}, {"reason": "reject needs reason"}),
        ("handling", "request_return", {}, {"reason": "request_return needs reason"}),
        (
            "reported",
            "merge",
            {"duplicate_of": "12"},
            {"duplicate_of": "merge needs duplicate_of (an id)"},
        ),
        (
            "handled",
            "assign_verification",
            {"grid_worker": True},
            {"grid_worker": "assign_verification needs grid_worker (an id)"},
        ),
        (
            "checking",
            "check_reply",
            {"confirmed": "yes"},
            {"confirmed": "check_reply needs confirmed (true or false)"},
        ),
        ("verifying", "verify_reply", {}, {"passed": "verify_reply needs passed (true or false)"}),
        ("closed", "evaluate", {"score": 101}, {"score": "evaluate needs score from 0 to 100"}),
        ("closed", "evaluate", {"score": -1}, {"score": "evaluate needs score from 0 to 100"}),
        (
            "filed",
            "dispatch",
            {"department": ""},
            {"department": "dispatch needs department (a code)"},
        ),
        (
            "handling",
            "feedback",
            {"photos": "abc"},
            {"photos": "photos must be a list of media ids"},
        ),
        (
            "handling",
            "request_extension",
            {},
            {
                "until": "request_extension needs until (a date-time with offset)",
                "reason": "request_extension needs reason",
            },
        ),
        (
            "handling",
            "request_extension",
            {"until": "2026-12-01T10:00", "reason": "parts on order"},
            {"until": "request_extension needs until (a date-time with offset)"},
        ),
    ],
)
def test_a_missing_or_wrong_field_is_named(
    state: str, action: str, payload: dict[str, Any], expected: dict[str, str]
) -> None:
    assert problems(state, action, payload) == expected


@pytest.mark.parametrize(
    ("state", "action", "payload"),
    [
        ("reported", "accept", {}),
        ("handling", "feedback", {"photos": [1], "comment": "fixed"}),
        ("reported", "self_handle", {"photos": [3, 4]}),
        ("reported", "reject", {"reason": "not our business"}),
        ("reported", "merge", {"duplicate_of": 12}),
        ("filed", "dispatch", {}),  # responsibility rules decide
        ("filed", "dispatch", {"department": None}),
        ("filed", "dispatch", {"department": "sanitation"}),
        (
            "handling",
            "request_extension",
            {"until": "2026-12-01T10:00:00+08:00", "reason": "parts"},
        ),
        (
            "handling",
            "request_extension",
            {"until": datetime(2026, 12, 1, tzinfo=UTC), "reason": "x"},
        ),
        ("handled", "assign_verification", {"grid_worker": 7}),
        ("checking", "check_reply", {"confirmed": False}),
        ("verifying", "verify_reply", {"passed": True}),
        ("closed", "evaluate", {"score": 0}),
        ("closed", "evaluate", {"score": 100}),
        ("closed", "evaluate", {"score": 87.5}),
        ("handling", "supervise", {}),
    ],
)
def test_a_complete_payload_passes(state: str, action: str, payload: dict[str, Any]) -> None:
    check_payload(URBAN_MANAGEMENT, state, action, payload)


def test_the_error_carries_every_field_and_a_sentence() -> None:
    with pytest.raises(MissingRequirement) as caught:
        check_payload(URBAN_MANAGEMENT, "handling", "request_extension", {})
    assert set(caught.value.fields) == {"until", "reason"}
    assert "request_extension needs reason" in str(caught.value)


def test_payload_of_an_action_the_state_does_not_take() -> None:
    with pytest.raises(TransitionNotAllowed, match="Can't feedback when in reported"):
        check_payload(URBAN_MANAGEMENT, "reported", "feedback", {"photos": [1]})
    with pytest.raises(UnknownAction):
        check_payload(URBAN_MANAGEMENT, "reported", "frobnicate", {})


def test_hotline_feedback_needs_a_written_result_not_photos() -> None:
    with pytest.raises(MissingRequirement) as caught:
        check_payload(HOTLINE_12345, "handling", "feedback", {})
    assert caught.value.fields == {"comment": "feedback needs comment"}
    check_payload(HOTLINE_12345, "handling", "feedback", {"comment": "已处理"})
