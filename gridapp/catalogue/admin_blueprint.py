"""Catalogue administration: categories, departments, responsibility rules and their dry run."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.catalogue.models import Category, Department, ResponsibilityRule
from gridapp.catalogue.services import (
    CATEGORY_LIMIT_STEPS,
    KINDS,
    URGENCIES,
    RouteAnswer,
    create_category,
    create_department,
    create_rule,
    delete_rule,
    get_rule,
    list_all_categories,
    list_all_departments,
    list_rules,
    route_point,
    update_category,
    update_department,
    update_rule,
)
from gridapp.core.extensions import db
from gridapp.core.i18n import N_
from gridapp.core.principal import BEARER, login_required, roles_first
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import AreaRefSchema, CrsField, PointSchema, StrictSchema

ADMIN = workflow.Role.admin
CODE = validate.Regexp(
    r"^[A-Za-z0-9_-]{1,20}$", error=N_("Letters, digits, '-' and '_' (1 to 20).")
)
DEPARTMENT_CODE = validate.Regexp(
    r"^[A-Za-z0-9_-]{1,40}$", error=N_("Letters, digits, '-' and '_' (1 to 40).")
)
UNITS = tuple(unit.value for unit in workflow.TimeUnit)

blp = Blueprint(
    "admin_catalogue",
    __name__,
    url_prefix="/api/v1/admin",
    description="Administration: categories, departments, responsibility rules",
)
# Other roles are refused before their input is read (403, whatever they send).
blp.before_request(roles_first(ADMIN))


class PageArgs(StrictSchema):
    cursor = fields.String(load_default=None, metadata={"description": "From `next_cursor`."})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class CategoryListArgs(PageArgs):
    active = fields.Boolean(load_default=None, metadata={"description": "Keep active or not."})


class CategoryTimeLimitSchema(StrictSchema):
    amount = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    unit = fields.String(required=True, validate=validate.OneOf(UNITS))


class TimeLimitsField(fields.Dict):
    """``{"handling": {"amount", "unit"}}``: the steps whose limit a category sets."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=fields.String(validate=validate.OneOf(CATEGORY_LIMIT_STEPS)),
            values=fields.Nested(CategoryTimeLimitSchema),
            metadata={
                "description": "The handling limit, e.g. "
                '`{"handling": {"amount": 3, "unit": "working_days"}}`; every other step '
                "takes its process's limit."
            },
            **kwargs,
        )


class CategoryAdminSchema(StrictSchema):
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    standard = fields.String()
    major_code = fields.String()
    major_name = fields.String()
    minor_code = fields.String()
    process = fields.String()
    urgency = fields.String()
    time_limits = fields.Dict()
    department = fields.String(attribute="department_code", allow_none=True)
    active = fields.Boolean()
    open311 = fields.Boolean()
    dispute = fields.Boolean()
    duplicate_radius_m = fields.Float()
    duplicate_window_hours = fields.Float()


class CategoryPageSchema(StrictSchema):
    items = fields.List(fields.Nested(CategoryAdminSchema))
    next_cursor = fields.String(allow_none=True)


class CategoryPatchSchema(StrictSchema):
    name = fields.String(validate=validate.Length(1, 120))
    kind = fields.String(validate=validate.OneOf(KINDS))
    standard = fields.String(
        validate=validate.Length(1, 40),
        metadata={"description": "Which directory the class comes from (GB/T 30428.2-2013 …)."},
    )
    major_name = fields.String(validate=validate.Length(0, 60))
    process = fields.String(
        validate=validate.Length(1, 20),
        metadata={"description": "A process of `GET /api/v1/processes`."},
    )
    urgency = fields.String(validate=validate.OneOf(URGENCIES))
    time_limits = TimeLimitsField()
    department_code = fields.String(
        data_key="department",
        allow_none=True,
        metadata={"description": "The default department's code (null: none)."},
    )
    active = fields.Boolean()
    open311 = fields.Boolean(
        metadata={"description": "Offered to citizens as an Open311 service (`/open311/v2`)."}
    )
    dispute = fields.Boolean(
        metadata={"description": "A dispute: handling it records whether it was resolved."}
    )
    duplicate_radius_m = fields.Float(
        validate=validate.Range(1, 1000),
        metadata={"description": "Open cases of this class this close are likely duplicates."},
    )
    duplicate_window_hours = fields.Float(
        validate=validate.Range(1, 24 * 30),
        metadata={"description": "… and reported within this many hours."},
    )


