"""``flask`` commands of the core (db, jobs) and the hook that adds every domain's."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from gridapp.core import migrate

db_cli = AppGroup("db", help="Schema migrations (Alembic).")
jobs_cli = AppGroup("jobs", help="Background jobs.")


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


@jobs_cli.command("schedule")
def jobs_schedule() -> None:
    """Schedule the every-minute SLA sweep and the nightly media sweep (both reschedule)."""
    from gridapp.cases.jobs import schedule_sweep
    from gridapp.media.housekeeping import schedule_media_sweep

    click.echo(f"scheduled {schedule_sweep()} and {schedule_media_sweep()}")


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
    from gridapp.grid.cli import grid_cli
    from gridapp.media import cli as media_cli
    from gridapp.seed.cli import seed_cli

    cases_cli.register(jobs_cli)
    media_cli.register(jobs_cli)
    for group in (db_cli, grid_cli, user_cli, seed_cli, calendar_cli, jobs_cli):
        app.cli.add_command(group)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
