"""``setpoint projects``: the namespaces runs live in."""

from __future__ import annotations

import click

from setpoint.cli.output import client, json_option, print_json, table, when


@click.group()
def projects() -> None:
    """List projects."""


@projects.command("list")
@json_option
def list_projects(as_json: bool) -> None:
    """All projects, by name."""
    found = client().list_projects()
    if as_json:
        print_json(found)
        return
    table(
        f"{len(found)} projects",
        ["name", "created (UTC)", "description"],
        [(p.name, when(p.created_at), p.description) for p in found],
    )
