"""Fields of MLflow request bodies, read as MLflow's protobuf messages would be: a value of
the wrong JSON type is INVALID_PARAMETER_VALUE naming the field, never a 500."""

from __future__ import annotations

from typing import Any

from setpoint.core.errors import InvalidArgumentError
from setpoint.core.names import is_whole


def not_name_tag(key: str, tag: str, owner: str) -> str:
    """``key``, once known not to be ``tag``, the tag that keeps an ``owner``'s MLflow name
    (an experiment's, a registered model's): MLflow clients may not set or delete it."""
    if key == tag:
        raise InvalidArgumentError(
            f"tag {tag!r} keeps the {owner}'s name; it cannot be set or deleted", field="key"
        )
    return key


def whole(value: Any, field: str, low: int, high: int) -> int:
    """A whole number the client gave (JSON number or query text) in [low, high]."""
    text = str(value)
    digits = text[1:] if text.startswith("-") else text
    if not is_whole(digits, 19):
        raise InvalidArgumentError(f"{field} must be a whole number, not {text!r}", field=field)
    if not low <= int(text) <= high:
        raise InvalidArgumentError(
            f"{field} must be between {low} and {high}, not {text}", field=field
        )
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


def order_by(
    given: Any, keys: dict[str, str], ties: list[tuple[str, bool]], *, unique: bool = True
) -> list[tuple[str, bool]]:
    """MLflow's ``order_by`` of a search ("name", "version_number DESC", a key may be quoted
    in backticks or prefixed ``attributes.``) as (field, ascending) pairs, ``keys`` mapping
    each key MLflow takes to the field of the answer's JSON; followed by the tie-breakers
    (``ties``) not already named, which are the whole order when none is given. With
    ``unique``, a key named twice is refused (as MLflow's registry searches do)."""
    out: list[tuple[str, bool]] = []
    for item in text_list(given, "order_by"):
        words = item.split()
        key = words[0].strip("`").removeprefix("attributes.") if words else ""
        if (
            key not in keys
            or len(words) > 2
            or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC"))
        ):
            raise InvalidArgumentError(
                f"Invalid order by key {item!r} specified. Valid keys are "
                f"{', '.join(sorted(keys))}, each followed by ASC or DESC",
                field="order_by",
            )
        if unique and any(f == keys[key] for f, _ in out):
            raise InvalidArgumentError(f"order_by names {key!r} twice", field="order_by")
        out.append((keys[key], len(words) == 1 or words[1].upper() == "ASC"))
    return out + [(f, asc) for f, asc in ties if all(f != g for g, _ in out)]


def sorted_by(
    shapes: list[dict[str, Any]], order: list[tuple[str, bool]], text: frozenset[str]
) -> list[dict[str, Any]]:
    """Answers of a search (MLflow's JSON) in ``order``, pages being cut from it: fields in
    ``text`` compare as text, the others as the whole numbers they hold (a version's number
    is a string in MLflow's JSON)."""
    out = list(shapes)
    for field, ascending in reversed(order):  # stable sorts, the last key first
        out.sort(key=lambda s: s[field] if field in text else int(s[field]), reverse=not ascending)
    return out
