"""The case's schemas: the only serializer of a case, an action's body, a history event.

Views return model objects; these schemas turn them into JSON. A case's ``sla`` and
``actions`` depend on the moment and on who asks, so they are computed for the caller of the
request being answered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields, missing, validate
from marshmallow.utils import ensure_text_type

import workflow
from gridapp.accounts.models import User
from gridapp.calendar.services import work_calendar
from gridapp.cases.actions import available_actions, forget_facts, prefetch_facts
from gridapp.cases.clock import case_sla
from gridapp.cases.duplicates import Duplicate, likely_duplicates, likely_duplicates_of, may_merge
from gridapp.cases.models import Case
from gridapp.core.extensions import db
from gridapp.core.i18n import LABEL_DESCRIPTION, action_label, reads_chinese, state_label
from gridapp.core.personal_data import note_personal_data_read
from gridapp.core.principal import current_user
from gridapp.core.schemas import Integer, PointWithCrsSchema, StrictSchema, record_id

STATE_NAMES = [state.value for state in workflow.State]
ACTION_NAMES = [action.value for action in workflow.Action]
SOURCES = ("grid_worker", "citizen", "hotline", "sensor", "inspection", "walk_in")
DESK_ROLES = frozenset(
    {
        workflow.Role.acceptor,
        workflow.Role.dispatcher,
        workflow.Role.shift_leader,
        workflow.Role.hotline_operator,
        workflow.Role.supervisor,
        workflow.Role.admin,
    }
)


class ActionFieldSchema(StrictSchema):
    name = fields.String()
    required = fields.Boolean()


class AvailableActionSchema(StrictSchema):
    name = fields.String(validate=validate.OneOf(ACTION_NAMES))
    label = fields.String(metadata={"description": LABEL_DESCRIPTION})
    fields_ = fields.List(fields.Nested(ActionFieldSchema), data_key="fields")


# One instance for every case of a page: building a schema costs more than dumping an action.
ACTION_SCHEMA = AvailableActionSchema()
# Per process, each action as dumped, per row and language (a row lives as long as its process,
# and its label depends on the language alone): a case's answer dumps none afresh. Answers share
# these dicts: nothing changes them.
_DUMPED_ACTIONS: dict[tuple[int, bool], dict[str, Any]] = {}
_WORKFLOW_ROLES = {role.value: role for role in workflow.Role}


class CallerSchema(StrictSchema):
    name = fields.String(load_default=None, validate=validate.Length(max=60))
    phone = fields.String(load_default=None, validate=validate.Length(max=40))


def action_fields(row: workflow.Transition) -> list[dict[str, Any]]:
    """Return the fields an action takes: its requirements, then photos and comment."""
    found = [{"name": need.field, "required": need.required} for need in row.requirements]
    names = {need.field for need in row.requirements}
    if "photos" not in names:
        found.append({"name": "photos", "required": row.min_photos > 0})
    if "comment" not in names:
        found.append({"name": "comment", "required": False})
    return found


def describe_action(row: workflow.Transition) -> dict[str, Any]:
    """Return one action as a client shows it: name, label, fields."""
    return {
        "name": row.action.value,
        "label": action_label(row.action),
        "fields_": action_fields(row),
    }


class DuplicateSchema(StrictSchema):
    """An open case of the same class nearby and recent: a likely duplicate (疑似重复)."""

    id = fields.Integer()
    number = fields.String()
    distance_m = fields.Float(metadata={"description": "Metres between the two points."})
    created_at = fields.DateTime()


# --- one dump of cases --------------------------------------------------------------------

Writer = Callable[[Any], dict[str, Any]]
# Per field: the key it writes, the attribute it reads (None: the field reads the object
# itself) and what turns the value into JSON's (None: the value as it is).
Step = tuple[str, str | None, Callable[[Any], Any] | None]
_ISO = frozenset({None, "iso", "iso8601"})


def _number(num_type: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else num_type(value)


def _text(value: Any) -> str | None:
    if value.__class__ is str:  # nearly always: the column's own type
        return value
    return None if value is None else ensure_text_type(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _as_marshmallow(schema: Schema, name: str, found: fields.Field[Any]) -> Callable[[Any], Any]:
    """Write one field the way marshmallow does (a kind of field this module does not know)."""
    return lambda obj: found.serialize(name, obj, accessor=schema.get_attribute)


def _step(schema: Schema, name: str, found: fields.Field[Any]) -> Step:
    """Return what marshmallow's ``Field.serialize`` does for one field: for the kinds a case
    has, the same few operations; for any other, the field's own ``serialize``."""
    key = found.data_key if found.data_key is not None else name
    serialize = type(found)._serialize
    method = getattr(found, "_serialize_method", None)
    if serialize is fields.Method._serialize and method is not None:
        return (key, None, method)
    function = found.serialize_func if isinstance(found, fields.Function) else None
    if serialize is fields.Function._serialize and function is not None:
        return (key, None, function)
    source = found.attribute if found.attribute is not None else name
    if "." in source or found.dump_default is not missing:
        return (key, None, _as_marshmallow(schema, name, found))
    if serialize is fields.Field._serialize:  # Boolean, Raw: the value as it is
        return (key, source, None)
    if serialize is fields.String._serialize:
        return (key, source, _text)
    if (
        isinstance(found, fields.Number)
        and serialize is fields.Number._serialize
        and type(found)._format_num is fields.Number._format_num
        and not found.as_string
    ):
        return (key, source, _number(found.num_type))
    if (
        isinstance(found, fields.DateTime)
        and serialize is fields.DateTime._serialize
        and found.format in _ISO
    ):
        return (key, source, _iso)
    return (key, None, _as_marshmallow(schema, name, found))


