"""A plan's impact through the command line, against the `local` LMS and over real sockets
against the iLMS simulator (whose groups give their members their courses) and the
LearnWorlds one (whose groups do not): what each plan says people gain and lose is what the
LMS then holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from tests.providers.test_ilms import KEY, IlmsOrg, add_user
from tests.providers.test_learnworlds import School
from tests.support import BASE, ConfigDir, Org, Simulators


def impact_of(config: ConfigDir, *args: str) -> Any:
    result = config.run("plan", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["impact"]  # warnings aside


def grants(*pairs: tuple[str, list[str]]) -> list[dict[str, Any]]:
    return [{"course": course, "users": users} for course, users in pairs]


def price(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD", "billing": "one_time"}


PRIVACY = """\
courses:
  - key: privacy-101
    title: Privacy Basics
    pricing:
      - {plan: standard, amount: 19.00, currency: USD}
"""


def test_local_a_group_course_reaches_every_member_and_applying_it_converges(
        org: Org, tmp_path: Path) -> None:
    org.apply()
    # another config on the same LMS makes Carol, a member of Managers this one never manages
    other = ConfigDir(tmp_path / "other")
    other.dir.mkdir()
    other.write("main.yaml", BASE.replace("path: lms.sqlite", f"path: {org.db_path}"))
    other.write("people.yaml", "groups:\n  - name: Managers\nusers:\n"
                               "  - email: carol@example.com\n    groups: [Managers]\n")
    other.apply()
    org.write("privacy.yaml", PRIVACY)
    org.edit("org.yaml", "    courses: [security-101]\nusers:",
             "    courses: [privacy-101]\nusers:")
    org.edit("org.yaml", "    first_name: Bob\n",
             "    first_name: Bob\n    role: admin\n    enrollments: [privacy-101]\n")
    org.edit("org.yaml", "amount: 49.00", "amount: 39.00")
    org.edit("org.yaml", "discount: {percent: 10}", "discount: {percent: 15}")
    assert impact_of(org) == {
        # Ada keeps security-101, enrolled in it; Carol, unmanaged, is reached through the group
        "access_granted": grants(("privacy-101", ["ada@example.com", "bob@example.com",
                                                  "carol@example.com"])),
        "access_revoked": grants(("security-101", ["carol@example.com"])),
        "privilege_changes": [{"user": "bob@example.com", "before": "learner",
                               "after": "admin"}],
        "users_created": [], "users_deleted": [], "users_deactivated": [],
        "users_reactivated": [],
        "pricing_changes": [
            {"course": "privacy-101", "plan": "standard", "before": None,
             "after": price("19.00")},
            {"course": "security-101", "plan": "standard", "before": price("49.00"),
             "after": price("39.00")}],
        "coupon_changes": [{"code": "WELCOME10", "action": "update",
                            "discount": {"percent": "15"}, "courses": ["security-101"]}]}
    text = org.run("plan").output.split("\n")
    assert text[1:6] == ["", "Impact:", "  ! 1 user becomes admin: bob@example.com "
                         "(learner -> admin)", "  3 users gain access to 1 course: privacy-101 "
                         "(ada@example.com, bob@example.com, carol@example.com)",
                         "  1 user loses access to 1 course: security-101 (carol@example.com)"]
    assert "- ⚠️ **1 user becomes admin: `bob@example.com` (`learner` → `admin`)**" in \
        org.run("plan", "--format", "markdown").output
    # a saved plan applies as made: its impact is signed with it, not compared
    assert org.run("plan", "--out", str(tmp_path / "plan.json")).exit_code == 0
    applied = org.run("apply", str(tmp_path / "plan.json"))
    assert applied.exit_code == 0, applied.output
    assert impact_of(org) is None  # converged: no operations, no impact
    assert "Impact" not in org.run("plan").output + org.run("plan", "--summary").output
    assert impact_of(org, "--refresh-only") is None

    org.edit("org.yaml", "  - email: bob@example.com\n    first_name: Bob\n    role: admin\n"
                         "    enrollments: [privacy-101]\n", "")
    org.edit("org.yaml", "    department: Americas/Sales/Field Sales\n", "")
    found = impact_of(org)
    assert found["users_deactivated"] == ["bob@example.com"]
    assert found["access_revoked"] == [] and found["access_granted"] == []
    assert "  1 user deactivated: bob@example.com" in org.run("plan", "--summary").output


@pytest.fixture
def ilms(tmp_path: Path, simulators: Simulators, monkeypatch: pytest.MonkeyPatch) -> IlmsOrg:
    monkeypatch.setenv("LMSFORM_NO_CACHE", "1")
    monkeypatch.setenv("ILMS_KEY", KEY)
    return IlmsOrg(tmp_path, simulators, requests_per_second=100)


def test_ilms_a_group_course_reaches_its_members_the_unmanaged_ones_included(
        ilms: IlmsOrg) -> None:
    ilms.apply()
    eve = add_user(ilms.api, "eve@example.com", "Eve")  # the LMS's own, in Managers
    (managers,) = [g for g, group in ilms.sim.groups.items() if group["Name"] == "Managers"]
    assert ilms.api.post(f"/organizations/99999/groups/{managers}/members",
                         json={"userid": eve}).status_code == 201
    ilms.edit("org.yaml", "  - name: Managers\n    courses: [security]",
              "  - name: Managers\n    courses: [privacy]")
    ilms.edit("org.yaml", "    department: EMEA/Operations/Finance\n"
                          "    groups: []\n", "    department: EMEA/Operations/Finance\n"
                                              "    groups: []\n    active: false\n")
    found = impact_of(ilms)
    # Ada stays enrolled in security; Carol is switched off: listed as such, nothing more
    assert found["access_granted"] == grants(("privacy", ["ada@example.com",
                                                          "eve@example.com"]))
    assert found["access_revoked"] == grants(("security", ["eve@example.com"]))
    assert found["users_deactivated"] == ["carol@example.com"]
    summary = click.unstyle(ilms.run("plan", "--summary").output)
    assert "  2 users gain access to 1 course: privacy (ada@example.com, eve@example.com)" \
        in summary
    ilms.apply()
    privacy = next(c for c, course in ilms.sim.courses.items()
                   if course["Name"] == "Data Privacy Basics")
    assert set(ilms.sim.group_courses[managers]) == {privacy}
    assert impact_of(ilms) is None


@pytest.fixture
def school(tmp_path: Path, simulators: Simulators) -> School:
    return School(tmp_path, simulators)


def test_learnworlds_counts_enrollments_and_never_a_groups_courses(school: School) -> None:
    school.apply()
    school.edit("people.yaml", "    username: Grace Hopper\n    enrollments: [security-101]\n",
                "    username: Grace Hopper\n    role: admin\n    groups: [New Managers]\n"
                "    enrollments: [security-101, gdpr-basics]\n")
    school.edit("people.yaml", "active: false              # on leave", "active: true  # back")
    school.edit("people.yaml", "  - email: frida.kahlo@acme.example\n    username: Frida Kahlo\n"
                "    groups: [Sales Team]\n    enrollments: [sales-negotiation]\n"
                "    custom: {tags: [contractor]}\n", "")
    school.edit("catalogue.yaml", "    courses: [leadership-essentials]",
                "    courses: [leadership-essentials, security-101]")
    school.edit("catalogue.yaml", "{plan: standard, amount: 49.00, currency: USD}",
                "{plan: standard, amount: 59.00, currency: USD}")
    school.edit("catalogue.yaml", "coupons:\n", "coupons:\n  - code: NEW5\n"
                                                "    discount: {percent: 5}\n")
    found = impact_of(school)
    # Grace joins New Managers and gains only the course she is enrolled in: LearnWorlds'
    # groups give their members nothing; Alan, back, reaches his course again; Frida, removed,
    # is suspended, and is not listed as losing hers
    assert found == {
        "access_granted": grants(("gdpr-basics", ["grace.hopper@acme.example"]),
                                 ("security-101", ["alan.turing@acme.example"])),
        "access_revoked": [],
        "privilege_changes": [{"user": "grace.hopper@acme.example", "before": "learner",
                               "after": "admin"}],
        "users_created": [], "users_deleted": [],
        "users_deactivated": ["frida.kahlo@acme.example"],
        "users_reactivated": ["alan.turing@acme.example"],
        "pricing_changes": [{"course": "security-101", "plan": "standard",
                             "before": price("49.00"), "after": price("59.00")}],
        "coupon_changes": [{"code": "NEW5", "action": "create",
                            "discount": {"percent": "5"}, "courses": None}]}
    school.apply()
    # what the plan said is what the school holds: the group's courses enrolled nobody
    assert "grace.hopper@acme.example" not in school.enrolled("leadership-essentials")
    assert "grace.hopper@acme.example" in school.enrolled("gdpr-basics")
    assert school.suspended() == {"frida.kahlo@acme.example"}
    assert impact_of(school) is None
