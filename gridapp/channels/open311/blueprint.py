"""Open311 GeoReport v2 at /open311/v2: discovery, services, service requests (JSON and XML).

The spec's own conventions, not the rest of the API's: the format is the path's extension,
POST bodies are form-encoded (JSON accepted too), and errors are ``[{"code", "description"}]``
(XML ``<errors><error>``) with 400, 403 (``api_key``) or 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dateutil.parser import isoparse
from flask import Response, current_app, request
from flask.views import MethodView
from werkzeug.exceptions import HTTPException

import geo
import workflow
from gridapp.channels.open311 import formats
from gridapp.channels.open311.services import (
    MAX_REQUESTS,
    BadRequest,
    RequestQuery,
    check_key,
    find_requests,
    find_service,
    get_request,
    list_services,
    media_urls,
    submit_request,
)
from gridapp.core.errors import GridappError
from gridapp.core.extensions import db
from gridapp.core.i18n import _, gettext
from gridapp.core.limits import RateLimited, check_rate
from gridapp.core.rest import Blueprint

blp = Blueprint(
    "open311",
    __name__,
    url_prefix="/open311/v2",
    description="Open311 GeoReport v2 for citizens' apps: see http://wiki.open311.org/GeoReport_v2.",
)

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-26T00:00:00+08:00"
FMT = "<any(json, xml):fmt>"
ERRORS = {"description": "The spec's errors: `[{code, description}]` or `<errors><error>`."}


def _json_schema(body: str) -> dict[str, Any]:
    if body == "array":
        return {"type": "array", "items": {"type": "object"}}
    return {"type": "object"}


def _documented(summary_of: str, *statuses: int, body: str = "") -> dict[str, Any]:
    """Document a GeoReport answer in both formats, and its error answers."""
    ok: dict[str, Any] = {
        "description": summary_of,
        "content": {
            "application/json": {"schema": _json_schema(body)},
            "text/xml": {"schema": {"type": "string"}},
        },
    }
    responses: dict[str, Any] = {"201" if 201 in statuses else "200": ok}
    for status in statuses:
        if status >= 400:
            responses[str(status)] = ERRORS
    return responses


def _parameter(name: str, description: str, where: str = "query") -> dict[str, Any]:
    return {"in": where, "name": name, "schema": {"type": "string"}, "description": description}


JURISDICTION = _parameter("jurisdiction_id", "Accepted; a district code when one is served.")


def _fmt() -> str:
    fmt = (request.view_args or {}).get("fmt", "json")
    return fmt if fmt in formats.FORMATS else "json"


@blp.errorhandler(GridappError)
def _gridapp_error(exc: GridappError) -> Response:
    # The spec knows 400, 403 and 404: an invalid field is a bad request there.
    status = 400 if exc.status == 422 else exc.status
    answer = formats.errors(_fmt(), status, exc.detail)
    if isinstance(exc, RateLimited):
        answer.headers["Retry-After"] = str(exc.retry_after)
    return answer


@blp.errorhandler(geo.PointOutsideGrids)
def _outside(exc: geo.PointOutsideGrids) -> Response:
    return formats.errors(_fmt(), 400, _("lat/long is outside the jurisdiction."))


@blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return formats.errors(_fmt(), exc.code or 500, gettext(exc.name))


def _dates(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        moment = isoparse(value)
    except (ValueError, OverflowError):
        raise BadRequest(_("%(name)s is not an ISO 8601 date.", name=name)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=workflow.LOCAL_ZONE)
    return moment


def _listed(name: str) -> list[str]:
    return [part.strip() for part in request.args.get(name, "").split(",") if part.strip()]


@blp.route(f"/discovery.{FMT}")
class Discovery(MethodView):
    @blp.doc(
        description="The service discovery document: where this GeoReport v2 endpoint is, "
        "its formats and whom to contact.",
        responses=_documented("The discovery document."),
        parameters=[JURISDICTION],
    )
    def get(self, fmt: str) -> Response:
        """Describe this Open311 endpoint (service discovery)."""
        base = request.host_url.rstrip("/") + (blp.url_prefix or "")
        document = {
            "changeset": CHANGESET,
            "contact": _("The county's digital urban management center."),
            "key_service": _("Ask the administrators for an API key."),
            "endpoints": [
                {
                    "specification": SPEC,
                    "url": base,
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        }
        return formats.render(fmt, "discovery", document)


@blp.route(f"/services.{FMT}")
class Services(MethodView):
    @blp.doc(
        description="One service per category open to citizens. `metadata` true: the service "
        "has attributes (GET services/{code}).",
        responses=_documented("The services.", body="array"),
        parameters=[JURISDICTION],
    )
    def get(self, fmt: str) -> Response:
        """List the services citizens may request (the categories open to them)."""
        services = [formats.service(c) for c in list_services(db.session())]
        return formats.render(fmt, "services", services)


@blp.route(f"/services/<string:service_code>.{FMT}")
class ServiceDefinition(MethodView):
    @blp.doc(
        description="A component class asks for the optional `component_code` (the code on "
        "the asset's plate); event classes have no attributes.",
        responses=_documented("The service definition.", 404),
        parameters=[JURISDICTION],
    )
    def get(self, service_code: str, fmt: str) -> Response:
        """Show a service's definition: its attributes."""
        category = find_service(db.session(), service_code)
        return formats.render(fmt, "service_definition", formats.service_definition(category))


