"""Rendering: hostile names and values stay inert text in every output."""

from __future__ import annotations

import json
import re

import click
import pytest

from lmsform.diff import Change
from lmsform.plan import (
    Action,
    CouponChange,
    CourseAccess,
    Impact,
    Operation,
    Plan,
    PriceChange,
    RoleChange,
    ScheduledEvent,
)
from lmsform.policies import PolicyViolation
from lmsform.render import (
    code,
    inert,
    render_json,
    render_markdown,
    render_summary,
    render_text,
)
from tests.support import Org

HOSTILE = [
    "line\n  + user.fake@example.com (create)",
    "carriage\rreturn",
    "\x1b[2J\x1b[31mred",
    "bidi \u202eevil\u202c",
    "sep\u2028arator",
    "pipe | cell",
    "tick ` and ``` fences",
    "<img src=x onerror=alert(1)>",
    "[a link](https://example.com)",
    "**bold** _it_ # heading",
]


def hostile_plan(text: str) -> Plan:
    return Plan(
        operations=[
            Operation(address=f"group.{text}", kind="group", action=Action.CREATE,
                      after={"name": text, text: text}),
            Operation(address=f"user.{text}", kind="user", action=Action.UPDATE, id="1",
                      moved_from=f"user.old {text}", reason=text,
                      changes=[Change(field=text, before=text, after=[text])]),
        ],
        warnings=[f"warning {text}"],
        blocked=[f"blocked {text}"],
    )


UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


@pytest.mark.parametrize("text", HOSTILE)
def test_text_shows_one_line_per_thing_and_no_control_characters(text: str) -> None:
    output = click.unstyle(render_text(hostile_plan(text)))  # our own colours aside
    assert not UNSAFE_CHARS.search(output)
    lines = output.split("\n")
    heads = [line for line in lines if re.match(r"  [+~] ", line)]
    assert len(heads) == 2
    # create: header + 2 attributes; update: header + 1 change; then the summary and notes
    assert len(lines) == 2 + 3 + 2 + 1 + 1 + 2


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_keeps_hostile_text_in_code_spans(text: str) -> None:
    output = render_markdown(hostile_plan(text))
    assert not UNSAFE_CHARS.search(output)
    rows = [line for line in output.split("\n") if line.startswith("| `")]
    assert len(rows) == 2
    for row in rows:
        outside = re.sub(r"(`+).*?\1", "", row.replace("\\|", ""))
        assert outside.count("|") == 5  # four cells, nothing more
        assert not re.search(r"<(?!br>)|\]\(|\*\*", outside)
    for line in output.split("\n"):
        if line.startswith("> **"):
            assert not re.search(r"(?<!\\)[<\[\]`|*_]", line.split("**", 2)[2])


# Unicode's invisible format characters (category Cf): two names differing only by one of
# them would print the same.
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u2063",
             "\U000e0041", "\u00a0"]


@pytest.mark.parametrize("mark", INVISIBLE)
def test_invisible_characters_are_shown_as_escapes(mark: str) -> None:
    plain, marked = "Managers", f"Mana{mark}gers"
    for render in (render_text, render_markdown):
        shown = [click.unstyle(render(Plan(operations=[Operation(
            address=f"group.{name}", kind="group", action=Action.CREATE,
            after={"name": name})]))) for name in (plain, marked)]
        assert shown[0] != shown[1]
        assert mark not in shown[1]
        assert f"\\u{ord(mark):04x}" in shown[1] or f"\\U{ord(mark):08x}" in shown[1]


def test_a_name_that_spells_an_escape_never_reads_as_one() -> None:
    """A backslash is doubled in bare text, so `a\\u200bb` written out and `a`, U+200B, `b`
    print differently; values are JSON, whose backslashes are escaped already."""
    spelt, invisible = "a\\u200bb", "a\u200bb"
    assert inert(spelt) != inert(invisible)
    for render in (render_text, render_markdown):
        shown = {render(Plan(operations=[Operation(
            address=f"group.{name}", kind="group", action=Action.CREATE,
            after={"name": name})])) for name in (spelt, invisible)}
        assert len(shown) == 2


