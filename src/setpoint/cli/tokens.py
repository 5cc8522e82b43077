"""``setpoint tokens``: bearer tokens for the server (shown once, stored hashed)."""

from __future__ import annotations

import click

from setpoint.cli.output import actor as _actor
from setpoint.cli.output import json_option, local_client, print_json, table, when


@click.group()
def tokens() -> None:
    """Create, list and revoke server API tokens."""


@tokens.command("create")
@click.argument("name")
@click.option("--user", default=None, help="The user the token acts for (needed with --auth).")
def create(name: str, user: str | None) -> None:
    """Create a token; its secret is printed once and never again."""
    secret = local_client().tokens.create(name, user, _actor())
    click.echo(secret)


@tokens.command("list")
@json_option
def list_tokens(as_json: bool) -> None:
    """Token names and states (never secrets)."""
    found = local_client().tokens.list()
    if as_json:
        print_json(found)
        return
    table(
        f"{len(found)} tokens",
        ["name", "user", "created (UTC)", "revoked (UTC)"],
        [(t.name, t.user or "", when(t.created_at), when(t.revoked_at)) for t in found],
    )


@tokens.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke a token; requests using it are refused from then on."""
    local_client().tokens.revoke(name, _actor())
    click.echo(f"revoked {name}")