def compile_dump(schema: Schema) -> Writer | None:
    """Return a function writing one object as ``schema`` dumps it, without marshmallow's
    per-field machinery (a list page dumps ~44 fields of 50 cases: most of its time).

    The steps are read from the schema's own fields, so a field added to the schema is
    written too; a field of a kind not known here (the action answer's nested event) is
    written by its own ``serialize``. The output is the same dict, key for key (tests compare
    it with marshmallow's). None when the schema reads attributes its own way.
    """
    if type(schema).get_attribute is not Schema.get_attribute:
        return None
    steps = [_step(schema, name, found) for name, found in schema.dump_fields.items()]

    def write(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, source, convert in steps:
            if source is None:
                assert convert is not None
                value = convert(obj)
            else:
                value = getattr(obj, source, missing)
                if value is not missing and convert is not None:
                    value = convert(value)
            if value is not missing:
                out[key] = value
        return out

    return write


@dataclass
class CasesDump:
    """What every case of one dump shares: the caller, the moment, the calendar, the
    actions' and states' labels, and (for a page) the likely duplicates read at once."""

    user: User
    now: datetime
    desk: bool
    calendar: workflow.WorkCalendar | None = None
    actions: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[tuple[str, str], str] = field(default_factory=dict)
    duplicates: dict[int, list[Duplicate]] | None = None
    acting: dict[tuple[str, str], bool] = field(default_factory=dict)

    @classmethod
    def start(cls, cases: Sequence[Case], now: datetime | None = None) -> CasesDump:
        user = current_user()
        found = cls(user, now or datetime.now(UTC), user.role in DESK_ROLES)
        if len(cases) > 1:
            # A page's history facts and likely duplicates in one query each, not per case.
            prefetch_facts(cases)
            if found.desk:
                mergeable = [case for case in cases if may_merge(case)]
                if mergeable:
                    found.duplicates = likely_duplicates_of(db.session(), mergeable)
        return found

    def work_calendar(self) -> workflow.WorkCalendar:
        if self.calendar is None:
            self.calendar = work_calendar(db.session())
        return self.calendar

    def action(self, row: workflow.Transition) -> dict[str, Any]:
        # Rows are the process definitions' own objects, alive as long as the process.
        dumped = self.actions.get(id(row))
        if dumped is None:
            key = (id(row), reads_chinese())
            dumped = _DUMPED_ACTIONS.get(key)
            if dumped is None:
                dumped = _DUMPED_ACTIONS[key] = ACTION_SCHEMA.dump(describe_action(row))
            self.actions[id(row)] = dumped
        return dumped

    def may_act(self, case: Case) -> bool:
        """Say whether any row leaving the case's state permits the caller's role at all.

        When none does, every row is refused for the role before any fact is asked
        (`workflow.refusal`), so the case's actions are none without reading its facts.
        """
        key = (case.process, case.state)
        found = self.acting.get(key)
        if found is None:
            role = _WORKFLOW_ROLES.get(self.user.role)
            rows = workflow.PROCESSES[case.process].transitions_from(workflow.State(case.state))
            # A role the workflow does not know (a duty role) is left to `available_actions`.
            found = role is None or any(row.permits_role(role) for row in rows)
            self.acting[key] = found
        return found

    def state_label(self, case: Case) -> str:
        key = (case.state, case.process)
        label = self.labels.get(key)
        if label is None:
            label = self.labels[key] = state_label(case.state, workflow.PROCESSES[case.process])
        return label


_DUMP: ContextVar[CasesDump | None] = ContextVar("gridapp.cases.dump", default=None)


@contextmanager
def dumping(cases: Sequence[Any], now: datetime | None = None) -> Iterator[CasesDump]:
    """Dump ``cases`` in one `CasesDump` (the one already open, if any), then forget it.

    A context variable, not the schema instance: schema instances are shared by requests.
    """
    outer = _DUMP.get()
    if outer is not None:
        yield outer
        return
    # An action's result wraps the case (gridapp.cases.actions.Acted).
    unwrapped = [getattr(case, "case", case) for case in cases]
    dump = CasesDump.start(unwrapped, now)
    token = _DUMP.set(dump)
    try:
        yield dump
    finally:
        forget_facts(unwrapped)
        _DUMP.reset(token)


def _dump() -> CasesDump:
    """Return the dump being written, or one for a single case (a schema used on its own)."""
    return _DUMP.get() or CasesDump.start(())


class CaseSchema(StrictSchema):
    """A case (案卷) as the desk and the phone see it (DESIGN §9)."""

    id = fields.Integer()
    number = fields.String(metadata={"description": "Public number: YYYYMMDD + sequence."})
    process = fields.String(validate=validate.OneOf(list(workflow.PROCESSES)))
    state = fields.String(validate=validate.OneOf(STATE_NAMES))
    state_label = fields.Method("_state_label")
    version = fields.Integer()
    category = fields.String(attribute="category_code")
    category_name = fields.Function(lambda case: case.category.name)
    urgency = fields.String()
    source = fields.String()
    description = fields.String()
    address = fields.String(allow_none=True)
    location = fields.Method("_location", allow_none=True)
    original_location = fields.Method("_original_location", allow_none=True)
    grid_code = fields.String(allow_none=True)
    community_code = fields.String(allow_none=True)
    street_code = fields.String(allow_none=True)
    district_code = fields.String(allow_none=True)
    department = fields.String(attribute="department_code", allow_none=True)
    department_name = fields.Function(
        lambda case: case.department.name if case.department else None, allow_none=True
    )
    reporter = fields.Integer(attribute="reporter_id", allow_none=True)
    reporter_name = fields.Function(
        lambda case: case.reporter.display_name if case.reporter else None, allow_none=True
    )
    caller = fields.Method(
        "_caller",
        allow_none=True,
        metadata={"description": "Who called (desk intake): command-center roles only."},
    )
    handler = fields.Integer(attribute="handler_id", allow_none=True)
    handler_name = fields.Function(
        lambda case: case.handler.display_name if case.handler else None, allow_none=True
    )
    verifier = fields.Integer(attribute="verifier_id", allow_none=True)
    checker = fields.Integer(attribute="checker_id", allow_none=True)
    component = fields.Integer(attribute="component_id", allow_none=True)
    duplicate_of = fields.Integer(attribute="duplicate_of_id", allow_none=True)
    duplicates = fields.Method(
        "_duplicates",
        allow_none=True,
        metadata={
            "description": "Likely duplicates to `merge` into: open cases of the same category "
            "within its radius and window (50 m / 24 h by default), nearest first; listed while "
            "the case may be merged. Command-center roles only (null for others)."
        },
    )
    deadline = fields.DateTime(allow_none=True)
    sla = fields.Method(
        "_sla",
        metadata={"description": "The running step's clock: status ok, warning or overdue."},
    )
    actions = fields.Method(
        "_actions",
        metadata={"description": "What you may do on this case now, with each action's fields."},
    )
    rework_count = fields.Integer()
    supervise_count = fields.Integer()
    verification_passed = fields.Boolean(allow_none=True)
    resolved = fields.Boolean(
        allow_none=True,
        metadata={"description": "The latest call-back that reached the citizen: was it resolved?"},
    )
    satisfaction = fields.String(
        allow_none=True,
        metadata={
            "description": "The latest call-back that reached the citizen: satisfied, "
            "basically_satisfied or unsatisfied."
        },
    )
    satisfied = fields.Boolean(
        allow_none=True,
        metadata={"description": "satisfaction is satisfied or basically_satisfied."},
    )
    unreached_calls = fields.Integer(
        metadata={"description": "Call-backs in a row that could not reach the citizen."}
    )
    score = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)

    def _serialize(self, obj: Any, *, many: bool = False) -> Any:
        """Dump a case or a page of cases: one `CasesDump` for all of them, and each case
        by `compile_dump`'s writer (the same dict marshmallow's machinery would make)."""
        if obj is None:
            return super()._serialize(obj, many=many)
        cases = list(obj) if many else [obj]
        with dumping(cases):
            writer = self.__dict__.get("_writer", missing)
            if writer is missing:
                writer = self.__dict__["_writer"] = compile_dump(self)
            if writer is None:
                return super()._serialize(obj, many=many)
            written = [writer(case) for case in cases]
            return written if many else written[0]

    def _state_label(self, case: Case) -> str:
        return _dump().state_label(case)

    def _location(self, case: Case) -> dict[str, float] | None:
        if case.lon is None or case.lat is None:
            return None
        return {"lon": round(case.lon, 8), "lat": round(case.lat, 8)}

    def _original_location(self, case: Case) -> dict[str, Any] | None:
        if case.original_lon is None:
            return None
        return {"lon": case.original_lon, "lat": case.original_lat, "crs": case.original_crs}

    def _caller(self, case: Case) -> dict[str, Any] | None:
        if not case.reporter_contact or not _dump().desk:
            return None
        note_personal_data_read("case", case.id)
        return dict(case.reporter_contact)

    def _duplicates(self, case: Case) -> list[dict[str, Any]] | None:
        dump = _dump()
        if not dump.desk:
            return None
        # An action's result wraps the case (gridapp.cases.actions.Acted).
        case = getattr(case, "case", case)
        if not may_merge(case):
            return []
        if dump.duplicates is not None and case.id in dump.duplicates:
            found = dump.duplicates[case.id]
        else:
            found = likely_duplicates(db.session(), case)
        return list(DuplicateSchema(many=True).dump(found))

    def _sla(self, case: Case) -> dict[str, Any]:
        dump = _dump()
        return case_sla(case, dump.work_calendar(), dump.now)

    def _actions(self, case: Case) -> list[dict[str, Any]]:
        dump = _dump()
        case = getattr(case, "case", case)
        if not dump.may_act(case):
            return []
        return [dump.action(row) for row in available_actions(dump.user, case, now=dump.now)]


