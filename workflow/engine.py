"""The transition function (状态迁移) and the payload check; pure, table-driven."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from workflow.errors import (
    MissingRequirement,
    Refusal,
    TransitionNotAllowed,
    UnknownAction,
    UnknownRole,
    UnknownState,
)
from workflow.model import (
    Action,
    Facts,
    FieldKind,
    ProcessDefinition,
    Relation,
    Role,
    State,
    Transition,
    Window,
)
from workflow.sla import deadline

_RELATION_WORDS: Mapping[Relation, str] = {
    Relation.reporter: "the reporter",
    Relation.assigned_checker: "the assigned checker",
    Relation.assigned_verifier: "the assigned verifier",
    Relation.department_member: "in the handling department",
    Relation.holding_center: "at the level holding the case",
}


def parse_state(state: State | str) -> State:
    """Return the State a name stands for, or raise UnknownState."""
    try:
        return State(state)
    except ValueError:
        raise UnknownState(str(state)) from None


def parse_action(action: Action | str) -> Action:
    """Return the Action a name stands for, or raise UnknownAction."""
    try:
        return Action(action)
    except ValueError:
        raise UnknownAction(str(action)) from None


def parse_role(role: Role | str) -> Role:
    """Return the Role a code stands for, or raise UnknownRole."""
    try:
        return Role(role)
    except ValueError:
        raise UnknownRole(str(role)) from None


def _article(role: Role) -> str:
    return "An" if role.value[0] in "aeiou" else "A"


def waiting_for(definition: ProcessDefinition, state: State | str) -> tuple[dict[str, Any], ...]:
    """Return who may move a case on from a state: role, relation and actions, in table order.

    督办 (`supervise`) is left out: it reminds, it does not move the case on.
    """
    current = parse_state(state)
    groups: dict[tuple[Role, Relation | None], list[Action]] = {}
    for row in definition.transitions_from(current):
        if row.target is None:
            continue
        for permit in row.permits:
            groups.setdefault((permit.role, permit.relation), []).append(row.action)
    return tuple(
        {
            "role": role.value,
            "relation": relation.value if relation else None,
            "actions": [action.value for action in actions],
        }
        for (role, relation), actions in groups.items()
    )


def _waiting_sentence(definition: ProcessDefinition, state: State) -> str:
    if state in definition.ends:
        return f"{state.value} is an end: nothing more happens"
    parts = []
    for who in waiting_for(definition, state):
        role = who["role"].replace("_", " ")
        relation = who["relation"]
        bound = f" ({_RELATION_WORDS[Relation(relation)]})" if relation else ""
        actions = who["actions"]
        verbs = actions[0] if len(actions) == 1 else ", ".join(actions[:-1]) + " or " + actions[-1]
        parts.append(f"the {role}{bound} to {verbs}")
    return "waiting for " + "; ".join(parts) if parts else "nobody can move it on"


def _refuse(
    definition: ProcessDefinition,
    state: State,
    action: Action,
    role: Role | None,
    why: str,
    reason: Refusal,
    relation: Relation | None = None,
) -> TransitionNotAllowed:
    return TransitionNotAllowed(
        state,
        action,
        role,
        f"{why}: {_waiting_sentence(definition, state)}",
        waiting_for(definition, state),
        reason=reason,
        relation=relation.value if relation else None,
        process=definition.code,
    )


def window_open(window: Window, facts: Facts) -> bool:
    """Say whether an action's window is still open: `now` before `limit` after `since`."""
    entered = facts.entered.get(window.since)
    if entered is None or facts.now is None or facts.calendar is None:
        return False
    return facts.now <= deadline(entered, window.limit, facts.calendar)


def refusal(row: Transition, role: Role, facts: Facts) -> Refusal | str | None:
    """Say why an actor may not take a row of the current state now, or None when they may.

    The checks of `select` after the row is found (role, relation when `facts.relations` is
    given, window, guard), without building the refusal: a list of cases asks this for every
    row of every case, and only an action taken needs the sentence. A guard's refusal is its
    own sentence; the others are a `Refusal`.
    """
    if not row.permits_role(role):
        return Refusal.role
    relation = row.relation_for(role)
    if relation is not None and facts.relations is not None and relation not in facts.relations:
        return Refusal.relation
    if row.within is not None and not window_open(row.within, facts):
        return Refusal.window
    if row.guard is not None:
        return row.guard(facts)
    return None


