"""Open311 GeoReport v2 use cases: keys, services, submitting and reading service requests.

A service is a category open to citizens (``Category.open311``); a service request is a case,
named by its public number. A request enters as ``source=citizen`` through
`gridapp.cases.services.receive_case`, then the urban process's ``reported`` row
``request_check`` sends it to the grid's worker for the on-site check (核实) before anyone files
it: taken as the system, with the same row and effects as an acceptor's, so the history and
the evaluation read it like any other check.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.services import (
    FINISHED_STATES,
    receive_case,
    system_action,
)
from gridapp.catalogue.models import Category, Component
from gridapp.channels.open311.models import Open311Key
from gridapp.core.audit import record_audit
from gridapp.core.config import Config
from gridapp.core.errors import Forbidden, GridappError, NotFound
from gridapp.core.i18n import N_, _
from gridapp.grid.services import list_areas

CITIZEN = workflow.Role.citizen.value
# The spec: without dates, the last 90 days; at most 1000 requests in one answer.
DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
KEY_BYTES = 32  # 256 random bits: a plain SHA-256 of the key is enough to store
DEMO_KEY = "demo-open311-key"
# The one attribute a service may ask for: the code on a component's plate (部件编码).
COMPONENT_CODE = "component_code"
MAX_IDS = 100


class BadRequest(GridappError):
    """A request the spec answers with 400 (a missing or malformed parameter)."""

    status = 400
    title = N_("Bad request")
    type_slug = "bad-request"


def hash_key(key: str) -> str:
    """Return the stored form of an integrator key (SHA-256, hex)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    key: Open311Key
    secret: str  # shown once, never stored


def issue_key(
    session: Session, admin: User | None, name: str, secret: str | None = None
) -> IssuedKey:
    """Issue an integrator key (接入密钥); the key itself is returned once and kept hashed."""
    secret = secret or "o311_" + secrets.token_urlsafe(KEY_BYTES)
    key = Open311Key(
        name=name,
        key_hash=hash_key(secret),
        prefix=secret[:8],
        active=True,
        created_by=admin.id if admin else None,
        created_at=datetime.now(UTC),
    )
    session.add(key)
    session.flush()
    record_audit(
        session,
        "open311_key.create",
        target_type="open311_key",
        target_id=key.id,
        after={"name": name, "prefix": key.prefix},
        actor_id=admin.id if admin else None,
        actor_role=admin.role if admin else None,
    )
    return IssuedKey(key, secret)


def list_keys(session: Session) -> list[Open311Key]:
    """List every integrator key, newest first (hashes and prefixes only)."""
    return list(session.scalars(select(Open311Key).order_by(Open311Key.id.desc())))


def revoke_key(session: Session, admin: User, key_id: int) -> Open311Key:
    """Revoke an integrator key: it stops working at once and stays listed as revoked."""
    key = session.get(Open311Key, key_id)
    if key is None:
        raise NotFound(_("No Open311 key %(id)s.", id=key_id))
    if key.active:
        key.active = False
        key.revoked_at = datetime.now(UTC)
        session.flush()
        record_audit(
            session,
            "open311_key.revoke",
            target_type="open311_key",
            target_id=key.id,
            before={"active": True},
            after={"active": False},
            details={"name": key.name, "prefix": key.prefix},
            actor_id=admin.id,
            actor_role=admin.role,
        )
    return key


def check_key(session: Session, api_key: str | None) -> Open311Key:
    """Return the active key matching ``api_key``; a missing or wrong one is 403 (the spec)."""
    if not api_key:
        raise Forbidden(_("api_key was not provided."))
    key = session.scalar(
        select(Open311Key).where(Open311Key.key_hash == hash_key(api_key), Open311Key.active)
    )
    if key is None:
        raise Forbidden(_("api_key is not valid."))
    key.last_used_at = datetime.now(UTC)
    return key


# --- services ---------------------------------------------------------------------------------


SERVICES = select(Category).where(Category.open311, Category.active).order_by(Category.code)


def list_services(session: Session) -> list[Category]:
    """List the categories citizens may report (the Open311 services)."""
    return list(session.scalars(SERVICES))


def find_service(session: Session, code: str) -> Category:
    """Return one service; a class not open to citizens is as unknown as a missing one."""
    category = session.scalar(SERVICES.where(Category.code == code))
    if category is None:
        raise NotFound(_("service_code %(code)r not found.", code=code))
    return category


def has_attributes(category: Category) -> bool:
    """Say whether a service asks for attributes (``metadata`` true in the service list)."""
    return category.kind == "component"


def service_attributes(category: Category) -> list[dict[str, Any]]:
    """Return a service's attributes: a component class asks for the code on its plate."""
    if not has_attributes(category):
        return []
    return [
        {
            "variable": True,
            "code": COMPONENT_CODE,
            "datatype": "string",
            "required": False,
            "datatype_description": _("The code on the asset's plate, if there is one."),
            "order": 1,
            "description": _("Asset code"),
            "values": [],
        }
    ]


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    case: Case
    account_id: str | None


