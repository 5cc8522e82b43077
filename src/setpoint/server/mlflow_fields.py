"""Fields of MLflow request bodies, read as MLflow's protobuf messages would be: a value of
the wrong JSON type is INVALID_PARAMETER_VALUE naming the field, never a 500."""

from __future__ import annotations

from typing import Any

from setpoint.core.errors import InvalidArgumentError
from setpoint.core.names import is_whole


def whole(value: Any, field: str, low: int, high: int) -> int:
    """A whole number the client gave (JSON number or query text) in [low, high]."""
    text = str(value)
    digits = text[1:] if text.startswith("-") else text
    if not is_whole(digits, 19) or not low <= int(text) <= high:
        raise InvalidArgumentError(f"{field} must be a whole number, not {text!r}", field=field)
    return int(text)


def page_start(token: Any) -> int:
    """Where a page starts: this server's page tokens are offsets."""
    if token in (None, ""):
        return 0
    if not isinstance(token, str) or not is_whole(token) or int(token) > 10**9:
        raise InvalidArgumentError(f"invalid page_token {token!r}", field="page_token")
    return int(token)


def page(items: list[Any], key: str, token: Any, limit: int) -> dict[str, Any]:
    """The page of ``items`` a search answers under ``key``, with the next page's token
    while more follow."""
    start = page_start(token)
    out: dict[str, Any] = {key: items[start : start + limit]}
    if start + limit < len(items):
        out["next_page_token"] = str(start + limit)
    return out


def text(value: Any, field: str) -> str:
    """A string value (a param's, a tag's, a description): a JSON number is taken as its
    digits and null as empty; a list, object or boolean has no MLflow spelling."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidArgumentError(f"{field} must be a string, not {value!r}", field=field)


def optional_text(value: Any, field: str) -> str | None:
    """A string field that may be left out (a filter, a page token): None when empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{field} must be a string, not {value!r}", field=field)
    return value


def text_list(value: Any, field: str) -> list[str]:
    """A repeated string field: a list of strings (one string alone, as a query gives it)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgumentError(f"{field} must be a list of strings, not {value!r}", field=field)
    return value


def pairs(items: Any, field: str, *, unique: bool = False) -> dict[str, str]:
    """A list of {key, value} (params, tags) as a mapping; with ``unique``, a key given
    twice is refused (MLflow refuses a batch's repeated param keys: one value would be lost),
    else the last one wins."""
    if items is None:
        return {}
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("key"), str) for i in items
    ):
        raise InvalidArgumentError(f"{field} must be a list of {{key, value}}", field=field)
    out = {i["key"]: text(i.get("value"), f"{field}.{i['key']}") for i in items}
    if unique and len(out) < len(items):
        from collections import Counter

        counts = Counter(i["key"] for i in items)
        twice = sorted(k for k, n in counts.items() if n > 1)
        raise InvalidArgumentError(
            f"Duplicate parameter keys have been submitted: {twice}", field=field
        )
    return out
