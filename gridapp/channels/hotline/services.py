"""The hotline's use cases: a call record becomes a case (its last step is `cases` intake), and
the operator's call-backs due.

A call is taken by a hotline operator (话务员; an acceptor may stand in). The record names the
caller (personal data: the case keeps it for the command centre only), what they said, the
category that decides the process, and where. A question answered on the call (直接答复) is
closed at once by the process's `reply` row, in the same transaction: one case, two events.
Everything after that is the process (`workflow.processes.HOTLINE_12345`), not this channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case
from gridapp.cases.services import CaseFilters, CaseSort, act_on_case, list_cases, take_case
from gridapp.core.config import Config
from gridapp.core.errors import ValidationFailed
from gridapp.core.i18n import _
from workflow.processes import HOTLINE_DESK

HOTLINE = workflow.Role.hotline.value  # the case's source
# Who takes calls and calls back: the process's desk (受理, 回访), one place for both.
OPERATOR_ROLES: tuple[str, ...] = tuple(permit.role.value for permit in HOTLINE_DESK)
# Where the operator's work waits once the department replied: call-backs due (待回访), and
# called-back cases to close, redo or call again (已回访).
CALL_BACK_STATES: tuple[str, ...] = (workflow.State.replied.value, workflow.State.called_back.value)


@dataclass(frozen=True)
class CallRecord:
    """What the operator writes down during a call (来电记录)."""

    category: str
    summary: str  # what the caller asked for or reported (诉求)
    caller: Mapping[str, str] = field(default_factory=dict)  # name, phone
    address: str | None = None
    location: Mapping[str, Any] | None = None
    answer: str | None = None  # the answer given on the call (直接答复), if any


def take_call(session: Session, config: Config, operator: User, call: CallRecord) -> Case:
    """Turn a call into a case (`source=hotline`); an answered question closes at once."""
    case = take_case(
        session,
        config,
        operator,
        category=call.category,
        description=call.summary,
        source=HOTLINE,
        location=call.location,
        address=call.address,
        caller={key: value for key, value in call.caller.items() if value},
    )
    if not call.answer:
        return case
    definition = workflow.PROCESSES[case.process]
    if definition.transition(workflow.State(case.state), workflow.Action.reply) is None:
        raise ValidationFailed(
            _("This category's process takes no answer on the call."),
            errors={
                "answer": _(
                    "The %(process)s process has no direct answer: leave answer out.",
                    process=definition.name,
                )
            },
        )
    acted = act_on_case(
        session,
        operator,
        case.id,
        workflow.Action.reply.value,
        {"comment": call.answer},
        f'"{case.version}"',
    )
    return acted.case


def call_backs_due(
    session: Session, operator: User, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[Case], str | None]:
    """List the hotline cases waiting for the operator's call-back or 办结, soonest due first."""
    filters = CaseFilters(states=CALL_BACK_STATES, process=workflow.HOTLINE_12345.code)
    return list_cases(
        session, operator, filters, sort=CaseSort.deadline, cursor=cursor, limit=limit
    )
