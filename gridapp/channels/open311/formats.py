"""GeoReport v2 documents in the spec's two formats: JSON and XML (UTF-8, with declaration).

Each answer is built once as plain data (dicts, lists, scalars); ``render`` writes it as JSON or
as the spec's XML, where a list becomes a plural element of singular children
(``<services><service>…``) and booleans are ``true``/``false``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from flask import Response

import workflow
from gridapp.cases.models import Case
from gridapp.catalogue.models import Category
from gridapp.channels.open311.services import (
    has_attributes,
    request_status,
    service_attributes,
)
from gridapp.core.i18n import _, state_label

FORMATS = ("json", "xml")
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# Plural element → the tag of each child, as the spec's XML examples show them.
CHILDREN = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "keywords": "keyword",
}


def local_time(moment: datetime | None) -> str | None:
    """Return an ISO 8601 time with its offset, in the jurisdiction's zone (the spec's format)."""
    if moment is None:
        return None
    return moment.astimezone(workflow.LOCAL_ZONE).isoformat(timespec="seconds")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _element(tag: str, value: Any) -> ET.Element:
    node = ET.Element(tag)
    if isinstance(value, Mapping):
        for key, child in value.items():
            node.append(_element(key, child))
    elif isinstance(value, list | tuple):
        child_tag = CHILDREN.get(tag, "item")
        for child in value:
            node.append(_element(child_tag, child))
    else:
        node.text = _text(value)
    return node


def to_xml(root: str, value: Any) -> bytes:
    """Write a document as the spec's XML: UTF-8 with its declaration."""
    body: bytes = ET.tostring(_element(root, value), encoding="utf-8", xml_declaration=True)
    return body


def render(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """Answer a document in the requested format; ``root`` names the XML root element."""
    if fmt == "xml":
        body = to_xml(root, value)
    else:
        body = json.dumps(value, ensure_ascii=False).encode("utf-8")
    return Response(body, status=status, content_type=CONTENT_TYPES[fmt])


def errors(fmt: str, status: int, description: str) -> Response:
    """Answer an error as the spec writes them: ``[{"code", "description"}]``."""
    return render(fmt, "errors", [{"code": status, "description": description}], status)


def service(category: Category) -> dict[str, Any]:
    """Return one service of the list."""
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": f"{category.major_name} / {category.name}",
        "metadata": has_attributes(category),
        "type": "realtime",
        "keywords": category.kind,
        "group": category.major_name,
    }


def service_definition(category: Category) -> dict[str, Any]:
    """Return a service definition: its code and attributes."""
    return {"service_code": category.code, "attributes": service_attributes(category)}


def status_notes(case: Case) -> str:
    """Explain the status: the step the case is in, or why it ended."""
    label = state_label(case.state, workflow.PROCESSES[case.process])
    if case.duplicate_of_id is not None:
        return _("%(state)s: a duplicate of an earlier request.", state=label)
    return label


def service_request(case: Case, media_url: str | None = None) -> dict[str, Any]:
    """Return one service request as the public sees it: never the caller's details."""
    return {
        "service_request_id": case.number,
        "status": request_status(case),
        "status_notes": status_notes(case),
        "service_name": case.category.name,
        "service_code": case.category_code,
        "description": case.description,
        "agency_responsible": case.department.name if case.department else None,
        "service_notice": None,
        "requested_datetime": local_time(case.created_at),
        "updated_datetime": local_time(case.updated_at),
        "expected_datetime": local_time(case.deadline),
        "address": case.address,
        "address_id": None,
        "zipcode": None,
        "lat": round(case.lat, 7) if case.lat is not None else None,
        "long": round(case.lon, 7) if case.lon is not None else None,
        "media_url": media_url,
    }


def service_requests(cases: Sequence[Case], media: Mapping[int, str]) -> list[dict[str, Any]]:
    """Return a list of service requests."""
    return [service_request(case, media.get(case.id)) for case in cases]
