"""Policies (`policies:`): what each kind of policy sees, how violations are reported by
validate and by plans, that mandatory ones hold against --force, and bad policies as errors
at their place; end to end on `local` and on three vendors' simulators."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from lmsform.config import load_config
from lmsform_simulators.base import Simulator
from lmsform_simulators.braincert import BraincertSimulator
from lmsform_simulators.ilms import IlmsSimulator
from lmsform_simulators.learnworlds import LearnworldsSimulator
from tests.support import ConfigDir, Org, Simulators, vendor_example


@pytest.fixture(autouse=True)
def _beside_the_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where the org's directory is `org`: places read `org/org.yaml:30:5`."""
    monkeypatch.chdir(tmp_path)


def policies(*entries: str) -> str:
    """A `policies:` section of these entries (YAML mappings, each as flow or block)."""
    return "policies:\n" + "".join(
        textwrap.indent(textwrap.dedent(e).strip(), "    ").replace("    ", "  - ", 1) + "\n"
        for e in entries)


def violations(directory: Path) -> list[tuple[str, str | None, str]]:
    return [(v.policy, v.address, v.message)
            for v in load_config(directory, offline=True).violations()]


# --- what a policy sees ------------------------------------------------------------------

TYPED = [
    # amounts and percents are numbers; the address and kind are there
    """name: percent-is-a-number
kinds: [coupon]
expression: "type(resource.discount.percent) == double && resource.discount.percent == 10.0"
""",
    """name: amount-is-a-number
kinds: [course]
expression: "resource.pricing.standard.amount == 49.0 && resource.address == 'course.security-101'"
""",
    # what the manifest leaves out is absent, never a default; a write-only field is not there
    """name: absent-is-absent
kinds: [user]
expression: "resource.email != 'bob@example.com' || (!has(resource.role) && !has(resource.groups))"
""",
    """name: no-password
kinds: [user]
expression: "!has(resource.password) && resource.kind == 'user'"
""",
    """name: lists-and-flags
kinds: [course]
expression: "resource.categories == ['Compliance'] && resource.published && resource.credits == 2"
""",
]


def test_a_resource_policy_sees_the_planned_attributes_with_their_types(org: Org) -> None:
    org.write("policies.yaml", policies(*TYPED))
    assert violations(org.dir) == []
    negated = [e.replace('expression: "', 'expression: "!(').replace('"\n', ')"\n', 1)
               for e in TYPED]
    org.write("policies.yaml", policies(*negated))
    assert sorted(v[0] for v in violations(org.dir)) == sorted([
        "percent-is-a-number", "amount-is-a-number", "absent-is-absent", "absent-is-absent",
        "no-password", "no-password", "lists-and-flags"])


