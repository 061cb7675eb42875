"""Evaluation rules administration (考核规则): versions of weights, bands and grade cut-offs."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema, UtcDateTime
from gridapp.evaluation.models import EvaluationRuleVersion
from gridapp.evaluation.services import create_rule_version, list_rule_versions

blp = Blueprint(
    "evaluation_rules",
    __name__,
    url_prefix="/api/v1/admin",
    description="Evaluation rules",
)


class RuleVersionSchema(StrictSchema):
    version = fields.Integer()
    effective_from = fields.Date()
    rules = fields.Dict()
    note = fields.String(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    created_at = UtcDateTime()


class NewRuleVersionSchema(StrictSchema):
    effective_from = fields.Date(
        required=True,
        validate=validate.Range(date(2000, 1, 1), date(2099, 12, 31)),
        metadata={"description": "Asia/Shanghai day it takes effect (today on)."},
    )
    note = fields.String(validate=validate.Length(max=255))
    weights = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.Raw()),
        metadata={"description": "kind → indicator → weight; those not given stay."},
    )
    bands = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "name → [[lowest value, score], …], lowest first."},
    )
    grades = fields.List(
        fields.Raw(), metadata={"description": "[[cut-off, letter], …], best first."}
    )
    lowest_grade = fields.String(validate=validate.Length(1, 2))


@blp.route("/evaluation-rules")
class EvaluationRules(MethodView):
    @blp.doc(
        security=BEARER,
        description="Admins only. Every version with the day it takes effect; a period is "
        "scored with the version in force on its first day. Not paged: a city adds a few a year.",
    )
    @blp.response(200, RuleVersionSchema(many=True))
    @login_required(workflow.Role.admin)
    def get(self) -> list[EvaluationRuleVersion]:
        """List the evaluation rules versions, the oldest first."""
        return list_rule_versions(db.session())

    @blp.doc(
        security=BEARER,
        description="A period is scored with the version in force on its first day. Parts "
        "not given are copied from the version then in force; the result is checked "
        "(weights not negative, bands rising, grade cut-offs falling).",
    )
    @blp.arguments(NewRuleVersionSchema)
    @blp.response(201, RuleVersionSchema)
    @login_required(workflow.Role.admin)
    def post(self, body: dict[str, Any]) -> EvaluationRuleVersion:
        """Add an evaluation rules version taking effect on a day."""
        changes: dict[str, Any] = {
            k: body[k] for k in ("weights", "bands", "grades", "lowest_grade") if k in body
        }
        return create_rule_version(
            db.session(), current_user(), body["effective_from"], changes, body.get("note")
        )
