"""Errors of the workflow library: one family, rooted at `WorkflowError`."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class WorkflowError(Exception):
    """Signal any error of the workflow library."""


class UnknownAction(WorkflowError):
    """Signal an action name the process does not know."""

    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"Unknown action {action!r}")


class UnknownState(WorkflowError):
    """Signal a state name the process does not know."""

    def __init__(self, state: str) -> None:
        self.state = state
        super().__init__(f"Unknown state {state!r}")


class UnknownRole(WorkflowError):
    """Signal a role code the library does not know."""

    def __init__(self, role: str) -> None:
        self.role = role
        super().__init__(f"Unknown role {role!r}")


class Refusal(StrEnum):
    """Say which check refused a transition, so a caller can word it in its own language."""

    state = "state"  # the state does not take the action
    role = "role"  # the role may not take it
    relation = "relation"  # the role may, but only bound to the case (the reporter …)
    guard = "guard"  # a guard over the case's facts refused; `message` is its sentence
    window = "window"  # the row's `within` window has closed (or its facts are missing)


class TransitionNotAllowed(WorkflowError):
    """Signal an action the state, the role, the actor or a guard does not allow now."""

    def __init__(
        self,
        state: str,
        action: str,
        role: str | None,
        message: str,
        waiting_for: tuple[Mapping[str, object], ...] = (),
        *,
        reason: Refusal = Refusal.guard,
        relation: str | None = None,
        process: str | None = None,
    ) -> None:
        self.state = state
        self.action = action
        self.role = role
        self.message = message
        self.reason = reason
        self.relation = relation  # the relation asked for, when `reason` is relation
        self.process = process  # the refusing definition's code
        # Who may act in this state now: [{"role", "relation", "actions"}], for clients.
        self.waiting_for = waiting_for
        super().__init__(message)


class MissingRequirement(WorkflowError):
    """Signal a payload that lacks what its action needs (field → message)."""

    def __init__(self, action: str, fields: Mapping[str, str]) -> None:
        self.action = action
        self.fields: dict[str, str] = dict(fields)
        super().__init__("; ".join(self.fields.values()))


class CalendarError(WorkflowError):
    """Signal a misconfigured working calendar, time limit or clock input."""
