"""Planning against the embedded LMS: matching, actions, order, removals and safety."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, ClassVar

import pytest

from lmsform import providers
from lmsform.apply import apply_plan
from lmsform.backends.file import FileBackend
from lmsform.config import load_config
from lmsform.errors import LmsformError, PlanError
from lmsform.plan import Action, Operation, Plan
from lmsform.planning import PlanOptions, check_capabilities, make_plan
from lmsform.planning.finishing import _order
from lmsform.providers.base import Capabilities, KindSupport
from lmsform.providers.local import LocalProvider
from lmsform.render import closing_line, render_text
from lmsform.resources import SCHEMAS, LiveResource
from lmsform.state import State
from tests.support import Org, recorded


def plan_of(org: Org, provider_cls: type[LocalProvider] = LocalProvider, **options) -> Plan:
    config = load_config(org.dir)
    provider = provider_cls(config.provider, org.dir)
    try:
        state = State.load(FileBackend.at(org.state_path))
        return make_plan(config, state, provider, PlanOptions(**options))
    finally:
        provider.close()


def actions(plan: Plan) -> dict[str, str]:
    return {op.address: op.action for op in plan.operations}


def apply(org: Org, *extra: str) -> None:
    result = org.run("apply", "--auto-approve", *extra)
    assert result.exit_code == 0, result.output


def sql(org: Org, query: str, *args) -> list[tuple]:
    with sqlite3.connect(org.db_path) as db:
        return db.execute(query, args).fetchall()


def test_first_plan_creates_everything_parents_first(org: Org) -> None:
    plan = plan_of(org)
    assert set(actions(plan).values()) == {"create"}
    addresses = [op.address for op in plan.operations]
    assert addresses[:4] == ["region.Americas", "division.Americas/Sales",
                             "department.Americas/Sales/Field Sales",
                             "department.Americas/Sales/Inside Sales"]
    position = {a: i for i, a in enumerate(addresses)}
    for op in plan.operations:
        assert all(position[d] < position[op.address] for d in op.depends_on)
    user = next(op for op in plan.operations if op.address == "user.ada@example.com")
    assert set(user.depends_on) == {"department.Americas/Sales/Inside Sales", "group.Managers",
                                    "course.security-101"}
    assert closing_line(plan) == "Plan: 9 to create, 0 to update, 0 to delete, 0 to adopt."
    assert not org.db_path.exists(), "planning must not create the LMS"


def test_apply_converges_and_fields_left_out_are_untouched(org: Org) -> None:
    apply(org)
    assert plan_of(org).operations == []
    # Someone edits a field the manifest does not set, and one it does.
    sql(org, "UPDATE users SET last_name = 'Builder', first_name = 'Robert' "
             "WHERE email = 'bob@example.com'")
    assert [(op.address, [c.field for c in op.changes]) for op in plan_of(org).operations] == [
        ("user.bob@example.com", ["first_name"])]


def test_live_resources_are_adopted_by_natural_key_without_calls(org: Org) -> None:
    apply(org)
    ids = sql(org, "SELECT id, created_at FROM users ORDER BY id")
    org.state_path.unlink()
    plan = plan_of(org)
    assert set(actions(plan).values()) == {"adopt"}
    assert plan.summary["adopt"] == 9
    apply(org)
    assert sql(org, "SELECT id, created_at FROM users ORDER BY id") == ids
    assert len(recorded(org.state_path)) == 9
    assert plan_of(org).operations == []


def test_adopting_a_resource_that_differs_updates_it(org: Org) -> None:
    apply(org)
    org.state_path.unlink()
    sql(org, "UPDATE groups_ SET description = 'old text'")
    (op,) = [op for op in plan_of(org).operations if op.action != "adopt"]
    assert (op.address, op.action, op.reason) == ("group.Managers", "update",
                                                  "adopted: found by natural key")


def test_moved_renames_in_place(org: Org) -> None:
    apply(org)
    (dept_id,) = sql(org, "SELECT id FROM departments WHERE name = 'Field Sales'")
    org.edit("org.yaml", "[Inside Sales, Field Sales]", "[Inside Sales, Field Ops]")
    org.edit("org.yaml", "department: Americas/Sales/Field Sales",
             "department: Americas/Sales/Field Ops")
    org.write("moved.yaml", """\
        moved:
          - from: department.Americas/Sales/Field Sales
            to: department.Americas/Sales/Field Ops
        """)
    plan = plan_of(org)
    (op,) = plan.operations
    assert (op.action, op.moved_from, op.id) == (
        "update", "department.Americas/Sales/Field Sales", str(dept_id[0]))
    assert [(c.field, c.before, c.after) for c in op.changes] == [
        ("name", "Field Sales", "Field Ops")]
    apply(org)
    assert sql(org, "SELECT id, name FROM departments WHERE id = ?", dept_id[0]) == [
        (dept_id[0], "Field Ops")]
    state = recorded(org.state_path)
    assert "department.Americas/Sales/Field Ops" in state
    assert "department.Americas/Sales/Field Sales" not in state
    assert plan_of(org).operations == []


def test_a_rename_without_moved_creates_then_moves_users_then_deletes(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", "[Inside Sales, Field Sales]", "[Inside Sales, Field Ops]")
    org.edit("org.yaml", "department: Americas/Sales/Field Sales",
             "department: Americas/Sales/Field Ops")
    plan = plan_of(org)
    assert [(op.address, op.action) for op in plan.operations] == [
        ("department.Americas/Sales/Field Ops", "create"),
        ("user.bob@example.com", "update"),
        ("department.Americas/Sales/Field Sales", "delete"),
    ]
    assert plan.operations[2].depends_on == ["user.bob@example.com"]
    apply(org)
    assert plan_of(org).operations == []


def test_renaming_a_region_carries_its_children_along(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", "region: Americas", "region: AMER")
    org.edit("org.yaml", "department: Americas/", "department: AMER/")
    org.write("moved.yaml", "moved:\n  - {from: region.Americas, to: region.AMER}\n")
    plan = plan_of(org)
    assert actions(plan) == {
        "region.AMER": "update",
        "division.AMER/Sales": "move",
        "department.AMER/Sales/Field Sales": "move",
        "department.AMER/Sales/Inside Sales": "move",
    }
    apply(org)
    assert plan_of(org).operations == []
    assert sql(org, "SELECT count(*) FROM departments") == [(2,)]


def test_removed_users_are_deactivated_or_deleted(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", "  - email: bob@example.com\n    first_name: Bob\n"
             "    department: Americas/Sales/Field Sales\n", "")
    (op,) = plan_of(org).operations
    assert (op.address, op.action) == ("user.bob@example.com", "deactivate")
    apply(org)
    assert sql(org, "SELECT active FROM users WHERE email = 'bob@example.com'") == [(0,)]
    plan = plan_of(org)
    assert plan.operations == [] and plan.unmanaged == {}  # deactivated users stay known


def test_user_removal_delete(org: Org) -> None:
    apply(org)
    org.write("settings.yaml", "settings: {user_removal: delete}\n")
    org.edit("org.yaml", "  - email: bob@example.com\n    first_name: Bob\n"
             "    department: Americas/Sales/Field Sales\n", "")
    assert actions(plan_of(org)) == {"user.bob@example.com": "delete"}
    apply(org)
    assert sql(org, "SELECT count(*) FROM users") == [(1,)]


def test_deleting_a_group_waits_for_memberships_to_go(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", "    groups: [Managers]\n", "    groups: []\n")
    org.edit("org.yaml", "  - name: Managers\n    description: People managers\n"
             "    courses: [security-101]\n", "")
    org.edit("org.yaml", "groups:\n", "groups: []\n")
    plan = plan_of(org)
    assert [(op.address, op.action) for op in plan.operations] == [
        ("user.ada@example.com", "update"), ("group.Managers", "delete")]
    assert plan.operations[1].depends_on == ["user.ada@example.com"]
    apply(org)
    assert sql(org, "SELECT count(*) FROM user_groups") == [(0,)]


def test_unmanaged_resources_are_counted_and_pruned_only_on_request(org: Org) -> None:
    apply(org)
    sql(org, "INSERT INTO groups_ (name, created_at) VALUES ('Legacy', 'x'), ('Old', 'x')")
    sql(org, "INSERT INTO users (email, created_at) VALUES ('ghost@example.com', 'x')")
    plan = plan_of(org)
    assert plan.operations == [] and plan.unmanaged == {"group": 2, "user": 1}
    assert "2 groups, 1 user" in render_text(plan)
    org.write("settings.yaml", "settings: {prune: [group]}\n")
    assert actions(plan_of(org)) == {"group.Legacy": "delete", "group.Old": "delete"}
    org.write("settings.yaml", "settings: {prune: true}\n")
    assert actions(plan_of(org)) == {"group.Legacy": "delete", "group.Old": "delete",
                                     "user.ghost@example.com": "deactivate"}


def test_prevent_destroy_is_remembered_in_state(org: Org) -> None:
    org.edit("org.yaml", "    title: Security Awareness\n",
             "    title: Security Awareness\n    lifecycle: {prevent_destroy: true}\n")
    apply(org)
    state = recorded(org.state_path)
    assert state["course.security-101"]["prevent_destroy"] is True
    # Dropping the lifecycle block and the course together does not bypass the protection.
    org.write("org.yaml", "users: []\n")
    with pytest.raises(PlanError, match=r"course.security-101: removed from the manifests, but "
                                        r"its state records lifecycle.prevent_destroy"):
        plan_of(org)


def test_prevent_destroy_must_be_switched_off_and_applied_first(org: Org) -> None:
    org.edit("org.yaml", "    title: Security Awareness\n",
             "    title: Security Awareness\n    lifecycle: {prevent_destroy: true}\n")
    apply(org)
    org.edit("org.yaml", "prevent_destroy: true", "prevent_destroy: false")
    assert actions(plan_of(org)) == {"course.security-101": "record"}
    apply(org)
    assert recorded(org.state_path)[
        "course.security-101"]["prevent_destroy"] is False


def test_safety_limits_block_large_removals(org: Org) -> None:
    groups = "".join(f"  - name: Team {i}\n" for i in range(12))
    org.write("teams.yaml", "groups:\n" + groups)
    apply(org)
    org.write("teams.yaml", "groups:\n" + "".join(f"  - name: Team {i}\n" for i in range(8)))
    plan = plan_of(org)
    assert plan.summary["delete"] == 4
    assert plan.blocked == [
        "removes or replaces 4 of 13 managed groups (31%), more than max_delete_fraction "
        "30%; apply with --force if this is intended"]
    result = org.run("apply", "--auto-approve")
    assert result.exit_code == 1 and "exceeds a safety limit" in result.output
    assert sql(org, "SELECT count(*) FROM groups_") == [(13,)]
    assert plan_of(org, max_deletes=3).blocked[-1].startswith(
        "removes or replaces 4 resources, more than --max-deletes 3")
    apply(org, "--force")
    assert sql(org, "SELECT count(*) FROM groups_") == [(9,)]


def test_recreating_what_vanished_from_the_lms_is_held_by_the_safety_limits(
        org: Org) -> None:
    """An LMS read from the wrong account, or through a gateway that answers empty lists,
    looks as if everything lmsform manages vanished: re-creating it all would double the
    catalogue, so it is held as removals are."""
    org.write("teams.yaml", "groups:\n" + "".join(f"  - name: Team {i}\n" for i in range(12)))
    apply(org)
    sql(org, "DELETE FROM groups_ WHERE name LIKE 'Team %' AND name NOT IN ('Team 0')")
    plan = plan_of(org)
    assert plan.summary["create"] == 11
    assert plan.blocked == [
        "re-creates (vanished from the LMS) 11 of 13 managed groups (85%), more than "
        "max_delete_fraction 30%; apply with --force if this is intended"]
    result = org.run("apply", "--auto-approve")
    assert result.exit_code == 1 and "exceeds a safety limit" in result.output
    assert sql(org, "SELECT count(*) FROM groups_") == [(2,)]
    sql(org, "DELETE FROM groups_ WHERE name = 'Team 0'")
    assert plan_of(org, max_deletes=3).blocked[-1].startswith(
        "removes, replaces or re-creates (vanished from the LMS) 12 resources, more than "
        "--max-deletes 3")
    apply(org, "--force")
    assert sql(org, "SELECT count(*) FROM groups_") == [(13,)]


def test_coupon_code_change_is_a_replace(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", "code: WELCOME10", "code: WELCOME15")
    org.write("moved.yaml", "moved:\n  - {from: coupon.WELCOME10, to: coupon.WELCOME15}\n")
    (op,) = plan_of(org).operations
    assert (op.action, op.reason) == ("replace", "code cannot be changed in place")
    apply(org)
    assert sql(org, "SELECT code FROM coupons") == [("WELCOME15",)]


def test_targets_and_excludes(org: Org) -> None:
    plan = plan_of(org, targets=["region.*", "division.*"])
    assert list(actions(plan)) == ["region.Americas", "division.Americas/Sales"]
    assert plan.warnings[0].startswith("--target/--exclude in effect: this plan is partial")
    assert plan_of(org).warnings == []
    plan = plan_of(org, excludes=["coupon.*"])
    assert "coupon.WELCOME10" not in actions(plan) and len(plan.operations) == 8
    with pytest.raises(PlanError, match=r"user\.bob@example\.com needs department"):
        plan_of(org, targets=["user.bob@example.com"])


class ReadOnlyCourses(LocalProvider):
    """A vendor that cannot create courses nor store their credits, and has no coupons."""

    capabilities: ClassVar[Capabilities] = Capabilities(kinds={
        **{k: v for k, v in LocalProvider.capabilities.kinds.items() if k != "coupon"},
        "course": KindSupport(fields=frozenset(SCHEMAS["course"].fields) - {"credits"},
                              create=False, delete=False,
                              advice="Create it in the vendor's admin UI first."),
    })


def test_capabilities_turn_impossible_changes_into_plan_errors(org: Org) -> None:
    with pytest.raises(PlanError) as caught:
        plan_of(org, ReadOnlyCourses)
    messages = [str(p) for p in caught.value.problems]  # one layout for every located error
    assert any(m.endswith("org.yaml:30:5: error: coupons[0]: coupon.WELCOME10: the local "
                          "provider does not manage coupons; remove them from the manifests")
               for m in messages)
    assert any(m.endswith("org.yaml:10:14: error: courses[0].credits: course.security-101: the "
                          "local provider does not support the course field 'credits'; "
                          "remove it") for m in messages)
    assert str(caught.value).endswith("2 errors; nothing was contacted or changed.")
    org.edit("org.yaml", "    credits: 2\n", "")
    org.edit("org.yaml", "coupons:\n  - code: WELCOME10\n    discount: {percent: 10}\n"
             "    courses: [security-101]\n", "")
    with pytest.raises(PlanError, match=r"course.security-101: not found in the LMS, and the "
                                        r"local provider cannot create courses. Create it in "
                                        r"the vendor's admin UI first."):
        plan_of(org, ReadOnlyCourses)


def test_ignore_changes_leaves_drift_alone(org: Org) -> None:
    org.edit("org.yaml", "    first_name: Bob\n",
             "    first_name: Bob\n    lifecycle: {ignore_changes: [first_name]}\n")
    apply(org)
    sql(org, "UPDATE users SET first_name = 'Robert' WHERE email = 'bob@example.com'")
    assert plan_of(org).operations == []


def test_a_plan_warns_when_another_provider_release_last_applied(org: Org) -> None:
    from lmsform import __version__
    apply(org)
    data = json.loads(org.state_path.read_text())
    assert data["provider"]["plugin"] == f"lmsform {__version__}"
    assert plan_of(org).warnings == []
    data["provider"]["plugin"] = "lmsform 0.0.1"
    org.state_path.write_text(json.dumps(data))
    assert plan_of(org).warnings == [
        f"the local provider installed is lmsform {__version__}; lmsform 0.0.1 last applied "
        "this state"]


def test_state_of_another_lms_is_refused(org: Org) -> None:
    apply(org)
    org.edit("main.yaml", "path: lms.sqlite", "path: other.sqlite")
    result = org.run("plan")
    assert result.exit_code == 1
    # outside a repository, the LMS file is named by its absolute path
    assert f"belongs to local 'local:{(org.dir / 'lms.sqlite').resolve()}'" in result.output


def test_moved_changes_an_email_and_a_course_key_in_place(org: Org) -> None:
    apply(org)
    (user_id,) = sql(org, "SELECT id FROM users WHERE email = 'bob@example.com'")
    (course_id,) = sql(org, "SELECT id FROM courses WHERE key = 'security-101'")
    org.edit("org.yaml", "email: bob@example.com", "email: robert@example.com")
    org.write("org.yaml", (org.dir / "org.yaml").read_text().replace("security-101", "sec-101"))
    org.write("moved.yaml", """\
        moved:
          - {from: user.bob@example.com, to: user.robert@example.com}
          - {from: course.security-101, to: course.sec-101}
        """)
    plan = plan_of(org)
    assert [(op.address, op.action, [c.field for c in op.changes]) for op in plan.operations] \
        == [("course.sec-101", "update", ["key"]), ("user.robert@example.com", "update", ["email"])]
    apply(org)
    assert sql(org, "SELECT id FROM users WHERE email = 'robert@example.com'") == [user_id]
    assert sql(org, "SELECT id FROM courses WHERE key = 'sec-101'") == [course_id]
    assert plan_of(org).operations == []


def apply_with(org: Org, provider_cls: type[LocalProvider]) -> None:
    """Plan and apply through a test provider (the CLI only knows installed ones)."""
    config = load_config(org.dir)
    provider = provider_cls(config.provider, org.dir)
    try:
        state = State.load(FileBackend.at(org.state_path))
        plan = make_plan(config, state, provider)
        secrets = {a: r.secrets for a, r in config.resources.items() if r.secrets}
        assert apply_plan(plan, state, provider, secrets).ok
    finally:
        provider.close()


def test_a_resource_gone_from_the_lms_and_the_manifests_is_forgotten(org: Org) -> None:
    apply(org)
    sql(org, "DELETE FROM coupons")
    org.edit("org.yaml", "coupons:\n  - code: WELCOME10\n    discount: {percent: 10}\n"
             "    courses: [security-101]\n", "")
    (op,) = plan_of(org).operations
    assert (op.address, op.action) == ("coupon.WELCOME10", "forget")
    apply(org)
    assert "coupon.WELCOME10" not in recorded(org.state_path)
    assert plan_of(org).operations == []


class UndeletableGroups(LocalProvider):
    capabilities: ClassVar[Capabilities] = Capabilities(kinds={
        **LocalProvider.capabilities.kinds,
        "group": KindSupport(fields=frozenset(SCHEMAS["group"].fields), delete=False,
                             advice="Groups are deleted in the vendor's admin UI."),
    })


def test_removing_a_kind_the_provider_cannot_delete_is_a_plan_error(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", "    groups: [Managers]\n", "")
    org.edit("org.yaml", "  - name: Managers\n    description: People managers\n"
             "    courses: [security-101]\n", "")
    org.edit("org.yaml", "groups:\n", "groups: []\n")
    assert actions(plan_of(org))["group.Managers"] == "delete"
    with pytest.raises(PlanError) as caught:
        plan_of(org, UndeletableGroups)
    assert caught.value.messages == [
        "group.Managers: removed from the manifests, but the local provider cannot delete "
        "groups. Groups are deleted in the vendor's admin UI. To stop managing it without "
        "deleting it, run `lmsform state rm group.Managers`"]


def test_prevent_destroy_refuses_a_replace(org: Org) -> None:
    org.edit("org.yaml", "    discount: {percent: 10}\n",
             "    discount: {percent: 10}\n    lifecycle: {prevent_destroy: true}\n")
    apply(org)
    org.edit("org.yaml", "code: WELCOME10", "code: WELCOME15")
    org.write("moved.yaml", "moved:\n  - {from: coupon.WELCOME10, to: coupon.WELCOME15}\n")
    with pytest.raises(PlanError) as caught:
        plan_of(org)
    (problem,) = caught.value.problems
    assert str(problem).endswith(
        "error: coupons[0]: coupon.WELCOME15: must be replaced (code cannot be changed in "
        "place), but lifecycle.prevent_destroy is set; set it to false first, or undo the "
        "change")


class UnlistableUsers(LocalProvider):
    """A vendor with no user list call: users are read by id and looked up by email."""

    capabilities: ClassVar[Capabilities] = Capabilities(kinds={
        **LocalProvider.capabilities.kinds,
        "user": KindSupport(fields=frozenset(SCHEMAS["user"].fields), deactivate=True,
                            listable=False),
    })
    calls: ClassVar[list[tuple[str, object]]] = []

    def list_all(self, kind: str) -> list[LiveResource]:
        assert kind != "user", "users cannot be listed"
        return super().list_all(kind)

    def read(self, kind: str, ids: list[str]) -> list[LiveResource]:
        self.calls.append(("read", sorted(ids)))
        return [r for r in super().list_all(kind) if r.id in ids]

    def find(self, kind: str, key: str) -> LiveResource | None:
        self.calls.append(("find", key))
        return next((r for r in super().list_all(kind) if r.attrs["email"] == key), None)


def test_a_kind_that_cannot_be_listed_is_read_by_id_and_found_by_key(org: Org) -> None:
    UnlistableUsers.calls.clear()
    sql_setup = LocalProvider(load_config(org.dir).provider, org.dir)
    sql_setup.create("user", {"email": "bob@example.com", "first_name": "Bob"})
    sql_setup.close()
    plan = plan_of(org, UnlistableUsers)
    assert sorted(UnlistableUsers.calls) == [
        ("find", "ada@example.com"), ("find", "bob@example.com"), ("read", [])]
    assert actions(plan)["user.ada@example.com"] == "create"
    assert actions(plan)["user.bob@example.com"] == "update"  # found by email, adopted
    assert plan.unmanaged["user"] is None
    assert "users unknown (the LMS cannot list them)" in render_text(plan)
    apply_with(org, UnlistableUsers)
    UnlistableUsers.calls.clear()
    assert plan_of(org, UnlistableUsers).operations == []
    (call,) = UnlistableUsers.calls  # converged: one read of the ids in state, no lookups
    assert call[0] == "read" and len(call[1]) == 2  # type: ignore[arg-type]
    notes = plan_of(org, UnlistableUsers).notes
    assert len(notes) == 1 and notes[0].startswith(
        "users: the LMS cannot list them, so the 2 lmsform knows were read one by one, in ")
    assert notes[0].endswith(" s per 1,000)")
    assert plan_of(org).notes == []  # a kind read by listing needs no note


def test_prune_of_a_kind_that_cannot_be_listed_is_refused_offline(org: Org) -> None:
    org.write("settings.yaml", "settings: {prune: [user]}\n")
    with pytest.raises(PlanError, match=r"settings.prune: the local provider cannot list "
                                        r"users, so lmsform cannot see the ones it does not "
                                        r"manage; take 'user' out of prune"):
        check_capabilities(load_config(org.dir), UnlistableUsers)


class PaddedNames(LocalProvider):
    """A vendor that pads first names and upper-cases job titles when it reads them back."""

    def list_all(self, kind: str) -> list[LiveResource]:
        found = super().list_all(kind)
        if kind == "user":
            for live in found:
                live.attrs["first_name"] = f"{live.attrs['first_name']}  "
        return found


class PaddedNamesNormalised(PaddedNames):
    def normalise(self, kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
        if kind == "user" and attrs.get("first_name"):
            return {**attrs, "first_name": attrs["first_name"].rstrip()}
        return attrs


def test_the_normalise_hook_keeps_vendor_formatting_out_of_the_plan(org: Org) -> None:
    apply(org)
    drift = plan_of(org, PaddedNames)
    assert actions(drift) == {"user.ada@example.com": "update", "user.bob@example.com": "update"}
    assert plan_of(org, PaddedNamesNormalised).operations == []


def _many_users(org: Org, count: int) -> None:
    org.write("many.yaml", "users:\n" + "".join(
        f"  - email: user{i}@example.com\n    department: Americas/Sales/Inside Sales\n"
        for i in range(count)))


def test_safety_limits_hold_when_the_state_is_lost(org: Org) -> None:
    _many_users(org, 28)
    apply(org)
    org.state_path.unlink()
    org.write("many.yaml", "users: []\n")
    org.write("settings.yaml", "settings: {prune: true}\n")
    plan = plan_of(org)
    assert plan.summary["deactivate"] == 28
    assert plan.blocked == [
        "removes or replaces 28 of 30 live users (93%), more than max_delete_fraction 30%; "
        "apply with --force if this is intended"]
    result = org.run("apply", "--auto-approve")
    assert result.exit_code == 1 and "exceeds a safety limit" in result.output


def test_deactivating_through_active_false_counts_as_a_removal(org: Org) -> None:
    _many_users(org, 12)
    apply(org)
    org.edit("many.yaml", "department: Americas/Sales/Inside Sales\n",
             "department: Americas/Sales/Inside Sales\n    active: false\n")
    plan = plan_of(org)
    assert plan.summary["update"] == 12 and plan.summary["deactivate"] == 0
    assert plan.blocked == [
        "removes or replaces 12 of 14 managed users (86%), more than max_delete_fraction "
        "30%; apply with --force if this is intended"]


BOB = ("  - email: bob@example.com\n    first_name: Bob\n"
       "    department: Americas/Sales/Field Sales\n")


def test_reverting_a_removal_restores_the_user_lmsform_deactivated(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", BOB, "")
    apply(org)  # bob is deactivated, and state remembers lmsform did it
    assert recorded(org.state_path)["user.bob@example.com"][
        "removed"] is True
    assert plan_of(org).operations == [] and "user" not in plan_of(org).unmanaged
    org.edit("org.yaml", "coupons:\n", BOB + "coupons:\n")  # git revert
    (op,) = plan_of(org).operations
    assert (op.address, op.action) == ("user.bob@example.com", "update")
    assert [(c.field, c.before, c.after) for c in op.changes] == [("active", False, True)]
    apply(org)
    assert sql(org, "SELECT active FROM users WHERE email = 'bob@example.com'") == [(1,)]
    assert plan_of(org).operations == []
    state = recorded(org.state_path)
    assert state["user.bob@example.com"]["removed"] is False


def test_a_user_declared_again_inactive_stays_inactive(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", BOB, "")
    apply(org)
    org.edit("org.yaml", "coupons:\n", BOB + "    active: false\ncoupons:\n")
    (op,) = plan_of(org).operations  # only state learns it is managed again
    assert (op.address, op.action) == ("user.bob@example.com", "record")


def test_deleting_a_department_that_still_holds_deactivated_users_is_refused(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", BOB, "")
    apply(org)
    org.edit("org.yaml", "departments: [Inside Sales, Field Sales]", "departments: [Inside Sales]")
    with pytest.raises(PlanError) as caught:
        plan_of(org)
    assert caught.value.messages == [
        "department.Americas/Sales/Field Sales: to be deleted, but the LMS still has users in "
        "it (deactivated ones count): bob@example.com. Declare them with another department "
        "(add `active: false` to keep them deactivated), or remove them with "
        "settings.user_removal: delete, then remove the department"]
    # moving the user out in the same plan makes the delete possible, and is ordered first
    org.edit("org.yaml", "coupons:\n", "  - email: bob@example.com\n    department: "
             "Americas/Sales/Inside Sales\n    active: false\ncoupons:\n")
    plan = plan_of(org)
    order = [op.address for op in plan.operations]
    assert order.index("user.bob@example.com") < order.index(
        "department.Americas/Sales/Field Sales")
    apply(org)
    assert plan_of(org).operations == []


class NoUserUpdates(LocalProvider):
    """A vendor that cannot rename users, add-only group members, and no deactivation."""

    capabilities: ClassVar[Capabilities] = Capabilities(kinds={
        **LocalProvider.capabilities.kinds,
        "user": KindSupport(fields=frozenset(SCHEMAS["user"].fields) - {"active"},
                            fixed_fields=frozenset({"first_name"}),
                            grow_only_fields=frozenset({"groups"})),
    })


def test_fixed_and_grow_only_fields_are_plan_errors_never_replacements(org: Org) -> None:
    apply(org)
    org.edit("org.yaml", "first_name: Ada", "first_name: Augusta")
    org.edit("org.yaml", "    groups: [Managers]\n", "    groups: []\n")
    with pytest.raises(PlanError) as caught:
        plan_of(org, NoUserUpdates)
    messages = sorted(str(p) for p in caught.value.problems)
    assert any(m.endswith("users[0].first_name: user.ada@example.com: the local provider "
                          "cannot change first_name once the user exists (replacing it would "
                          "lose its history). Change it in the LMS, or add it to "
                          "lifecycle.ignore_changes.") for m in messages)
    assert any(m.endswith("users[0].groups: user.ada@example.com: the local provider can add "
                          "to groups but not remove from it (Managers); remove them in the "
                          "LMS, or add groups to lifecycle.ignore_changes") for m in messages)
    assert "replace" not in {op.action for op in plan_of(org).operations}


def test_removing_a_user_where_users_cannot_be_deactivated_needs_user_removal_delete(
    org: Org,
) -> None:
    apply(org)
    org.edit("org.yaml", BOB, "")
    with pytest.raises(PlanError) as caught:
        plan_of(org, NoUserUpdates)
    assert caught.value.messages == [
        "user.bob@example.com: removed from the manifests, but the local provider cannot "
        "deactivate users; set settings.user_removal: delete to delete them, or keep declaring "
        "it, or stop managing it with `lmsform state rm user.bob@example.com`"]
    org.write("settings.yaml", "settings: {user_removal: delete}\n")
    assert actions(plan_of(org, NoUserUpdates)) == {"user.bob@example.com": "delete"}


class SuspendOnly(LocalProvider):
    capabilities: ClassVar[Capabilities] = Capabilities(kinds={
        **LocalProvider.capabilities.kinds,
        "user": KindSupport(fields=frozenset(SCHEMAS["user"].fields), deactivate=True,
                            delete=False, advice="Users are suspended, never deleted."),
    })


def test_user_removal_delete_where_users_cannot_be_deleted_is_refused_offline(
    org: Org,
) -> None:
    org.write("settings.yaml", "settings: {user_removal: delete}\n")
    with pytest.raises(PlanError) as caught:
        check_capabilities(load_config(org.dir), SuspendOnly)
    assert caught.value.messages == [
        "settings.user_removal: delete: the local provider cannot delete users; set it to "
        "deactivate (the default), which switches removed users off. Users are suspended, "
        "never deleted."]
    assert str(caught.value).endswith("nothing was contacted or changed.")
    org.write("settings.yaml", "settings: {user_removal: deactivate}\n")
    check_capabilities(load_config(org.dir), SuspendOnly)


class UnlistedActive(LocalProvider):
    """A vendor whose user list leaves `active` out: only a read by id shows it."""

    capabilities: ClassVar[Capabilities] = Capabilities(kinds={
        **LocalProvider.capabilities.kinds,
        "user": KindSupport(fields=frozenset(SCHEMAS["user"].fields), deactivate=True,
                            unlisted_fields=frozenset({"active"})),
    })
    reads: ClassVar[list[list[str]]] = []

    def list_all(self, kind: str) -> list[LiveResource]:
        found = super().list_all(kind)
        for live in found if kind == "user" else []:
            live.attrs.pop("active", None)
        return found

    def read(self, kind: str, ids: list[str]) -> list[LiveResource]:
        self.reads.append(sorted(ids))
        return [r for r in super().list_all(kind) if r.id in ids]


def test_unlisted_fields_come_from_state_and_are_read_by_id_only_when_unknown(org: Org
                                                                             ) -> None:
    org.edit("org.yaml", "    first_name: Bob\n", "    first_name: Bob\n    active: false\n")
    UnlistedActive.reads.clear()
    apply_with(org, UnlistedActive)
    assert sql(org, "SELECT active FROM users WHERE email = 'bob@example.com'") == [(0,)]
    assert plan_of(org, UnlistedActive).operations == []  # from state: no reads
    assert UnlistedActive.reads == []
    # Adopting: state does not know Bob, whose manifest sets `active`: one read, his alone.
    org.state_path.unlink()
    plan = plan_of(org, UnlistedActive)
    (bob,) = sql(org, "SELECT id FROM users WHERE email = 'bob@example.com'")
    assert UnlistedActive.reads == [[str(bob[0])]]
    assert actions(plan)["user.bob@example.com"] == "adopt"
    # What the list cannot show is not seen as drift: the state's value stands.
    apply_with(org, UnlistedActive)
    sql(org, "UPDATE users SET active = 1 WHERE email = 'bob@example.com'")
    assert plan_of(org, UnlistedActive).operations == []


class ExternalCourses(LocalProvider):
    """A vendor that holds courses but cannot manage them: enrollments name its course ids,
    and a create may meet an account that exists already."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds={**{k: v for k, v in LocalProvider.capabilities.kinds.items()
                  if k not in {"course", "group", "coupon"}},
               "user": KindSupport(fields=frozenset(SCHEMAS["user"].fields),
                                   create_note="an account with this email is adopted")},
        external_kinds=frozenset({"course"}))


