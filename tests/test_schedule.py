"""lmsform/schedule.py: bounds as the manifests write them, the instants they stand for in a
time zone, the window they make seen at an instant (the day before, the day of, the last
day, the day after), LMSFORM_NOW, and what is scheduled soon."""

from __future__ import annotations

import datetime as dt

import pytest

from lmsform import schedule
from lmsform.errors import LmsformError
from lmsform.schedule import Event, Window

UTC = schedule.zone("UTC")
AUCKLAND = schedule.zone("Pacific/Auckland")  # UTC+13 in March 2027 (daylight saving)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# --- bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "meant"), [
    ("2027-03-31", dt.date(2027, 3, 31)),
    (dt.date(2027, 3, 31), dt.date(2027, 3, 31)),
    ("2027-03-31T17:00:00+02:00", at("2027-03-31T17:00:00+02:00")),
    ("2027-03-31T17:00Z", at("2027-03-31T17:00:00+00:00")),
    ("2027-03-31 17:00:00.5-05:00", at("2027-03-31T17:00:00.500000-05:00")),
    ("2027-03-31T17:00:00+0530", at("2027-03-31T17:00:00+05:30")),
    (at("2027-03-31T17:00:00+02:00"), at("2027-03-31T17:00:00+02:00")),
])
def test_a_bound_is_a_date_or_a_time_with_its_offset(written: object, meant: dt.date) -> None:
    parsed = schedule.parse_bound(written)
    assert parsed == meant and type(parsed) is type(meant)
    if isinstance(parsed, dt.datetime):
        assert parsed.utcoffset() == meant.utcoffset()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("written", "says"), [
    ("2027-02-30", "2027-02-30 is not a date: day is out of range for month"),
    ("2027-13-01", "2027-13-01 is not a date: month must be in 1..12"),
    ("2027-03-31T17:00:00", "2027-03-31T17:00:00 is a time without an offset"),
    (at("2027-03-31T17:00:00"), "is a time without an offset"),
    ("2027-03-31T25:00:00Z", "2027-03-31T25:00:00Z is not a time: hour must be in 0..23"),
    ("31/03/2027", "must be a date written YYYY-MM-DD"),
    ("20270331", "must be a date written YYYY-MM-DD"),
    (" 2027-03-31", "must be a date written YYYY-MM-DD"),
    ("2027-W13-3", "must be a date written YYYY-MM-DD"),
    (1743379200, "must be a date written YYYY-MM-DD"),
    (True, "must be a date written YYYY-MM-DD"),
])
def test_a_bad_bound_says_what_is_wrong(written: object, says: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        schedule.parse_bound(written)
    assert says in str(raised.value)


def test_a_time_without_its_offset_is_told_how_to_write_one() -> None:
    with pytest.raises(ValueError) as raised:
        schedule.parse_bound("2027-03-31T17:00:00")
    assert "2027-03-31T17:00:00+02:00, or 2027-03-31T17:00:00Z for UTC" in str(raised.value)


def test_a_date_starts_at_the_start_of_its_day_and_ends_at_the_end_of_it_in_the_zone() -> None:
    day = dt.date(2027, 3, 31)
    assert schedule.starts(day, UTC) == at("2027-03-31T00:00:00+00:00")
    assert schedule.ends(day, UTC) == at("2027-04-01T00:00:00+00:00")
    # Auckland is 13 hours ahead: its days start and end 13 hours earlier, as instants
    assert schedule.starts(day, AUCKLAND) == at("2027-03-30T11:00:00+00:00")
    assert schedule.ends(day, AUCKLAND) == at("2027-03-31T11:00:00+00:00")
    # in April Auckland leaves daylight saving (UTC+12): the day still ends at its midnight
    assert schedule.ends(dt.date(2027, 4, 30), AUCKLAND) == at("2027-04-30T12:00:00+00:00")


def test_a_time_is_the_instant_written_whatever_the_zone() -> None:
    bound = schedule.parse_bound("2027-03-31T17:00:00+02:00")
    for tz in (UTC, AUCKLAND):
        assert schedule.starts(bound, tz) == schedule.ends(bound, tz) \
            == at("2027-03-31T15:00:00+00:00")


def test_an_unknown_zone_names_the_nearest() -> None:
    assert schedule.zone("Europe/London").key == "Europe/London"
    with pytest.raises(ValueError, match=r"'Pacific/Aukland' is not a time zone \(did you "
                       r"mean 'Pacific/Auckland'\?\)"):
        schedule.zone("Pacific/Aukland")
    for wrong in ("", "../etc/passwd", "Mars/Olympus_Mons"):
        with pytest.raises(ValueError, match="is not a time zone"):
            schedule.zone(wrong)


# --- now --------------------------------------------------------------------------------


def test_now_is_the_clock_unless_lmsform_now_says_otherwise() -> None:
    before = dt.datetime.now(dt.UTC)
    found = schedule.now(UTC, {})
    assert before <= found <= dt.datetime.now(dt.UTC)
    assert found.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(("written", "tz", "meant"), [
    ("2027-04-01", UTC, "2027-04-01T00:00:00+00:00"),
    ("2027-04-01", AUCKLAND, "2027-03-31T11:00:00+00:00"),  # the start of that day there
    ("2027-04-01T09:30:00+13:00", UTC, "2027-03-31T20:30:00+00:00"),
    ("2027-04-01T09:30:00Z", AUCKLAND, "2027-04-01T09:30:00+00:00"),
])
def test_lmsform_now_is_a_date_or_a_time_with_its_offset(written: str, tz: dt.tzinfo,
                                                         meant: str) -> None:
    assert schedule.now(tz, {"LMSFORM_NOW": written}) == at(meant)


@pytest.mark.parametrize(("written", "says"), [
    ("2027-04-01T09:30:00", "LMSFORM_NOW=2027-04-01T09:30:00: 2027-04-01T09:30:00 is a time "
                            "without an offset"),
    ("tomorrow", "LMSFORM_NOW=tomorrow: must be a date written YYYY-MM-DD"),
    ("2027-02-29", "LMSFORM_NOW=2027-02-29: 2027-02-29 is not a date"),
])
def test_a_bad_lmsform_now_is_an_error_naming_it(written: str, says: str) -> None:
    with pytest.raises(LmsformError) as raised:
        schedule.now(UTC, {"LMSFORM_NOW": written})
    assert str(raised.value).startswith(says)


# --- windows ----------------------------------------------------------------------------

WINDOW = Window(dt.date(2027, 4, 1), dt.date(2027, 4, 30))


@pytest.mark.parametrize(("instant", "phase", "why"), [
    ("2027-03-31T23:59:59+00:00", "before", "starts 2027-04-01"),  # the day before
    ("2027-04-01T00:00:00+00:00", "within", "started 2027-04-01"),  # the day of the start
    ("2027-04-30T23:59:59+00:00", "within", "started 2027-04-01"),  # the last day
    ("2027-05-01T00:00:00+00:00", "after", "expired 2027-04-30"),  # the day after
])
def test_a_window_at_its_boundaries(instant: str, phase: str, why: str) -> None:
    """Seen by a plan after an apply planned before the start (`since`)."""
    assert WINDOW.phase(at(instant), UTC, since=at("2027-03-01T00:00:00+00:00")) == \
        (phase, why)


def test_a_start_is_time_s_doing_only_where_it_passed_since_the_last_apply() -> None:
    day_of = at("2027-04-01T08:00:00+00:00")
    assert WINDOW.phase(day_of, UTC, since=at("2027-03-31T08:00:00+00:00")) == \
        ("within", "started 2027-04-01")
    assert WINDOW.phase(day_of, UTC, since=at("2027-04-01T07:00:00+00:00")) == \
        ("within", None)  # that apply saw it start
    assert WINDOW.phase(day_of, UTC) == ("within", None)  # no apply known: none is time's
    # an end is time's however long ago it passed
    assert WINDOW.phase(at("2030-01-01T00:00:00+00:00"), UTC,
                        since=at("2029-01-01T00:00:00+00:00")) == ("after", "expired 2027-04-30")


def test_a_window_across_a_time_zone() -> None:
    # 2027-04-30T12:00Z is already May 1st in Auckland (UTC+12 by then): over there
    assert WINDOW.phase(at("2027-04-30T12:00:00+00:00"), UTC)[0] == "within"
    assert WINDOW.phase(at("2027-04-30T12:00:00+00:00"), AUCKLAND)[0] == "after"
    # 2027-03-31T11:00Z is April 1st in Auckland: started there, not yet in UTC
    assert WINDOW.phase(at("2027-03-31T11:00:00+00:00"), AUCKLAND)[0] == "within"
    assert WINDOW.phase(at("2027-03-31T10:59:59+00:00"), AUCKLAND)[0] == "before"
    assert WINDOW.phase(at("2027-03-31T11:00:00+00:00"), UTC)[0] == "before"


def test_an_open_window_decides_only_what_it_bounds() -> None:
    until = Window(None, dt.date(2027, 4, 30))
    assert until.phase(at("2020-01-01T00:00:00+00:00"), UTC) == ("within", None)
    assert until.phase(at("2027-05-01T00:00:00+00:00"), UTC, ended="ended") == \
        ("after", "ended 2027-04-30")
    since = Window(dt.date(2027, 4, 1), None)
    assert since.phase(at("2099-01-01T00:00:00+00:00"), UTC,
                       since=at("2027-03-01T00:00:00+00:00")) == ("within", "started 2027-04-01")


@pytest.mark.parametrize(("start", "end", "problem"), [
    ("2027-04-01", "2027-04-01", None),  # one day
    ("2027-04-02", "2027-04-01", "2027-04-01 is before 2027-04-02"),
    ("2027-04-01T10:00:00Z", "2027-04-01T09:00:00Z",
     "2027-04-01T09:00:00+00:00 is not after 2027-04-01T10:00:00+00:00"),
    ("2027-04-01T10:00:00Z", "2027-04-01T10:00:00Z", "the window would be empty"),
    ("2027-04-01T10:00:00Z", "2027-04-01", None),  # the rest of that day
    ("2027-04-02", "2027-04-01T23:00:00-05:00", "is before 2027-04-02"),
])
def test_an_end_before_its_start_is_a_problem(start: str, end: str, problem: str | None
                                              ) -> None:
    found = Window(schedule.parse_bound(start), schedule.parse_bound(end)).problem()
    assert (found is None) if problem is None else (found is not None and problem in found)


# --- what is coming -----------------------------------------------------------------------


def test_upcoming_events_are_after_now_and_at_most_the_notice_later_soonest_first() -> None:
    now = at("2027-04-01T00:00:00+00:00")
    events = [Event("user.a", "expires", at("2027-04-15T00:00:00+00:00")),  # 14 days: in
              Event("user.b", "starts", at("2027-04-15T00:00:01+00:00")),  # just after: out
              Event("user.c", "starts", now),  # now: it has happened, out
              Event("user.d", "enrollment_ends", at("2027-04-02T00:00:00+00:00"), "c1"),
              Event("user.e", "expires", at("2027-03-01T00:00:00+00:00"))]  # past: out
    assert [e.address for e in schedule.upcoming(events, now, 14)] == ["user.d", "user.a"]
    assert schedule.upcoming(events, now, 0) == []


def test_an_instant_is_shown_in_the_zone_with_its_offset() -> None:
    instant = at("2027-03-31T11:00:00+00:00")
    assert schedule.shown(instant, AUCKLAND) == "2027-04-01T00:00:00+13:00"
    assert schedule.shown(instant, UTC) == "2027-03-31T11:00:00+00:00"
