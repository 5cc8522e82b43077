"""JSON answers: non-finite floats travel as text, everything else as orjson writes it."""

from __future__ import annotations

import dataclasses
import math

import orjson

from setpoint.api.wire import PROTOBUF, dumps_json


@dataclasses.dataclass
class _Point:
    key: str
    value: float | None


def test_non_finite_floats_are_written_as_text_wherever_they_are() -> None:
    obj = {"points": [_Point("a", math.nan), _Point("b", math.inf)], "low": -math.inf}
    assert orjson.loads(dumps_json(obj)) == {
        "points": [{"key": "a", "value": "nan"}, {"key": "b", "value": "inf"}],
        "low": "-inf",
    }
    assert orjson.loads(dumps_json(obj, PROTOBUF))["points"][0]["value"] == "NaN"


def test_nulls_and_the_word_null_are_kept_as_they_are() -> None:
    obj = {"missing": None, "text": "null", "points": [_Point("null", None), _Point("c", 1.5)]}
    assert dumps_json(obj) == orjson.dumps(obj)
    mixed = {"text": "null", "value": math.nan}
    assert orjson.loads(dumps_json(mixed)) == {"text": "null", "value": "nan"}