class CasePageSchema(StrictSchema):
    # Nested many: the page is dumped at once (`CaseSchema._serialize`: one `CasesDump`).
    items = fields.Nested(CaseSchema, many=True)
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer(
        allow_none=True,
        metadata={"description": "Every case the filters select, when asked (`total=true`)."},
    )


class ActionBodySchema(StrictSchema):
    """The body of every action; which fields an action needs is in the case's ``actions``."""

    comment = fields.String(load_default=None, validate=validate.Length(max=2000))
    photos = fields.List(record_id(), load_default=list)
    department = fields.String(load_default=None)
    reason = fields.String(load_default=None, validate=validate.Length(max=2000))
    duplicate_of = record_id(load_default=None)
    until = fields.String(load_default=None, metadata={"description": "ISO 8601 with offset."})
    grid_worker = record_id(load_default=None)
    confirmed = fields.Boolean(load_default=None)
    passed = fields.Boolean(load_default=None)
    resolved = fields.Boolean(
        load_default=None,
        metadata={
            "description": "A dispute's outcome (dispute categories) or a hotline "
            "call-back's answer: was the problem resolved."
        },
    )
    satisfaction = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in workflow.Satisfaction])
    )
    unreachable = fields.Boolean(load_default=None)
    score = Integer(load_default=None, validate=validate.Range(0, 100))
    category = fields.String(load_default=None)
    urgency = fields.String(load_default=None, validate=validate.OneOf(("normal", "urgent")))


