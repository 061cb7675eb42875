"""``flask grid``: import a grid map."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from gridapp.core.extensions import db

grid_cli = AppGroup("grid", help="The grid map.")


@grid_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def grid_import(path: Path) -> None:
    """Import a GeoJSON grid map (all or nothing, idempotent by code)."""
    import geo
    from gridapp.grid.services import import_grid_map

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
