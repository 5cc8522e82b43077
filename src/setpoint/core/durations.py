"""Durations written the short way: "90s", "15m", "12h", "7d"."""

from __future__ import annotations

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_seconds(text: str) -> int | None:
    """Whole seconds of a duration like "15m", or None when ``text`` is not one."""
    if text[:-1].isdigit() and text[-1:] in UNITS:
        return int(text[:-1]) * UNITS[text[-1]]
    return None