class EventSchema(StrictSchema):
    seq = fields.Integer()
    action = fields.String()
    actor = fields.Integer(attribute="actor_id", allow_none=True)
    role = fields.String(allow_none=True)
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    comment = fields.String(allow_none=True)
    data = fields.Dict()
    attachments = fields.Function(lambda event: list((event.data or {}).get("photos") or []))
    created_at = fields.DateTime()
    prev_hash = fields.String()
    hash = fields.String()


class ActionResultSchema(CaseSchema):
    """The case after an action (`gridapp.cases.actions.Acted`), with the event it wrote."""

    event = fields.Nested(
        EventSchema,
        metadata={"description": "The event this action wrote (for dispatch: the rule used)."},
    )


class HistorySchema(StrictSchema):
    case = fields.Integer()
    events = fields.List(fields.Nested(EventSchema))


class ChainSchema(StrictSchema):
    case = fields.Integer()
    intact = fields.Boolean()
    events = fields.Integer()
    first_broken_seq = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


class DeskIntakeSchema(StrictSchema):
    """A case taken at the desk (受理登记): a call to the hotline, a visitor, an inspection."""

    category = fields.String(required=True, metadata={"description": "Category code."})
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    source = fields.String(
        required=True, validate=validate.OneOf([s for s in SOURCES if s != "grid_worker"])
    )
    location = fields.Nested(PointWithCrsSchema, load_default=None)
    address = fields.String(load_default=None, validate=validate.Length(max=255))
    caller = fields.Nested(CallerSchema, load_default=None)


class RoutingRuleSchema(StrictSchema):
    id = fields.Integer()
    category = fields.String(allow_none=True)
    area = fields.String()
    note = fields.String(allow_none=True)


class RoutingSchema(StrictSchema):
    """Where the responsibility rules would dispatch a case now (null: no rule covers it)."""

    case = fields.Integer()
    department = fields.String(allow_none=True)
    department_name = fields.String(allow_none=True)
    rule = fields.Nested(RoutingRuleSchema, allow_none=True)


class CaseChangeSchema(StrictSchema):
    id = fields.Integer()
    number = fields.String()
    state = fields.String()
    version = fields.Integer()
    updated_at = fields.DateTime()


class ChangesSchema(StrictSchema):
    """Cases changed since a watermark: ids and versions only, for a screen to refresh."""

    items = fields.List(fields.Nested(CaseChangeSchema))
    watermark = fields.DateTime()