def test_references_to_an_external_kind_are_the_vendors_ids(
    org: Org, monkeypatch: pytest.MonkeyPatch,
) -> None:
    org.write("org.yaml", "users:\n  - email: ada@example.com\n"
                          "    enrollments: [C-101, C-202]\n")
    with pytest.raises(LmsformError, match="unknown course 'C-101'"):
        load_config(org.dir)  # the local provider holds no external kinds
    monkeypatch.setattr(providers, "load", lambda name: ExternalCourses)
    plan = plan_of(org, ExternalCourses)
    (create,) = plan.operations
    assert create.after is not None and create.after["enrollments"] == ["C-101", "C-202"]
    assert create.reason == "an account with this email is adopted"
    assert plan.known_ids == {"course.C-101": "C-101", "course.C-202": "C-202"}
    org.write("courses.yaml", "courses:\n  - {key: C-101, title: Intro}\n")
    with pytest.raises(PlanError, match="does not manage courses"):
        plan_of(org, ExternalCourses)  # declaring one is still not something it can do


class NumberedGroups(LocalProvider):
    """A provider (a plugin's, say) that lists ids as numbers, not text."""

    def list_all(self, kind: str) -> list[LiveResource]:
        found = super().list_all(kind)
        if kind == "group":
            return [LiveResource(int(live.id), live.attrs)  # type: ignore[arg-type]
                    for live in found]
        return found


def test_ids_a_provider_lists_as_anything_but_text_are_refused(org: Org) -> None:
    apply(org)
    with pytest.raises(LmsformError, match="listed groups with ids that are not text"):
        plan_of(org, NumberedGroups)


def test_an_operation_depends_on_the_creating_operations_own_address_strings() -> None:
    """Whatever the referenced key: text (the manifests' shared strings, looked up once)
    or not (a plugin kind's), as `refers_to` spells it."""
    one, named = (Operation(address=f"group.{name}", kind="group", action=Action.CREATE,
                            after={"name": name}) for name in ("1", "Named"))
    users = [Operation(address=f"user.{who}@example.com", kind="user", action=Action.CREATE,
                       after={"email": f"{who}@example.com", "groups": groups})
             for who, groups in (("a", [1, "Named"]), ("b", ["Named", "Gone", {"not": "text"}]))]

    ordered = _order([*users, named, one])

    assert [op.address for op in ordered][:2] == ["group.1", "group.Named"]
    assert users[0].depends_on == ["group.1", "group.Named"]
    assert users[1].depends_on == ["group.Named"]
    assert users[0].depends_on[0] is one.address and users[1].depends_on[0] is named.address
