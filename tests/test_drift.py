"""Drift: changes made in the LMS outside lmsform, told apart from edits of the manifests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lmsform.config import load_config
from lmsform.providers.local import LocalProvider
from tests.support import Org, recorded


def outside_lmsform(org: Org) -> LocalProvider:
    """The LMS, changed as an administrator would in its own screens."""
    return LocalProvider(load_config(org.dir).provider, org.dir)


def users(provider: LocalProvider) -> dict[str, Any]:
    return {u.attrs["email"]: u for u in provider.list_all("user")}


def state(org: Org) -> dict[str, Any]:
    resources: dict[str, Any] = recorded(org.state_path)
    return resources


def drift_lms(org: Org) -> None:
    """Ada renamed, Bob deleted and created again, the group's description changed, the
    coupon deleted, a stranger added: all outside lmsform."""
    lms = outside_lmsform(org)
    try:
        found = users(lms)
        lms.update("user", found["ada@example.com"].id, {"first_name": "Augusta"},
                   {"first_name": "Ada"})
        bob = found["bob@example.com"]
        lms.delete("user", bob.id)
        lms.create("user", {k: v for k, v in bob.attrs.items() if v is not None})
        (group,) = lms.list_all("group")
        lms.update("group", group.id, {"description": "Managers of people"},
                   {"description": "People managers"})
        (coupon,) = lms.list_all("coupon")
        lms.delete("coupon", coupon.id)
        lms.create("user", {"email": "stranger@example.com", "first_name": "Stray"})
    finally:
        lms.close()


def test_refresh_only_reports_drift_and_proposes_nothing(org: Org) -> None:
    org.apply()
    assert org.run("plan", "--refresh-only", "--detailed-exitcode").exit_code == 0
    drift_lms(org)
    result = org.run("plan", "--refresh-only", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "~ user.ada@example.com (changed)" in result.output
    assert 'first_name: "Ada" -> "Augusta"' in result.output
    assert "- coupon.WELCOME10 (deleted outside lmsform)" in result.output
    assert "-/+ user.bob@example.com (re-created outside lmsform: id " in result.output
    assert "Drift: 2 changed, 1 deleted, 1 re-created." in result.output
    assert "lmsform will perform" not in result.output
    plan = json.loads(org.run("plan", "--refresh-only", "--json").output)
    assert plan["refresh_only"] is True and plan["operations"] == []
    assert {d["address"]: d["what"] for d in plan["drift"]} == {
        "user.ada@example.com": "changed", "user.bob@example.com": "recreated",
        "group.Managers": "changed", "coupon.WELCOME10": "deleted"}
    markdown = org.run("plan", "--refresh-only", "--format", "markdown").output
    assert "**Drift: 2 changed, 1 deleted, 1 re-created.**" in markdown
    assert "| `~` | `user.ada@example.com` | changed |" in markdown


def test_a_normal_plan_says_which_changes_come_from_the_lms(org: Org) -> None:
    org.apply()
    drift_lms(org)
    org.edit("org.yaml", "    first_name: Bob\n", "    first_name: Robert\n")
    org.edit("org.yaml", "    description: People managers\n",
             "    description: Our managers\n")
    plan = json.loads(org.run("plan", "--json").output)
    causes = {(op["address"], c["field"]): c["cause"] for op in plan["operations"]
              for c in op["changes"]}
    assert causes[("user.ada@example.com", "first_name")] == "lms"
    assert causes[("group.Managers", "description")] == "both"
    text = org.run("plan").output
    assert 'first_name: "Augusta" -> "Ada"  (changed in the LMS since the last apply)' in text
    assert "(changed in the LMS and in the manifests)" in text


def test_apply_refresh_only_accepts_drift_into_state_and_leaves_the_lms(org: Org) -> None:
    org.apply()
    drift_lms(org)
    before = state(org)
    result = org.run("apply", "--refresh-only", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "State updated: 4 resources" in result.output
    after = state(org)
    assert after["user.ada@example.com"]["attributes"]["first_name"] == "Augusta"
    assert after["user.bob@example.com"]["id"] != before["user.bob@example.com"]["id"]
    assert "coupon.WELCOME10" not in after
    assert org.run("plan", "--refresh-only", "--detailed-exitcode").exit_code == 0
    lms = outside_lmsform(org)
    try:
        assert users(lms)["ada@example.com"].attrs["first_name"] == "Augusta"
    finally:
        lms.close()
    plan = json.loads(org.run("plan", "--json").output)  # now an edit of the manifests
    (ada,) = [op for op in plan["operations"] if op["address"] == "user.ada@example.com"]
    assert ada["changes"] == [{"field": "first_name", "before": "Augusta", "after": "Ada",
                               "cause": "manifests", "reason": None}]
    assert [op["action"] for op in plan["operations"]
            if op["address"] == "coupon.WELCOME10"] == ["create"]


def test_a_refresh_only_plan_cannot_be_applied_as_a_saved_plan(org: Org) -> None:
    org.apply()
    saved = org.dir / "refresh.json"
    assert org.run("plan", "--refresh-only", "--out", str(saved)).exit_code == 0
    refused = org.run("apply", str(saved))
    assert refused.exit_code == 1 and "apply --refresh-only" in refused.output


def test_show_unmanaged_lists_them_by_address(org: Org) -> None:
    org.apply()
    drift_lms(org)
    counted = org.run("plan")
    assert "Unmanaged (in the LMS, in neither the manifests nor the state; left alone): " \
           "1 user." in counted.output
    assert "stranger" not in counted.output
    listed = org.run("plan", "--show-unmanaged")
    assert "  ? user.stranger@example.com" in listed.output
    plan = json.loads(org.run("plan", "--show-unmanaged", "--json").output)
    assert plan["unmanaged"] == {"user": 1}
    assert plan["unmanaged_resources"] == {"user": ["user.stranger@example.com"]}
    markdown = org.run("plan", "--show-unmanaged", "--format", "markdown").output
    assert "- `user.stranger@example.com`" in markdown


def test_ignored_fields_are_not_drift_and_a_target_narrows_it(org: Org) -> None:
    org.edit("org.yaml", "    first_name: Ada\n",
             "    first_name: Ada\n    lifecycle: {ignore_changes: [first_name]}\n")
    org.apply()
    drift_lms(org)
    plan = json.loads(org.run("plan", "--refresh-only", "--json").output)
    assert "user.ada@example.com" not in {d["address"] for d in plan["drift"]}
    targeted = json.loads(org.run("plan", "--refresh-only", "--json", "--target",
                                  "group.*").output)
    assert [d["address"] for d in targeted["drift"]] == ["group.Managers"]
    accepted = org.run("apply", "--refresh-only", "--auto-approve", "--target", "group.*")
    assert "State updated: 1 resources" in accepted.output
    assert state(org)["user.bob@example.com"]["id"] != str(  # bob's record was left alone
        users(outside_lmsform(org))["bob@example.com"].id)


def test_forgetting_what_was_found_deleted_keeps_the_safety_limits(org: Org) -> None:
    org.write("more.yaml", "users:\n" + "".join(
        f"  - {{email: u{i}@example.com, first_name: U{i}}}\n" for i in range(10)))
    org.apply()
    lms = outside_lmsform(org)
    try:  # an LMS read from the wrong account looks like this: nearly everything gone
        for email, user in users(lms).items():
            if email != "ada@example.com":
                lms.delete("user", user.id)
    finally:
        lms.close()
    before = org.state_path.read_text()
    refused = org.run("apply", "--refresh-only", "--auto-approve")
    assert refused.exit_code == 1, refused.output
    assert "Blocked: forgets (found deleted) 11 of 12 managed users" in refused.output
    assert org.state_path.read_text() == before
    limited = org.run("apply", "--refresh-only", "--auto-approve", "--target", "user.u1*",
                      "--max-deletes", "0")
    assert limited.exit_code == 1 and "more than --max-deletes 0" in limited.output
    assert org.state_path.read_text() == before
    forced = org.run("apply", "--refresh-only", "--auto-approve", "--force")
    assert forced.exit_code == 0, forced.output
    assert sorted(a for a in state(org) if a.startswith("user.")) == ["user.ada@example.com"]


def test_drift_never_shows_nor_records_a_secret(org: Org,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An administrator pasted a value lmsform keeps secret (here, one the manifests take
    from the environment) into a field lmsform manages: the drift shows `(sensitive)`, and
    accepting it records nothing of it."""
    monkeypatch.setenv("ENROL_KEY", "enrol-Key-Secret-42")
    org.edit("org.yaml", "    title: Security Awareness\n",
             "    title: Security Awareness\n    custom: {enrol_key: '${env:ENROL_KEY}'}\n")
    org.apply()
    lms = outside_lmsform(org)
    try:
        (group,) = lms.list_all("group")
        lms.update("group", group.id, {"description": "enrol-Key-Secret-42"},
                   {"description": "People managers"})
    finally:
        lms.close()
    for args in (["--json"], ["--format", "markdown"], []):
        shown = org.run("plan", "--refresh-only", *args).stdout
        assert "enrol-Key" not in shown and "(sensitive)" in shown
    assert org.run("apply", "--refresh-only", "--auto-approve").exit_code == 0
    assert "enrol-Key" not in org.state_path.read_text()
