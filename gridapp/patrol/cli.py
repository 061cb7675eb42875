"""``flask patrol prune``: prune patrol tracks past their retention now."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from gridapp.core.extensions import db
from gridapp.patrol.services import prune_tracks

patrol_cli = AppGroup("patrol", help="Patrol tracks.")


@patrol_cli.command("prune")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep this many days (default: PATROL_RETENTION_DAYS).",
)
def patrol_prune(days: int | None) -> None:
    """Delete track points older than the retention period, inline."""
    retention = days or current_app.config["GRIDAPP"].patrol_retention_days
    with db.transaction() as session:
        pruned = prune_tracks(session, retention)
    click.echo(
        f"pruned {pruned.points} track points and {pruned.batches} batches older than "
        f"{retention} days"
    )
