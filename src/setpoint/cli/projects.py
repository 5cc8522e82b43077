"""``setpoint projects``: the namespaces runs live in."""

from __future__ import annotations

import click

from setpoint.cli.output import (
    actor,
    client,
    json_option,
    lifecycle_option,
    print_json,
    table,
    when,
)


@click.group()
def projects() -> None:
    """List, delete and restore projects."""


@projects.command("list")
@lifecycle_option("projects")
@json_option
def list_projects(lifecycle: str, as_json: bool) -> None:
    """Projects, by name."""
    found = client().list_projects(lifecycle)
    if as_json:
        print_json(found)
        return
    table(
        f"{len(found)} projects",
        ["name", "created (UTC)", "deleted (UTC)", "description"],
        [(p.name, when(p.created_at), when(p.deleted_at), p.description) for p in found],
    )


@projects.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete a project: it leaves listings and searches of every project and takes no new
    runs. Nothing is erased; `setpoint projects restore` brings it back."""
    client().delete_project(name, actor=actor())
    click.echo(f"deleted project {name}")


@projects.command("restore")
@click.argument("name")
def restore(name: str) -> None:
    """Bring back a deleted project."""
    client().restore_project(name, actor=actor())
    click.echo(f"restored project {name}")
