"""Time-bound access on iLMS, over real sockets to its simulator: a contractor's access ends
(the user is deactivated through the API, and a reactivation in iLMS is undone), a new
starter is created on its first day, enrollments start and end with their windows, at the
boundaries (the day before, the day of, the day after) and across a time zone; and
`apply --scheduled-only` applies those and nothing else. The same rules on `local`:
tests/test_time_bound_access.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmsform_simulators.ilms import IlmsSimulator
from tests.support import ConfigDir, Simulators, vendor_example

HENRY = """\
users:
  - email: henry.ford@acme.example
    first_name: Henry
    last_name: Ford
    department: Americas/Sales/Field Sales
    active_from: 2027-04-01
"""


class Lms:
    """The example organisation on the iLMS simulator, planned and applied at instants of
    our choosing (LMSFORM_NOW); what the simulator holds, read from it directly."""

    def __init__(self, config: ConfigDir, sim: IlmsSimulator,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.config, self.sim, self.monkeypatch = config, sim, monkeypatch

    def run(self, when: str, *args: str) -> Any:
        self.monkeypatch.setenv("LMSFORM_NOW", when)
        return self.config.run(*args)

    def apply(self, when: str, *args: str) -> str:
        result = self.run(when, "apply", "--auto-approve", *args)
        assert result.exit_code == 0, result.output
        return str(result.output)

    def plan(self, when: str) -> str:
        result = self.run(when, "plan")
        assert result.exit_code == 0, result.output
        return str(result.output)

    def changes(self, when: str) -> int:
        code: int = self.run(when, "plan", "--detailed-exitcode").exit_code
        assert code in (0, 2)
        return code

    def user(self, email: str) -> dict[str, Any] | None:
        found = [u for u in self.sim.users.values()
                 if u["Profile"]["F015"] == email and u["UserStatus"] != "Deleted"]
        return found[0] if found else None

    def status(self, email: str) -> str | None:
        user = self.user(email)
        return None if user is None else str(user["UserStatus"])

    def courses_of(self, email: str) -> list[str]:
        user = self.user(email)
        assert user is not None
        return sorted(self.sim.courses[cid]["Name"] for cid, enrolled in
                      self.sim.enrollments.items() if user["ID"] in enrolled)


@pytest.fixture
def ilms(simulators: Simulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lms:
    sim = simulators.start(IlmsSimulator())
    config = vendor_example("ilms", sim, tmp_path / "ilms", monkeypatch)
    config.edit("lmsform.yaml", "    first_name: Grace\n",
                "    first_name: Grace\n    active_until: 2027-03-31\n")
    config.edit("lmsform.yaml", "    enrollments: [security-101, negotiation]\n",
                "    enrollments: [security-101, {course: negotiation, until: 2027-03-31}]\n")
    config.edit("lmsform.yaml", "    enrollments: [negotiation, welcome]\n",
                "    enrollments: [negotiation, {course: welcome, from: 2027-04-01}]\n")
    config.write("starters.yaml", HENRY)
    return Lms(config, sim, monkeypatch)


def test_access_and_enrollments_follow_their_windows_on_ilms(ilms: Lms) -> None:
    ilms.apply("2027-03-31")  # the day before the boundaries: the last day of the old ones
    assert ilms.status("grace.hopper@acme.example") == "Active"
    assert ilms.user("henry.ford@acme.example") is None
    assert ilms.courses_of("linus.pauling@acme.example") == [
        "Negotiation for Sales Teams", "Security Awareness"]
    assert ilms.courses_of("frida.kahlo@acme.example") == ["Negotiation for Sales Teams"]
    assert ilms.changes("2027-03-31T23:59:59Z") == 0
    day_of = ilms.plan("2027-04-01")
    assert "  ~ user.grace.hopper@acme.example\n" \
           "      active: true -> false (expired 2027-03-31)\n" in day_of
    assert "  + user.henry.ford@acme.example (started 2027-04-01)\n" in day_of
    assert '      enrollments: ["negotiation", "security-101"] -> ["security-101"] ' \
           '(enrollment in negotiation ended 2027-03-31)\n' in day_of
    assert '      enrollments: ["negotiation"] -> ["negotiation", "welcome"] (enrollment in ' \
           'welcome started 2027-04-01)\n' in day_of
    ilms.apply("2027-04-01")
    assert ilms.status("grace.hopper@acme.example") == "Inactive"
    assert ilms.status("henry.ford@acme.example") == "Active"
    assert ilms.courses_of("linus.pauling@acme.example") == ["Security Awareness"]
    assert ilms.courses_of("frida.kahlo@acme.example") == [
        "Negotiation for Sales Teams", "Welcome to Acme"]
    assert ilms.changes("2027-04-02") == 0  # the day after: converged
    # an administrator switches Grace back on in iLMS: the next apply undoes it
    user = ilms.user("grace.hopper@acme.example")
    assert user is not None
    user["UserStatus"] = "Active"
    assert "      active: true -> false (expired 2027-03-31)  (changed in the LMS since the " \
           "last apply)\n" in ilms.plan("2027-04-02")
    ilms.apply("2027-04-02", "--scheduled-only")
    assert ilms.status("grace.hopper@acme.example") == "Inactive"


def test_scheduled_only_on_ilms_leaves_the_rest_for_review(ilms: Lms) -> None:
    ilms.apply("2027-03-30")
    ilms.config.edit("lmsform.yaml", "    job_title: Staff Engineer\n",
                     "    job_title: Principal Engineer\n")
    ilms.config.edit("lmsform.yaml", "    job_title: Engineering Manager\n",
                     "    job_title: Director\n")  # Grace: an edit beside her expiry
    output = ilms.apply("2027-04-01", "--scheduled-only")
    left = output[output.index("Left for review"):]
    assert '      job_title: "Staff Engineer" -> "Principal Engineer"\n' in left
    assert '      job_title: "Engineering Manager" -> "Director"\n' in left
    assert ilms.status("grace.hopper@acme.example") == "Inactive"
    assert ilms.status("henry.ford@acme.example") == "Active"
    grace, ada = (ilms.user(f"{n}@acme.example") for n in ("grace.hopper", "ada.lovelace"))
    assert grace is not None and grace["Profile"]["F007"] == "Engineering Manager"
    assert ada is not None and ada["Profile"]["F007"] == "Staff Engineer"
    document = json.loads(ilms.run("2027-04-01", "plan", "--json").output)
    assert sorted(op["address"] for op in document["operations"]) == [
        "user.ada.lovelace@acme.example", "user.grace.hopper@acme.example"]


def test_ilms_dates_are_days_in_settings_timezone(ilms: Lms) -> None:
    ilms.config.edit("lmsform.yaml", "  user_removal: deactivate\n",
                     "  user_removal: deactivate\n  timezone: Pacific/Auckland\n")
    ilms.apply("2027-03-31T10:59:59Z")  # 23:59:59 on March 31st in Auckland
    assert ilms.status("grace.hopper@acme.example") == "Active"
    assert ilms.user("henry.ford@acme.example") is None
    ilms.apply("2027-03-31T11:00:00Z")  # midnight in Auckland, 11:00 in UTC
    assert ilms.status("grace.hopper@acme.example") == "Inactive"
    assert ilms.status("henry.ford@acme.example") == "Active"
    document = json.loads(ilms.run("2027-03-31T11:00:00Z", "plan", "--json").output)
    assert document["operations"] == [] and document["schedule"] == []
