"""``setpoint users``: people and service accounts, and their role in each project."""

from __future__ import annotations

import click

from setpoint.cli.output import actor as _actor
from setpoint.cli.output import json_option, local_client, print_json, table, when
from setpoint.core.types import ROLES


@click.group()
def users() -> None:
    """Users and their roles per project (viewer < editor < approver < admin)."""


@users.command("create")
@click.argument("name")
def create(name: str) -> None:
    """Create a user (then grant roles and make tokens for them)."""
    local_client().users.create(name, _actor())
    click.echo(f"created user {name}")


@users.command("list")
@json_option
def list_users(as_json: bool) -> None:
    """Users with their roles."""
    found = local_client().users.list()
    if as_json:
        print_json(found)
        return
    table(
        f"{len(found)} users",
        ["name", "roles", "created (UTC)", "disabled (UTC)"],
        [
            (
                u.name,
                ", ".join(f"{p}: {r}" for p, r in u.roles.items()),
                when(u.created_at),
                when(u.disabled_at),
            )
            for u in found
        ],
    )


@users.command("grant")
@click.argument("name")
@click.option("--project", "-p", required=True, help="A project, or '*' for every project.")
@click.option("--role", required=True, type=click.Choice(ROLES))
def grant(name: str, project: str, role: str) -> None:
    """Give user NAME a role in a project (replacing the one they had there)."""
    local_client().users.grant(name, project, role, _actor())
    click.echo(f"{name} is {role} in {project}")


@users.command("revoke")
@click.argument("name")
@click.option("--project", "-p", required=True, help="The project ('*' for the global grant).")
def revoke(name: str, project: str) -> None:
    """Take away user NAME's role in a project."""
    local_client().users.revoke(name, project, _actor())
    click.echo(f"{name} has no role in {project} any more")


@users.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Disable a user: their tokens stop working; the audit trail keeps their actions."""
    local_client().users.disable(name, _actor())
    click.echo(f"disabled {name}")
