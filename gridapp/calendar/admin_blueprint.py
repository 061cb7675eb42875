"""Calendar administration: the years the work calendar covers, and a year's import."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.calendar.models import CalendarEntry
from gridapp.calendar.services import (
    CalendarOverview,
    calendar_overview,
    calendar_year,
    replace_calendar_year,
)
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, login_required, roles_first
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema

ADMIN = workflow.Role.admin
KINDS = tuple(kind.value for kind in workflow.EntryKind)

blp = Blueprint(
    "admin_calendar",
    __name__,
    url_prefix="/api/v1/admin/calendar",
    description="Administration: the work calendar",
)
# Other roles are refused before their input is read (403, whatever they send).
blp.before_request(roles_first(ADMIN))


class YearSummarySchema(StrictSchema):
    year = fields.Integer()
    holidays = fields.Integer()
    workdays = fields.Integer(metadata={"description": "Make-up working days (on weekends)."})


class OverviewSchema(StrictSchema):
    years = fields.List(fields.Nested(YearSummarySchema))
    missing_years = fields.List(
        fields.Integer(),
        metadata={"description": "This year if absent; next year too from 1 December."},
    )
    warning = fields.String(
        allow_none=True, metadata={"description": "The same warning `/readyz` gives."}
    )


class EntrySchema(StrictSchema):
    date = fields.Date(required=True, attribute="day")
    kind = fields.String(
        required=True,
        validate=validate.OneOf(KINDS),
        metadata={
            "description": "`holiday` (a day off) or `workday` (a make-up working day, on a "
            "weekend)."
        },
    )
    name = fields.String(load_default="", validate=validate.Length(0, 60))


class YearSchema(StrictSchema):
    year = fields.Integer()
    entries = fields.List(fields.Nested(EntrySchema))


class YearBodySchema(StrictSchema):
    entries = fields.List(fields.Nested(EntrySchema), required=True)


def _year_answer(year: int, entries: list[CalendarEntry]) -> dict[str, Any]:
    return {"year": year, "entries": entries}


@blp.route("")
class Calendar(MethodView):
    @blp.doc(security=BEARER, description="Admins only.")
    @blp.response(200, OverviewSchema)
    @login_required(ADMIN)
    def get(self) -> CalendarOverview:
        """List the years the work calendar covers, and warn when one is missing."""
        return calendar_overview(db.session())


# Years a State Council notice could name (others are typos): 404 outside them.
@blp.route("/<int(min=1949, max=2200):year>")
class CalendarYear(MethodView):
    @blp.doc(security=BEARER, description="Admins only. Empty when the year is not covered.")
    @blp.response(200, YearSchema)
    @login_required(ADMIN)
    def get(self, year: int) -> dict[str, Any]:
        """Show one year's holidays and make-up working days."""
        return _year_answer(year, calendar_year(db.session(), year))

    @blp.doc(
        security=BEARER,
        description="Admins only. The State Council's notice for one year: every holiday "
        "(a day off) and make-up working day (on a weekend). Replaces that year at once, all or "
        "nothing; "
        "every problem is listed (`entries.<n>.date`). Deadlines use it at once, in every "
        "worker process; recorded in the change log.",
    )
    @blp.arguments(YearBodySchema)
    @blp.response(200, YearSchema)
    @login_required(ADMIN)
    def put(self, body: dict[str, Any], year: int) -> dict[str, Any]:
        """Import a year of the work calendar (节假日安排)."""
        entries = [
            workflow.CalendarEntry(e["day"], workflow.EntryKind(e["kind"]), e["name"])
            for e in body["entries"]
        ]
        return _year_answer(year, replace_calendar_year(db.session(), year, entries))
