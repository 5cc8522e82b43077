"""``setpoint server``: the REST API over the local store, for remote SDK clients."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback requires tokens (`setpoint tokens create`).",
)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def server(host: str, port: int, log_level: str) -> None:
    """Serve the REST API for remote SDK clients (SETPOINT_URL=http://host:port)."""
    import uvicorn

    from setpoint.cli.output import local_client
    from setpoint.core.errors import ConfigurationError
    from setpoint.server.app import create_app, is_loopback

    client = local_client()
    require_token = client.tokens.any_active()
    if not is_loopback(host) and not require_token:
        raise ConfigurationError(
            f"refusing to serve on {host} without tokens: create one with "
            "`setpoint tokens create NAME` (or bind to 127.0.0.1)",
            field="host",
        )
    app = create_app(client, require_token=require_token)
    auth = "tokens required" if require_token else "no tokens (loopback only)"
    click.echo(f"setpoint server on http://{host}:{port} · {client.describe()} · {auth}", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