def _district(session: Session, jurisdiction_id: str | None) -> str:
    """Return the district an address-only request belongs to."""
    areas, _more = list_areas(session, level="district", limit=50)
    districts = [area.code for area in areas]
    if jurisdiction_id and jurisdiction_id in districts:
        return jurisdiction_id
    if len(districts) == 1:
        return districts[0]
    raise BadRequest(
        _("Give lat and long, or a jurisdiction_id naming a district, with address_string.")
    )


def _coordinate(name: str, value: str | None, low: float, high: float) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(_("%(name)s is not a number.", name=name)) from None
    if not low <= number <= high:
        raise BadRequest(_("%(name)s is out of range.", name=name))
    return number


def submit_request(
    session: Session,
    config: Config,
    key: Open311Key,
    params: Mapping[str, str],
    attributes: Mapping[str, str],
) -> Submitted:
    """File a citizen's service request (市民上报) and send it to the on-site check (核实).

    ``params`` are the spec's form fields; contact fields are kept as the case's caller,
    which only command-center roles see.
    """
    code = (params.get("service_code") or "").strip()
    if not code:
        raise BadRequest(_("service_code was not provided."))
    category = find_service(session, code)
    lat = _coordinate("lat", params.get("lat"), -90, 90)
    lon = _coordinate("long", params.get("long"), -180, 180)
    address = (params.get("address_string") or "").strip()[:255] or None
    if (lat is None) != (lon is None):
        raise BadRequest(_("lat and long go together."))
    if lat is None and not address:
        raise BadRequest(_("Give lat and long, or address_string."))
    description = (params.get("description") or "").strip()[:4000]
    contact = {
        name: value.strip()[:120]
        for name in ("first_name", "last_name", "email", "phone", "device_id", "account_id")
        if (value := params.get(name))
    }
    media_url = (params.get("media_url") or "").strip()[:1000] or None
    component_id = None
    plate = (attributes.get(COMPONENT_CODE) or "").strip()
    if plate and has_attributes(category):
        component_id = session.scalar(
            select(Component.id).where(
                Component.code == plate, Component.category_code == category.code
            )
        )
    data: dict[str, Any] = {"open311_key": key.id}
    if media_url:
        data["media_url"] = media_url
    if attributes:
        data["attributes"] = {k: v[:200] for k, v in list(attributes.items())[:20]}
    case = receive_case(
        session,
        config,
        source=CITIZEN,
        category=category.code,
        description=description or category.name,
        lon=lon,
        lat=lat,
        address=address,
        district_code=None
        if lat is not None
        else _district(session, params.get("jurisdiction_id")),
        component_id=component_id,
        contact=contact,
        data=data,
    )
    # The urban process's reported row: a citizen's report is checked on site before filing.
    system_action(session, case, workflow.Action.request_check)
    session.flush()
    return Submitted(case, contact.get("account_id"))


@dataclass(frozen=True)
class RequestQuery:
    ids: Sequence[str] = ()
    service_code: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: Sequence[str] = ()


PUBLIC_CASES = (
    select(Case)
    .join(Category, Category.code == Case.category_code)
    .where(Category.open311)
    .options(selectinload(Case.category), selectinload(Case.department))
)


def find_requests(session: Session, query: RequestQuery, now: datetime | None = None) -> list[Case]:
    """Return the service requests a query names, newest first, at most 1000.

    Ids alone ignore the other filters (the spec); otherwise the dates default to the last 90
    days before ``end_date`` (or now).
    """
    if query.ids:
        rows = session.scalars(PUBLIC_CASES.where(Case.number.in_(list(query.ids)[:MAX_IDS])))
        return sorted(rows, key=lambda case: case.id, reverse=True)
    now = now or datetime.now(UTC)
    end = query.end or now
    start = query.start or end - DEFAULT_WINDOW
    statement = PUBLIC_CASES.where(Case.created_at >= start, Case.created_at <= end)
    if query.service_code:
        statement = statement.where(Case.category_code == query.service_code)
    wanted = set(query.status)
    if wanted == {"open"}:
        statement = statement.where(Case.state.not_in(sorted(FINISHED_STATES)))
    elif wanted == {"closed"}:
        statement = statement.where(Case.state.in_(sorted(FINISHED_STATES)))
    return list(session.scalars(statement.order_by(Case.id.desc()).limit(MAX_REQUESTS)))


def get_request(session: Session, number: str) -> Case:
    """Return one service request by its public number."""
    case = session.scalar(PUBLIC_CASES.where(Case.number == number))
    if case is None:
        raise NotFound(_("service_request_id %(id)r not found.", id=number))
    return case


def media_urls(session: Session, cases: Sequence[Case]) -> dict[int, str]:
    """Return the media URL each request was filed with, read from the first events at once."""
    if not cases:
        return {}
    events = session.execute(
        select(CaseEvent.case_id, CaseEvent.data).where(
            CaseEvent.case_id.in_([c.id for c in cases if c.source == CITIZEN]),
            CaseEvent.seq == 1,
        )
    )
    return {
        row.case_id: row.data["media_url"] for row in events if (row.data or {}).get("media_url")
    }


def request_status(case: Case) -> str:
    """Return ``open`` or ``closed`` for a case."""
    return "closed" if case.state in FINISHED_STATES else "open"
