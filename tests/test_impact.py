"""The impact of a plan on people, computed from its operations and what it read of the LMS:
access granted and revoked (by enrollment, and through groups where the provider says a
group's members reach its courses), roles, users created, deleted, switched off and on, prices
and coupons."""

from __future__ import annotations

from typing import Any

import pytest

from lmsform import impact
from lmsform.diff import diff
from lmsform.plan import (
    Action,
    CouponChange,
    CourseAccess,
    Impact,
    Operation,
    PriceChange,
    RoleChange,
)
from lmsform.providers.base import Capabilities
from lmsform.providers.learnworlds import LearnworldsProvider
from lmsform.providers.local import LocalProvider
from lmsform.resources import SENSITIVE

GROUP_ACCESS = LocalProvider.capabilities  # a group's members reach its courses
NO_GROUP_ACCESS = LearnworldsProvider.capabilities  # they do not


def user(email: str, *, groups: list[str] | None = None, enrollments: list[str] | None = None,
         active: bool = True, role: str = "learner") -> dict[str, Any]:
    """A user as the plan reads it from the LMS."""
    return {"email": email, "groups": groups or [], "enrollments": enrollments or [],
            "active": active, "role": role}


def update(kind: str, key: str, before: dict[str, Any], live_id: str = "1", /,
           **desired: Any) -> Operation:
    """An update as matching builds it: the live view before, the manifests' fields over it
    after, and the changes between them."""
    return Operation(address=f"{kind}.{key}", kind=kind, action=Action.UPDATE, id=live_id,
                     before=before, after={**before, **desired},
                     changes=diff(kind, desired, before))


def create(kind: str, key: str, /, **after: Any) -> Operation:
    return Operation(address=f"{kind}.{key}", kind=kind, action=Action.CREATE, after=after)


def remove(kind: str, key: str, before: dict[str, Any], live_id: str = "1",
           action: Action = Action.DELETE) -> Operation:
    after = {**before, "active": False} if action == Action.DEACTIVATE else None
    return Operation(address=f"{kind}.{key}", kind=kind, action=action, id=live_id,
                     before=before, after=after)


def access(*pairs: tuple[str, list[str]]) -> list[CourseAccess]:
    return [CourseAccess(course=course, users=users) for course, users in pairs]


def of(operations: list[Operation], live: dict[str, dict[str, dict[str, Any]]] | None = None,
       capabilities: Capabilities = GROUP_ACCESS) -> Impact:
    found = impact.of(operations, live or {}, capabilities)
    assert found is not None
    return found


def test_no_operations_no_impact() -> None:
    assert impact.of([], {"user": {"1": user("a@x.example")}}, GROUP_ACCESS) is None


def test_direct_enrollments_granted_and_revoked() -> None:
    ann = user("ann@x.example", enrollments=["security"])
    found = of([update("user", "ann@x.example", ann, enrollments=["privacy"])])
    assert found.access_granted == access(("privacy", ["ann@x.example"]))
    assert found.access_revoked == access(("security", ["ann@x.example"]))


def test_a_group_whose_courses_change_changes_its_members_access() -> None:
    """Every member the LMS holds, those no operation touches (unmanaged ones included):
    not one who is switched off, nor one who reaches the course another way."""
    live = {"group": {"g1": {"name": "Ops", "courses": ["security"]},
                      "g2": {"name": "Sales", "courses": ["privacy"]}},
            "user": {"1": user("ann@x.example", groups=["Ops"]),
                     "2": user("bob@x.example", groups=["Ops"], active=False),
                     "3": user("cat@x.example", groups=["Sales"]),
                     "4": user("dan@x.example", groups=["Ops"], enrollments=["privacy"]),
                     "5": user("eve@x.example", groups=["Ops", "Sales"])}}
    ops = [update("group", "Ops", live["group"]["g1"], "g1", courses=["privacy"])]
    found = of(ops, live)
    assert found.access_granted == access(("privacy", ["ann@x.example"]))
    assert found.access_revoked == access(
        ("security", ["ann@x.example", "dan@x.example", "eve@x.example"]))
    assert found.users_created == found.users_deleted == found.users_deactivated == []
    # where the provider's groups give their members nothing, a group's courses are no access
    nothing = of(ops, live, NO_GROUP_ACCESS)
    assert nothing.access_granted == nothing.access_revoked == []


