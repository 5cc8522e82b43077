"""Cron expressions: the next occurrence, and errors that name the field."""

from __future__ import annotations

import datetime as dt

import pytest

from setpoint.core.cron import parse_cron
from setpoint.core.errors import InvalidArgumentError


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("0 3 * * *", "2026-11-22T23:59", "2026-11-23T03:00"),
        ("*/15 * * * *", "2026-11-22T10:07", "2026-11-22T10:15"),
        ("*/15 * * * *", "2026-11-22T10:15", "2026-11-22T10:30"),  # strictly after
        ("30 9 * * 1-5", "2026-11-21T10:00", "2026-11-23T09:30"),  # Saturday -> Monday
        ("0 0 29 2 *", "2026-03-01T00:00", "2028-02-29T00:00"),  # the next leap day
        ("0 12 1 * 0", "2026-11-22T13:00", "2026-11-29T12:00"),  # day 1 OR a Sunday
        ("5,35 */6 * * 7", "2026-11-22T06:36", "2026-11-22T12:05"),  # 7 is Sunday too
        ("0 0 */2 * 1", "2026-11-22T12:00", "2026-11-23T00:00"),  # "*/2" days AND Mondays
    ],
)
def test_next_occurrence(cron: str, after: str, expected: str) -> None:
    assert parse_cron(cron).next_after(_ms(after)) == _ms(expected)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 3 * *", "must have 5 fields"),
        ("61 * * * *", "minute field '61': values must lie within 0-59"),
        ("* 24 * * *", "hour field"),
        ("* * * 13 *", "month field"),
        ("*/0 * * * *", r"minute field '\*/0': a step \(/n\) must be 1 or more"),
        ("a * * * *", "expected numbers"),
        ("*/ * * * *", "expected numbers"),
        ("*/99999999999999999999 * * * *", "expected numbers"),
        ("\uff10 3 * * *", "expected numbers"),  # a full-width 0
        ("\u0663 3 * * *", "expected numbers"),  # an Arabic-Indic 3
        ("+5 3 * * *", "expected numbers"),
    ],
)
def test_errors_name_the_field(cron: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_cron(cron)


def test_an_impossible_date_is_refused_when_parsed() -> None:
    with pytest.raises(InvalidArgumentError, match="never fires"):
        parse_cron("0 0 31 2 *")
    assert parse_cron("0 0 29 2 *").next_after(_ms("2026-01-01T00:00")) == _ms("2028-02-29T00:00")