def test_inert_and_code_spans() -> None:
    assert inert("a\nb\x1b[0m\u202e") == "a\\nb\\u001b[0m\\u202e"
    assert code("x`y") == "``x`y``"
    assert code("`edge`") == "`` `edge` ``"
    assert code("a|b") == "`a\\|b`"


def test_a_hostile_group_name_in_a_manifest_cannot_fake_an_operation(org: Org) -> None:
    org.write("evil.yaml", 'groups:\n  - name: "Evil\\n  + user.fake@example.com"\n'
                           '    description: "\\e[2J<img src=x>"\n')
    output = org.run("plan").output
    assert "group.Evil\\n  + user.fake@example.com" in output
    assert not any(re.match(r"\s*[-+~=]+ user\.fake", line) for line in output.split("\n"))
    markdown = org.run("plan", "--format", "markdown").output
    assert "\n  + user.fake" not in markdown and "\x1b" not in markdown


def big_plan(count: int) -> Plan:
    return Plan(
        operations=[Operation(address=f"user.u{i}@example.com", kind="user",
                              action=Action.CREATE,
                              after={"email": f"u{i}@example.com", "first_name": "x" * 40})
                    for i in range(count)],
        blocked=["removes or replaces too much"],
        provider={"type": "local", "instance": "local:/srv/lms.sqlite"},
        config_dir="/srv/config",
    )


def test_markdown_puts_the_summary_and_what_is_blocked_first_and_names_the_lms() -> None:
    output = render_markdown(big_plan(3))
    lines = output.split("\n")
    assert lines[:5] == ["### lmsform plan", "",
                         "**Plan: 3 to create, 0 to update, 0 to delete, 0 to adopt.**", "",
                         "> **Blocked:** removes or replaces too much"]
    assert "Planned for config `/srv/config`, LMS `local:/srv/lms.sqlite`." in output
    details = output[output.index("<details>"):output.index("</details>")]
    assert "- `user.u0@example.com`: `email`: `\"u0@example.com\"`, `first_name`:" in details


def test_a_plan_too_large_for_one_comment_shows_counts_and_where_the_whole_plan_is() -> None:
    small = render_markdown(big_plan(10))
    assert "too large" not in small
    output = render_markdown(big_plan(5000), full_plan="plan.json")
    assert len(output) < 65_536
    assert "the whole plan is in `plan.json`" in output
    assert "| user | create | 5,000 |" in output
    assert output.startswith("### lmsform plan\n\n**Plan: 5000 to create")
    assert "> **Blocked:**" in output and "`local:/srv/lms.sqlite`" in output


def test_text_names_the_config_and_the_lms_first() -> None:
    output = click.unstyle(render_text(big_plan(1)))
    assert output.startswith("Planned for config /srv/config, LMS local:/srv/lms.sqlite.\n\n"
                             "lmsform will perform these operations, in this order:")
    assert output.rstrip().endswith("Blocked: removes or replaces too much")


def test_amounts_and_percents_read_as_numbers_and_keep_their_spelling_in_json() -> None:
    coupon = Operation(action=Action.CREATE, kind="coupon", address="coupon.TEN",
                       after={"code": "TEN", "discount": {"percent": "10"}})
    course = Operation(action=Action.UPDATE, kind="course", address="course.c", id="1",
                       changes=[Change(field="pricing",
                                       before={"std": {"amount": "49.00", "currency": "USD"}},
                                       after={"std": {"amount": "59.50", "currency": "USD"}})])
    plan = Plan(operations=[coupon, course])
    text = click.unstyle(render_text(plan))
    assert 'discount: {"percent": 10}' in text
    assert 'pricing: {"std": {"amount": 49.00, "currency": "USD"}} -> ' \
           '{"std": {"amount": 59.50, "currency": "USD"}}' in text
    assert '`{"percent": 10}`' in render_markdown(plan)
    assert '"percent":"10"' in plan.model_dump_json()  # the JSON plan keeps the text
    # a name that merely looks like an amount stays text
    odd = Operation(action=Action.CREATE, kind="group", address="group.x",
                    after={"name": "x", "description": "10"})
    assert 'description: "10"' in click.unstyle(render_text(Plan(operations=[odd])))