def test_joining_and_leaving_groups_grants_and_revokes_their_courses() -> None:
    live = {"group": {"g1": {"name": "Ops", "courses": ["security", "ops-101"]},
                      "g2": {"name": "Sales", "courses": ["privacy"]}}}
    ann = user("ann@x.example", groups=["Ops"], enrollments=["security"])
    ops = [update("user", "ann@x.example", ann, groups=["Sales"])]
    found = of(ops, live)
    assert found.access_granted == access(("privacy", ["ann@x.example"]))
    assert found.access_revoked == access(("ops-101", ["ann@x.example"]))  # still enrolled
    assert of(ops, live, NO_GROUP_ACCESS).access_granted == []


def test_a_user_joining_a_group_whose_courses_change_too() -> None:
    """The group's courses after the plan, for a member after the plan."""
    live = {"group": {"g1": {"name": "Ops", "courses": ["security"]}},
            "user": {"1": user("ann@x.example"), "2": user("bob@x.example", groups=["Ops"])}}
    ops = [update("group", "Ops", live["group"]["g1"], "g1", courses=["privacy"]),
           update("user", "ann@x.example", live["user"]["1"], "1", groups=["Ops"])]
    found = of(ops, live)
    assert found.access_granted == access(("privacy", ["ann@x.example", "bob@x.example"]))
    assert found.access_revoked == access(("security", ["bob@x.example"]))


def test_a_renamed_group_is_known_by_the_name_its_members_now_give() -> None:
    """The LMS still holds the old name; its members' references are read as the new one
    (the group is matched, and named, before users are read)."""
    live = {"group": {"g1": {"name": "Old Ops", "courses": ["security"]}},
            "user": {"1": user("ann@x.example", groups=["Ops"])}}
    op = update("group", "Ops", live["group"]["g1"], "g1", name="Ops",
                courses=["security", "privacy"])
    assert of([op], live).access_granted == access(("privacy", ["ann@x.example"]))


def test_new_users_and_new_groups_grant_their_courses() -> None:
    ops = [create("group", "Ops", name="Ops", courses=["ops-101"]),
           create("user", "ann@x.example", email="ann@x.example", groups=["Ops"],
                  enrollments=["security"]),
           create("user", "bob@x.example", email="bob@x.example", active=False,
                  enrollments=["security"]),
           create("user", "cat@x.example", email="cat@x.example")]
    found = of(ops)
    assert found.access_granted == access(("ops-101", ["ann@x.example"]),
                                          ("security", ["ann@x.example"]))
    assert found.users_created == ["ann@x.example", "bob@x.example", "cat@x.example"]
    assert found.access_revoked == []


def test_deleted_and_deactivated_users_are_listed_as_such_not_as_losing_access() -> None:
    live = {"group": {"g1": {"name": "Ops", "courses": ["ops-101"]}}}
    ann = user("ann@x.example", groups=["Ops"], enrollments=["security"])
    bob = user("bob@x.example", enrollments=["security"])
    cat = user("cat@x.example", enrollments=["security"])
    ops = [remove("user", "ann@x.example", ann, "1"),
           remove("user", "bob@x.example", bob, "2", Action.DEACTIVATE),
           update("user", "cat@x.example", cat, "3", active=False)]  # `active: false`
    found = of(ops, live)
    assert found.users_deleted == ["ann@x.example"]
    assert found.users_deactivated == ["bob@x.example", "cat@x.example"]
    assert found.access_revoked == found.access_granted == []


