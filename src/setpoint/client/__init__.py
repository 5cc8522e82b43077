"""SDK backends: local (the store directly) and remote (a setpoint server over HTTP).

This package shares its name with the SDK's ``sp.client()``: importing any module of it makes
``setpoint.client`` this package, so the package answers the call as the function does.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _Package(types.ModuleType):
    def __call__(self) -> Any:
        """``sp.client()``: the client the SDK talks through (the store, or a server)."""
        from setpoint.client.sdk import client

        return client()


sys.modules[__name__].__class__ = _Package
