"""``flask`` commands: db, grid, user, calendar, seed, outbox."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

import workflow
from gridapp import migrate
from gridapp.extensions import db

db_cli = AppGroup("db", help="Schema migrations (Alembic).")
grid_cli = AppGroup("grid", help="The grid map.")
user_cli = AppGroup("user", help="Users.")
seed_cli = AppGroup("seed", help="Demo data.")
calendar_cli = AppGroup("calendar", help="The work calendar (工作日历).")


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


@grid_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def grid_import(path: Path) -> None:
    """Import a GeoJSON grid map (all or nothing, idempotent by code)."""
    import geo
    from gridapp.services.grid import import_grid_map

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path} is not a JSON file: {exc}") from exc
    try:
        with db.transaction() as session:
            summary = import_grid_map(session, data)
    except geo.GridImportError as exc:
        click.echo(
            f"{path}: refused, {len(exc.problems)} problem(s); nothing was imported:", err=True
        )
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{path}: {summary.created} created, {summary.updated} updated, "
        f"{summary.unchanged} unchanged"
    )


@user_cli.command("create")
@click.argument("username")
@click.option("--role", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", default="")
@click.option("--department", default=None, help="Department code (handlers, dept admins).")
@click.option("--district", default=None, help="District code (command-center scope).")
@click.option("--grid", "grids", multiple=True, help="Unit grid code (grid workers); repeatable.")
@click.option("--totp/--no-totp", default=False, help="Give the user a TOTP second factor.")
def user_create(
    username: str,
    role: str,
    password: str,
    display_name: str,
    department: str | None,
    district: str | None,
    grids: tuple[str, ...],
    totp: bool,
) -> None:
    """Create a user."""
    from gridapp.errors import GridappError
    from gridapp.services.users import create_user
    from gridapp.totp import new_secret

    secret = new_secret() if totp else None
    try:
        with db.transaction() as session:
            user = create_user(
                session,
                username=username,
                password=password,
                role=role,
                display_name=display_name,
                department=department,
                district=district,
                grids=grids,
                totp_secret=secret,
            )
    except GridappError as exc:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
        raise click.ClickException(f"{exc.detail} {details}".strip()) from exc
    click.echo(f"created user {user.username} (id {user.id}, {user.role})")
    if secret:
        click.echo(f"TOTP secret: {secret}")


@seed_cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has a grid map.")
def seed_demo_command(if_empty: bool) -> None:
    """Seed the demo county 衡山县 (generated polygons, real names and codes)."""
    from gridapp.seed.demo import ATTRIBUTION, is_seeded, seed_demo

    with db.transaction() as session:
        if is_seeded(session):
            if if_empty:
                click.echo("demo: database already has a grid map; not seeding")
                return
            raise click.ClickException("the database already has a grid map")
        report = seed_demo(session)
    areas = ", ".join(f"{n} {lvl}" for lvl, n in report.areas.items())
    click.echo(
        f"demo county seeded: {areas}; {report.categories} categories, "
        f"{report.departments} departments, {report.rules} rules, "
        f"{report.components} components"
    )
    click.echo(ATTRIBUTION)


@seed_cli.command("users")
def seed_users_command() -> None:
    """Print the demo users, their grids and departments."""
    from gridapp.seed.demo import DEMO_OPEN311_KEY, DEMO_PASSWORD, DEMO_TOTP_SECRET
    from gridapp.services.demo import describe_demo_users

    for line in describe_demo_users(db.session()):
        click.echo(line)
    click.echo(
        f"password for every demo user: {DEMO_PASSWORD}; TOTP secret for command-center, "
        f"supervisor and admin roles: {DEMO_TOTP_SECRET}; Open311 key: {DEMO_OPEN311_KEY}"
    )


@calendar_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calendar_import(path: Path) -> None:
    """Import calendar rows (CSV: date,kind,name) from the State Council's notice."""
    from gridapp.services.calendar import import_calendar_entries

    entries = workflow.entries_from_csv(path.read_text(encoding="utf-8"))
    with db.transaction() as session:
        n = import_calendar_entries(session, entries)
    click.echo(f"{n} calendar rows imported")


@calendar_cli.command("export")
def calendar_export() -> None:
    """Print the stored calendar as CSV."""
    from gridapp.services.calendar import work_calendar

    click.echo(workflow.entries_to_csv(work_calendar(db.session()).entries()), nl=False)


jobs_cli = AppGroup("jobs", help="Background jobs.")


@jobs_cli.command("schedule")
def jobs_schedule() -> None:
    """Schedule the every-minute SLA sweep and the nightly media sweep (both reschedule)."""
    from gridapp.jobs.housekeeping import schedule_media_sweep
    from gridapp.jobs.sla import schedule_sweep

    click.echo(f"scheduled {schedule_sweep()} and {schedule_media_sweep()}")


@jobs_cli.command("sweep")
def jobs_sweep() -> None:
    """Run one SLA sweep now, inline."""
    from gridapp.services.sla import sweep_sla

    with db.transaction() as session:
        result = sweep_sla(session)
    click.echo(f"scanned {result.scanned}, warned {result.warned}, overdue {result.overdue}")


@jobs_cli.command("media-sweep")
def jobs_media_sweep() -> None:
    """Run the media sweep now, inline: forget unclaimed photos, remove orphan files."""
    from gridapp.services.media_sweep import forget_unclaimed, remove_orphan_files

    config = current_app.config["GRIDAPP"]
    with db.transaction() as session:
        forgotten = forget_unclaimed(session, config)
    with db.transaction() as session:
        files = remove_orphan_files(session, config)
    click.echo(
        f"forgot {forgotten} unclaimed photos; removed {files.files} files ({files.bytes} bytes) "
        f"and {files.stale_uploads} abandoned uploads"
    )


def register_commands(app: Flask) -> None:
    for group in (db_cli, grid_cli, user_cli, seed_cli, calendar_cli, jobs_cli):
        app.cli.add_command(group)
