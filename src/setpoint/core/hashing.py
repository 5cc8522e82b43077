"""BLAKE3 content digests, the identity of every artifact."""

from __future__ import annotations

from typing import BinaryIO

DIGEST_PREFIX = "blake3:"
CHUNK = 1 << 20


def digest_bytes(data: bytes) -> str:
    import blake3

    return blake3.blake3(data).hexdigest()


def digest_stream(stream: BinaryIO) -> tuple[str, int]:
    """Hash a binary stream to its end; return (hex digest, size in bytes)."""
    import blake3

    h = blake3.blake3()
    size = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def is_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
