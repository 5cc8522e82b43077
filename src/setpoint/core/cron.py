"""Five-field cron expressions (minute hour day-of-month month day-of-week), in UTC.

Fields take ``*``, numbers, ranges ``a-b``, lists ``a,b`` and steps ``*/n`` or ``a-b/n``;
day of week runs 0-6 from Sunday (7 is Sunday too). As in cron, when both day fields are
restricted a day matches if either does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from setpoint.core.errors import InvalidArgumentError
from setpoint.core.names import is_whole

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
SEARCH_YEARS = 10  # far enough for any expression that can fire (29 February included)


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def matches(self, t: dt.datetime) -> bool:
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        return self.day_matches(t)

    def day_matches(self, t: dt.datetime) -> bool:
        day_ok = t.day in self.days
        weekday_ok = (t.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def next_after(self, ms: int) -> int:
        """The first occurrence strictly after ``ms`` (epoch milliseconds), in ms."""
        t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).replace(second=0, microsecond=0)
        t += dt.timedelta(minutes=1)
        limit = t + dt.timedelta(days=366 * SEARCH_YEARS)
        while t < limit:
            if t.month not in self.months:
                # jump to the first minute of the next month
                t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
                continue
            if not self.day_matches(t):
                t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
                continue
            if self.matches(t):
                return int(t.timestamp() * 1000)
            if t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            else:
                t += dt.timedelta(minutes=1)
        raise InvalidArgumentError(f"cron {self.text!r} never fires", field="cron")


def parse_cron(text: str) -> Cron:
    """Parse a cron expression; errors name the field and what was expected."""
    if not isinstance(text, str):
        raise InvalidArgumentError("cron must be a string like '0 3 * * *'", field="cron")
    parts = text.split()
    if len(parts) != 5:
        raise InvalidArgumentError(
            f"cron {text!r} must have 5 fields (minute hour day month weekday), like '0 3 * * *'",
            field="cron",
        )
    values = [_field(p, name, lo, hi) for p, (name, lo, hi) in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in values[4])
    cron = Cron(
        text=text,
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        # as in Vixie cron, a day field starting with "*" (also "*/2") does not restrict
        any_day=parts[2].startswith("*"),
        any_weekday=parts[4].startswith("*"),
    )
    cron.next_after(0)  # one that never fires (30 February) is refused here, not later
    return cron


def _field(text: str, name: str, lo: int, hi: int) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        try:
            step = _number(step_text) if slash else 1
            if base == "*":
                start, end = lo, hi
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = _number(a), _number(b)
            else:
                start = end = _number(base)
        except ValueError:
            raise InvalidArgumentError(
                f"cron {name} field {text!r}: expected numbers, ranges a-b, lists and steps */n",
                field="cron",
            ) from None
        if step < 1:
            raise InvalidArgumentError(
                f"cron {name} field {text!r}: a step (/n) must be 1 or more", field="cron"
            )
        if not lo <= start <= end <= hi:
            raise InvalidArgumentError(
                f"cron {name} field {text!r}: values must lie within {lo}-{hi}", field="cron"
            )
        if step_text and base != "*" and "-" not in base:
            end = hi  # "5/15" means from 5 on, every 15
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _number(text: str) -> int:
    """Plain ASCII digits (``int`` would also take "+5", "5_0" and other scripts' digits)."""
    if not is_whole(text, 4):
        raise ValueError(text)
    return int(text)
