"""Evaluation (综合评价): rankings per kind, the cases behind a number, exports."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, current_app, jsonify, send_file, url_for
from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.core.errors import NotFound
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema
from gridapp.evaluation.export import (
    FORMATS,
    audit_export,
    export_dir,
    filename,
    get_export,
    render,
    start_export,
)
from gridapp.evaluation.services import evaluate, evaluation_scope, explain

blp = Blueprint("evaluation", __name__, url_prefix="/api/v1/evaluation", description="Evaluation")
KINDS = tuple(kind.value for kind in workflow.Kind)
# Days an evaluation may name: the history of a running system, with room on both sides.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
READERS = (workflow.Role.supervisor, workflow.Role.admin, workflow.Role.grid_worker)


class EvaluationArgs(StrictSchema):
    start = fields.Date(
        required=True,
        data_key="from",
        validate=validate.Range(FIRST_DAY, LAST_DAY),
        metadata={"description": "First day."},
    )
    end = fields.Date(
        required=True,
        data_key="to",
        validate=validate.Range(FIRST_DAY, LAST_DAY),
        metadata={"description": "Last day (included)."},
    )
    level = fields.String(
        load_default="street",
        validate=validate.OneOf(workflow.evaluation.AREA_LEVELS),
        metadata={"description": "For `areas`: street, community or grid."},
    )
    subject = fields.String(
        validate=validate.Length(1, 40), metadata={"description": "A user id or an area code."}
    )
    explain = fields.String(
        validate=validate.Length(1, 60),
        metadata={"description": "With `subject`: list the cases behind this indicator."},
    )
    format = fields.String(validate=validate.OneOf(tuple(FORMATS)))


class CountSchema(StrictSchema):
    numerator = fields.Float()
    denominator = fields.Float(allow_none=True)
    value = fields.Float(allow_none=True)


class ItemSchema(StrictSchema):
    subject = fields.Dict()
    indicators = fields.Dict(keys=fields.String(), values=fields.Nested(CountSchema))
    score = fields.Float(allow_none=True)
    grade = fields.String(allow_none=True)
    rank = fields.Integer(allow_none=True)


class EvaluationSchema(StrictSchema):
    start = fields.Date(data_key="from", attribute="from")
    end = fields.Date(data_key="to", attribute="to")
    kind = fields.String()
    level = fields.String(allow_none=True)
    rules_version = fields.Integer()
    items = fields.List(fields.Nested(ItemSchema))


class IndicatorSchema(StrictSchema):
    name = fields.String(metadata={"description": "The key in `indicators` and in the weights."})
    label = fields.String()
    scoring = fields.String(
        validate=validate.OneOf([s.value for s in workflow.evaluation.Scoring]),
        metadata={"description": "rate, inverse (lower is better), band or density_band."},
    )
    band = fields.String(allow_none=True, metadata={"description": "The bands it scores by."})


class KindIndicatorsSchema(StrictSchema):
    kind = fields.String(validate=validate.OneOf(KINDS))
    label = fields.String()
    indicators = fields.List(fields.Nested(IndicatorSchema))


@blp.route("/indicators")
class Indicators(MethodView):
    @blp.doc(
        security=BEARER,
        description="Every kind with its indicators in table order, as the rankings and the "
        "evaluation rules name them; the weights themselves are in the rules versions.",
    )
    @blp.response(200, KindIndicatorsSchema(many=True))
    @login_required(*READERS)
    def get(self) -> list[dict[str, Any]]:
        """List the indicators of each kind with their labels (考核指标)."""
        return [
            {
                "kind": kind.value,
                "label": workflow.evaluation.KIND_LABELS[kind],
                "indicators": [
                    {"name": row.name, "label": row.label, "scoring": row.scoring, "band": row.band}
                    for row in workflow.evaluation.INDICATORS[kind]
                ],
            }
            for kind in workflow.Kind
        ]


@blp.route("/<any(" + ", ".join(KINDS) + "):kind>")
class Evaluation(MethodView):
    @blp.doc(
        security=BEARER,
        description="Indicators, score, grade and rank per subject over the Asia/Shanghai days "
        "`from`..`to` (inclusive), scored with the rules version in force on `from`. "
        "Supervisors read their district, admins everything, a grid worker their own row "
        "among `grid_workers`. `subject` + `explain=<indicator>` answers the cases behind "
        "the numerator and denominator instead: `{subject, indicator, numerator, "
        "denominator, cases: [{case_id, number, side, counted_at, event: {seq, action, "
        "at}}]}`. `format=csv|xlsx` downloads the table (a large one: 202 with a Location "
        "to fetch it from when ready).",
    )
    @blp.arguments(EvaluationArgs, location="query")
    @blp.response(200, EvaluationSchema)
    @login_required(*READERS)
    def get(self, args: dict[str, Any], kind: str) -> Any:
        """Rank the subjects of one kind over a period (综合评价)."""
        user, session = current_user(), db.session()
        which = workflow.Kind(kind)
        if args.get("explain"):
            subject = args.get("subject") or (
                str(user.id) if evaluation_scope(user, which).own_subject else ""
            )
            with db.read_session() as reading:
                explained = explain(
                    reading,
                    user,
                    which,
                    args["start"],
                    args["end"],
                    subject=subject,
                    indicator=args["explain"],
                    level=args["level"],
                )
            return jsonify(_json(explained))
        # The table is read on the replica; an export's job and audit entry are written on the
        # primary (``session``) below.
        with db.read_session() as reading:
            answer = evaluate(
                reading,
                user,
                which,
                args["start"],
                args["end"],
                level=args["level"],
                subject=args.get("subject"),
            )
        fmt = args.get("format")
        if fmt is None:
            return answer
        config = current_app.config["GRIDAPP"]
        if len(answer["items"]) > config.evaluation_export_sync_rows:
            params = {
                "kind": kind,
                "from": args["start"].isoformat(),
                "to": args["end"].isoformat(),
                "level": args["level"],
                "subject": args.get("subject"),
                "format": fmt,
            }
            export = start_export(session, user, params)
            audit_export(session, answer, fmt, user)
            location = url_for("evaluation.EvaluationExportFile", export_id=export.id)
            return Response(status=202, headers={"Location": location, "Retry-After": "5"})
        audit_export(session, answer, fmt, user)
        return Response(
            render(answer, fmt),
            mimetype=FORMATS[fmt].split(";")[0],
            headers={"Content-Disposition": f'attachment; filename="{filename(answer, fmt)}"'},
        )


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@blp.route("/exports/<int:export_id>")
class EvaluationExportFile(MethodView):
    @blp.doc(
        security=BEARER,
        description="202 while the export runs; the file once ready (kept for a day). "
        "Only whoever asked for it (or an admin) may fetch it.",
    )
    @blp.response(200)
    @login_required(*READERS)
    def get(self, export_id: int) -> Any:
        """Fetch a large evaluation export once it is ready."""
        export = get_export(db.session(), current_user(), export_id)
        if export.status != "done" or not export.filename:
            return Response(status=202, headers={"Retry-After": "5"})
        path = export_dir(current_app.config["GRIDAPP"]) / export.filename
        if not path.exists():
            raise NotFound("")
        fmt = export.params["format"]
        return send_file(
            path,
            mimetype=FORMATS[fmt].split(";")[0],
            as_attachment=True,
            download_name=f"evaluation-{export.params['kind']}-{export.id}.{fmt}",
        )
