"""``flask`` commands of the core (db, jobs) and the hook that adds every domain's."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from gridapp.core import migrate

db_cli = AppGroup("db", help="Schema migrations (Alembic).")
jobs_cli = AppGroup("jobs", help="Background jobs.")
audit_cli = AppGroup("audit", help="The audit trail and the case history's hash chains.")


def _url() -> str:
    return str(current_app.config["GRIDAPP"].database_url)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the schema up to REVISION (default: head)."""
    migrate.upgrade(_url(), revision)
    click.echo(f"database at {revision}")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the schema down to REVISION."""
    migrate.downgrade(_url(), revision)
    click.echo(f"database at {revision}")


@db_cli.command("partitions")
@click.option("--ahead", default=3, show_default=True, help="Months after the current one to make.")
def db_partitions(ahead: int) -> None:
    """PostgreSQL: make the coming months' partitions of case and case_event; list them."""
    from gridapp.core.extensions import db
    from gridapp.core.partitions import ensure_partitions, partition_states

    with db.transaction() as session:
        made = ensure_partitions(session, ahead)
        states = partition_states(session)
    if not states:
        click.echo("no monthly partitions here (SQLite, or PostgreSQL before migration 0025)")
        return
    click.echo("made " + (", ".join(made) if made else "nothing (every month was there)"))
    for state in states:
        span = f"{state.months[0]} … {state.months[-1]}" if state.months else "no months"
        click.echo(
            f"{state.table}: {len(state.months)} months ({span}), "
            f"{state.default_rows} rows in {state.table}_default"
        )


@jobs_cli.command("schedule")
def jobs_schedule() -> None:
    """Schedule every periodic job: the SLA sweep and the nightly ones (each reschedules)."""
    from gridapp.core.worker import schedule_periodic

    click.echo("scheduled " + ", ".join(schedule_periodic()))


@audit_cli.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain and every case's history chain; name the first broken link."""
    from gridapp.cases.services import verify_every_chain
    from gridapp.core.audit import verify_audit_chain
    from gridapp.core.extensions import db

    with db.transaction() as session:
        audit = verify_audit_chain(session)
        cases = verify_every_chain(session)
    broken = False
    if audit.intact:
        click.echo(f"audit trail: {audit.entries} entries, chain intact")
    else:
        broken = True
        click.echo(f"audit trail: broken at entry {audit.first_broken_id}: {audit.reason}")
    click.echo(f"case history: {cases.cases} cases, {cases.events} events checked")
    for case_id, report in cases.broken:
        broken = True
        click.echo(f"case {case_id}: broken at event {report.first_broken_seq}: {report.reason}")
    if broken:
        raise SystemExit(1)


@audit_cli.command("prune")
def audit_prune() -> None:
    """Delete audit entries older than AUDIT_RETENTION_DAYS (at least 180) now."""
    from gridapp.core.audit import prune_audit
    from gridapp.core.extensions import db

    days = current_app.config["GRIDAPP"].audit_retention_days
    with db.transaction() as session:
        pruned = prune_audit(session, days)
    click.echo(f"pruned {pruned} audit entries older than {days} days")


@click.command("backup")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(directory: Path) -> None:
    """Back up the database and the media store into DIRECTORY (new or empty)."""
    from gridapp.core.backup import BackupError, backup

    config = current_app.config["GRIDAPP"]
    try:
        report = backup(config.database_url, config.media_dir, directory)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"backed up the {report.backend} database (revision {report.revision}) and "
        f"{report.media_files} media files ({report.media_bytes} bytes) to {directory}"
    )


@click.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@with_appcontext
def restore_command(directory: Path) -> None:
    """Restore a backup from DIRECTORY into the (empty) database and the media store."""
    from gridapp.core.backup import BackupError, restore

    config = current_app.config["GRIDAPP"]
    try:
        report = restore(directory, config.database_url, config.media_dir)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"restored the {report.backend} database (revision {report.revision}) and "
        f"{report.media_files} media files from {directory}; run `flask db upgrade` if this "
        "release is newer"
    )


def register_commands(app: Flask) -> None:
    """Attach core's command groups and every domain's."""
    from gridapp.accounts.cli import user_cli
    from gridapp.calendar.cli import calendar_cli
    from gridapp.cases import cli as cases_cli
    from gridapp.evaluation.cli import evaluation_cli
    from gridapp.grid.cli import grid_cli
    from gridapp.media import cli as media_cli
    from gridapp.patrol.cli import patrol_cli
    from gridapp.seed.cli import seed_cli

    cases_cli.register(jobs_cli)
    media_cli.register(jobs_cli)
    for group in (
        db_cli,
        grid_cli,
        user_cli,
        seed_cli,
        calendar_cli,
        jobs_cli,
        audit_cli,
        patrol_cli,
        evaluation_cli,
    ):
        app.cli.add_command(group)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
