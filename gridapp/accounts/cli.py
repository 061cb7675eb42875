"""``flask user``: create users."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from gridapp.core.extensions import db

user_cli = AppGroup("user", help="Users.")


@user_cli.command("create")
@click.argument("username")
@click.option("--role", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", default="")
@click.option("--department", default=None, help="Department code (handlers, dept admins).")
@click.option("--district", default=None, help="District code (command-center scope).")
@click.option("--grid", "grids", multiple=True, help="Unit grid code (grid workers); repeatable.")
@click.option(
    "--totp/--no-totp",
    default=None,
    help="Give the user a TOTP second factor (always for the roles that need one).",
)
def user_create(
    username: str,
    role: str,
    password: str,
    display_name: str,
    department: str | None,
    district: str | None,
    grids: tuple[str, ...],
    totp: bool | None,
) -> None:
    """Create a user."""
    from gridapp.accounts.services import create_user
    from gridapp.accounts.totp import new_secret
    from gridapp.core.errors import GridappError
    from gridapp.core.problems import flatten_messages
    from gridapp.core.security import MFA_ROLES

    if totp is False and role in MFA_ROLES:
        raise click.ClickException(f"a {role} signs in with a second factor: drop --no-totp")
    secret = new_secret() if totp or role in MFA_ROLES else None
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
                published_password_ok=False,
            )
    except GridappError as exc:
        fields = flatten_messages(exc.errors)
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
        raise click.ClickException(f"{exc.detail} {details}".strip()) from exc
    click.echo(f"created user {user.username} (id {user.id}, {user.role})")
    if secret:
        click.echo(f"TOTP secret: {secret}")
