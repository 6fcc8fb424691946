"""Normalised diffs: only real differences in managed fields are changes."""

from __future__ import annotations

from decimal import Decimal

from lmsform.diff import changed_fields, diff
from lmsform.resources import normalise


def test_membership_lists_compare_as_sets() -> None:
    desired = normalise("user", {"email": "a@x.io", "groups": ["B", "A", "A"]})
    live = normalise("user", {"email": "a@x.io", "groups": ["A", "B"]})
    assert diff("user", desired, live) == []


def test_emails_compare_case_insensitively() -> None:
    desired = normalise("user", {"email": "Ada@Example.COM"})
    live = normalise("user", {"email": "ada@example.com"})
    assert diff("user", desired, live) == []


def test_money_compares_as_decimals() -> None:
    desired = normalise("course", {"key": "k", "pricing": [
        {"plan": "std", "amount": Decimal("49"), "currency": "usd"}]})
    live = normalise("course", {"key": "k", "pricing": [
        {"plan": "std", "amount": 49.0, "currency": "USD", "billing": "one_time"}]})
    assert diff("course", desired, live) == []
    cheaper = normalise("course", {"key": "k", "pricing": [
        {"plan": "std", "amount": "39.00", "currency": "USD"}]})
    (change,) = diff("course", cheaper, live)
    assert change.field == "pricing[std]"
    assert change.before["amount"] == "49.00" and change.after["amount"] == "39.00"


def test_pricing_plans_added_and_removed_show_per_plan() -> None:
    desired = normalise("course", {"key": "k", "pricing": [
        {"plan": "new", "amount": 1, "currency": "USD"}]})
    live = normalise("course", {"key": "k", "pricing": [
        {"plan": "old", "amount": 1, "currency": "USD"}]})
    changes = {c.field: (c.before, c.after) for c in diff("course", desired, live)}
    assert set(changes) == {"pricing[new]", "pricing[old]"}
    assert changes["pricing[old]"][1] is None and changes["pricing[new]"][0] is None


def test_fields_absent_from_the_manifest_are_not_managed() -> None:
    desired = normalise("user", {"email": "a@x.io", "first_name": "Ada"})
    live = normalise("user", {"email": "a@x.io", "first_name": "Ada", "last_name": "L",
                              "groups": ["X"]})
    assert diff("user", desired, live) == []


def test_an_empty_list_is_authoritative() -> None:
    desired = normalise("user", {"email": "a@x.io", "groups": []})
    live = normalise("user", {"email": "a@x.io", "groups": ["X"]})
    (change,) = diff("user", desired, live)
    assert (change.field, change.before, change.after) == ("groups", ["X"], [])


def test_ignore_changes_is_honoured() -> None:
    desired = normalise("user", {"email": "a@x.io", "first_name": "Ada", "job_title": "CTO"})
    live = normalise("user", {"email": "a@x.io", "first_name": "Augusta", "job_title": "CTO"})
    assert diff("user", desired, live, ignore=["first_name"]) == []
    assert [c.field for c in diff("user", desired, live)] == ["first_name"]


def test_write_only_fields_are_never_diffed() -> None:
    desired = {"email": "a@x.io", "password": "secret"}
    assert diff("user", desired, {"email": "a@x.io"}) == []


def test_only_managed_custom_keys_are_compared() -> None:
    desired = {"email": "a@x.io", "custom": {"cost_center": "CC-1"}}
    live = {"email": "a@x.io", "custom": {"cost_center": "CC-1", "badge": 7}}
    assert diff("user", desired, live) == []
    (change,) = diff("user", {**desired, "custom": {"cost_center": "CC-2"}}, live)
    assert change.field == "custom.cost_center" and change.before == "CC-1"


def test_changes_come_in_schema_field_order_and_name_their_fields() -> None:
    desired = normalise("user", {"email": "a@x.io", "role": "admin", "first_name": "A"})
    live = normalise("user", {"email": "a@x.io", "role": "learner", "first_name": "B"})
    changes = diff("user", desired, live)
    assert [c.field for c in changes] == ["first_name", "role"]
    assert changed_fields(changes) == {"first_name", "role"}
    assert changed_fields(diff("course", normalise("course", {"pricing": []}), normalise(
        "course", {"pricing": [{"plan": "p", "amount": 1, "currency": "USD"}]}))) == {"pricing"}


def test_coupon_discounts_and_credits_normalise() -> None:
    assert normalise("coupon", {"discount": {"percent": Decimal("10.0")}}) == {
        "discount": {"percent": "10"}}
    assert normalise("coupon", {"discount": {"amount": 5, "currency": "eur"}}) == {
        "discount": {"amount": "5.00", "currency": "EUR"}}
    assert normalise("course", {"credits": Decimal("2.0")}) == {"credits": 2}
    assert normalise("course", {"credits": 1.5}) == {"credits": 1.5}