def test_a_reactivated_user_is_granted_every_course_again() -> None:
    live = {"group": {"g1": {"name": "Ops", "courses": ["ops-101"]}}}
    ann = user("ann@x.example", groups=["Ops"], enrollments=["security"], active=False)
    found = of([update("user", "ann@x.example", ann, active=True)], live)
    assert found.users_reactivated == ["ann@x.example"]
    assert found.access_granted == access(("ops-101", ["ann@x.example"]),
                                          ("security", ["ann@x.example"]))
    assert found.users_deactivated == [] and found.access_revoked == []


def test_a_deleted_course_is_taken_from_everyone_who_reached_it() -> None:
    live = {"group": {"g1": {"name": "Ops", "courses": ["legacy", "ops-101"]}},
            "user": {"1": user("ann@x.example", enrollments=["legacy"]),
                     "2": user("bob@x.example", groups=["Ops"]),
                     "3": user("cat@x.example", enrollments=["security"])}}
    course = {"key": "legacy", "title": "Legacy", "pricing": {}}
    found = of([remove("course", "legacy", course, "c1")], live)
    assert found.access_revoked == access(("legacy", ["ann@x.example", "bob@x.example"]))
    assert found.access_granted == []


def test_roles_changes_with_escalations_to_admin_first() -> None:
    ops = [update("user", "bob@x.example", user("bob@x.example", role="instructor"), "1",
                  role="learner"),
           update("user", "zed@x.example", user("zed@x.example"), "2", role="admin"),
           update("user", "amy@x.example", user("amy@x.example"), "3", role="instructor"),
           update("user", "ann@x.example", user("ann@x.example", role="admin"), "4",
                  role="instructor"),
           create("user", "new@x.example", email="new@x.example", role="admin"),
           create("user", "low@x.example", email="low@x.example", role="learner"),
           create("user", "any@x.example", email="any@x.example")]
    assert of(ops).privilege_changes == [
        RoleChange(user="new@x.example", before=None, after="admin"),
        RoleChange(user="zed@x.example", before="learner", after="admin"),
        RoleChange(user="amy@x.example", before="learner", after="instructor"),
        RoleChange(user="ann@x.example", before="admin", after="instructor"),
        RoleChange(user="bob@x.example", before="instructor", after="learner")]
    assert [impact.escalates(c) for c in of(ops).privilege_changes[:3]] == [True, True, False]


def price(amount: str, currency: str = "USD", billing: str = "one_time") -> dict[str, str]:
    return {"amount": amount, "currency": currency, "billing": billing}


def test_prices_raised_lowered_added_and_removed_with_their_amounts() -> None:
    security = {"key": "security", "pricing": {"standard": price("49.00"),
                                               "yearly": price("490.00", "EUR", "yearly"),
                                               "team": price("99.00")}}
    ops = [update("course", "security", security, "c1", pricing={
               "standard": price("59.00"), "yearly": price("390.00", "EUR", "yearly"),
               "monthly": price("9.00", billing="monthly")}),
           create("course", "privacy", key="privacy", pricing={"standard": price("19.00")}),
           remove("course", "legacy", {"key": "legacy", "pricing": {"standard": price("5.00")}},
                  "c2")]
    found = of(ops).pricing_changes
    assert found == [
        PriceChange(course="legacy", plan="standard", before=price("5.00"), after=None),
        PriceChange(course="privacy", plan="standard", before=None, after=price("19.00")),
        PriceChange(course="security", plan="monthly", before=None,
                    after=price("9.00", billing="monthly")),
        PriceChange(course="security", plan="standard", before=price("49.00"),
                    after=price("59.00")),
        PriceChange(course="security", plan="team", before=price("99.00"), after=None),
        PriceChange(course="security", plan="yearly", before=price("490.00", "EUR", "yearly"),
                    after=price("390.00", "EUR", "yearly"))]
    assert [impact.price_direction(p) for p in found] == [
        "removed", "added", "added", "raised", "removed", "lowered"]
    other_currency = PriceChange(course="c", plan="p", before=price("9.00"),
                                 after=price("9.00", "EUR"))
    assert impact.price_direction(other_currency) == "changed"


