"""``setpoint server``: the REST API over the local store, for remote SDK clients."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback requires --auth.",
)
@click.option(
    "--auth",
    "enforce_roles",
    is_flag=True,
    help="Require a user's token on every request and check the user's role in the project.",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def server(host: str, port: int, enforce_roles: bool, log_level: str) -> None:
    """Serve the REST API for remote SDK clients (SETPOINT_URL=http://host:port)."""
    import uvicorn

    from setpoint.cli.output import local_client
    from setpoint.core.errors import ConfigurationError
    from setpoint.core.same_site import is_loopback
    from setpoint.server.app import create_app

    client = local_client()
    if not is_loopback(host) and not enforce_roles:
        raise ConfigurationError(
            f"refusing to serve on {host} without tokens and roles: start it with --auth "
            "(users, roles and tokens: `setpoint users`, `setpoint tokens`), or bind to 127.0.0.1",
            field="host",
        )
    require_token = enforce_roles or client.tokens.any_active()
    app = create_app(client, require_token=require_token, enforce_roles=enforce_roles)
    auth = (
        "tokens and roles required"
        if enforce_roles
        else "tokens required"
        if require_token
        else "no tokens (loopback only)"
    )
    click.echo(
        f"setpoint server on http://{host}:{port} (web UI at /) · {client.describe()} · {auth}",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)
