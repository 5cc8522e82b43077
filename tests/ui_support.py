"""What the web UI's tests share besides fixtures: the seeded project, a server handle, a
signed-in session, the form token of a page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from setpoint.client.local import LocalClient

PROJECT = "quickstart"


@dataclass
class UiServer:
    url: str
    local: LocalClient
    http: httpx.Client

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)


def sign_in(server: UiServer, secret: str) -> httpx.Client:
    """An HTTP client holding a UI session for the token ``secret``."""
    http = httpx.Client(base_url=server.url, timeout=30)
    r = http.post("/login", data={"token": secret, "next": "/"})
    assert r.status_code == 303, r.text
    return http


def form_token(html: str) -> str:
    """The form token of a page (every action form carries it)."""
    found = re.search(r'name="form_token" value="([0-9a-f]+)"', html)
    assert found, "the page has no form"
    return found.group(1)