def test_a_policy_that_reads_a_value_from_the_environment_cannot_pass_on_it(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """The value is never shown, so a policy that reads it gives no verdict, said as a
    violation; one that reads other fields judges the resource as any other."""
    monkeypatch.setenv("BOB_TITLE", "Secret-Project-Lead")
    org.give_bob("    job_title: ${env:BOB_TITLE}\n")
    org.write("policies.yaml", policies("""
        name: title
        kinds: [user]
        expression: "!has(resource.job_title) || resource.job_title != 'Admin'"
        """, """
        name: named
        kinds: [user]
        expression: "has(resource.first_name)"
        """))
    found = violations(org.dir)
    assert [(v[0], v[1]) for v in found] == [("title", "user.bob@example.com")]
    assert "cannot be judged: it reads job_title, whose value comes from the environment" \
        in found[0][2] and "Secret-Project-Lead" not in found[0][2]


def test_kinds_default_to_every_kind(org: Org) -> None:
    org.write("policies.yaml", policies("""
        name: everything-named
        expression: "resource.kind != 'group' && resource.kind != 'region'"
        message: no groups or regions here
        """))
    assert violations(org.dir) == [("everything-named", "region.Americas",
                                    "no groups or regions here"),
                                   ("everything-named", "group.Managers",
                                    "no groups or regions here")]


def test_a_failed_expression_is_a_violation_naming_the_error(org: Org) -> None:
    org.write("policies.yaml", policies("""
        name: admins-in-sales
        kinds: [user]
        expression: "resource.role != 'admin'"
        description: no admins
        """))
    (found,) = {v[2] for v in violations(org.dir)}
    assert found.startswith("no admins (the expression failed: ") and "role" in found
    assert [v[1] for v in violations(org.dir)] == ["user.ada@example.com",
                                                   "user.bob@example.com"]


def test_a_config_policy_sees_every_kind_and_points_at_itself(org: Org) -> None:
    org.write("policies.yaml", policies("""
        name: few-admins
        scope: config
        expression: "size(all.user) <= 1 && size(all.coupon) == 1 && size(all.division) == 1"
        """))
    config = load_config(org.dir, offline=True)
    (found,) = config.violations()
    assert (found.policy, found.address, found.message) == ("few-admins", None, "few-admins")
    assert (Path(found.file).name, found.line, found.column) == ("policies.yaml", 2, 5)


def test_several_policies_of_a_kind_are_each_judged_and_reported_in_their_order(
        org: Org) -> None:
    org.write("policies.yaml", policies(
        'name: a\nkinds: [user]\nexpression: "resource.email.startsWith(\'b\')"',
        'name: b\nkinds: [user]\nexpression: "has(resource.groups)"\nenforcement: advisory',
        'name: c\nkinds: [user]\nexpression: "resource.nothing"',
    ))
    found = [(v[0], v[1]) for v in violations(org.dir)]
    assert found == [("a", "user.ada@example.com"), ("b", "user.bob@example.com"),
                     ("c", "user.ada@example.com"), ("c", "user.bob@example.com")]


# --- validate ----------------------------------------------------------------------------

MANAGERS_ONLY_ENTRY = """
    name: managers-only
    kinds: [user]
    expression: "has(resource.groups)"
    enforcement: advisory
    """
MANAGERS_ONLY = policies(MANAGERS_ONLY_ENTRY)
ADVISORY_AND_MANDATORY = policies("""
    name: coupon-cap
    kinds: [coupon]
    expression: "resource.discount.percent <= 5"
    message: coupons may give at most 5% off
    """, MANAGERS_ONLY_ENTRY)


def test_validate_reports_mandatory_violations_as_errors_at_the_resource(org: Org) -> None:
    org.write("policies.yaml", ADVISORY_AND_MANDATORY)
    result = org.run("validate")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "org/org.yaml:30:5: error: coupon.WELCOME10: policy coupon-cap: coupons may give at " \
           "most 5% off" in lines
    assert "org/org.yaml:26:5: warning: user.bob@example.com: policy managers-only: " \
           "managers-only" in lines
    assert lines[-1] == "1 error in the manifests; nothing was contacted or changed."
    github = org.run("validate", "--format", "github")
    assert github.exit_code == 1
    assert "::error file=org/org.yaml,line=30,col=5,title=lmsform::coupon.WELCOME10: policy " \
           "coupon-cap: coupons may give at most 5%25 off" in github.output.splitlines()
    listed = json.loads(org.run("validate", "--format", "json").output)
    assert [(p["severity"], p["path"]) for p in listed] == [
        ("warning", "user.bob@example.com"), ("error", "coupon.WELCOME10")]


def test_a_message_cannot_forge_a_line_of_validate(org: Org) -> None:
    org.write("policies.yaml", policies(r"""
        name: forged
        kinds: [coupon]
        expression: "false"
        message: "no\nusers.yaml:1:1: warning: fine \u202e"
        """))
    result = org.run("validate")
    assert result.exit_code == 1
    assert "users.yaml:1:1" not in [line[:len("users.yaml:1:1")]
                                    for line in result.output.splitlines()]
    assert "policy forged: no\\nusers.yaml:1:1: warning: fine \\u202e" in result.output


def test_policies_too_long_to_join_are_judged_one_by_one(org: Org) -> None:
    allowed = "[" + ", ".join(f"'u{i}@example.com'" for i in range(3000)) + "]"
    org.write("policies.yaml", policies(
        f'name: a\nkinds: [user]\nexpression: "resource.email in {allowed}"',
        f'name: b\nkinds: [user]\nexpression: "resource.email in {allowed} || false"'))
    assert [v[0] for v in violations(org.dir)] == ["a", "a", "b", "b"]


def test_advisory_violations_alone_pass_validate(org: Org) -> None:
    org.write("policies.yaml", MANAGERS_ONLY)
    result = org.run("validate")
    assert result.exit_code == 0, result.output
    assert "warning: user.bob@example.com: policy managers-only" in result.output


BAD = """\
policies:
  - name: syntax
    expression: "resource.x <= 50 &&"
  - name: kind
    kinds: [users]
    expression: "true"
  - name: words
    scope: global
    on: always
    enforcement: strict
    expression: "true"
  - name: variable
    expression: "size(all.user) < 3"
  - name: reference
    expression: "resource.kind == '${var:kind}'"
  - name: config-kinds
    scope: config
    kinds: [user]
    expression: "true"
  - name: config-change
    scope: config
    on: change
    expression: "true"
vars: {kind: user}
"""


def test_bad_policies_are_errors_at_their_place_all_at_once(org: Org) -> None:
    org.write("policies.yaml", BAD)
    result = org.run("validate")
    assert result.exit_code == 1
    said = result.output.splitlines()
    expected = [
        "org/policies.yaml:3:17: error: policies[0].expression: not a valid CEL expression: Syntax "
        "error: mismatched input '<EOF>'",
        "org/policies.yaml:5:13: error: policies[1].kinds[0]: 'users' is not a kind of resource",
        "org/policies.yaml:8:12: error: policies[2].scope: Input should be 'resource' or 'config'",
        "org/policies.yaml:9:9: error: policies[2].on: Input should be 'desired' or 'change'",
        "org/policies.yaml:10:18: error: policies[2].enforcement: Input should be 'mandatory' or "
        "'advisory'",
        "org/policies.yaml:13:17: error: policies[3].expression: not a valid CEL expression: "
        "undeclared reference to 'all.user'",
        "org/policies.yaml:15:17: error: policies[4].expression: an expression is code",
        "org/policies.yaml:16:5: error: policies[5]: kinds: a scope: config policy sees every kind",
        "org/policies.yaml:20:5: error: policies[6]: on: change judges each planned operation",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in said), start
    assert len([line for line in said if line.startswith("org/policies.yaml")]) == 9
    assert said[-1] == "9 errors in the manifests; nothing was contacted or changed."


def test_a_policy_name_is_one_policys_in_every_file_included_too(org: Org,
                                                                 tmp_path: Path) -> None:
    shared = ConfigDir(tmp_path / "shared")
    shared.dir.mkdir()
    shared.write("rules.yaml", policies('name: one\nexpression: "true"'))
    org.write("include.yaml", f"include: [{shared.dir}]\n")
    org.write("policies.yaml", policies('name: one\nkinds: [user]\nexpression: "false"'))
    result = org.run("validate")
    assert result.exit_code == 1
    assert "policies[0].name: a second policy named 'one'; the first is at " in result.output


def test_a_shared_directory_holds_the_policies_of_every_environment(org: Org,
                                                                     tmp_path: Path) -> None:
    shared = ConfigDir(tmp_path / "shared")
    shared.dir.mkdir()
    shared.write("rules.yaml", policies("""
        name: coupon-cap
        kinds: [coupon]
        expression: "resource.discount.percent <= 5"
        """))
    org.write("include.yaml", f"include: [{shared.dir}]\n")
    result = org.run("validate")
    assert result.exit_code == 1
    assert "org/org.yaml:30:5: error: coupon.WELCOME10: policy coupon-cap: coupon-cap" \
        in result.output


def test_on_is_a_plain_key_however_the_manifest_is_read(org: Org) -> None:
    """YAML 1.2: `on` is text, not a boolean, in the fast reader and in the full one (which
    a file with a reference takes)."""
    entry = 'name: no-deletes\non: change\nexpression: "change.action != \'delete\'"'
    org.write("policies.yaml", policies(entry))
    assert load_config(org.dir).policies[0].spec.on == "change"
    org.write("policies.yaml", policies(entry) + "vars: {x: '${env:HOME:-x}'}\n")
    assert load_config(org.dir).policies[0].spec.on == "change"


# --- plans and apply ---------------------------------------------------------------------

def test_plan_shows_violations_first_and_apply_refuses_them_even_with_force(org: Org) -> None:
    org.write("policies.yaml", ADVISORY_AND_MANDATORY)
    text = org.run("plan")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    head = lines.index("Policy violations (1 mandatory, 1 advisory):")
    assert lines[head + 1:head + 3] == [
        "  mandatory  coupon-cap: coupon.WELCOME10 (org/org.yaml:30:5): coupons may give at most "
        "5% off",
        "  advisory   managers-only: user.bob@example.com (org/org.yaml:26:5): managers-only"]
    assert head < lines.index("lmsform will perform these operations, in this order:")
    assert "Blocked: policy coupon-cap (mandatory) is violated by coupon.WELCOME10: no flag " \
           "overrides a policy; change the manifests, or the policy through review" in lines
    assert "Warning: policy managers-only (advisory) is violated by user.bob@example.com" \
        in lines
    assert org.run("plan", "--detailed-exitcode").exit_code == 2
    document = json.loads(org.run("plan", "--json").output)
    assert document["policy_violations"][0] == {
        "policy": "coupon-cap", "enforcement": "mandatory", "address": "coupon.WELCOME10",
        "message": "coupons may give at most 5% off", "file": "org/org.yaml", "line": 30,
        "column": 5}
    refused = org.run("apply", "--auto-approve", "--force")
    assert refused.exit_code == 1
    assert "this plan violates a mandatory policy" in refused.output
    assert not org.state_path.exists()
    assert json.loads(org.run("plan", "--json").output)["summary"] == document["summary"]


def test_a_saved_plan_that_violates_a_policy_is_not_applied(org: Org, tmp_path: Path) -> None:
    org.write("policies.yaml", ADVISORY_AND_MANDATORY)
    saved = tmp_path / "plan.json"
    assert org.run("plan", "--out", str(saved)).exit_code == 0
    refused = org.run("apply", str(saved), "--force")
    assert refused.exit_code == 1 and "violates a mandatory policy" in refused.output
    assert not org.state_path.exists()


def test_advisory_violations_do_not_block_an_apply(org: Org) -> None:
    org.write("policies.yaml", MANAGERS_ONLY)
    applied = org.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Warning: policy managers-only (advisory) is violated by user.bob@example.com" \
        in applied.output


def test_markdown_lists_violations_in_a_table_before_the_operations(org: Org) -> None:
    org.write("policies.yaml", ADVISORY_AND_MANDATORY)
    markdown = org.run("plan", "--format", "markdown").output
    lines = markdown.splitlines()
    row = ("| `coupon-cap` | mandatory | `coupon.WELCOME10` | `org/org.yaml:30:5` | coupons may "
           "give at most 5\\% off |")
    assert row in lines
    assert lines.index(row) < lines.index("| | Address | Action | Changes |")
    blocked = next(i for i, line in enumerate(lines) if line.startswith("> **Blocked:**"))
    assert lines[blocked + 2] == "", "the quote ends before the next block"


CHANGES = policies("""
    name: no-course-deletion
    on: change
    kinds: [course]
    expression: "change.action != 'delete'"
    message: courses are retired, not deleted
    """, """
    name: price-floor
    on: change
    kinds: [course]
    expression: "!('pricing' in change.changed) || change.after.pricing.standard.amount >= 40"
    enforcement: advisory
    """, """
    name: what-a-change-holds
    on: change
    expression: >-
      change.kind == change.address.split('.')[0] &&
      (change.action != 'create' || (change.before == null && size(change.changed) > 0))
    """)


def test_change_policies_judge_the_planned_operations(org: Org) -> None:
    org.write("policies.yaml", CHANGES)
    first = json.loads(org.run("plan", "--json").output)
    assert first["policy_violations"] == [], "creates comply"
    org.edit("main.yaml", "state:", "settings:\n  prune: true\nstate:")
    org.write("more.yaml", "courses:\n  - {key: extra, title: Extra}\n")
    org.apply()
    org.edit("org.yaml", "amount: 49.00", "amount: 29.00")
    (org.dir / "more.yaml").unlink()
    document = json.loads(org.run("plan", "--json").output)
    found = [(v["policy"], v["address"], v["file"], v["line"])
             for v in document["policy_violations"]]
    assert found == [("no-course-deletion", "course.extra", "org/policies.yaml", 2),
                     ("price-floor", "course.security-101", "org/org.yaml", 7)]
    assert org.run("apply", "--auto-approve", "--force").exit_code == 1


def test_a_refresh_only_plan_judges_nothing(org: Org) -> None:
    org.apply()
    org.write("policies.yaml", ADVISORY_AND_MANDATORY)
    document = json.loads(org.run("plan", "--refresh-only", "--json").output)
    assert document["policy_violations"] == [] and document["blocked"] == []


# --- on vendors' LMSs, over real sockets ---------------------------------------------------

VENDORS: dict[str, type[Simulator]] = {"ilms": IlmsSimulator, "learnworlds":
                                       LearnworldsSimulator, "braincert": BraincertSimulator}
VENDOR_POLICIES = policies("""
    name: acme-addresses
    kinds: [user]
    expression: "resource.email.endsWith('@acme.example')"
    """, """
    name: keep-people
    on: change
    kinds: [user]
    expression: "!(change.action in ['delete', 'deactivate'])"
    message: people leave through HR, not a pull request
    """)


def _user_entry(config: ConfigDir, email: str) -> tuple[Path, list[str], int, int]:
    """The manifest declaring a user, its lines, and where the user's entry starts and ends."""
    for path in sorted(config.dir.glob("*.yaml")):
        lines = path.read_text().splitlines(keepends=True)
        starts = [i for i, line in enumerate(lines) if line == f"  - email: {email}\n"]
        if starts:
            end = next((i for i in range(starts[0] + 1, len(lines))
                        if not lines[i].startswith("    ")), len(lines))
            return path, lines, starts[0], end
    raise AssertionError(f"no manifest declares {email}")


def _drop_user(config: ConfigDir, email: str) -> None:
    path, lines, start, end = _user_entry(config, email)
    path.write_text("".join(lines[:start] + lines[end:]))


def _copy_user(config: ConfigDir, email: str, new: str) -> None:
    """A new user declared as `email` is, in a manifest of its own."""
    _, lines, start, end = _user_entry(config, email)
    config.write("outsider.yaml", "users:\n" + "".join(lines[start:end]).replace(email, new))


@pytest.mark.parametrize("vendor", VENDORS)
def test_policies_on_a_vendors_lms(vendor: str, simulators: Simulators, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sim = simulators.start(VENDORS[vendor]())
    config = vendor_example(vendor, sim, tmp_path / vendor, monkeypatch)
    config.write("policies.yaml", VENDOR_POLICIES)
    config.apply()
    _drop_user(config, "grace.hopper@acme.example")
    _copy_user(config, "linus.pauling@acme.example", "eve@elsewhere.example")
    planned = config.run("plan", "--json")
    assert planned.exit_code == 0, planned.output
    document = json.loads(planned.output)
    found = {(v["policy"], v["address"], v["enforcement"])
             for v in document["policy_violations"]}
    assert found == {("acme-addresses", "user.eve@elsewhere.example", "mandatory"),
                     ("keep-people", "user.grace.hopper@acme.example", "mandatory")}
    refused = config.run("apply", "--auto-approve", "--force")
    assert refused.exit_code == 1 and "violates a mandatory policy" in refused.output
    (config.dir / "outsider.yaml").unlink()
    config.write("policies.yaml", VENDOR_POLICIES.replace(
        "message: people leave", "enforcement: advisory\n    message: people leave"))
    config.apply()
    assert config.run("plan", "--detailed-exitcode").exit_code == 0


# --- the docs ----------------------------------------------------------------------------

RECIPES = re.findall(r"^```yaml\n(policies:\n.*?)^```",
                     (Path(__file__).parent.parent / "docs" / "policies.md").read_text(),
                     re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.split("name: ")[1].split("\n")[0])
def test_every_recipe_in_the_docs_is_a_valid_policy(recipe: str, org: Org) -> None:
    org.write("policies.yaml", recipe)
    config = load_config(org.dir, offline=True)
    assert config.policies, "the recipe declares policies"
    for violation in config.violations():
        assert "the expression failed" not in violation.message, violation


def test_the_docs_show_recipes() -> None:
    assert len(RECIPES) >= 10


def test_a_change_policy_can_tell_what_time_caused(org: Org,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    org.give_bob("    active_until: 2027-03-31\n")
    monkeypatch.setenv("LMSFORM_NOW", "2027-03-30")
    org.apply()
    org.write("policies.yaml", policies("""
        name: offboarding-through-hr
        on: change
        kinds: [user]
        expression: "change.scheduled || !('active' in change.changed)"
        """, """
        name: no-switching-off
        on: change
        kinds: [user]
        expression: "!('active' in change.changed)"
        """))
    monkeypatch.setenv("LMSFORM_NOW", "2027-04-02")
    document = json.loads(org.run("plan", "--json").output)
    assert [(v["policy"], v["address"]) for v in document["policy_violations"]] == [
        ("no-switching-off", "user.bob@example.com")]


def test_a_change_policy_is_blind_only_to_the_hidden_values_it_reads(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bob's title comes from the environment: a rule about roles still judges his expiry
    (the daily job must be able to end access); one about titles cannot judge it."""
    monkeypatch.setenv("BOB_TITLE", "Contractor")
    org.give_bob("    job_title: ${env:BOB_TITLE}\n"
                 "    active_until: 2027-03-31\n")
    monkeypatch.setenv("LMSFORM_NOW", "2027-03-30")
    org.apply()
    org.write("policies.yaml", policies("""
        name: no-new-admins
        on: change
        kinds: [user]
        expression: >-
          change.after == null || !has(change.after.role) || change.after.role != 'admin'
        """, """
        name: titles
        on: change
        kinds: [user]
        expression: "change.after == null || change.after.job_title != 'CEO'"
        enforcement: advisory
        """))
    monkeypatch.setenv("LMSFORM_NOW", "2027-04-02")
    document = json.loads(org.run("plan", "--json", "--scheduled-only").output)
    assert [(v["policy"], v["message"]) for v in document["policy_violations"]] == [
        ("titles", "titles (cannot be judged: it reads after.job_title, whose value comes "
                   "from the environment and is never shown; compare in the environment "
                   "instead, or keep what the policy reads out of ${env:...})")]
    applied = org.run("apply", "--auto-approve", "--scheduled-only")
    assert applied.exit_code == 0, applied.output
