"""The workflow's refusals in the reader's language, composed from their structured parts.

The workflow library speaks English and knows no Babel; a ``TransitionNotAllowed`` carries the
process, state, action, role, which check refused (``reason``) and who the case waits for, and a
``MissingRequirement`` the fields it lacks. The sentences are made again here from those
parts, with translatable templates and the definitions' labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import workflow
from gridapp.core.i18n import (
    N_,
    action_label,
    gettext,
    join_clauses,
    join_or,
    ngettext,
    role_label,
    state_label,
    translate_message,
)

R = workflow.Relation
K = workflow.FieldKind

RELATION_LABELS: Mapping[workflow.Relation, str] = MappingProxyType(
    {
        R.reporter: N_("the reporter"),
        R.assigned_checker: N_("the assigned checker"),
        R.assigned_verifier: N_("the assigned verifier"),
        R.department_member: N_("the handling department"),
        R.holding_center: N_("the centre holding the case"),
    }
)

# The process definitions' guards refuse with these sentences (workflow.processes); a test
# checks that every guard's sentence is here.
GUARD_REFUSALS = (
    N_("Can't close when verification did not pass"),
    N_("Can't extend a hotline case more than once"),
    N_("Can't extend a case whose step has no deadline"),
    N_("Can't extend more than 10 working days past the deadline"),
    N_("Can't close when the citizen is unsatisfied and the case was not redone"),
    N_("Can't close before the call-back reached the citizen or every attempt failed"),
    N_("Can't rework a hotline case unless the citizen is unsatisfied"),
    N_("Can't rework a hotline case more than once"),
    N_("Can't call back again after the citizen was reached"),
    N_("Can't call back again after every attempt failed"),
    N_("Can't merge when duplicate_of is not given"),
    N_("Can't merge a case into itself"),
    N_("Can't request_check when a grid worker reported the case"),
    N_("Can't approve_extension a second time: only the shift leader may"),
)

REQUIREMENT_SENTENCES: Mapping[workflow.FieldKind, str] = MappingProxyType(
    {
        K.text: N_("%(action)s needs %(field)s"),
        K.flag: N_("%(action)s needs %(field)s (true or false)"),
        K.score: N_("%(action)s needs %(field)s from 0 to 100"),
        K.ident: N_("%(action)s needs %(field)s (an id)"),
        K.code: N_("%(action)s needs %(field)s (a code)"),
        K.moment: N_("%(action)s needs %(field)s (a date-time with offset)"),
    }
)
# What workflow.check_payload says of a photos value that is no list.
PHOTOS_NOT_A_LIST = N_("photos must be a list of media ids")


# A window's limit in words (``2 working days``).
_LIMIT_WORDS: Mapping[workflow.TimeUnit, str] = MappingProxyType(
    {
        workflow.TimeUnit.working_minutes: N_("%(amount)s working minutes"),
        workflow.TimeUnit.working_hours: N_("%(amount)s working hours"),
        workflow.TimeUnit.working_days: N_("%(amount)s working days"),
        workflow.TimeUnit.minutes: N_("%(amount)s minutes"),
        workflow.TimeUnit.hours: N_("%(amount)s hours"),
        workflow.TimeUnit.days: N_("%(amount)s days"),
    }
)


def limit_words(limit: workflow.TimeLimit) -> str:
    """Say a time limit in the reader's language (``2 个工作日``)."""
    return gettext(_LIMIT_WORDS[limit.unit], amount=f"{limit.amount:g}")


def _process_of(exc: workflow.TransitionNotAllowed) -> workflow.ProcessDefinition | None:
    return workflow.PROCESSES.get(exc.process) if exc.process else None


