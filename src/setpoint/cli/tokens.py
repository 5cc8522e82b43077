"""``setpoint tokens``: bearer tokens for the server (shown once, stored hashed)."""

from __future__ import annotations

import click

from setpoint.cli.output import json_option, local_client, print_json, table, when


@click.group()
def tokens() -> None:
    """Create, list and revoke server API tokens."""


@tokens.command("create")
@click.argument("name")
def create(name: str) -> None:
    """Create a token; its secret is printed once and never again."""
    secret = local_client().tokens.create(name)
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
        ["name", "created (UTC)", "revoked (UTC)"],
        [(t.name, when(t.created_at), when(t.revoked_at)) for t in found],
    )


@tokens.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke a token; requests using it are refused from then on."""
    local_client().tokens.revoke(name)
    click.echo(f"revoked {name}")
