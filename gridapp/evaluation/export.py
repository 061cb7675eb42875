"""Evaluation tables as files (导出): CSV and XLSX with Chinese headers and the period on top."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.models import User
from gridapp.core.audit import record_audit
from gridapp.core.config import Config
from gridapp.core.errors import NotFound
from gridapp.core.i18n import _, stored_language
from gridapp.core.outbox import enqueue_after_commit
from gridapp.evaluation.models import EvaluationExport

FORMATS: Mapping[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# A finished export file is kept this long, then the nightly job removes it.
KEEP = timedelta(days=1)


def table_rows(answer: Mapping[str, Any]) -> list[list[Any]]:
    """Return the table as rows: the title row (the period), the headers, one row per subject."""
    kind = workflow.Kind(answer["kind"])
    indicators = workflow.INDICATORS[kind]
    title = _(
        "%(kind)s evaluation, %(start)s to %(end)s (rules version %(version)s)",
        kind=workflow.KIND_LABELS[kind],
        start=str(answer["from"]),
        end=str(answer["to"]),
        version=answer["rules_version"],
    )
    headers: list[Any] = [_("Rank"), _("Code"), _("Name")]
    for row in indicators:
        headers += [
            _("%(indicator)s numerator", indicator=row.label),
            _("%(indicator)s denominator", indicator=row.label),
            _("%(indicator)s value", indicator=row.label),
        ]
    headers += [_("Score"), _("Grade")]
    rows: list[list[Any]] = [[title], headers]
    for item in answer["items"]:
        subject = item["subject"]
        line: list[Any] = [item["rank"], subject.get("id", subject.get("code")), subject["name"]]
        for row in indicators:
            value = item["indicators"][row.name]
            line += [value["numerator"], value["denominator"], value["value"]]
        line += [item["score"], item["grade"]]
        rows.append(line)
    return rows


def render(answer: Mapping[str, Any], fmt: str) -> bytes:
    """Render an evaluation answer as CSV (UTF-8 with BOM, for spreadsheet programs) or XLSX.

    The headers are Chinese whatever the request reads: the file is passed on and filed.
    """
    with stored_language():
        rows = table_rows(answer)
        sheet_title = _("Evaluation")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow(["" if cell is None else cell for cell in row])
        return buffer.getvalue().encode("utf-8-sig")
    # Imported here, not at start-up: openpyxl costs every worker ~9 MB resident and only an
    # export (often a job) writes a workbook.
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = sheet_title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def filename(answer: Mapping[str, Any], fmt: str) -> str:
    return f"evaluation-{answer['kind']}-{answer['from']}-{answer['to']}.{fmt}"


def audit_export(session: Session, answer: Mapping[str, Any], fmt: str, user: User) -> None:
    record_audit(
        session,
        "evaluation.export",
        target_type="evaluation",
        target_id=answer["kind"],
        actor_id=user.id,
        actor_role=user.role,
        details={
            "format": fmt,
            "from": str(answer["from"]),
            "to": str(answer["to"]),
            "level": answer.get("level"),
            "rows": len(answer["items"]),
            "rules_version": answer["rules_version"],
        },
    )


def export_dir(config: Config) -> Path:
    return config.var_dir / "exports"


def start_export(session: Session, user: User, params: Mapping[str, Any]) -> EvaluationExport:
    """Record a large export and run it as a job once this transaction commits."""
    from gridapp.evaluation.jobs import build_export

    export = EvaluationExport(user_id=user.id, params=dict(params), status="pending")
    session.add(export)
    session.flush()
    enqueue_after_commit(session, build_export, [export.id], queue="low")
    return export


def get_export(session: Session, user: User, export_id: int) -> EvaluationExport:
    """Return one of the caller's exports (an admin's: any)."""
    export = session.get(EvaluationExport, export_id)
    if export is None or (export.user_id != user.id and user.role != workflow.Role.admin):
        raise NotFound(_("No export %(id)s of yours.", id=export_id))
    return export


def remove_old_exports(session: Session, config: Config, now: datetime | None = None) -> int:
    """Forget exports older than a day and remove their files."""
    cutoff = (now or datetime.now(UTC)) - KEEP
    old = session.scalars(
        select(EvaluationExport).where(EvaluationExport.created_at < cutoff)
    ).all()
    for export in old:
        if export.filename:
            (export_dir(config) / export.filename).unlink(missing_ok=True)
        session.delete(export)
    session.flush()
    return len(old)
