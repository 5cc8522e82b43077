"""Whether a request to a server that requires no tokens may come from a web page of
another site.

Such a server listens on loopback only, so only this machine reaches it: its programs, and
the web pages open in its browser. A page of any site can send a form or a ``fetch`` with
``mode: "no-cors"`` to ``http://127.0.0.1:PORT`` (the browser sends it without asking; the
page only cannot read the answer), and with DNS rebinding (its own name pointed at
127.0.0.1) it can read answers too. Browsers say which name they connected to in ``Host``
and, on every cross-site request that is not a GET, which site sent it in ``Origin``. So a
tokenless server answers only requests whose Host is a loopback name, and refuses writes
whose Origin is another site. Programs (the SDK, the MLflow client, curl) send a loopback
Host and no Origin, and are unaffected.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@functools.lru_cache(maxsize=256)  # asked on each API request, for a handful of names
def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name part of a Host header: without the port, and an IPv6 address without its
    brackets."""
    host = host.lower()  # names are case-insensitive
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(method: str, host: str, origin: str | None) -> str | None:
    """Why a tokenless loopback server refuses this request, or None to answer it."""
    if not is_loopback(host_name(host)):
        return f"this server answers on loopback names only, not {host!r} (it requires no tokens)"
    if method.upper() not in SAFE_METHODS and origin is not None and not same_origin(origin, host):
        return f"this server takes no requests sent by pages of another site ({origin!r})"
    return None


def same_origin(origin: str, host: str) -> bool:
    """Whether ``origin`` (an Origin or Referer header) names the server at ``host``."""
    if origin == "null":  # a sandboxed frame, a file:// page, a redirect across sites
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
