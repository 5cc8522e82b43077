"""JSON has no NaN or infinities: both ends send them as the strings "nan", "inf", "-inf".

Pydantic (server requests, client responses) parses those strings back into floats, so a NaN
metric survives the trip in both directions instead of turning into null.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import orjson

# How NaN, infinity and minus infinity are written: ours, and protobuf's JSON (MLflow's).
OURS = ("nan", "inf", "-inf")
PROTOBUF = ("NaN", "Infinity", "-Infinity")


def finite_json(obj: Any, spelling: tuple[str, str, str] = OURS) -> Any:
    """``obj`` with every non-finite float replaced by its text (JSON has no number for
    it: a plain encoder writes null); unchanged objects are reused."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else _text(obj, spelling)
    if isinstance(obj, list):
        if obj and isinstance(obj[0], float):
            try:
                if all(map(math.isfinite, obj)):
                    return obj
            except TypeError:
                pass
        return [finite_json(x, spelling) for x in obj]
    if isinstance(obj, dict):
        return {k: finite_json(v, spelling) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: finite_json(getattr(obj, f.name), spelling) for f in dataclasses.fields(obj)
        }
    return obj


def dumps_json(obj: Any, spelling: tuple[str, str, str] = OURS) -> bytes:
    """``obj`` as JSON bytes, non-finite floats written as text (see :func:`finite_json`).

    orjson writes a non-finite float as null, so only an answer with a null in it can hold
    one: the common answer is encoded once, without walking it in Python (for a page of runs
    the walk costs twenty times the encoding)."""
    body = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
    if b"null" not in body:
        return body
    return orjson.dumps(finite_json(obj, spelling), option=orjson.OPT_SERIALIZE_NUMPY)


def _text(v: float, spelling: tuple[str, str, str]) -> str:
    if v != v:
        return spelling[0]
    return spelling[1] if v > 0 else spelling[2]


_NON_FINITE = OURS


def wire_number(value: Any) -> Any:
    """What a float field of a request takes: a JSON number, or one of the strings above
    (which pydantic then reads as floats). A boolean or any other string is refused: pydantic
    alone would take ``true`` as 1.0 and ``"1.5"`` as 1.5."""
    if isinstance(value, bool) or (isinstance(value, str) and value not in _NON_FINITE):
        raise ValueError("expected a number")
    return value
