"""Durations written the short way: "90s", "15m", "12h", "7d"."""

from __future__ import annotations

from setpoint.core.names import is_whole

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SECONDS = 100 * 365 * 86400  # a century: as milliseconds, far inside 64 bits


def parse_seconds(text: str) -> int | None:
    """Whole seconds of a duration like "15m" (ASCII digits, at most a century), or None
    when ``text`` is not one."""
    digits = text[:-1]
    if is_whole(digits, 30) and text[-1:] in UNITS:  # longer is past a century anyway
        seconds = int(digits) * UNITS[text[-1]]
        return seconds if seconds <= MAX_SECONDS else None
    return None
