"""``flask jobs media-sweep``: run the media sweep now."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from gridapp.core.extensions import db


@click.command("media-sweep")
def jobs_media_sweep() -> None:
    """Run the media sweep now, inline: forget unclaimed photos, remove orphan files."""
    from gridapp.media.sweep import forget_unclaimed, remove_orphan_files

    config = current_app.config["GRIDAPP"]
    with db.transaction() as session:
        forgotten = forget_unclaimed(session, config)
    with db.transaction() as session:
        files = remove_orphan_files(session, config)
    click.echo(
        f"forgot {forgotten} unclaimed photos; removed {files.files} files ({files.bytes} bytes) "
        f"and {files.stale_uploads} abandoned uploads"
    )


def register(jobs_cli: AppGroup) -> None:
    """Add this domain's commands to ``flask jobs``."""
    jobs_cli.add_command(jobs_media_sweep)