class CategoryCreateSchema(CategoryPatchSchema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(1, 120))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    process = fields.String(required=True, validate=validate.Length(1, 20))
    major_code = fields.String(validate=validate.Length(1, 4))
    minor_code = fields.String(validate=validate.Length(1, 4))


class DepartmentAdminSchema(StrictSchema):
    code = fields.String()
    name = fields.String()
    phone = fields.String(allow_none=True)
    active = fields.Boolean()


class DepartmentPageSchema(StrictSchema):
    items = fields.List(fields.Nested(DepartmentAdminSchema))
    next_cursor = fields.String(allow_none=True)


class DepartmentPatchSchema(StrictSchema):
    name = fields.String(validate=validate.Length(1, 120))
    phone = fields.String(allow_none=True, validate=validate.Length(0, 40))
    active = fields.Boolean(
        metadata={"description": "False takes it out of service (409 while rules name it)."}
    )


class DepartmentCreateSchema(DepartmentPatchSchema):
    code = fields.String(required=True, validate=DEPARTMENT_CODE)
    name = fields.String(required=True, validate=validate.Length(1, 120))


class RuleSchema(StrictSchema):
    id = fields.Integer()
    category = fields.String(attribute="category_code", allow_none=True)
    area = fields.String(attribute="area_code")
    department = fields.String(attribute="department_code")
    note = fields.String(allow_none=True)


class RulePageSchema(StrictSchema):
    items = fields.List(fields.Nested(RuleSchema))
    next_cursor = fields.String(allow_none=True)


class RuleListArgs(PageArgs):
    category = fields.String(load_default=None)
    area = fields.String(load_default=None)
    department = fields.String(load_default=None)


class RulePatchSchema(StrictSchema):
    category_code = fields.String(
        data_key="category",
        allow_none=True,
        metadata={"description": "A category's code; null: every category in the area."},
    )
    area_code = fields.String(
        data_key="area",
        validate=validate.Length(1, 20),
        metadata={"description": "An area of any level (district, street, community, grid)."},
    )
    department_code = fields.String(data_key="department", validate=validate.Length(1, 40))
    note = fields.String(allow_none=True, validate=validate.Length(0, 200))


class RuleCreateSchema(RulePatchSchema):
    area_code = fields.String(data_key="area", required=True, validate=validate.Length(1, 20))
    department_code = fields.String(
        data_key="department", required=True, validate=validate.Length(1, 40)
    )


class DryRunArgs(StrictSchema):
    category = fields.String(required=True)
    lon = fields.Float(required=True, validate=validate.Range(-180, 180))
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    crs = CrsField()


class DryRunSchema(StrictSchema):
    category = fields.String(attribute="category.code")
    location = fields.Nested(PointSchema, attribute="location.point")
    grid = fields.Nested(AreaRefSchema, attribute="location.located.grid")
    community = fields.Nested(
        AreaRefSchema, attribute="location.located.community", allow_none=True
    )
    street = fields.Nested(AreaRefSchema, attribute="location.located.street", allow_none=True)
    district = fields.Nested(AreaRefSchema, attribute="location.located.district", allow_none=True)
    department = fields.Nested(
        DepartmentAdminSchema,
        allow_none=True,
        metadata={"description": "Null: no rule covers it, so a dispatch must name one."},
    )
    rule = fields.Nested(RuleSchema, allow_none=True, metadata={"description": "The rule used."})
    handlers = fields.Integer(
        metadata={"description": "Active handlers there (0: a dispatch would be refused)."}
    )