def _why(exc: workflow.TransitionNotAllowed) -> str | None:
    """Return why the action was refused, or None for a guard's refusal (its own sentence)."""
    state, action = workflow.State(exc.state), workflow.Action(exc.action)
    words = {"action": action_label(action), "state": state_label(state, _process_of(exc))}
    reason = exc.reason
    if reason is workflow.Refusal.state:
        return gettext("Can't %(action)s when in %(state)s", **words)
    if reason is workflow.Refusal.role and exc.role is not None:
        words["role"] = role_label(workflow.Role(exc.role))
        if words["role"][0] in "aeiou":
            return gettext("An %(role)s can't %(action)s when in %(state)s", **words)
        return gettext("A %(role)s can't %(action)s when in %(state)s", **words)
    if reason is workflow.Refusal.window:
        definition = _process_of(exc)
        row = definition.transition(state, action) if definition is not None else None
        if row is not None and row.within is not None:
            words["limit"] = limit_words(row.within.limit)
            words["since"] = state_label(row.within.since, definition)
            return gettext("Can't %(action)s more than %(limit)s after %(since)s", **words)
    if reason is workflow.Refusal.relation and exc.relation is not None:
        words["relation"] = gettext(RELATION_LABELS[workflow.Relation(exc.relation)])
        return gettext("Only %(relation)s can %(action)s when in %(state)s", **words)
    return None


def _party(who: Mapping[str, Any]) -> str:
    words = {
        "role": role_label(str(who["role"])),
        "actions": join_or(action_label(str(a)) for a in who["actions"]),
    }
    if who["relation"]:
        words["relation"] = gettext(RELATION_LABELS[workflow.Relation(str(who["relation"]))])
        return gettext("the %(role)s (%(relation)s) to %(actions)s", **words)
    return gettext("the %(role)s to %(actions)s", **words)


def _waiting(exc: workflow.TransitionNotAllowed) -> str:
    if exc.waiting_for:
        parties = join_clauses(_party(who) for who in exc.waiting_for)
        return gettext("waiting for %(parties)s", parties=parties)
    state = workflow.State(exc.state)
    if any(state in definition.ends for definition in workflow.PROCESSES.values()):
        label = state_label(state, _process_of(exc))
        return gettext("%(state)s is an end: nothing more happens", state=label)
    return gettext("nobody can move it on")


def refusal_detail(exc: workflow.TransitionNotAllowed) -> str:
    """Say why an action is not allowed now and whom the case waits for.

    ``处置中状态下不能派遣：等待处置人员（处置部门）处置反馈、申请回退、申请延期或申请挂账``
    """
    why = _why(exc)
    if why is None:
        # A guard refused: its sentence is the whole answer, as the workflow gives it.
        return gettext(exc.message)
    return gettext("%(why)s: %(waiting)s", why=why, waiting=_waiting(exc))


def _kind_of(action: str, field: str) -> workflow.FieldKind | None:
    # A field means the same for an action in every process (a test checks it), so the
    # process the refusal came from need not be known.
    kinds = {
        need.kind
        for definition in workflow.PROCESSES.values()
        for row in definition.transitions
        if row.action == action
        for need in row.requirements
        if need.field == field
    }
    return kinds.pop() if len(kinds) == 1 else None


def _min_photos(action: str) -> int | None:
    counts = {
        row.min_photos
        for definition in workflow.PROCESSES.values()
        for row in definition.transitions
        if row.action == action and row.min_photos > 0
    }
    return counts.pop() if len(counts) == 1 else None


def requirement_message(action: str, field: str, sentence: str) -> str:
    """Say what an action's payload lacks in ``field``, in the reader's language.

    The workflow's own sentences (``feedback needs at least one photo``) are made again; any
    other is translated as it is, when the catalogue has it.
    """
    if sentence == PHOTOS_NOT_A_LIST:
        return gettext(PHOTOS_NOT_A_LIST)
    if not sentence.startswith(f"{action} needs "):
        return translate_message(sentence)
    if field == "photos":
        count = _min_photos(action)
        if count is not None:
            return ngettext(
                "%(action)s needs at least %(num)d photo",
                "%(action)s needs at least %(num)d photos",
                count,
                action=action_label(action),
            )
        return sentence
    kind = _kind_of(action, field)
    if kind is None:
        return sentence
    return gettext(REQUIREMENT_SENTENCES[kind], action=action_label(action), field=field)


def requirement_messages(exc: workflow.MissingRequirement) -> dict[str, str]:
    """Return field → what is missing, for each field ``exc`` names."""
    return {
        field: requirement_message(exc.action, field, sentence)
        for field, sentence in exc.fields.items()
    }
