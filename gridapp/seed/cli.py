"""``flask seed``: the demo county and its users."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from gridapp.core.extensions import db

seed_cli = AppGroup("seed", help="Demo data.")


@seed_cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has a grid map.")
def seed_demo_command(if_empty: bool) -> None:
    """Seed the demo county 衡山县 (generated polygons, real names and codes)."""
    from flask import current_app

    from gridapp.seed.demo import ATTRIBUTION, is_seeded, seed_demo

    if not current_app.config["GRIDAPP"].demo:
        # The demo users' passwords and second factors are published: never outside demo mode.
        raise click.ClickException(
            "demo mode is off (DEMO unset or GRIDAPP_ENV=production): the demo county and its "
            "users, whose passwords are published, are seeded only in demo mode"
        )
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
    from gridapp.core.security import MFA_ROLES
    from gridapp.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET
    from gridapp.seed.users import describe_demo_users

    for line in describe_demo_users(db.session()):
        click.echo(line)
    click.echo(
        f"password for every demo user: {DEMO_PASSWORD}; TOTP secret for "
        f"{', '.join(sorted(MFA_ROLES))}: {DEMO_TOTP_SECRET}"
    )
