"""Cases for the command center and departments: take, list, read, act, history."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.cases import examples
from gridapp.cases.models import Case
from gridapp.cases.schemas import (
    ActionBodySchema,
    ActionResultSchema,
    CasePageSchema,
    CaseSchema,
    ChainSchema,
    ChangesSchema,
    DeskIntakeSchema,
    HistorySchema,
    RoutingSchema,
)
from gridapp.cases.services import (
    CaseFilters,
    CaseSort,
    act_on_case,
    case_history,
    cases_changed_since,
    commit_for_answer,
    count_cases,
    get_case,
    list_cases,
    suggest_department,
    take_case,
    verify_chain,
)
from gridapp.core.extensions import db
from gridapp.core.limits import rate_limit
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import IF_MATCH, Blueprint
from gridapp.core.schemas import Integer, StrictSchema, UtcDateTime

blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="Cases")

DESK_INTAKE_ROLES = (workflow.Role.acceptor.value, workflow.Role.hotline_operator.value)


class CaseListArgs(StrictSchema):
    state = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in workflow.State])),
        load_default=list,
        metadata={"description": "Any state of any process; repeat for several."},
    )
    process = fields.String(load_default=None, validate=validate.OneOf(list(workflow.PROCESSES)))
    category = fields.String(load_default=None)
    street = fields.String(load_default=None)
    community = fields.String(load_default=None)
    grid = fields.String(load_default=None)
    department = fields.String(load_default=None)
    source = fields.String(load_default=None)
    overdue = fields.Boolean(load_default=None)
    sla = fields.Enum(
        workflow.SlaState,
        by_value=True,
        load_default=None,
        metadata={
            "description": "Where the running step's clock stands now: ok, warning (past 80 %) "
            "or overdue; the same status as each case's `sla`."
        },
    )
    due_before = UtcDateTime(load_default=None)
    reported_from = UtcDateTime(load_default=None)
    reported_to = UtcDateTime(load_default=None)
    q = fields.String(
        load_default=None, metadata={"description": "Text in description, address or number."}
    )
    total = fields.Boolean(
        load_default=False,
        metadata={"description": "Also count every case the filters select (`total`)."},
    )
    sort = fields.Enum(
        CaseSort,
        by_value=True,
        load_default=CaseSort.newest,
        metadata={"description": "created, updated or deadline; a leading '-' reverses."},
    )
    cursor = fields.String(load_default=None, metadata={"description": "From `next_cursor`."})
    limit = Integer(load_default=50, validate=validate.Range(1, 200))


def etag(case: Case) -> dict[str, str]:
    return {"ETag": f'"{case.version}"'}


@blp.route("/cases")
class Cases(MethodView):
    @blp.doc(
        security=BEARER,
        description="Filters combine with AND; `state` takes any process's states. Sorted "
        "newest first unless `sort` says otherwise; each page's `next_cursor` fetches the next. "
        "With `total=true` the answer also counts every case the filters select (a queue "
        "tab's number).",
    )
    # An instance, not the class: webargs builds a schema per request from a class (~6 % of a
    # list page's CPU, profiled); loading keeps no state between requests.
    @blp.arguments(CaseListArgs(), location="query")
    @blp.response(200, CasePageSchema)
    @login_required()
    @db.reads_replica
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List cases in your scope, with filters, a sort order and a cursor."""
        filters = CaseFilters(
            states=args["state"],
            process=args["process"],
            category=args["category"],
            street=args["street"],
            community=args["community"],
            grid=args["grid"],
            department=args["department"],
            source=args["source"],
            overdue=args["overdue"],
            due_before=args["due_before"],
            reported_from=args["reported_from"],
            reported_to=args["reported_to"],
            text=args["q"],
            sla=args["sla"],
        )
        items, next_cursor = list_cases(
            db.session(),
            current_user(),
            filters,
            sort=args["sort"],
            cursor=args["cursor"],
            limit=args["limit"],
        )
        total = count_cases(db.session(), current_user(), filters) if args["total"] else None
        return {"items": items, "next_cursor": next_cursor, "total": total}

    @blp.doc(
        security=BEARER,
        description="For acceptors and hotline operators: a call, a visitor or an inspection "
        "becomes a case. The category decides the process; without `location` the case "
        "belongs to your district until it is placed. The caller's details are shown to "
        "command-center roles only.",
    )
    @rate_limit("report")
    @blp.arguments(DeskIntakeSchema, example=examples.DESK_INTAKE)
    @blp.response(201, CaseSchema)
    @login_required(*DESK_INTAKE_ROLES)
    def post(self, body: dict[str, Any]) -> Any:
        """Take a case at the desk (受理登记) from a call, a visit or an inspection."""
        case = take_case(
            db.session(),
            current_app.config["GRIDAPP"],
            current_user(),
            category=body["category"],
            description=body["description"],
            source=body["source"],
            location=body["location"],
            address=body["address"],
            caller={k: v for k, v in (body["caller"] or {}).items() if v},
        )
        return case, 201, etag(case)