def select(
    definition: ProcessDefinition,
    state: State | str,
    action: Action | str,
    role: Role | str,
    facts: Facts | None = None,
) -> Transition:
    """Return the transition an actor may take now, or raise why not.

    Checks, in order: the process knows the action, the state takes it, the role may take
    it, the actor's relation to the case (only when `facts.relations` is given), the guard
    (always, over `Facts()` when no facts are given, so a forgotten fact refuses).
    """
    current = parse_state(state)
    verb = parse_action(action)
    who = parse_role(role)
    if verb not in definition.actions:
        raise UnknownAction(verb.value)
    if current not in definition.states:
        raise UnknownState(current.value)
    row = definition.transition(current, verb)
    if row is None:
        why = f"Can't {verb.value} when in {current.value}"
        raise _refuse(definition, current, verb, who, why, Refusal.state)
    if not row.permits_role(who):
        why = f"{_article(who)} {who.value} can't {verb.value} when in {current.value}"
        raise _refuse(definition, current, verb, who, why, Refusal.role)
    known = facts if facts is not None else Facts()
    refused = refusal(row, who, known)
    if refused is None:
        return row
    if refused is Refusal.role:
        why = f"{_article(who)} {who.value} can't {verb.value} when in {current.value}"
        raise _refuse(definition, current, verb, who, why, Refusal.role)
    if refused is Refusal.relation:
        relation = row.relation_for(who)
        assert relation is not None  # refusal() says relation only for a bound row
        why = f"Only {_RELATION_WORDS[relation]} can {verb.value} when in {current.value}"
        raise _refuse(definition, current, verb, who, why, Refusal.relation, relation)
    if refused is Refusal.window and row.within is not None:
        limit = f"{row.within.limit.amount:g} {row.within.limit.unit.value.replace('_', ' ')}"
        why = f"Can't {verb.value} more than {limit} after {row.within.since.value}"
        raise _refuse(definition, current, verb, who, why, Refusal.window)
    waiting = waiting_for(definition, current)
    raise TransitionNotAllowed(current, verb, who, refused, waiting, process=definition.code)


def fire(
    definition: ProcessDefinition,
    state: State | str,
    action: Action | str,
    role: Role | str,
    facts: Facts | None = None,
) -> State:
    """Return the next state of a case (状态迁移), or raise TransitionNotAllowed.

    An action without a target (督办 `supervise`) leaves the state as it is.
    """
    row = select(definition, state, action, role, facts)
    return row.target if row.target is not None else row.source


def allowed_actions(
    definition: ProcessDefinition,
    state: State | str,
    role: Role | str,
    facts: Facts | None = None,
) -> tuple[Action, ...]:
    """Return the actions an actor may take now, relations and guards included."""
    current = parse_state(state)
    result: list[Action] = []
    who = parse_role(role)
    known = facts if facts is not None else Facts()
    for row in definition.transitions_from(current):
        if refusal(row, who, known) is None:
            result.append(row.action)
    return tuple(result)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_flag(value: Any) -> bool:
    return isinstance(value, bool)


def _is_score(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 100
    )


def _is_ident(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_moment(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return False
    return isinstance(value, datetime) and value.utcoffset() is not None


_CHECKS: Mapping[FieldKind, tuple[Callable[[Any], bool], str]] = {
    FieldKind.text: (_is_text, "{action} needs {field}"),
    FieldKind.flag: (_is_flag, "{action} needs {field} (true or false)"),
    FieldKind.score: (_is_score, "{action} needs {field} from 0 to 100"),
    FieldKind.ident: (_is_ident, "{action} needs {field} (an id)"),
    FieldKind.code: (_is_text, "{action} needs {field} (a code)"),
    FieldKind.moment: (_is_moment, "{action} needs {field} (a date-time with offset)"),
}


def check_payload(
    definition: ProcessDefinition,
    state: State | str,
    action: Action | str,
    payload: Mapping[str, Any],
) -> None:
    """Check an action's payload against its requirements, or raise MissingRequirement.

    Optional fields are checked only when present and not None.
    """
    current = parse_state(state)
    verb = parse_action(action)
    if verb not in definition.actions:
        raise UnknownAction(verb.value)
    row = definition.transition(current, verb)
    if row is None:
        why = f"Can't {verb.value} when in {current.value}"
        raise _refuse(definition, current, verb, None, why, Refusal.state)
    problems: dict[str, str] = {}
    for need in row.requirements:
        value = payload.get(need.field)
        if value is None and not need.required:
            continue
        valid, sentence = _CHECKS[need.kind]
        if not valid(value):
            problems[need.field] = sentence.format(action=verb.value, field=need.field)
    photos = payload.get("photos")
    if photos is not None and (
        isinstance(photos, str | bytes) or not isinstance(photos, list | tuple)
    ):
        problems["photos"] = "photos must be a list of media ids"
    elif row.min_photos > 0 and len(photos or ()) < row.min_photos:
        amount = "one photo" if row.min_photos == 1 else f"{row.min_photos} photos"
        problems["photos"] = f"{verb.value} needs at least {amount}"
    if problems:
        raise MissingRequirement(verb.value, problems)
