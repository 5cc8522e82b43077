"""The web UI: server-rendered pages over the same operations (and role checks) as the REST
API, served by ``setpoint server`` at ``/``. Every asset ships in the package."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from setpoint.client.local import LocalClient
    from setpoint.server.app import _TokenCheck


def register(app: FastAPI, client: LocalClient, auth: _TokenCheck) -> None:
    """Add the UI's pages, forms and static assets to ``app``."""
    from setpoint.server.ui.routing import mount

    mount(app, client, auth)
