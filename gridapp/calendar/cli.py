"""``flask calendar``: import and export the work calendar."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

import workflow
from gridapp.core.extensions import db

calendar_cli = AppGroup("calendar", help="The work calendar.")


@calendar_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calendar_import(path: Path) -> None:
    """Import calendar rows (CSV: date,kind,name) from the State Council's notice."""
    from gridapp.calendar.services import import_calendar_entries

    entries = workflow.entries_from_csv(path.read_text(encoding="utf-8"))
    with db.transaction() as session:
        n = import_calendar_entries(session, entries)
    click.echo(f"{n} calendar rows imported")


@calendar_cli.command("export")
def calendar_export() -> None:
    """Print the stored calendar as CSV."""
    from gridapp.calendar.services import work_calendar

    click.echo(workflow.entries_to_csv(work_calendar(db.session()).entries()), nl=False)
