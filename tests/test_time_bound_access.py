"""Time-bound access (`active_from`, `active_until`, enrollment windows) end to end on the
`local` LMS: each rule at its boundaries (the day before, the day of, the last day, the day
after, across a time zone), the reasons and the schedule a plan gives in text, Markdown and
JSON, `apply --scheduled-only`, a saved plan gone stale across a boundary, and bad input as
errors at its place. The same on the iLMS simulator: tests/providers/test_ilms_time.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmsform.config import load_config
from lmsform.providers.local import LocalProvider
from tests.support import ConfigDir, Org, lmsform

CONTRACTORS = """\
users:
  - email: carol@contractor.example
    first_name: Carol
    department: Americas/Sales/Inside Sales
    active_until: 2027-03-31
  - email: dan@example.com
    first_name: Dan
    department: Americas/Sales/Field Sales
    active_from: 2027-04-01
"""

ADA_WINDOW = "    enrollments: [{course: security-101, from: 2027-04-01, until: 2027-04-30}]\n"


@pytest.fixture(autouse=True)
def _beside_the_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where the org's directory is `org`: places read `org/time.yaml:5:19`."""
    monkeypatch.chdir(tmp_path)


class At:
    """The org, run at instants of our choosing (LMSFORM_NOW)."""

    def __init__(self, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
        self.org = org
        self.monkeypatch = monkeypatch

    def run(self, when: str, *args: str) -> Any:
        self.monkeypatch.setenv("LMSFORM_NOW", when)
        return self.org.run(*args)

    def plan(self, when: str, *args: str) -> str:
        result = self.run(when, "plan", *args)
        assert result.exit_code in (0, 2), result.output
        return str(result.output)

    def changes(self, when: str) -> int:
        """`plan --detailed-exitcode`: 0 no changes, 2 changes."""
        code: int = self.run(when, "plan", "--detailed-exitcode").exit_code
        assert code in (0, 2)
        return code

    def json(self, when: str, *args: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.plan(when, "--json", *args))
        return document

    def apply(self, when: str, *args: str) -> str:
        result = self.run(when, "apply", "--auto-approve", *args)
        assert result.exit_code == 0, result.output
        return str(result.output)


@pytest.fixture
def at(org: Org, monkeypatch: pytest.MonkeyPatch) -> At:
    return At(org, monkeypatch)


def lms_users(org: Org) -> dict[str, dict[str, Any]]:
    """What the LMS holds of each user, read as an administrator would."""
    lms = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        return {u.attrs["email"]: {**u.attrs, "id": u.id} for u in lms.list_all("user")}
    finally:
        lms.close()


def set_active_outside_lmsform(org: Org, email: str, active: bool) -> None:
    lms = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        (user,) = [u for u in lms.list_all("user") if u.attrs["email"] == email]
        lms.update("user", user.id, {"active": active}, {"active": not active})
    finally:
        lms.close()


def enrolled(org: Org, email: str) -> list[str]:
    courses = {c.id: c.attrs["key"] for c in _courses(org)}
    return sorted(courses[c] for c in lms_users(org)[email]["enrollments"])


def _courses(org: Org) -> list[Any]:
    lms = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        return lms.list_all("course")
    finally:
        lms.close()


# --- a user's access: its end -------------------------------------------------------------


def test_access_ends_at_the_end_of_its_last_day_and_stays_ended(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-30")
    assert lms_users(org)["carol@contractor.example"]["active"] is True
    assert at.changes("2027-03-31") == 0  # the day of: its last day, still active
    assert at.changes("2027-03-31T23:59:59Z") == 0
    assert at.changes("2027-03-31T23:59:59-01:00") == 2  # 00:59:59 on April 1st in UTC
    after = at.plan("2027-04-01")  # the day after
    assert "  ~ user.carol@contractor.example\n" \
           "      active: true -> false (expired 2027-03-31)\n" in after
    at.apply("2027-04-01")
    assert lms_users(org)["carol@contractor.example"]["active"] is False
    assert at.changes("2027-04-02") == 0
    # an administrator switches her back on: the next apply undoes it, saying why
    set_active_outside_lmsform(org, "carol@contractor.example", True)
    undone = at.plan("2027-04-20")
    assert "      active: true -> false (expired 2027-03-31)  (changed in the LMS since the " \
           "last apply)\n" in undone
    at.apply("2027-04-20")
    assert lms_users(org)["carol@contractor.example"]["active"] is False


def test_a_user_whose_access_ended_is_not_created(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS)
    output = at.apply("2027-06-01")
    assert "carol" not in output and "carol@contractor.example" not in lms_users(org)
    assert at.changes("2027-06-01") == 0


# --- a user's access: its start -----------------------------------------------------------


def test_a_new_starter_is_created_on_the_day_access_starts(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS)
    before = at.apply("2027-03-31")  # the day before
    assert "+ user.dan@example.com" not in before and "dan@example.com" not in lms_users(org)
    assert at.changes("2027-03-31T23:59:59Z") == 0
    day_of = at.plan("2027-04-01")
    assert "  + user.dan@example.com (started 2027-04-01)\n" in day_of
    (create,) = [op for op in at.json("2027-04-01")["operations"]
                 if op["address"] == "user.dan@example.com"]
    assert create["action"] == "create" and create["scheduled"] is True
    assert create["reason"] == "started 2027-04-01" and create["after"]["active"] is True
    at.apply("2027-04-01")
    assert lms_users(org)["dan@example.com"]["active"] is True
    assert at.changes("2027-04-02") == 0  # the day after: converged


def test_an_existing_user_is_kept_off_until_access_starts(org: Org, at: At) -> None:
    at.apply("2027-03-01")  # bob, active, as the org declares him
    org.give_bob("    active_from: 2027-04-01\n")
    before = at.plan("2027-03-31")
    assert "  ~ user.bob@example.com\n      active: true -> false (starts 2027-04-01)\n" \
        in before
    at.apply("2027-03-31")
    assert lms_users(org)["bob@example.com"]["active"] is False
    day_of = at.plan("2027-04-01")
    assert "  ~ user.bob@example.com\n      active: false -> true (started 2027-04-01)\n" \
        in day_of
    at.apply("2027-04-01")
    assert lms_users(org)["bob@example.com"]["active"] is True


def test_active_false_stays_false_within_the_window(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS.replace("    active_from: 2027-04-01\n",
                                               "    active_from: 2027-04-01\n"
                                               "    active: false\n"))
    at.apply("2027-04-02")
    assert lms_users(org)["dan@example.com"]["active"] is False
    assert at.changes("2027-04-03") == 0


# --- across a time zone -------------------------------------------------------------------


def test_dates_are_days_in_settings_timezone(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-30")
    noon = "2027-03-31T12:00:00Z"  # still March 31st in UTC; April 1st, 01:00 in Auckland
    assert at.changes(noon) == 0
    org.edit("main.yaml", "state:\n", "settings:\n  timezone: Pacific/Auckland\nstate:\n")
    ended = at.plan(noon)
    assert "active: true -> false (expired 2027-03-31)" in ended
    assert "  + user.dan@example.com (started 2027-04-01)" in ended
    # a date alone in LMSFORM_NOW is the start of that day in the zone: 2027-03-30T11:00Z
    assert at.changes("2027-03-31") == 0
    events = at.json("2027-03-31")["schedule"]
    assert events == [
        {"address": "user.carol@contractor.example", "event": "expires",
         "at": "2027-04-01T00:00:00+13:00", "item": None},
        {"address": "user.dan@example.com", "event": "starts",
         "at": "2027-04-01T00:00:00+13:00", "item": None}]


def test_a_time_with_its_offset_is_that_instant_in_any_zone(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS.replace("active_until: 2027-03-31",
                                               "active_until: 2027-03-31T17:00:00+02:00"))
    org.edit("main.yaml", "state:\n", "settings:\n  timezone: Pacific/Auckland\nstate:\n")
    at.apply("2027-03-31T14:59:59Z")
    assert lms_users(org)["carol@contractor.example"]["active"] is True
    assert "active: true -> false (expired 2027-03-31T17:00:00+02:00)" in \
        at.plan("2027-03-31T15:00:00Z")
    assert at.json("2027-03-31T14:00:00Z")["schedule"][0] == {
        "address": "user.carol@contractor.example", "event": "expires",
        "at": "2027-04-01T04:00:00+13:00", "item": None}


# --- enrollments --------------------------------------------------------------------------


def test_an_enrollment_holds_within_its_window_only(org: Org, at: At) -> None:
    at.apply("2027-03-01")  # ada enrolled, as the org declares her
    assert enrolled(org, "ada@example.com") == ["security-101"]
    org.edit("org.yaml", "    enrollments: [security-101]\n", ADA_WINDOW)
    before = at.plan("2027-03-31")  # the day before: not yet, so taken away
    assert '      enrollments: ["security-101"] -> [] (enrollment in security-101 starts ' \
           '2027-04-01)\n' in before
    at.apply("2027-03-31")
    assert enrolled(org, "ada@example.com") == []
    day_of = at.plan("2027-04-01")
    assert '      enrollments: [] -> ["security-101"] (enrollment in security-101 started ' \
           '2027-04-01)\n' in day_of
    at.apply("2027-04-01")
    assert enrolled(org, "ada@example.com") == ["security-101"]
    assert at.changes("2027-04-30") == 0  # its last day
    after = at.plan("2027-05-01")  # the day after
    assert '      enrollments: ["security-101"] -> [] (enrollment in security-101 ended ' \
           '2027-04-30)\n' in after
    at.apply("2027-05-01")
    assert enrolled(org, "ada@example.com") == []
    assert at.changes("2027-05-02") == 0


def test_an_enrollment_before_its_window_is_not_created(org: Org, at: At) -> None:
    org.edit("org.yaml", "    enrollments: [security-101]\n", ADA_WINDOW)
    created = at.json("2027-03-31")
    (ada,) = [op for op in created["operations"] if op["address"] == "user.ada@example.com"]
    assert ada["after"]["enrollments"] == [] and ada["scheduled"] is False
    assert {"address": "user.ada@example.com", "event": "enrollment_starts",
            "at": "2027-04-01T00:00:00+00:00", "item": "security-101"} in created["schedule"]
    at.apply("2027-03-31")
    assert enrolled(org, "ada@example.com") == []


def test_a_window_with_only_an_end_decides_nothing_before_it(org: Org, at: At) -> None:
    org.edit("org.yaml", "    enrollments: [security-101]\n",
             "    enrollments: [{course: security-101, until: 2027-04-30}]\n")
    at.apply("2027-04-01")
    assert enrolled(org, "ada@example.com") == ["security-101"]
    document = at.json("2027-04-29")
    assert document["operations"] == []
    assert [e["event"] for e in document["schedule"]] == ["enrollment_ends"]


# --- what a plan says: reasons, the schedule ----------------------------------------------


def test_the_schedule_lists_what_comes_within_the_notice_inclusive(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS)
    org.edit("org.yaml", "    enrollments: [security-101]\n", ADA_WINDOW)
    # 14 days by default: events at or before now + 14 days
    assert [e["address"] for e in at.json("2027-03-18")["schedule"]] == \
        ["user.ada@example.com", "user.carol@contractor.example", "user.dan@example.com"]
    assert at.json("2027-03-17T23:59:59Z")["schedule"] == []  # carol's is 14 days + 1 s away
    org.edit("main.yaml", "state:\n", "settings:\n  schedule_notice_days: 30\nstate:\n")
    events = at.json("2027-04-01")["schedule"]
    assert events == [{"address": "user.ada@example.com", "event": "enrollment_ends",
                       "at": "2027-05-01T00:00:00+00:00", "item": "security-101"}]
    text = at.plan("2027-04-01")
    assert text.endswith("Scheduled soon (within settings.schedule_notice_days):\n"
                         "  2027-05-01T00:00:00+00:00  user.ada@example.com: enrollment in "
                         "security-101 ends\n")


def test_markdown_gives_the_reasons_and_the_schedule(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-30")
    markdown = at.plan("2027-04-01", "--format", "markdown")
    assert "| `~` | `user.carol@contractor.example` | update | `active`: `true` → `false` " \
           "\\(expired 2027\\-03\\-31\\) |" in markdown
    assert "| `+` | `user.dan@example.com` \\(started 2027\\-04\\-01\\) | create |" in markdown
    soon = at.plan("2027-03-30", "--format", "markdown")
    assert "### lmsform plan\n\n**No changes.** The LMS matches the manifests.\n\n" \
           "**Scheduled soon \\(within settings\\.schedule\\_notice\\_days\\)\\:**\n\n" \
           "- `2027-04-01T00:00:00+00:00`: `user.carol@contractor.example expires`\n" \
           "- `2027-04-01T00:00:00+00:00`: `user.dan@example.com starts`\n" in soon


def test_json_reasons_are_on_the_changes_time_causes_only(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-30")
    org.edit("time.yaml", "    first_name: Carol\n", "    first_name: Caroline\n")
    (carol,) = [op for op in at.json("2027-04-01")["operations"]
                if op["address"] == "user.carol@contractor.example"]
    assert carol["scheduled"] is False  # an edit rides along: not time's alone
    assert carol["changes"] == [
        {"field": "first_name", "before": "Carol", "after": "Caroline", "cause": "manifests",
         "reason": None},
        {"field": "active", "before": True, "after": False, "cause": "manifests",
         "reason": "expired 2027-03-31"}]


# --- apply --scheduled-only ---------------------------------------------------------------


def test_scheduled_only_applies_what_time_caused_and_lists_the_rest(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-30")
    # pending besides time: an edit riding with an expiry, an edit alone, a new user, drift
    org.edit("time.yaml", "    first_name: Carol\n", "    first_name: Caroline\n")
    org.edit("org.yaml", "    first_name: Ada\n", "    first_name: Augusta\n")
    org.write("new.yaml", "users:\n  - email: eve@example.com\n    first_name: Eve\n")
    _rename_outside_lmsform(org, "bob@example.com", "Robert")
    output = at.apply("2027-04-01", "--scheduled-only")
    assert ("  ~ user.carol@contractor.example\n"
            "      active: true -> false (expired 2027-03-31)\n"
            "  + user.dan@example.com (started 2027-04-01)\n") in output
    assert "Left for review (--scheduled-only applies what time caused, nothing else):" in output
    left = output[output.index("Left for review"):]
    assert '  ~ user.carol@contractor.example\n      first_name: "Carol" -> "Caroline"\n' \
        in left
    assert '  ~ user.ada@example.com\n      first_name: "Ada" -> "Augusta"\n' in left
    assert "  + user.eve@example.com\n" in left
    assert '  ~ user.bob@example.com\n      first_name: "Robert" -> "Bob"  (changed in the ' \
           'LMS since the last apply)\n' in left
    assert "Apply complete: 1 updated, 1 created." in output
    users = lms_users(org)
    assert users["carol@contractor.example"]["active"] is False
    assert users["carol@contractor.example"]["first_name"] == "Carol"  # left for review
    assert users["ada@example.com"]["first_name"] == "Ada"
    assert users["bob@example.com"]["first_name"] == "Robert"
    assert "eve@example.com" not in users and users["dan@example.com"]["active"] is True
    # what was left is still drift and still an edit: the state kept what it had recorded
    drift = at.run("2027-04-01", "plan", "--refresh-only", "--detailed-exitcode")
    assert drift.exit_code == 2 and "user.bob@example.com (changed)" in drift.output
    assert "carol" not in drift.output
    again = at.json("2027-04-01", "--scheduled-only")
    assert again["operations"] == [] and again["scheduled_only"] is True
    assert sorted(op["address"] for op in again["left_for_review"]) == [
        "user.ada@example.com", "user.bob@example.com", "user.carol@contractor.example",
        "user.eve@example.com"]
    nothing = at.plan("2027-04-01", "--scheduled-only")
    assert "No scheduled changes. Nothing that time caused is pending." in nothing
    at.apply("2027-04-01")  # the rest, reviewed
    assert at.changes("2027-04-01") == 0


def _rename_outside_lmsform(org: Org, email: str, name: str) -> None:
    lms = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        (user,) = [u for u in lms.list_all("user") if u.attrs["email"] == email]
        lms.update("user", user.id, {"first_name": name}, {"first_name": user.attrs[
            "first_name"]})
    finally:
        lms.close()


def test_scheduled_only_applies_the_time_caused_items_of_a_mixed_list(org: Org, at: At
                                                                      ) -> None:
    org.write("more.yaml", "courses:\n  - key: privacy\n    title: Privacy\n")
    at.apply("2027-03-01")
    org.edit("org.yaml", "    enrollments: [security-101]\n",
             "    enrollments: [privacy, {course: security-101, until: 2027-03-31}]\n")
    (ada,) = [op for op in at.json("2027-04-01")["operations"]
              if op["address"] == "user.ada@example.com"]
    assert ada["changes"] == [{"field": "enrollments", "before": ["security-101"],
                               "after": ["privacy"], "cause": "manifests",
                               "reason": "enrollment in security-101 ended 2027-03-31"}]
    output = at.apply("2027-04-01", "--scheduled-only")
    assert '      enrollments: ["security-101"] -> [] (enrollment in security-101 ended ' \
           '2027-03-31)\n' in output
    assert '      enrollments: [] -> ["privacy"]\n' in output[output.index("Left for review"):]
    assert enrolled(org, "ada@example.com") == []
    # the state says what the LMS holds of what lmsform did: no drift, and the edit an edit
    assert at.json("2027-04-01", "--refresh-only")["drift"] == []
    (left,) = [op for op in at.json("2027-04-01")["operations"]
               if op["address"] == "user.ada@example.com"]
    assert [c["cause"] for c in left["changes"]] == ["manifests"]
    at.apply("2027-04-01")
    assert enrolled(org, "ada@example.com") == ["privacy"]


def test_scheduled_only_holds_the_safety_limits_and_force_lifts_them(org: Org, at: At
                                                                     ) -> None:
    cohort = "users:\n" + "".join(
        f"  - email: c{i}@cohort.example\n    first_name: C{i}\n"
        f"    active_until: {'2027-03-31' if i < 6 else '2027-12-31'}\n" for i in range(12))
    org.write("cohort.yaml", cohort)
    at.apply("2027-03-01")
    refused = at.run("2027-04-01", "apply", "--auto-approve", "--scheduled-only")
    assert refused.exit_code == 1
    assert "Blocked: removes or replaces 6 of 14 managed users (43%), more than " \
           "max_delete_fraction 30%" in refused.output
    assert all(u["active"] for u in lms_users(org).values())
    at.apply("2027-04-01", "--scheduled-only", "--force")
    assert sum(not u["active"] for u in lms_users(org).values()) == 6


def test_scheduled_only_leaves_what_needs_a_create_left_for_review(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS.replace("department: Americas/Sales/Field Sales",
                                               "department: Americas/Sales/Channel"))
    org.edit("org.yaml", "departments: [Inside Sales, Field Sales]",
             "departments: [Inside Sales, Field Sales, Channel]")
    at.apply("2027-03-01")
    org.edit("org.yaml", "[Inside Sales, Field Sales, Channel]",
             "[Inside Sales, Field Sales, Channel, Partners]")
    org.edit("time.yaml", "department: Americas/Sales/Channel",
             "department: Americas/Sales/Partners")
    document = at.json("2027-04-01", "--scheduled-only")
    # carol's expiry is applied; dan's start needs a department nobody reviewed yet
    assert [op["address"] for op in document["operations"]] == [
        "user.carol@contractor.example"]
    assert [op["address"] for op in document["left_for_review"]] == [
        "department.Americas/Sales/Partners", "user.dan@example.com"]


def test_scheduled_only_refuses_what_it_cannot_mean(org: Org, at: At, tmp_path: Path) -> None:
    at.apply("2027-03-01")
    plan_file = tmp_path / "plan.json"
    assert at.run("2027-03-01", "plan", "--out", str(plan_file)).exit_code == 0
    for args in (["apply", str(plan_file), "--scheduled-only"],
                 ["apply", "--refresh-only", "--scheduled-only"],
                 ["plan", "--refresh-only", "--scheduled-only"]):
        result = at.run("2027-03-01", *args)
        assert result.exit_code == 1 and "--scheduled-only" in result.output, args


# --- a saved plan across a boundary -------------------------------------------------------


def test_a_plan_saved_before_a_boundary_is_refused_after_it(org: Org, at: At,
                                                            tmp_path: Path) -> None:
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-30")
    org.edit("org.yaml", "    first_name: Ada\n", "    first_name: Augusta\n")
    plan_file = tmp_path / "plan.json"
    assert at.run("2027-03-31", "plan", "--out", str(plan_file)).exit_code == 0
    assert at.run("2027-03-31T23:00:00Z", "apply", str(plan_file)).exit_code == 0
    stale = tmp_path / "stale.json"
    org.edit("org.yaml", "    first_name: Augusta\n", "    first_name: Ada\n")
    assert at.run("2027-03-31", "plan", "--out", str(stale)).exit_code == 0
    refused = at.run("2027-04-01", "apply", str(stale))  # carol expired, dan started since
    assert refused.exit_code == 1
    assert "the LMS or the manifests changed since this plan was made " \
           "(user.carol@contractor.example, user.dan@example.com, " in refused.output
    assert lms_users(org)["ada@example.com"]["first_name"] == "Augusta"  # nothing applied


def test_a_saved_scheduled_only_plan_is_checked_as_scheduled_only(org: Org, at: At,
                                                                  tmp_path: Path) -> None:
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-30")
    org.edit("org.yaml", "    first_name: Ada\n", "    first_name: Augusta\n")
    plan_file = tmp_path / "plan.json"
    assert at.run("2027-04-01", "plan", "--scheduled-only", "--out",
                  str(plan_file)).exit_code == 0
    applied = at.run("2027-04-01T08:00:00Z", "apply", str(plan_file))
    assert applied.exit_code == 0, applied.output
    assert lms_users(org)["ada@example.com"]["first_name"] == "Ada"
    assert lms_users(org)["carol@contractor.example"]["active"] is False


# --- LMSFORM_NOW --------------------------------------------------------------------------


def test_a_bad_lmsform_now_is_one_clear_error(org: Org, at: At) -> None:
    result = at.run("2027-04-01T09:00", "plan")
    assert result.exit_code == 1
    assert result.output.startswith("error: LMSFORM_NOW=2027-04-01T09:00: 2027-04-01T09:00 "
                                    "is a time without an offset")
    assert "Traceback" not in result.output


# --- bad input, at its place --------------------------------------------------------------

BAD = """\
settings:
  timezone: Europe/Londn
users:
  - email: carol@contractor.example
    active_from: 2027-04-01
    active_until: 2027-03-31
  - email: dan@example.com
    active_until: 2027-02-30
  - email: eve@example.com
    enrollments:
      - {course: security-101, until: "2027-04-01T10:00:00"}
      - course: security-101
        util: 2027-05-01
  - email: fay@example.com
    active_from: 31/03/2027
  - email: gus@example.com
    enrollments: [security-101, {course: security-101, until: 2027-04-01}, {course: nosuch}]
    active_until: 2027-05-01
    lifecycle: {ignore_changes: [active]}
"""


def test_bad_time_bounds_are_errors_at_their_place(org: Org) -> None:
    org.write("time.yaml", BAD)
    result = org.run("validate")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "org/time.yaml:2:13: error: settings.timezone: 'Europe/Londn' is not a time zone (did "
        "you mean 'Europe/London'?); give an IANA name such as UTC, Europe/London or "
        "Pacific/Auckland",
        "org/time.yaml:6:19: error: users[0].active_until: active_until 2027-03-31 is before "
        "2027-04-01",
        "org/time.yaml:8:19: error: users[1].active_until: 2027-02-30 is not a date: day is "
        "out of range for month",
        "org/time.yaml:11:39: error: users[2].enrollments[0].until: 2027-04-01T10:00:00 is a "
        "time without an offset, which would be another instant on every machine; add its "
        "offset (e.g. 2027-04-01T10:00:00+02:00, or 2027-04-01T10:00:00Z for UTC), or write "
        "the date alone (read in settings.timezone)",
        "org/time.yaml:13:9: error: users[2].enrollments[1].util: unknown field 'util' (did "
        "you mean 'until'?)",
        "org/time.yaml:15:18: error: users[3].active_from: must be a date written YYYY-MM-DD "
        "(e.g. 2027-03-31) or a time with its offset (e.g. 2027-03-31T17:00:00+02:00, or Z "
        "for UTC)",
        "org/time.yaml:17:33: error: users[4].enrollments[1]: security-101 is listed twice, "
        "with a window at least once (also at org/time.yaml:17:19); list it once",
        "org/time.yaml:17:76: error: users[4].enrollments[2]: unknown course 'nosuch' (refer "
        "to courses by their key)",
        "org/time.yaml:19:33: error: users[4].lifecycle.ignore_changes: active_from and "
        "active_until decide active, which lifecycle.ignore_changes lists: they could never "
        "be enforced; take active out of ignore_changes",
        "9 errors in the manifests; nothing was contacted or changed."]


def test_time_bounds_on_another_kind_are_unknown_fields(org: Org) -> None:
    org.write("time.yaml", "groups:\n  - name: Temps\n    active_until: 2027-03-31\n")
    result = org.run("validate")
    assert result.exit_code == 1
    assert "org/time.yaml:3:5: error: groups[0].active_until: unknown field 'active_until'; " \
           "only a user's access starts and ends: give each user its own active_from and " \
           "active_until, or bound an enrollment instead ({course: KEY, from: DATE, until: " \
           "DATE} in a user's enrollments)" in result.output


def test_a_provider_that_cannot_switch_users_off_refuses_access_bounds_offline(
        tmp_path: Path) -> None:
    config = ConfigDir(tmp_path / "bc")
    config.dir.mkdir()
    config.write(
        "lmsform.yaml",
        "provider: {type: braincert, api_key: '${env:BC_KEY}', domain_id: '${env:BC_DOMAIN}'}\n"
        "users:\n"
        "  - email: carol@contractor.example\n"
        "    active_until: 2027-03-31\n")
    result = config.run("validate")
    assert result.exit_code == 1
    assert "bc/lmsform.yaml:4:19: error: users[0].active_until: " \
           "user.carol@contractor.example: the braincert provider cannot switch users off and " \
           "on, so it cannot honour active_until; remove the user from the manifests when " \
           "access ends, with settings.user_removal: delete (the user is deleted then)." \
           in result.output
    dropped = config.run("plan", "--drop-unsupported", env={"BC_KEY": "k", "BC_DOMAIN": "1"})
    assert dropped.exit_code == 1 and "cannot honour active_until" in dropped.output


def test_a_provider_with_fixed_enrollments_refuses_enrollment_windows(tmp_path: Path) -> None:
    config = ConfigDir(tmp_path / "ct")
    config.dir.mkdir()
    config.write(
        "lmsform.yaml",
        "provider: {type: coursetoolkit, base_url: 'http://127.0.0.1:9', "
        "api_key: '${env:CT_KEY}', account_id: '7'}\n"
        "users:\n"
        "  - email: carol@contractor.example\n"
        "    enrollments: [c-1, {course: c-2, until: 2027-03-31}]\n")
    result = config.run("validate")
    assert result.exit_code == 1
    assert "ct/lmsform.yaml:4:18: error: users[0].enrollments: " \
           "user.carol@contractor.example: the coursetoolkit provider cannot add and remove " \
           "the enrollments of an existing user, so it cannot honour an enrollment's from or " \
           "until (c-2); enroll without them, and end the enrollment in the LMS." \
           in result.output


def test_summary_show_and_exit_codes_tell_the_scheduled_part(org: Org, at: At,
                                                             tmp_path: Path) -> None:
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-30")
    org.edit("org.yaml", "    first_name: Ada\n", "    first_name: Augusta\n")
    summary = at.plan("2027-03-30", "--scheduled-only", "--summary")
    assert "No scheduled changes. Nothing that time caused is pending." in summary
    assert "Left for review (not caused by time): 1 operation." in summary
    assert "Scheduled soon: 2 events." in summary
    plan_file = tmp_path / "plan.json"
    assert at.run("2027-04-01", "plan", "--scheduled-only", "--detailed-exitcode",
                  "--out", str(plan_file)).exit_code == 2
    shown = lmsform("show", str(plan_file)).output
    assert "      active: true -> false (expired 2027-03-31)\n" in shown
    assert '  ~ user.ada@example.com\n      first_name: "Ada" -> "Augusta"\n' in \
        shown[shown.index("Left for review"):]
    at.apply("2027-04-01", "--scheduled-only")
    # only the edit is pending now: nothing scheduled, so exit 0
    assert at.run("2027-04-01", "plan", "--scheduled-only",
                  "--detailed-exitcode").exit_code == 0
    assert at.changes("2027-04-01") == 2


def test_a_time_bound_never_comes_from_the_environment(org: Org,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("END", "2027-03-31")
    org.give_bob("    active_until: ${env:END}\n"
                 "    enrollments: [{course: security-101, from: '${env:END}'}]\n")
    result = org.run("validate")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "a time bound cannot" in line]
    assert [line.split(": error: ")[1].split(":")[0] for line in lines] == [
        "users[1].active_until", "users[1].enrollments[0].from"]
    assert "2027-03-31" not in result.output


def test_what_time_says_of_a_value_from_the_environment_stays_hidden(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_COURSE", "security-101")
    org.give_bob("    enrollments: [{course: '${env:SECRET_COURSE}', until: 2027-03-31}]\n")
    monkeypatch.setenv("LMSFORM_NOW", "2027-03-25")
    org.apply()
    planned = org.run("plan", "--json")
    assert planned.exit_code == 0, planned.output
    (event,) = json.loads(planned.output)["schedule"]
    assert event["item"] == "(sensitive)"
    monkeypatch.setenv("LMSFORM_NOW", "2027-04-02")
    document = json.loads(org.run("plan", "--json").output)
    (op,) = [op for op in document["operations"] if op["address"] == "user.bob@example.com"]
    assert op["changes"][0]["reason"] == "(sensitive)"
    assert "security-101" not in json.dumps(op) + json.dumps(document["schedule"])


def test_scheduled_only_grants_only_what_started_since_the_last_apply(org: Org,
                                                                        at: At) -> None:
    """A start is time's doing where it passed after the last apply: a user added today with
    a start long past, and a start the last apply saw, are edits or drift, left for review;
    an end is always time's."""
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-31")  # Dan starts tomorrow: not created yet
    at.apply("2027-04-01", "--scheduled-only")  # his start passed since: time creates him
    assert lms_users(org)["dan@example.com"]["active"] is True
    org.write("late.yaml", "users:\n  - email: mallory@example.com\n"
              "    active_from: 2020-01-01\n")
    set_active_outside_lmsform(org, "dan@example.com", False)  # a lockout, in the LMS
    set_active_outside_lmsform(org, "carol@contractor.example", True)  # expired, let back in
    document = at.json("2027-05-10", "--scheduled-only")
    assert [op["address"] for op in document["operations"]] == [
        "user.carol@contractor.example"]
    assert sorted(op["address"] for op in document["left_for_review"]) == [
        "user.dan@example.com", "user.mallory@example.com"]
    at.apply("2027-05-10", "--scheduled-only")
    assert lms_users(org)["dan@example.com"]["active"] is False, "drift left for review"
    assert "mallory@example.com" not in lms_users(org)
    assert lms_users(org)["carol@contractor.example"]["active"] is False


def test_a_window_empty_in_the_time_zone_is_an_error(org: Org) -> None:
    """A start date and an end time that falls before that day begins in the zone: the
    entry alone cannot tell, the zone can."""
    org.edit("main.yaml", "state:", "settings:\n  timezone: Europe/London\nstate:")
    org.give_bob("    active_from: 2027-04-01\n"
                 "    active_until: 2027-04-01T00:30:00+14:00\n")
    result = org.run("validate")
    assert result.exit_code == 1
    assert "users[1].active_until: user.bob@example.com: active_until ends access before " \
           "active_from starts it, in settings.timezone" in result.output
    org.edit("main.yaml", "timezone: Europe/London", "timezone: Pacific/Kiritimati")
    assert org.run("validate").exit_code == 0  # there, the day begins before it ends


def test_a_custom_value_named_like_a_bound_may_come_from_the_environment(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORIGIN", "agency")
    org.give_bob("    active_until: 2027-03-31\n"
                 "    custom: {from: '${env:ORIGIN}', until: '${env:ORIGIN}'}\n")
    result = org.run("validate")
    assert result.exit_code == 0, result.output


def test_no_start_is_time_s_before_an_apply_is_known_nor_after_a_partial_one(
        org: Org, at: At) -> None:
    """A state that records no complete apply (written before lmsform recorded one, or by
    export) makes no start time's doing: the daily job leaves them for review. An apply
    with --exclude is not complete: it records nothing."""
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-03-31", "--exclude", "user.dan@example.com")
    assert json.loads(org.state_path.read_text())["planned_at"] is None
    document = at.json("2027-04-02", "--scheduled-only")
    assert [op["address"] for op in document["left_for_review"]][-1] == "user.dan@example.com"
    at.apply("2027-04-02")
    assert json.loads(org.state_path.read_text())["planned_at"].startswith("2027-04-02")


def test_the_recorded_instant_never_moves_back(org: Org, at: At) -> None:
    org.write("time.yaml", CONTRACTORS)
    at.apply("2027-04-02")
    output = at.apply("2027-03-15")  # looking back: Dan before his start, Carol before her end
    assert "user.dan@example.com" in output
    assert json.loads(org.state_path.read_text())["planned_at"].startswith("2027-04-02")