def violation(text: str, enforcement: str = "mandatory") -> PolicyViolation:
    return PolicyViolation(policy=f"p {text}", enforcement=enforcement,  # type: ignore[arg-type]
                           address=f"user.{text}", message=f"m {text}", file=f"f {text}",
                           line=3, column=5)


@pytest.mark.parametrize("text", HOSTILE)
def test_a_policy_violation_is_one_line_of_text_and_inert_markdown(text: str) -> None:
    plan = Plan(policy_violations=[violation(text), violation(text, "advisory")])
    lines = click.unstyle(render_text(plan)).split("\n")
    assert not UNSAFE_CHARS.search("\n".join(lines))
    assert lines[0] == "Policy violations (1 mandatory, 1 advisory):"
    assert [line.split()[0] for line in lines[1:3]] == ["mandatory", "advisory"]
    assert lines[3] == ""
    markdown = render_markdown(plan)
    assert not UNSAFE_CHARS.search(markdown)
    rows = [line for line in markdown.split("\n") if "| mandatory |" in line
            or "| advisory |" in line]
    assert len(rows) == 2 and all(row.count(" | ") == 4 for row in rows)


def test_a_plan_too_large_for_one_comment_counts_its_violations_per_policy() -> None:
    plan = big_plan(10)
    plan.policy_violations = [violation(f"u{i % 3}", "advisory" if i % 3 else "mandatory")
                              for i in range(3000)]
    output = render_markdown(plan)
    assert len(output) < 65_536
    assert "**Policy violations** (1,000 mandatory, 2,000 advisory)" in output
    assert "| `p u0` | mandatory | 1,000 |" in output
    assert output.index("**Policy violations**") < output.index("| Kind | Action |")
    plan.policy_violations = [violation(f"u{i}") for i in range(3000)]  # 3,000 policies
    output = render_markdown(plan)
    assert len(output) < 65_536 and "| and 2,950 more policies | | |" in output


# --- impact: what the plan does to people ------------------------------------------------


def impact_plan(impact: Impact, operations: int = 1) -> Plan:
    return Plan(impact=impact, operations=[
        Operation(address=f"user.u{i}@example.com", kind="user", action=Action.UPDATE, id=str(i),
                  changes=[Change(field="job_title", before="a", after="b")])
        for i in range(operations)],
        warnings=["partial"], provider={"type": "local", "instance": "local:/srv/lms.sqlite"},
        config_dir="/srv/config")


PEOPLE = Impact(
    access_granted=[CourseAccess(course="privacy", users=["ann@x.example", "bob@x.example"]),
                    CourseAccess(course="security", users=["ann@x.example"])],
    access_revoked=[CourseAccess(course="legacy", users=[f"u{i:03d}@x.example"
                                                         for i in range(12)])],
    privilege_changes=[RoleChange(user="zed@x.example", before="learner", after="admin"),
                       RoleChange(user="amy@x.example", before=None, after="instructor")],
    users_created=[f"new{i:03d}@x.example" for i in range(102)],
    users_deactivated=["old@x.example"], users_reactivated=["back@x.example"],
    users_deleted=["gone@x.example"],
    pricing_changes=[
        PriceChange(course="security", plan="standard",
                    before={"amount": "49.00", "currency": "USD", "billing": "one_time"},
                    after={"amount": "59.00", "currency": "USD", "billing": "one_time"}),
        PriceChange(course="privacy", plan="yearly", before=None,
                    after={"amount": "100.00", "currency": "EUR", "billing": "yearly"})],
    coupon_changes=[CouponChange(code="WELCOME10", action=Action.CREATE,
                                 discount={"percent": "10"}, courses=None),
                    CouponChange(code="SALES25", action=Action.DELETE,
                                 discount={"amount": "25.00", "currency": "USD"},
                                 courses=["sales"])])

