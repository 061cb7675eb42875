"""The case category catalogue and the departments."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy import select

from gridapp.catalogue.models import Category, Department
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema

blp = Blueprint("catalogue", __name__, url_prefix="/api/v1", description="Categories, departments")


class CategoryArgs(StrictSchema):
    kind = fields.String(load_default=None, validate=validate.OneOf(("component", "event")))


class CategorySchema(StrictSchema):
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    standard = fields.String()
    major_code = fields.String()
    major_name = fields.String()
    minor_code = fields.String()
    department = fields.String(attribute="department_code", allow_none=True)
    urgency = fields.String()
    process = fields.String()
    time_limits = fields.Dict()
    open311 = fields.Boolean(metadata={"description": "Offered to citizens as an Open311 service."})
    dispute = fields.Boolean(
        metadata={"description": "A dispute: `self_handle` and `feedback` need `resolved`."}
    )
    duplicate_radius_m = fields.Float(
        metadata={"description": "Likely duplicates: the same category within this distance."}
    )
    duplicate_window_hours = fields.Float(
        metadata={"description": "Likely duplicates: the same category within this many hours."}
    )


class DepartmentSchema(StrictSchema):
    code = fields.String()
    name = fields.String()


@blp.route("/categories")
class Categories(MethodView):
    @blp.doc(
        security=BEARER,
        description="Any signed-in user. One answer, no paging, in code order; `kind` keeps "
        "components (`component`) or events (`event`). A category names its default "
        "department, its urgency, the process it runs and each step's time limit.",
    )
    @blp.arguments(CategoryArgs, location="query")
    @blp.response(200, CategorySchema(many=True))
    @login_required()
    def get(self, args: dict[str, Any]) -> list[Category]:
        """List the active case categories (部件 and 事件)."""
        query = select(Category).where(Category.active.is_(True)).order_by(Category.code)
        if args["kind"]:
            query = query.where(Category.kind == args["kind"])
        return list(db.session().scalars(query))


@blp.route("/departments")
class Departments(MethodView):
    @blp.doc(
        security=BEARER,
        description="Any signed-in user. One answer, no paging, in code order: the codes a "
        "dispatch may name as `department`.",
    )
    @blp.response(200, DepartmentSchema(many=True))
    @login_required()
    def get(self) -> list[Department]:
        """List the departments that handle cases."""
        return list(
            db.session().scalars(
                select(Department).where(Department.active.is_(True)).order_by(Department.code)
            )
        )
