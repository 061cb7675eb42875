"""``flask jobs sweep``: run the SLA sweep now."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from gridapp.core.extensions import db


@click.command("sweep")
def jobs_sweep() -> None:
    """Run one SLA sweep now, inline."""
    from gridapp.cases.sla import sweep_sla

    with db.transaction() as session:
        result = sweep_sla(session)
    click.echo(f"scanned {result.scanned}, warned {result.warned}, overdue {result.overdue}")


def register(jobs_cli: AppGroup) -> None:
    """Add this domain's commands to ``flask jobs``."""
    jobs_cli.add_command(jobs_sweep)