IMPACT_TEXT = [
    "Impact:",
    "  ! 1 user becomes admin: zed@x.example (learner -> admin)",
    "  1 user changes role: amy@x.example (none -> instructor)",
    "  2 users gain access to 2 courses: privacy (ann@x.example, bob@x.example), "
    "security (ann@x.example)",
    "  12 users lose access to 1 course: legacy (u000@x.example, u001@x.example, "
    "u002@x.example, u003@x.example, u004@x.example, and 7 more)",
    "  102 users created: new000@x.example, new001@x.example, new002@x.example, "
    "new003@x.example, new004@x.example, and 97 more",
    "  1 user deactivated: old@x.example",
    "  1 user reactivated: back@x.example",
    "  1 user deleted: gone@x.example",
    "  1 price added: privacy yearly: 100.00 EUR yearly",
    "  1 price raised: security standard: 49.00 USD -> 59.00 USD",
    "  1 coupon created: WELCOME10 (10% off every course)",
    "  1 coupon removed: SALES25 (25.00 USD off sales)",
    "",
]


def test_text_puts_the_impact_right_after_what_the_plan_is_for() -> None:
    output = render_text(impact_plan(PEOPLE))
    lines = click.unstyle(output).split("\n")
    assert lines[:2] == ["Planned for config /srv/config, LMS local:/srv/lms.sqlite.", ""]
    assert lines[2:2 + len(IMPACT_TEXT)] == IMPACT_TEXT
    assert lines[2 + len(IMPACT_TEXT)] == "lmsform will perform these operations, in this order:"
    # someone becoming admin stands out: flagged, and in red
    assert click.style("  ! 1 user becomes admin: zed@x.example (learner -> admin)",
                       fg="red", bold=True) in output.split("\n")


def test_summary_puts_the_impact_right_after_what_the_plan_is_for() -> None:
    lines = click.unstyle(render_summary(impact_plan(PEOPLE))).split("\n")
    assert lines[2:2 + len(IMPACT_TEXT)] == IMPACT_TEXT
    assert lines[2 + len(IMPACT_TEXT)].split() == ["user", "update", "1"]


def test_an_impact_with_nothing_for_people_says_so_and_no_operations_no_impact() -> None:
    none = click.unstyle(render_text(impact_plan(Impact())))
    assert "\n\nImpact: none on access, roles, users, prices or coupons.\n\n" in none
    assert "**Impact:** none on access, roles, users, prices or coupons." in \
        render_markdown(impact_plan(Impact()))
    for render in (render_text, render_summary, render_markdown):
        assert "Impact" not in render(Plan(provider={"type": "local", "instance": "x"}))


def test_markdown_puts_the_impact_after_the_headline_and_warnings_before_operations() -> None:
    output = render_markdown(impact_plan(PEOPLE))
    lines = output.split("\n")
    assert lines[:9] == [
        "### lmsform plan", "", "**Plan: 0 to create, 1 to update, 0 to delete, 0 to adopt.**",
        "", "> **Warning:** partial", "", "**Impact**", "",
        "- ⚠️ **1 user becomes admin: `zed@x.example` (`learner` → `admin`)**"]
    assert lines[9:12] == [
        "- 1 user changes role: `amy@x.example` (none → `instructor`)",
        "- 2 users gain access to 2 courses: `privacy` (`ann@x.example`, `bob@x.example`), "
        "`security` (`ann@x.example`)",
        "- 12 users lose access to 1 course: `legacy` (`u000@x.example`, `u001@x.example`, "
        "`u002@x.example`, `u003@x.example`, `u004@x.example`, and 7 more)"]
    assert "- 1 price raised: `security` `standard`: `49.00 USD` → `59.00 USD`" in lines
    assert "- 1 coupon created: `WELCOME10` (`10%` off every course)" in lines
    assert output.index("- 1 coupon removed") < output.index("| | Address | Action |")


@pytest.mark.parametrize("text", HOSTILE)
def test_names_in_the_impact_stay_inert(text: str) -> None:
    hostile = Impact(
        access_granted=[CourseAccess(course=text, users=[text, f"b{text}"])],
        privilege_changes=[RoleChange(user=text, before=text, after="admin")],
        users_created=[text], pricing_changes=[PriceChange(
            course=text, plan=text, before=None,
            after={"amount": text, "currency": text, "billing": text})],
        coupon_changes=[CouponChange(code=text, action=Action.UPDATE,
                                     discount={"percent": text}, courses=[text])])
    plan = impact_plan(hostile)
    text_lines = click.unstyle(render_text(plan)).split("\n")
    assert not UNSAFE_CHARS.search("\n".join(text_lines))
    start = text_lines.index("Impact:")
    assert text_lines[start + 6] == ""  # five facts, one line each
    assert all(line.startswith("  ") for line in text_lines[start + 1:start + 6])
    markdown = render_markdown(plan)
    assert not UNSAFE_CHARS.search(markdown)
    facts = [line for line in markdown.split("\n") if line.startswith("- ")]
    assert len(facts) == 5
    for line in facts:
        outside = re.sub(r"(`+).*?\1", "", line.replace("\\|", ""))
        assert not re.search(r"<|\]\(|`|\|", outside), line


