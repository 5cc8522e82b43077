"""Reading a request's body within a limit, so that no client can make the server hold an
arbitrarily large body in memory (413 on setpoint's API, MLflow's error shape on its API)."""

from __future__ import annotations

from fastapi import Request

from setpoint.core.errors import PayloadTooLargeError
from setpoint.core.names import is_whole


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to exceed ``limit`` bytes: from its
    Content-Length, or while it streams in without one."""
    declared = request.headers.get("content-length")
    if declared and is_whole(declared, 30) and int(declared) > limit:
        raise PayloadTooLargeError(f"request body larger than the {limit} byte limit", field="body")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"request body larger than the {limit} byte limit", field="body"
            )
        chunks.append(chunk)
    return b"".join(chunks)
