"""JSON has no NaN or infinities: both ends send them as the strings "nan", "inf", "-inf".

Pydantic (server requests, client responses) parses those strings back into floats, so a NaN
metric survives the trip in both directions instead of turning into null.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by its text; unchanged objects are reused."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else _text(obj)
    if isinstance(obj, list):
        if obj and isinstance(obj[0], float):
            try:
                if all(map(math.isfinite, obj)):
                    return obj
            except TypeError:
                pass
        return [finite_json(x) for x in obj]
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: finite_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return obj


def _text(v: float) -> str:
    if v != v:
        return "nan"
    return "inf" if v > 0 else "-inf"


_NON_FINITE = ("nan", "inf", "-inf")


def wire_number(value: Any) -> Any:
    """What a float field of a request takes: a JSON number, or one of the strings above
    (which pydantic then reads as floats). A boolean or any other string is refused: pydantic
    alone would take ``true`` as 1.0 and ``"1.5"`` as 1.5."""
    if isinstance(value, bool) or (isinstance(value, str) and value not in _NON_FINITE):
        raise ValueError("expected a number")
    return value