@blp.route("/categories")
class Categories(MethodView):
    @blp.doc(security=BEARER, description="Admins only. Active or not, in code order.")
    @blp.arguments(CategoryListArgs, location="query")
    @blp.response(200, CategoryPageSchema)
    @login_required(ADMIN)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List every case category, active or not."""
        items, next_cursor = list_all_categories(
            db.session(), cursor=args["cursor"], limit=args["limit"], active=args["active"]
        )
        return {"items": items, "next_cursor": next_cursor}

    @blp.doc(security=BEARER, description="Admins only. Recorded in the change log.")
    @blp.arguments(CategoryCreateSchema)
    @blp.response(201, CategoryAdminSchema)
    @login_required(ADMIN)
    def post(self, body: dict[str, Any]) -> Category:
        """Add a case category (部件 or 事件 class)."""
        return create_category(db.session(), body)


@blp.route("/categories/<code>")
class CategoryItem(MethodView):
    @blp.doc(
        security=BEARER,
        description="Admins only. Send only what changes; in effect for the next case, "
        "recorded in the change log.",
    )
    @blp.arguments(CategoryPatchSchema)
    @blp.response(200, CategoryAdminSchema)
    @login_required(ADMIN)
    def patch(self, body: dict[str, Any], code: str) -> Category:
        """Change a category: process, urgency, limits, department, Open311, duplicate rule."""
        return update_category(db.session(), code, body)


@blp.route("/departments")
class Departments(MethodView):
    @blp.doc(security=BEARER, description="Admins only. Active or not, in code order.")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, DepartmentPageSchema)
    @login_required(ADMIN)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List every department, active or not."""
        items, next_cursor = list_all_departments(
            db.session(), cursor=args["cursor"], limit=args["limit"]
        )
        return {"items": items, "next_cursor": next_cursor}

    @blp.doc(security=BEARER, description="Admins only. Recorded in the change log.")
    @blp.arguments(DepartmentCreateSchema)
    @blp.response(201, DepartmentAdminSchema)
    @login_required(ADMIN)
    def post(self, body: dict[str, Any]) -> Department:
        """Add a department that handles cases (专业部门)."""
        return create_department(db.session(), body)


@blp.route("/departments/<code>")
class DepartmentItem(MethodView):
    @blp.doc(security=BEARER, description="Admins only. Recorded in the change log.")
    @blp.arguments(DepartmentPatchSchema)
    @blp.response(200, DepartmentAdminSchema)
    @login_required(ADMIN)
    def patch(self, body: dict[str, Any], code: str) -> Department:
        """Rename a department, change its phone, or take it out of service."""
        return update_department(db.session(), code, body)


@blp.route("/rules")
class Rules(MethodView):
    @blp.doc(
        security=BEARER,
        description="Admins only. In id order; filter by `category`, `area`, `department`.",
    )
    @blp.arguments(RuleListArgs, location="query")
    @blp.response(200, RulePageSchema)
    @login_required(ADMIN)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the responsibility rules (category × area → department)."""
        items, next_cursor = list_rules(db.session(), **args)
        return {"items": items, "next_cursor": next_cursor}

    @blp.doc(
        security=BEARER,
        description="Admins only. The most specific rule decides a dispatch: the longest area "
        "code, then a named category before none. One rule per category and area (409).",
    )
    @blp.arguments(RuleCreateSchema)
    @blp.response(201, RuleSchema)
    @login_required(ADMIN)
    def post(self, body: dict[str, Any]) -> ResponsibilityRule:
        """Add a responsibility rule (责任划分)."""
        return create_rule(db.session(), body)


@blp.route("/rules/<int:rule_id>")
class RuleItem(MethodView):
    @blp.doc(security=BEARER, description="Admins only.")
    @blp.response(200, RuleSchema)
    @login_required(ADMIN)
    def get(self, rule_id: int) -> ResponsibilityRule:
        """Show one responsibility rule."""
        return get_rule(db.session(), rule_id)

    @blp.doc(
        security=BEARER,
        description="Admins only. The next dispatch follows it, in every worker process.",
    )
    @blp.arguments(RulePatchSchema)
    @blp.response(200, RuleSchema)
    @login_required(ADMIN)
    def patch(self, body: dict[str, Any], rule_id: int) -> ResponsibilityRule:
        """Change a responsibility rule."""
        return update_rule(db.session(), rule_id, body)

    @blp.doc(security=BEARER, description="Admins only. Recorded in the change log.")
    @blp.response(204)
    @login_required(ADMIN)
    def delete(self, rule_id: int) -> None:
        """Remove a responsibility rule."""
        delete_rule(db.session(), rule_id)


@blp.route("/rules/dry-run")
class RuleDryRun(MethodView):
    @blp.doc(
        security=BEARER,
        description="Admins only. Locates the point and asks the rules exactly as a dispatch "
        "without a named department does; `rule` is null when none covers it.",
    )
    @blp.arguments(DryRunArgs, location="query")
    @blp.response(200, DryRunSchema)
    @login_required(ADMIN)
    def get(self, args: dict[str, Any]) -> RouteAnswer:
        """Say who would get a case of this category at this point, and by which rule."""
        return route_point(
            db.session(),
            args["category"],
            args["lon"],
            args["lat"],
            args["crs"],
            check_seconds=current_app.config["GRIDAPP"].grid_index_check_seconds,
        )