def test_a_huge_impact_keeps_its_lines_within_one_comment() -> None:
    """A plan of 5,000 operations falls back to counts; its impact stays, each fact with its
    first names, and where even those would not fit (names from the LMS are as long as
    anyone made them), as counts alone."""
    many = [f"user{i:05d}@example.com" for i in range(100_000)]
    huge = Impact(access_granted=[CourseAccess(course=f"course-{c}", users=many[c::500])
                                  for c in range(500)],
                  users_created=many, users_deleted=many)
    output = render_markdown(impact_plan(huge, 5000), full_plan="plan.json")
    assert len(output) < 65_536 and "the whole plan is in `plan.json`" in output
    assert ("- 100,000 users gain access to 500 courses: `course-0` (`user00000@example.com`"
            in output)
    assert "- 100,000 users created: `user00000@example.com`" in output
    assert output.index("**Impact**") < output.index("| user | update | 5,000 |")
    long = ["\u202e" * 2000 + f"{i}@example.com" for i in range(100)]
    longest = Impact(access_revoked=[CourseAccess(course="\u202e" * 200 + f"c{c}", users=long)
                                     for c in range(100)], users_deactivated=long)
    output = render_markdown(impact_plan(longest, 5000))
    assert len(output) < 65_536
    assert "- 100 users lose access to 100 courses.\n" in output
    assert "- 100 users deactivated.\n" in output
    assert "| user | update | 5,000 |" in output


def test_the_json_plan_holds_the_impact_or_null() -> None:
    document = json.loads(render_json(impact_plan(PEOPLE)))
    assert list(document)[:4] == ["format_version", "lmsform_version", "summary", "impact"]
    found = document["impact"]
    assert list(found) == ["access_granted", "access_revoked", "privilege_changes",
                           "users_created", "users_deleted", "users_deactivated",
                           "users_reactivated", "pricing_changes", "coupon_changes"]
    assert found["access_granted"][0] == {"course": "privacy",
                                          "users": ["ann@x.example", "bob@x.example"]}
    assert found["privilege_changes"][1] == {"user": "amy@x.example", "before": None,
                                             "after": "instructor"}
    assert found["pricing_changes"][1]["before"] is None
    assert found["coupon_changes"][0] == {"code": "WELCOME10", "action": "create",
                                          "discount": {"percent": "10"}, "courses": None}
    assert Plan.model_validate_json(render_json(impact_plan(PEOPLE))).impact == PEOPLE
    assert json.loads(render_json(Plan()))["impact"] is None


def test_a_plan_too_large_for_one_comment_counts_what_time_left_and_schedules() -> None:
    plan = big_plan(5000)
    plan.scheduled_only = True
    plan.left_for_review = big_plan(3).operations
    plan.schedule = [ScheduledEvent(address="user.u1@example.com", event="expires",
                                    at="2027-04-01T00:00:00+00:00")]
    output = render_markdown(plan)
    assert len(output) < 65_536 and "| user | create | 5,000 |" in output
    assert "**Left for review \\(\\-\\-scheduled\\-only applies what time caused\\, " \
           "nothing else\\)\\:** 3 operations." in output
    assert "events." in output.split("Scheduled soon")[1]


@pytest.mark.parametrize("action", list(Action))
def test_an_operations_head_is_coloured_as_click_colours_it(action: Action) -> None:
    op = Operation(address="group.G", kind="group", action=action, id="1",
                   after={"name": "G"})
    lines = render_text(Plan(operations=[op])).split("\n")
    head = next(line for line in lines
                if click.unstyle(line).startswith(f"  {action.symbol} group.G"))
    assert head == click.style(click.unstyle(head), fg=action.colour) != click.unstyle(head)
