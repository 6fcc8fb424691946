"""Time: when access starts and ends, as the manifests say it, and what that means now.

Access that should end is the access that lingers, so the manifests can say when it starts
and ends (a user's `active_from` and `active_until`, an enrollment's `from` and `until`) and a
scheduled run makes it so. Everything about time is here, in one place, for the kinds and the
planner alike:

- a bound as the manifests write it: a date (`2027-03-31`), or a time with its offset
  (`2027-03-31T17:00:00+02:00`, `...Z`); a time without an offset is an error, since it
  would mean another instant on every machine;
- the zone a date is read in (`settings.timezone`, an IANA name, UTC by default): a date that
  starts something starts it at the beginning of that day, one that ends something ends it
  at the end of that day (the start of the next);
- now: the clock, or `LMSFORM_NOW` (for tests, and for looking ahead: `LMSFORM_NOW=2027-04-01
  lmsform plan` shows the plan of that day), read once per plan;
- a window (`from` .. `until`) seen at an instant: before it, within it, after it, and why;
- the events a window schedules, and those coming up within a notice period.

This module knows no kind and nothing of plans: the kinds say which of their fields are time
bounds (`Kind.at`, `Kind.events`), the planner asks them at the instant of the plan.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from lmsform.errors import LmsformError

NOW_VARIABLE = "LMSFORM_NOW"
DEFAULT_ZONE = "UTC"
DEFAULT_NOTICE_DAYS = 14

DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# a date and a time of day, the offset optional here so that its absence can be named
TIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                     r"(?P<offset>Z|[+-][0-9]{2}:?[0-9]{2})?$")
# what the editor schema says a bound is: a date, or a time with its offset
BOUND_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                 r"(Z|[+-][0-9]{2}:?[0-9]{2}))?$")
BOUND_RULE = ("must be a date written YYYY-MM-DD (e.g. 2027-03-31) or a time with its offset "
              "(e.g. 2027-03-31T17:00:00+02:00, or Z for UTC)")

# A bound: a date, read in settings.timezone, or an aware time (a `datetime`, which is also a
# `date`: `isinstance(bound, dt.datetime)` tells them apart).
Bound = dt.date


def parse_bound(value: Any) -> Bound:
    """A bound as a manifest writes it (text, or a date or time a YAML reader made);
    ValueError saying what is wrong (an impossible date, a time without its offset)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(_no_offset(value.isoformat()))
        return value
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(BOUND_RULE)
    text = value
    if DATE_RE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{text} is not a date: {exc}") from None
    found = TIME_RE.match(text)
    if found is None:
        raise ValueError(BOUND_RULE)
    if found.group("offset") is None:
        raise ValueError(_no_offset(text))
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text} is not a time: {exc}") from None


def _no_offset(text: str) -> str:
    return (f"{text} is a time without an offset, which would be another instant on every "
            f"machine; add its offset (e.g. {text[:19]}+02:00, or {text[:19]}Z for UTC), or "
            "write the date alone (read in settings.timezone)")


def bound_text(bound: Bound) -> str:
    """A bound as the plan says it: the date, or the time with its offset, as written."""
    return bound.isoformat()


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The IANA time zone of that name; ValueError naming the nearest one for a misspelt
    name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    near = difflib.get_close_matches(name, sorted(available_timezones()), n=1, cutoff=0.6)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    raise ValueError(f"'{name}' is not a time zone{hint}; give an IANA name such as UTC, "
                     "Europe/London or Pacific/Auckland")


