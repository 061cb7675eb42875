"""The process definitions as JSON (`GET /api/v1/processes`): the tables `workflow` runs on."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

import workflow
from gridapp.cases.schemas import ActionFieldSchema, action_fields
from gridapp.core.i18n import LABEL_DESCRIPTION, action_label, role_label, state_label
from gridapp.core.schemas import StrictSchema
from workflow.docs import guard_sentence, rows_by_state


def _state_field(**kwargs: Any) -> fields.Enum[workflow.State]:
    return fields.Enum(workflow.State, by_value=fields.String, **kwargs)


class TimeLimitSchema(StrictSchema):
    amount = fields.Float()
    unit = fields.Enum(workflow.TimeUnit, by_value=fields.String)


class TimeLimitBySchema(StrictSchema):
    fact = fields.String(metadata={"description": "`urgency` or `setting` (urban/rural grid)"})
    limits = fields.Dict(keys=fields.String(), values=fields.Nested(TimeLimitSchema))


class ProcessStateSchema(StrictSchema):
    code = _state_field()
    label = fields.String(metadata={"description": LABEL_DESCRIPTION})
    time_limit = fields.Nested(
        TimeLimitSchema,
        allow_none=True,
        metadata={
            "description": "The step's default limit; a case's category may set its own "
            "handling limit. Null: no clock runs (ends, suspended)."
        },
    )
    time_limit_by = fields.Nested(
        TimeLimitBySchema,
        allow_none=True,
        metadata={
            "description": "Where the step's limit depends on a fact of the case: the fact "
            "and the limit for each of its values; `time_limit` holds for any other value."
        },
    )
    level = fields.String(
        allow_none=True,
        metadata={
            "description": "The level whose centre holds the case in this state "
            "(community, street, district); null where no level holds it."
        },
    )


class PermitSchema(StrictSchema):
    role = fields.Enum(workflow.Role, by_value=fields.String)
    role_label = fields.String(metadata={"description": LABEL_DESCRIPTION})
    relation = fields.Enum(
        workflow.Relation,
        by_value=fields.String,
        allow_none=True,
        metadata={"description": "The relation to the case the role must have; null: any."},
    )


class ProcessActionSchema(StrictSchema):
    from_ = _state_field(data_key="from")
    name = fields.Enum(workflow.Action, by_value=fields.String)
    label = fields.String(metadata={"description": LABEL_DESCRIPTION})
    to = _state_field(
        allow_none=True, metadata={"description": "The next state; null: it stays (supervise)."}
    )
    who = fields.List(
        fields.Nested(PermitSchema),
        metadata={"description": "Who may take the action: any one of these."},
    )
    fields_ = fields.List(
        fields.Nested(ActionFieldSchema),
        data_key="fields",
        metadata={"description": "The body's fields, as in a case's `actions`."},
    )
    min_photos = fields.Integer()
    effects = fields.List(
        fields.Enum(workflow.Effect, by_value=fields.String),
        metadata={"description": "What the action does; exactly one names the step clock."},
    )
    guard = fields.String(
        allow_none=True,
        metadata={"description": "What the action's condition refuses; null: no condition."},
    )
    note = fields.String(allow_none=True)


class ProcessSchema(StrictSchema):
    """A process definition (流程定义): its states and actions."""

    code = fields.String()
    name = fields.String()
    initial = _state_field()
    ends = fields.List(_state_field())
    states = fields.List(fields.Nested(ProcessStateSchema))
    actions = fields.List(
        fields.Nested(ProcessActionSchema),
        metadata={"description": "Grouped by state, in the order of `states`."},
    )


def describe_process(definition: workflow.ProcessDefinition) -> dict[str, Any]:
    """Return a process definition as `ProcessSchema` dumps it."""
    return {
        "code": definition.code,
        "name": definition.name,
        "initial": definition.initial,
        "ends": [state for state in definition.states if state in definition.ends],
        "states": [
            {
                "code": state,
                "label": state_label(state, definition),
                "time_limit": _default_limit(definition.time_limits.get(state)),
                "time_limit_by": _limit_by(definition.time_limits.get(state)),
                "level": definition.levels.get(state),
            }
            for state in definition.states
        ],
        "actions": [_describe_row(row) for row in rows_by_state(definition)],
    }


def _default_limit(limit: workflow.StepLimit | None) -> workflow.TimeLimit | None:
    return limit.otherwise if isinstance(limit, workflow.LimitBy) else limit


def _limit_by(limit: workflow.StepLimit | None) -> dict[str, Any] | None:
    if not isinstance(limit, workflow.LimitBy):
        return None
    return {"fact": limit.fact, "limits": dict(limit.limits)}


def _describe_row(row: workflow.Transition) -> dict[str, Any]:
    return {
        "from_": row.source,
        "name": row.action,
        "label": action_label(row.action),
        "to": row.target,
        "who": [
            {
                "role": permit.role,
                "role_label": role_label(permit.role),
                "relation": permit.relation,
            }
            for permit in row.permits
        ],
        "fields_": action_fields(row),
        "min_photos": row.min_photos,
        "effects": list(row.effects),
        "guard": guard_sentence(row),
        "note": row.note or None,
    }