def test_coupons_created_changed_and_removed_with_discount_and_scope() -> None:
    ops = [create("coupon", "WELCOME10", code="WELCOME10", discount={"percent": "10"}),
           update("coupon", "SALES25", {"code": "SALES25", "courses": ["sales"],
                                        "discount": {"percent": "20"}}, "k1",
                  discount={"amount": "25.00", "currency": "USD"}),
           remove("coupon", "OLD5", {"code": "OLD5", "courses": ["a", "b"],
                                     "discount": {"percent": "5"}}, "k2")]
    assert of(ops).coupon_changes == [
        CouponChange(code="OLD5", action=Action.DELETE, discount={"percent": "5"},
                     courses=["a", "b"]),
        CouponChange(code="SALES25", action=Action.UPDATE,
                     discount={"amount": "25.00", "currency": "USD"}, courses=["sales"]),
        CouponChange(code="WELCOME10", action=Action.CREATE, discount={"percent": "10"},
                     courses=None)]  # every course


@pytest.mark.parametrize("field", ["enrollments", "groups", "active"])
def test_a_hidden_value_gives_no_fact(field: str) -> None:
    """Where the plan shows "(sensitive)", impact says nothing that would tell it."""
    live = {"group": {"g1": {"name": "Ops", "courses": ["ops-101"]}}}
    ann = user("ann@x.example", enrollments=["security"])
    op = update("user", "ann@x.example", ann, groups=["Ops"], enrollments=["privacy"])
    assert op.after is not None
    op.after[field] = SENSITIVE
    found = of([op], live)
    assert found.access_granted == found.access_revoked == []


def test_a_group_whose_courses_are_hidden_gives_no_fact() -> None:
    live = {"group": {"g1": {"name": "Ops", "courses": ["security"]}},
            "user": {"1": user("ann@x.example", groups=["Ops"])}}
    op = update("group", "Ops", live["group"]["g1"], "g1", courses=["privacy"])
    assert op.before is not None and op.after is not None
    op.before, op.after = ({**side, "courses": SENSITIVE} for side in (op.before, op.after))
    found = of([op], live)
    assert found.access_granted == found.access_revoked == []
    # nor a group the manifests fill from the environment, whose value the LMS shows
    bob = user("bob@x.example")
    joins = update("user", "bob@x.example", bob, "2", groups=["Ops"])
    from_environment = impact.of([joins], live, GROUP_ACCESS, lambda address: frozenset(
        {"courses"} if address == "group.Ops" else ()))
    assert from_environment is not None and from_environment.access_granted == []
    assert of([joins], live).access_granted == access(("security", ["bob@x.example"]))


def test_moving_between_a_hidden_group_and_a_shown_one_claims_nothing() -> None:
    """What a user reached through a group whose courses come from the environment is not
    known: moving from it to a group holding the same course is no grant (nor the way back
    a loss)."""
    live = {"group": {"h": {"name": "Hidden", "courses": ["a"]},
                      "g": {"name": "Shown", "courses": ["a"]}},
            "user": {"1": user("u@x.example", groups=["Hidden"])}}
    moves = update("user", "u@x.example", live["user"]["1"], "1", groups=["Shown"])
    back = update("user", "u@x.example", user("u@x.example", groups=["Shown"]), "1",
                  groups=["Hidden"])
    for op in (moves, back):
        found = impact.of([op], live, GROUP_ACCESS, lambda address: frozenset(
            {"courses"} if address == "group.Hidden" else ()))
        assert found is not None
        assert found.access_granted == found.access_revoked == []


def test_a_hidden_price_is_named_hidden() -> None:
    op = create("course", "privacy", key="privacy", pricing=SENSITIVE)
    assert of([op]).pricing_changes == [PriceChange(course="privacy", plan=SENSITIVE,
                                                    before=None, after=SENSITIVE)]


def test_a_pruned_duplicate_is_named_as_its_address_names_it() -> None:
    """Two live users with one email: the second pruned is named by its id too."""
    twin = remove("user", "ann@x.example#7", user("ann@x.example", enrollments=["a"]), "7")
    assert of([twin]).users_deleted == ["ann@x.example#7"]
