"""``flask evaluation snapshot --month YYYY-MM | --day YYYY-MM-DD``."""

from __future__ import annotations

import calendar
from datetime import date

import click
from flask.cli import AppGroup

from gridapp.core.extensions import db
from gridapp.evaluation.services import snapshot_days

evaluation_cli = AppGroup("evaluation", help="Evaluation snapshots.")


@evaluation_cli.command("snapshot")
@click.option("--month", help="YYYY-MM: every closed day of that month.")
@click.option("--day", "day_", help="YYYY-MM-DD: one day.")
def snapshot(month: str | None, day_: str | None) -> None:
    """Store the daily counts from the history; recomputing a day replaces it."""
    if bool(month) == bool(day_):
        raise click.UsageError("Give exactly one of --month and --day.")
    try:
        if month:
            year, number = (int(part) for part in month.split("-"))
            first = date(year, number, 1)
            last = date(year, number, calendar.monthrange(year, number)[1])
        else:
            first = last = date.fromisoformat(str(day_))
    except ValueError as exc:
        raise click.BadParameter(f"not a date: {month or day_}") from exc
    with db.transaction() as session:
        rows = snapshot_days(session, first, last)
    click.echo(f"snapshot {first}..{last}: {rows} rows")