@blp.route("/cases/<int:case_id>")
class CaseDetail(MethodView):
    @blp.doc(
        security=BEARER,
        description="`actions` lists what you may do on it now, with each action's fields; "
        "`sla` says where the running step's clock stands. The ETag is the version to send as "
        "If-Match with an action. A case outside your scope is 404, as is a missing one.",
    )
    @blp.response(200, CaseSchema)
    @login_required()
    def get(self, case_id: int) -> Any:
        """Show a case with its SLA clock and your actions; the ETag is its version."""
        case = get_case(db.session(), current_user(), case_id)
        return case, 200, etag(case)


# The action names of every process, as an enum in the OpenAPI document (DESIGN §9).
ACTION_SEGMENT = "any(" + ", ".join(action.value for action in workflow.Action) + ")"


@blp.route(f"/cases/<int:case_id>/actions/<{ACTION_SEGMENT}:action>")
class CaseAction(MethodView):
    @blp.doc(
        security=BEARER,
        parameters=[IF_MATCH],
        description="Actions and states are those of the case's process (GET /api/v1/processes; "
        "the case's `actions` lists yours now, with their fields). A missing If-Match is 428, a "
        "stale one 412, an action not allowed now or for your role 409 (its `detail` and "
        "`waiting_for` say who acts next), a case outside your scope 404.",
    )
    @blp.arguments(ActionBodySchema, example=examples.DISPATCH_BODY)
    @blp.response(200, ActionResultSchema)
    @login_required()
    def post(self, body: dict[str, Any], case_id: int, action: str) -> Any:
        """Take an action on a case (受理, 立案, 派遣, 处置, 核查, 结案 …)."""
        payload = {k: v for k, v in body.items() if v is not None and v != []}
        session = db.session()
        acted = act_on_case(
            session, current_user(), case_id, action, payload, request.headers.get("If-Match")
        )
        # Committed before the answer is written, from what is in hand (gridapp.core.answer):
        # on SQLite the write lock is held from the case's locking read to the commit, and the
        # other workers wait idle meanwhile; the answer needs no lock. The request's boundary
        # still hands the outbox rows to Redis after it.
        commit_for_answer(session, [acted.case])
        return acted, 200, etag(acted.case)


@blp.route("/cases/<int:case_id>/history")
class CaseHistory(MethodView):
    @blp.doc(
        security=BEARER,
        description="Oldest first: the report, then one event per action (the SLA sweep's "
        "automatic `supervise` has role `system`), each with the hash of the one before it.",
    )
    @blp.response(200, HistorySchema)
    @login_required()
    def get(self, case_id: int) -> dict[str, Any]:
        """List every event of a case with its actor, role, time and hash chain."""
        case, events = case_history(db.session(), current_user(), case_id)
        return {"case": case.id, "events": events}


@blp.route("/cases/<int:case_id>/history/verify")
class CaseHistoryVerify(MethodView):
    @blp.doc(
        security=BEARER,
        description="`intact` false names the first event whose stored hash no longer matches "
        "its content or its predecessor: the history was changed outside the application.",
    )
    @blp.response(200, ChainSchema)
    @login_required()
    def get(self, case_id: int) -> dict[str, Any]:
        """Recompute the history's hash chain and say whether it is intact."""
        case = get_case(db.session(), current_user(), case_id)
        report = verify_chain(db.session(), case.id)
        return {
            "case": case.id,
            "intact": report.intact,
            "events": report.events,
            "first_broken_seq": report.first_broken_seq,
            "reason": report.reason,
        }


@blp.route("/cases/<int:case_id>/routing")
class CaseRouting(MethodView):
    @blp.doc(
        security=BEARER,
        description="The department `dispatch` chooses when the body names none, and the "
        "rule behind it; the console preselects it in the department picker.",
    )
    @blp.response(200, RoutingSchema)
    @login_required()
    def get(self, case_id: int) -> dict[str, Any]:
        """Suggest the department the responsibility rules would dispatch a case to."""
        return suggest_department(db.session(), current_user(), case_id)


class ChangesArgs(StrictSchema):
    since = UtcDateTime(
        load_default=None,
        metadata={"description": "The `watermark` of the previous answer; none: everything."},
    )


@blp.route("/cases/changes")
class CaseChanges(MethodView):
    @blp.doc(
        security=BEARER,
        description="For a desk screen that stays open: poll with the last `watermark` to learn "
        "which cases in your scope were reported or changed since. What changed in the seconds "
        "before the last watermark comes again (a change still being saved then is not "
        "missed): deduplicate by id and version. At most 1000 a call, and then the rest changed "
        "at the last one's instant; ask again from the new watermark for more.",
    )
    @blp.arguments(ChangesArgs, location="query")
    @blp.response(200, ChangesSchema)
    @login_required()
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the cases in your scope changed since a watermark, and the next watermark."""
        items, watermark = cases_changed_since(db.session(), current_user(), args["since"])
        return {"items": items, "watermark": watermark}
