"""The process definitions (流程定义): states, actions, who takes them and what they need."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

import workflow
from gridapp.cases.process_schemas import ProcessSchema, describe_process
from gridapp.core.errors import NotFound
from gridapp.core.i18n import _
from gridapp.core.principal import BEARER, login_required
from gridapp.core.rest import Blueprint

blp = Blueprint("processes", __name__, url_prefix="/api/v1", description="Process definitions")


@blp.route("/processes")
class Processes(MethodView):
    @blp.doc(
        security=BEARER,
        description="The same tables the workflow runs on: each state with its label, "
        "time limit and (social process) holding level; each action with its next state, who "
        "may take it, its fields (as in a case's `actions`), effects and condition.",
    )
    @blp.response(200, ProcessSchema(many=True))
    @login_required()
    def get(self) -> list[dict[str, Any]]:
        """List the process definitions (urban, social, hotline)."""
        return [describe_process(definition) for definition in workflow.PROCESSES.values()]


@blp.route("/processes/<string:code>")
class ProcessDetail(MethodView):
    @blp.doc(
        security=BEARER,
        description="`code` is a case's `process` (urban, social, hotline); another is 404.",
    )
    @blp.response(200, ProcessSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @login_required()
    def get(self, code: str) -> dict[str, Any]:
        """Show one process definition by code."""
        definition = workflow.PROCESSES.get(code)
        if definition is None:
            raise NotFound(
                _(
                    "No process %(code)r: the processes are %(processes)s.",
                    code=code,
                    processes=", ".join(workflow.PROCESSES),
                )
            )
        return describe_process(definition)
