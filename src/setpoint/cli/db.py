"""``setpoint db``: explicit schema upgrades (safe when several processes start at once)."""

from __future__ import annotations

import click

from setpoint.cli.output import json_option, print_json


def _database() -> object:
    from setpoint.core.config import Settings
    from setpoint.store.metadata.database import Database

    return Database(Settings.from_env().database_url)


@click.group()
def db() -> None:
    """Metadata database: upgrade and status."""


@db.command("upgrade")
def upgrade() -> None:
    """Bring the metadata database (SETPOINT_DATABASE_URL) to this version's schema."""
    from setpoint.store.metadata import migrate

    database = _database()
    engine = database._create_engine()  # type: ignore[attr-defined]
    try:
        before, after = migrate.upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"already at revision {after}")
    else:
        click.echo(f"upgraded {before or 'empty database'} -> {after}")


@db.command("status")
@json_option
def status(as_json: bool) -> None:
    """The schema revision of the database and the one this setpoint needs."""
    from setpoint.store.metadata import migrate

    database = _database()
    engine = database._create_engine()  # type: ignore[attr-defined]
    try:
        with engine.connect() as conn:
            current = migrate.current_revision(conn)
    finally:
        engine.dispose()
    info = {
        "url": engine.url.render_as_string(hide_password=True),
        "current": current,
        "head": migrate.HEAD,
        "up_to_date": current == migrate.HEAD,
    }
    if as_json:
        print_json(info)
    else:
        state = "up to date" if info["up_to_date"] else "needs `setpoint db upgrade`"
        click.echo(f"{info['url']}: revision {current or 'none'} (head {migrate.HEAD}), {state}")