def _body() -> dict[str, Any]:
    """Read a POST body: form-encoded as the spec says, or a JSON object."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadRequest(_("The body is not a JSON object."))
        return body
    return request.form.to_dict()


def _attributes(body: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    nested = body.get("attribute")
    if isinstance(nested, dict):  # a JSON body may nest them
        found.update({str(k): str(v) for k, v in nested.items()})
    for name, value in body.items():
        if name.startswith("attribute[") and name.endswith("]") and len(name) > 11:
            found[name[10:-1]] = str(value)
    return found


REQUEST_FIELDS = (
    ("api_key", "Your integrator key (required)."),
    ("service_code", "A service's code (required)."),
    ("lat", "WGS84 latitude; with long, or give address_string."),
    ("long", "WGS84 longitude."),
    ("address_string", "Where, in words, when there is no lat/long."),
    ("description", "What is wrong."),
    ("media_url", "A photo's URL."),
    ("email", "Contact (kept for the command center, never shown publicly)."),
    ("first_name", "Contact."),
    ("last_name", "Contact."),
    ("phone", "Contact."),
    ("device_id", "The app's device id."),
    ("account_id", "The app's account id, echoed in the answer."),
    ("jurisdiction_id", "Accepted; a district code when one is served."),
)
FORM_BODY = {
    "required": True,
    "content": {
        media: {
            "schema": {
                "type": "object",
                "required": ["api_key", "service_code"],
                "properties": {
                    name: {"type": "string", "description": text} for name, text in REQUEST_FIELDS
                },
                "additionalProperties": {"type": "string"},
            }
        }
        for media in ("application/x-www-form-urlencoded", "application/json")
    },
}


@blp.route(f"/requests.{FMT}")
class Requests(MethodView):
    @blp.doc(
        description="Newest first, at most 1000. `service_request_id` (comma-separated) "
        "ignores the other filters; without dates, the last 90 days. `status` is open or "
        "closed. Contact details never appear.",
        responses=_documented("The service requests.", 400, body="array"),
        parameters=[
            _parameter("service_request_id", "Comma-separated request ids."),
            _parameter("service_code", "One service."),
            _parameter("start_date", "ISO 8601; requests made at or after."),
            _parameter("end_date", "ISO 8601; requests made at or before."),
            _parameter("status", "open, closed, or both comma-separated."),
            JURISDICTION,
        ],
    )
    def get(self, fmt: str) -> Response:
        """List service requests by id, service, dates and status."""
        statuses = _listed("status")
        if any(status not in ("open", "closed") for status in statuses):
            raise BadRequest(_("status is open or closed."))
        query = RequestQuery(
            ids=_listed("service_request_id"),
            service_code=request.args.get("service_code") or None,
            start=_dates("start_date"),
            end=_dates("end_date"),
            status=statuses,
        )
        session = db.session()
        cases = find_requests(session, query)[:MAX_REQUESTS]
        items = formats.service_requests(cases, media_urls(session, cases))
        return formats.render(fmt, "service_requests", items)

    @blp.doc(
        description="Form-encoded as the spec says (a JSON object is accepted too); "
        "`attribute[<code>]` for a service's attributes. The request starts with an on-site "
        "check by the grid's worker. A missing or unknown `api_key` is 403, an unknown "
        "`service_code` 404, anything else missing or malformed 400.",
        requestBody=FORM_BODY,
        responses=_documented("The new request's id.", 201, 400, 403, 404, body="array"),
    )
    def post(self, fmt: str) -> Response:
        """Submit a service request (市民上报)."""
        body = _body()
        params = {k: str(v) for k, v in body.items() if isinstance(v, str | int | float)}
        session = db.session()
        key = check_key(session, params.get("api_key") or request.args.get("api_key"))
        # Counted per integrator key, not per address: one integrator's servers share a limit.
        check_rate("open311", f"open311-key-{key.id}")
        submitted = submit_request(
            session, current_app.config["GRIDAPP"], key, params, _attributes(body)
        )
        answer = [
            {
                "service_request_id": submitted.case.number,
                "service_notice": _("A grid worker will check it on site first."),
                "account_id": submitted.account_id,
            }
        ]
        return formats.render(fmt, "service_requests", answer, 201)


@blp.route(f"/requests/<string:service_request_id>.{FMT}")
class RequestDetail(MethodView):
    @blp.doc(
        description="One request, in a list of one as the spec answers it.",
        responses=_documented("The service request.", 404, body="array"),
        parameters=[JURISDICTION],
    )
    def get(self, service_request_id: str, fmt: str) -> Response:
        """Show one service request."""
        session = db.session()
        case = get_request(session, service_request_id)
        items = formats.service_requests([case], media_urls(session, [case]))
        return formats.render(fmt, "service_requests", items)