def starts(bound: Bound, tz: dt.tzinfo) -> dt.datetime:
    """The instant a bound starts something at (`active_from`, `from`): a date's first
    moment in the zone; a time as written. In UTC, so that instants compare as instants."""
    if isinstance(bound, dt.datetime):
        return bound.astimezone(dt.UTC)
    return dt.datetime.combine(bound, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def ends(bound: Bound, tz: dt.tzinfo) -> dt.datetime:
    """The instant a bound ends something at (`active_until`, `until`): a date's end, which
    is the first moment of the next day in the zone (the date itself is the last day of
    access); a time as written."""
    if isinstance(bound, dt.datetime):
        return bound.astimezone(dt.UTC)
    return starts(bound + dt.timedelta(days=1), tz)


def now(tz: dt.tzinfo, environ: Mapping[str, str] | None = None) -> dt.datetime:
    """The instant a plan is made for, in UTC: `LMSFORM_NOW` when set (an ISO 8601 time with
    its offset, or a date alone: the start of that day in `tz`), the clock otherwise."""
    text = (os.environ if environ is None else environ).get(NOW_VARIABLE, "").strip()
    if not text:
        return dt.datetime.now(dt.UTC)
    try:
        return starts(parse_bound(text), tz)
    except ValueError as exc:
        raise LmsformError(f"{NOW_VARIABLE}={text}: {exc}") from None


Phase = Literal["before", "within", "after"]


@dataclass(frozen=True, slots=True)
class Window:
    """When something holds: from `start` (None: always has) until `end` (None: never
    ends), both bounds as written."""

    start: Bound | None = None
    end: Bound | None = None

    def phase(self, instant: dt.datetime, tz: dt.tzinfo, ended: str = "expired",
              since: dt.datetime | None = None) -> tuple[Phase, str | None]:
        """Where `instant` is: before the window (why: `starts DATE`), after it (`expired
        DATE`, or the word `ended` gives), or within it (`started DATE` where its start
        passed after `since`, the instant of the last complete apply; no why where it has
        no start, where that apply saw it start, or where no apply is known: time decides
        nothing new then, and what is still to do, an edit or drift, is not time's). An end
        is time's however long ago it passed: access that has ended is always taken away."""
        if self.start is not None and instant < starts(self.start, tz):
            return "before", f"starts {bound_text(self.start)}"
        if self.end is not None and instant >= ends(self.end, tz):
            return "after", f"{ended} {bound_text(self.end)}"
        if self.start is not None and since is not None and starts(self.start, tz) > since:
            return "within", f"started {bound_text(self.start)}"
        return "within", None

    def empty_in(self, tz: dt.tzinfo) -> bool:
        """Whether the window holds no instant once its dates are days in `tz` (a start date
        and an end time, with its offset, before that day begins there)."""
        return self.start is not None and self.end is not None and \
            ends(self.end, tz) <= starts(self.start, tz)

    def problem(self) -> str | None:
        """What is wrong with the window on its own: an end before its start. Dates compare
        as days (`until` may be the day of `from`: one day); times, and a time with a date,
        by the day each falls on in its own offset, two times by instant."""
        if self.start is None or self.end is None:
            return None
        both_times = isinstance(self.start, dt.datetime) and isinstance(self.end, dt.datetime)
        if both_times and self.end <= self.start:
            return (f"{bound_text(self.end)} is not after {bound_text(self.start)}: the "
                    "window would be empty")
        if _day(self.end) < _day(self.start):
            return f"{bound_text(self.end)} is before {bound_text(self.start)}"
        return None


def _day(bound: Bound) -> dt.date:
    return bound.date() if isinstance(bound, dt.datetime) else bound


# The events a window schedules, by what they concern: a resource's own window (a user's
# `starts` and `expires`), an item's (an enrollment's).
EventName = Literal["starts", "expires", "enrollment_starts", "enrollment_ends"]


@dataclass(frozen=True, slots=True)
class Event:
    """Something the manifests schedule: `event` at the instant `at` (UTC), for the resource
    `address` (and `item` of it: an enrollment's course)."""

    address: str
    event: EventName
    at: dt.datetime
    item: str | None = None


def window_events(address: str, window: Window, tz: dt.tzinfo, starting: EventName,
                  ending: EventName, item: str | None = None) -> list[Event]:
    """A window's start and end as events."""
    found = []
    if window.start is not None:
        found.append(Event(address, starting, starts(window.start, tz), item))
    if window.end is not None:
        found.append(Event(address, ending, ends(window.end, tz), item))
    return found


def upcoming(events: Iterable[Event], instant: dt.datetime, days: int) -> list[Event]:
    """The events after `instant` and at or before `days` days after it, soonest first."""
    horizon = instant + dt.timedelta(days=days)
    return sorted((e for e in events if instant < e.at <= horizon),
                  key=lambda e: (e.at, e.address, e.item or "", e.event))


def shown(instant: dt.datetime, tz: dt.tzinfo) -> str:
    """An instant as the plan shows it: ISO 8601 in the zone, with its offset."""
    return instant.astimezone(tz).isoformat()
