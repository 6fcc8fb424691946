"""Plans for people and programs: Terraform-style text, Markdown for pull requests, JSON.

Kept apart from the `Plan` model so that a new output (HTML, a CI annotation) is one function
here, and the model stays a plain description of what will happen.

Names and values come from manifests and from the LMS, so anyone who can open a pull request
or edit a record can put text in a plan. Everything rendered goes through `inert` (every
character Python does not call printable shown as an escape: controls, line breaks,
bidirectional marks, and invisible format characters such as zero-width spaces, so two
different names never print the same) and, in Markdown, into code spans, so a reviewer sees
exactly one line per operation and nothing that looks like another operation, a link or an
image.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from lmsform.impact import escalates, price_direction
from lmsform.plan import Action, CourseAccess, Impact, Operation, Plan, PriceChange, ScheduledEvent
from lmsform.policies import PolicyViolation
from lmsform.resources import EXACT_NUMBER_KEYS


def inert(text: str) -> str:
    """Bare text (an address, a field, a message) as it is shown: every character that is
    not printable replaced by its escape (`\\n`, `\\u202e`, `\\u200b`), and a backslash
    doubled, so that an escape never reads the same as a name that spells it out. Not
    printable: what could move the cursor, break a line, colour the terminal or reorder what
    is shown, and what shows nothing at all (Unicode's format characters: zero-width spaces
    and joiners, the word joiner, the BOM, the soft hyphen; separators other than the
    space). `str.isprintable` is Unicode's own list of them."""
    if text.isprintable() and "\\" not in text:
        return text  # nearly every name: two checks in C
    return "".join("\\\\" if ch == "\\" else _escape(ch) for ch in text)


def _visible(json_text: str) -> str:
    """JSON text (whose backslashes are escaped already) with what is not printable shown
    as escapes."""
    if json_text.isprintable():
        return json_text
    return "".join(_escape(ch) for ch in json_text)


def _escape(ch: str) -> str:
    if ch.isprintable():
        return ch
    if ch in "\n\r\t":
        return json.dumps(ch)[1:-1]
    return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"


def code(text: str) -> str:
    """Markdown code span holding bare `text` literally, also inside a table cell."""
    return _span(inert(text))


def _span(shown: str) -> str:
    """A code span around text already made visible."""
    shown = shown.replace("|", "\\|")
    fence = "`" * (max((len(r) for r in re.findall("`+", shown)), default=0) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") or not shown.strip() else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


STATE_ONLY_NOTES = {
    Action.ADOPT: "adopt: found in the LMS by its natural key, recorded in state",
    Action.MOVE: "move: recorded in state under its new address",
    Action.RECORD: "record: lifecycle settings recorded in state",
    Action.FORGET: "forget: no longer in the LMS, dropped from state",
}


def closing_line(plan: Plan) -> str:
    """`Plan: 3 to create, 2 to update, 1 to delete, 4 to adopt.`, plus any rarer actions."""
    s = plan.summary
    always = {Action.CREATE, Action.UPDATE, Action.DELETE, Action.ADOPT}
    parts = [f"{s.get(a, 0)} to {a}" for a in Action if a in always or s.get(a)]
    return f"Plan: {', '.join(parts)}."


def unmanaged_line(plan: Plan) -> str | None:
    counts = [f"{n} {kind}{'s' if n != 1 else ''}"
              for kind, n in plan.unmanaged.items() if n]
    unknown = [f"{kind}s" for kind, n in plan.unmanaged.items() if n is None]
    if unknown:
        counts.append(f"{' and '.join(unknown)} unknown (the LMS cannot list them)")
    if not counts:
        return None
    return ("Unmanaged (in the LMS, in neither the manifests nor the state; left alone): "
            + ", ".join(counts) + ".")


def render_json(plan: Plan) -> str:
    return plan.model_dump_json(indent=2)


def where_line(plan: Plan, quote: Callable[[str], str] = inert) -> str | None:
    """Which config directory, and which LMS, the plan is for."""
    parts = []
    if plan.config_dir:
        parts.append(f"config {quote(plan.config_dir)}")
    if plan.provider:
        parts.append(f"LMS {quote(plan.provider.get('instance') or plan.provider['type'])}")
    return "Planned for " + ", ".join(parts) + "." if parts else None


def render_text(plan: Plan) -> str:
    """Terraform-style text; colour codes are stripped by click.echo off a TTY."""
    where = where_line(plan)
    lines: list[str] = [where, ""] if where else []
    lines += _text_impact(plan)
    if plan.dropped:
        lines += [click.style(DROPPED_HEAD, fg="yellow", bold=True)]
        lines += [click.style(f"  ! {inert(d)}", fg="yellow") for d in plan.dropped] + [""]
    lines += _text_violations(plan)
    if plan.refresh_only:
        lines.extend(_text_drift(plan))
    elif not plan.operations:
        lines.append(NO_SCHEDULED if plan.scheduled_only else
                     "No changes. The LMS matches the manifests.")
    else:
        lines.append("lmsform will perform these operations, in this order:")
        lines.append("")
        for op in plan.operations:
            lines.extend(_text_operation(op))
        lines.append("")
        lines.append(click.style(closing_line(plan), bold=True))
    lines += _text_time(plan)
    unmanaged = unmanaged_line(plan)
    if unmanaged:
        lines.append(unmanaged)
    for addresses in plan.unmanaged_resources.values():
        lines.extend(f"  ? {inert(a)}" for a in addresses)
    lines.extend(f"Note: {inert(n)}." for n in plan.notes)
    return "\n".join(lines + _warnings_and_blocks(plan))


def _where(v: PolicyViolation) -> str:
    return f"{v.file}:{v.line}:{v.column}"


def _text_violations(plan: Plan) -> list[str]:
    """The section of policy violations, before the operations."""
    if not plan.policy_violations:
        return []
    lines = [click.style(f"Policy violations ({_violation_counts(plan)}):", bold=True)]
    width = max(len(v.enforcement) for v in plan.policy_violations)
    for v in plan.policy_violations:
        subject = f"{inert(v.address)} " if v.address else "the manifests as a whole "
        lines.append(click.style(
            f"  {v.enforcement:<{width}}  {inert(v.policy)}: {subject}({inert(_where(v))}): "
            f"{inert(v.message)}", fg="red" if v.mandatory else "yellow"))
    return [*lines, ""]


def _violation_counts(plan: Plan) -> str:
    mandatory = sum(v.mandatory for v in plan.policy_violations)
    advisory = len(plan.policy_violations) - mandatory
    return ", ".join(f"{n:,} {what}" for n, what in ((mandatory, "mandatory"),
                                                  (advisory, "advisory")) if n)


def _warnings_and_blocks(plan: Plan) -> list[str]:
    return [*(click.style(f"Warning: {inert(w)}", fg="yellow") for w in plan.warnings),
            *(click.style(f"Blocked: {inert(b)}", fg="red", bold=True) for b in plan.blocked)]


MARKDOWN_BUDGET = 60_000  # GitHub refuses comments over 65,536 characters


def render_markdown(plan: Plan, full_plan: str | None = None) -> str:
    """For pull-request comments: the summary, anything blocked and the impact first, then
    a table row per operation, the attributes of created resources folded away, and what
    the plan is for. A plan too large for one comment shows counts per kind and action
    instead, and says where the whole plan is (`full_plan`: the file `plan --out` wrote);
    its impact stays, its names left out if they would not fit either."""
    head = ["### lmsform plan", ""]
    if plan.refresh_only:
        head.append(f"**{drift_summary(plan)}**" if plan.drift
                    else "**No drift.** The LMS holds what lmsform last applied.")
    else:
        head.append(f"**{closing_line(plan)}**" if plan.operations
                    else f"**{NO_SCHEDULED}**" if plan.scheduled_only
                    else "**No changes.** The LMS matches the manifests.")
    head += [""] + [f"> **Blocked:** {_md_text(b)}" for b in plan.blocked]
    head += [f"> **Warning:** {_md_text(w)}" for w in plan.warnings]
    head += [""] if plan.blocked or plan.warnings else []  # the quote ends here
    dropped = ["", f"**{_md_text(DROPPED_HEAD)}**", "",
               *[f"- {_md_text(d)}" for d in plan.dropped], ""] if plan.dropped else []
    tail = [""] + [line for line in (unmanaged_line(plan), where_line(plan, code)) if line]
    tail += [f"Note: {_md_text(n)}." for n in plan.notes]
    body = _violations_table(plan) + _operations_table(plan) + _created_details(plan) \
        + _drift_table(plan) + _markdown_time(plan) + _unmanaged_details(plan)
    text = "\n".join([*head, *_md_impact(plan), *dropped, *body, *tail]) + "\n"
    for shown in (IMPACT_SHOWN, 0):
        if len(text) <= MARKDOWN_BUDGET:
            break
        text = "\n".join([*head, *_md_impact(plan, shown), *dropped, *_violation_summary(plan),
                          *_counts_table(plan, full_plan), *tail]) + "\n"
    return text


def _violations_table(plan: Plan) -> list[str]:
    if not plan.policy_violations:
        return []
    lines = [f"**Policy violations** ({_violation_counts(plan)})", "",
             "| Policy | Enforcement | Resource | Where | Message |", "|---|---|---|---|---|"]
    for v in plan.policy_violations:
        lines.append(f"| {code(v.policy)} | {v.enforcement} | "
                     f"{code(v.address) if v.address else '_the manifests as a whole_'} | "
                     f"{code(_where(v))} | {_md_text(v.message)} |")
    return [*lines, ""]


def _violation_summary(plan: Plan) -> list[str]:
    """A plan too large for one comment: the violations, counted per policy."""
    if not plan.policy_violations:
        return []
    found: dict[tuple[str, str], int] = {}
    for v in plan.policy_violations:
        found[v.policy, v.enforcement] = found.get((v.policy, v.enforcement), 0) + 1
    rows = [f"| {code(p)} | {e} | {n:,} |" for (p, e), n in found.items()]
    if len(rows) > POLICY_ROWS:
        rows[POLICY_ROWS:] = [f"| and {len(rows) - POLICY_ROWS:,} more policies | | |"]
    return [f"**Policy violations** ({_violation_counts(plan)})", "",
            "| Policy | Enforcement | Violations |", "|---|---|---:|", *rows, ""]


POLICY_ROWS = 50  # a comment too large shows this many policies' counts at most


def _operations_table(plan: Plan, operations: list[Operation] | None = None) -> list[str]:
    operations = plan.operations if operations is None else operations
    if not operations:
        return []
    lines = ["| | Address | Action | Changes |", "|---|---|---|---|"]
    for op in operations:
        changes = "<br>".join(
            f"{code(c.field)}: {_md(c.before)} → {_md(c.after)}"
            f"{_md_text(_why(c.reason) + CAUSE_NOTES.get(c.cause, ''))}" for c in op.changes
        )
        note = f" (from {code(op.moved_from)})" if op.moved_from else ""
        note += _md_text(_why(op.reason)) if op.scheduled and op.reason else ""
        lines.append(f"| `{op.action.symbol}` | {code(op.address)}{note} | {op.action} "
                     f"| {changes} |")
    return lines


def _drift_table(plan: Plan) -> list[str]:
    if not plan.drift:
        return []
    lines = ["| | Address | Outside lmsform | Last applied → now |", "|---|---|---|---|"]
    for item in plan.drift:
        symbol, _, what = DRIFT_LOOK[item.what]
        changes = "<br>".join(f"{code(c.field)}: {_md(c.before)} → {_md(c.after)}"
                              for c in item.changes)
        lines.append(f"| `{symbol}` | {code(item.address)} | {what} | {changes} |")
    return lines


def _unmanaged_details(plan: Plan) -> list[str]:
    addresses = [a for found in plan.unmanaged_resources.values() for a in found]
    if not addresses:
        return []
    return ["", f"<details><summary>The {len(addresses)} unmanaged resources</summary>", "",
            *[f"- {code(a)}" for a in addresses], "", "</details>"]


def _created_details(plan: Plan) -> list[str]:
    created = [op for op in plan.operations if op.action.creates and op.after]
    if not created:
        return []
    lines = ["", f"<details><summary>Attributes of the {len(created)} resources to create"
                 "</summary>", ""]
    for op in created:
        assert op.after is not None
        fields = ", ".join(f"{code(k)}: {_md(v)}" for k, v in op.after.items())
        lines.append(f"- {code(op.address)}: {fields}")
    return [*lines, "", "</details>"]


def counts(plan: Plan) -> dict[tuple[str, Action], int]:
    """Operations per kind and action, in the order the plan first meets them."""
    found: dict[tuple[str, Action], int] = {}
    for op in plan.operations:
        found[op.kind, op.action] = found.get((op.kind, op.action), 0) + 1
    return found


def render_summary(plan: Plan) -> str:
    """`plan --summary`: a plan too long for a terminal as counts per kind and action, with
    what blocks it and its warnings."""
    where = where_line(plan)
    lines: list[str] = [where, ""] if where else []
    lines += _text_impact(plan)
    if plan.refresh_only:
        lines.append(drift_summary(plan) if plan.drift else "No drift.")
    elif not plan.operations:
        lines.append(NO_SCHEDULED if plan.scheduled_only else
                     "No changes. The LMS matches the manifests.")
    else:
        rows = [(kind, str(action), f"{n:,}") for (kind, action), n in counts(plan).items()]
        widths = [max(len(r[i]) for r in [("kind", "action", ""), *rows]) for i in range(3)]
        lines += [f"  {k:<{widths[0]}}  {a:<{widths[1]}}  {n:>{widths[2]}}"
                  for k, a, n in rows]
        lines += ["", click.style(closing_line(plan), bold=True)]
    if plan.left_for_review:
        lines.append(f"Left for review (not caused by time): {len(plan.left_for_review):,} "
                     f"operation{'s' if len(plan.left_for_review) != 1 else ''}.")
    if plan.schedule:
        lines.append(f"Scheduled soon: {len(plan.schedule):,} "
                     f"event{'s' if len(plan.schedule) != 1 else ''}.")
    lines += [line for line in [unmanaged_line(plan)] if line]
    return "\n".join(lines + _warnings_and_blocks(plan))


def _counts_table(plan: Plan, full_plan: str | None) -> list[str]:
    where = (f"in {code(full_plan)}" if full_plan else
             "in the file `lmsform plan --out FILE` writes")
    lines = [f"This plan is too large for one comment; the whole plan is {where}.", "",
             "| Kind | Action | Operations |", "|---|---|---:|"]
    lines += [f"| {kind} | {action} | {n:,} |" for (kind, action), n in counts(plan).items()]
    return lines


IMPACT_SHOWN = 5  # names listed per fact; the rest are counted ("and 97 more")
NO_IMPACT = "none on access, roles, users, prices or coupons"
T = TypeVar("T")


def _text_impact(plan: Plan) -> list[str]:
    """The impact section of text and summary plans: one line per fact, an escalation to
    admin in red and flagged `!`."""
    if plan.impact is None:
        return []
    facts = _impact_facts(plan.impact, inert, "->")
    if not facts:
        return [f"Impact: {NO_IMPACT}.", ""]
    return ["Impact:", *(click.style(f"  ! {line}", fg="red", bold=True) if flagged
                         else f"  {line}" for flagged, line in facts), ""]


def _md_impact(plan: Plan, shown: int = IMPACT_SHOWN) -> list[str]:
    if plan.impact is None:
        return []
    facts = _impact_facts(plan.impact, code, "→", shown)
    if not facts:
        return [f"**Impact:** {NO_IMPACT}.", ""]
    return ["**Impact**", "", *(f"- ⚠️ **{line}**" if flagged else f"- {line}"
                                for flagged, line in facts), ""]


def _impact_facts(impact: Impact, name: Callable[[str], str], arrow: str,
                 shown: int = IMPACT_SHOWN) -> list[tuple[bool, str]]:
    """One line per fact, each flagged when a reviewer must not miss it (someone becomes
    admin): every name from the manifests or the LMS through `name` (`inert`, or `code`
    for Markdown), at most `shown` of them a line, the rest counted."""
    def role(value: str | None) -> str:
        return "none" if value is None else name(value)

    facts: list[tuple[bool, str]] = []
    for flagged, verbs, rest in ((True, ("becomes", "become"), " admin"),
                                 (False, ("changes", "change"), " role")):
        changes = [c for c in impact.privilege_changes if escalates(c) == flagged]
        if changes:
            facts.append((flagged, _fact(
                f"{_count(len(changes), 'user')} {_verb(len(changes), *verbs)}{rest}",
                changes, shown,
                lambda c: f"{name(c.user)} ({role(c.before)} {arrow} {role(c.after)})")))
    for access, verbs in ((impact.access_granted, ("gains", "gain")),
                          (impact.access_revoked, ("loses", "lose"))):
        if access:
            facts.append((False, _access_fact(access, verbs, name, shown)))
    for users, done in ((impact.users_created, "created"), (impact.users_deactivated,
                        "deactivated"), (impact.users_reactivated, "reactivated"),
                        (impact.users_deleted, "deleted")):
        if users:
            facts.append((False, _fact(f"{_count(len(users), 'user')} {done}", users,
                                       shown, name)))
    facts += [(False, line) for line in _money_facts(impact, name, arrow, shown)]
    return facts


def _access_fact(access: list[CourseAccess], verbs: tuple[str, str],
                 name: Callable[[str], str], shown: int) -> str:
    users = len({user for a in access for user in a.users})
    return _fact(f"{_count(users, 'user')} {_verb(users, *verbs)} access to "
                 f"{_count(len(access), 'course')}", access, shown,
                 lambda a: f"{name(a.course)} ({_listed(a.users, shown, name)})")


def _money_facts(impact: Impact, name: Callable[[str], str], arrow: str,
                 shown: int) -> list[str]:
    """Prices added, raised, lowered, changed and removed; coupons created, changed and
    removed, with their discount and the courses it applies to."""
    def price(change: PriceChange) -> str:
        before, after = (name(_price(p)) for p in (change.before, change.after))
        shown_as = {"added": after, "removed": before}.get(price_direction(change),
                                                           f"{before} {arrow} {after}")
        return f"{name(change.course)} {name(change.plan)}: {shown_as}"

    lines = []
    for direction in ("added", "raised", "lowered", "changed", "removed"):
        found = [p for p in impact.pricing_changes if price_direction(p) == direction]
        if found:
            lines.append(_fact(f"{_count(len(found), 'price')} {direction}", found, shown,
                               price))
    for actions, done in (({Action.CREATE}, "created"),
                          ({Action.UPDATE, Action.REPLACE}, "changed"),
                          ({Action.DELETE}, "removed")):
        coupons = [c for c in impact.coupon_changes if c.action in actions]
        if coupons:
            lines.append(_fact(
                f"{_count(len(coupons), 'coupon')} {done}", coupons, shown,
                lambda c: f"{name(c.code)} ({name(_discount(c.discount))} off "
                          f"{_listed(c.courses, shown, name) if c.courses else 'every course'})"))
    return lines


def _fact(head: str, items: Sequence[T], shown: int, show: Callable[[T], str]) -> str:
    """`head: a, b, c, and 97 more`; `head.` alone where no names are shown."""
    return f"{head}: {_listed(items, shown, show)}" if shown else f"{head}."


def _listed(items: Sequence[T], shown: int, show: Callable[[T], str]) -> str:
    """The first `shown` items, the rest counted; only those shown are rendered."""
    listed = ", ".join(show(item) for item in items[:shown])
    rest = len(items) - shown
    return f"{listed}, and {rest:,} more" if rest > 0 else listed


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _price(attrs: Any) -> str:
    """`49.00 USD`, `100.00 EUR yearly`; a hidden price as the plan shows it."""
    if not isinstance(attrs, dict):
        return str(attrs)
    billing = attrs.get("billing")
    return " ".join(str(part) for part in (attrs.get("amount"), attrs.get("currency"),
                                           None if billing == "one_time" else billing)
                    if part is not None)


def _discount(discount: Any) -> str:
    """`10%`, `5.00 USD`; a hidden discount as the plan shows it."""
    if isinstance(discount, dict) and discount.get("percent") is not None:
        return f"{discount['percent']}%"
    if isinstance(discount, dict):
        return f"{discount.get('amount')} {discount.get('currency')}"
    return str(discount)


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def _value(value: Any) -> str:
    """A value as JSON text, made visible."""
    return _visible(_json(value))


DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _json(value: Any) -> str:
    """JSON text, with the exact decimals a plan keeps as text (an amount, a percent: the
    JSON plan keeps their spelling) shown to the reader as the numbers they are."""
    if isinstance(value, dict):
        return "{" + ", ".join(
            f"{json.dumps(key, ensure_ascii=False)}: "
            + (item if key in EXACT_NUMBER_KEYS and isinstance(item, str)
               and DECIMAL_TEXT.fullmatch(item) else _json(item))
            for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False, default=str)


def _md(value: Any) -> str:
    return "_none_" if value is None else _span(_value(value))


def _md_text(text: str) -> str:
    """Prose for Markdown: every ASCII punctuation mark escaped, so nothing becomes markup."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", inert(text))


def _text_operation(op: Operation) -> list[str]:
    head = f"  {op.action.symbol} {inert(op.address)}"
    notes = []
    if op.moved_from:
        notes.append(f"moved from {inert(op.moved_from)}")
    if op.action in STATE_ONLY_NOTES:
        notes.append(STATE_ONLY_NOTES[op.action])
    elif op.action == Action.DEACTIVATE:
        notes.append("deactivate")
    if op.reason:
        notes.append(inert(op.reason))
    if notes:
        head += f" ({'; '.join(notes)})"
    lines = [click.style(head, fg=op.action.colour)]
    if op.action == Action.CREATE and op.after:
        lines += [f"      {inert(k)}: {_value(v)}" for k, v in op.after.items()]
    for change in op.changes:
        lines.append(f"      {inert(change.field)}: {_value(change.before)} -> "
                     f"{_value(change.after)}{inert(_why(change.reason))}"
                     f"{CAUSE_NOTES.get(change.cause, '')}")
    return lines


DROPPED_HEAD = ("Not carried over (--drop-unsupported: the manifests declare them, this LMS "
                "cannot hold them):")


# How a change's cause is told where it is not the usual edit of the manifests.
CAUSE_NOTES: dict[str | None, str] = {"lms": "  (changed in the LMS since the last apply)",
               "both": "  (changed in the LMS and in the manifests)"}
DRIFT_LOOK = {"changed": ("~", "yellow", "changed"),
              "deleted": ("-", "red", "deleted outside lmsform"),
              "recreated": ("-/+", "magenta", "re-created outside lmsform")}


def drift_summary(plan: Plan) -> str:
    counts = {what: sum(d.what == what for d in plan.drift) for what in DRIFT_LOOK}
    words = [f"{n} {DRIFT_LOOK[w][2].replace(' outside lmsform', '')}"
             for w, n in counts.items() if n]
    return f"Drift: {', '.join(words)}."


def _text_drift(plan: Plan) -> list[str]:
    """A refresh-only plan: what the LMS changed outside lmsform, nothing proposed."""
    if not plan.drift:
        return ["No drift. The LMS holds what lmsform last applied."]
    lines = ["The LMS changed these outside lmsform since it last applied:", ""]
    for item in plan.drift:
        symbol, colour, what = DRIFT_LOOK[item.what]
        if item.new_id:
            what += f": id {item.id} -> {item.new_id}"
        lines.append(click.style(f"  {symbol} {inert(item.address)} ({inert(what)})",
                                 fg=colour))
        lines += [f"      {inert(c.field)}: {_value(c.before)} -> "
                  f"{_value(c.after)}" for c in item.changes]
    return [*lines, "", click.style(drift_summary(plan), bold=True),
            "`lmsform apply --refresh-only` accepts it into the state; `lmsform apply` puts "
            "the manifests' values back."]


# time (`lmsform.schedule`): why a change is time's, what is scheduled soon, and what
# --scheduled-only leaves for review

NO_SCHEDULED = "No scheduled changes. Nothing that time caused is pending."
LEFT_HEAD = "Left for review (--scheduled-only applies what time caused, nothing else):"
SCHEDULE_HEAD = "Scheduled soon (within settings.schedule_notice_days):"


def _why(reason: str | None) -> str:
    """A change's reason as it follows the change: ` (expired 2027-03-31)`."""
    return f" ({reason})" if reason else ""


def _event(event: ScheduledEvent) -> str:
    """`user.x expires`, `user.x: enrollment in welcome starts`."""
    if event.item is not None:
        verb = event.event.removeprefix("enrollment_")
        return f"{event.address}: enrollment in {event.item} {verb}"
    return f"{event.address} {event.event}"


def _text_time(plan: Plan) -> list[str]:
    lines: list[str] = []
    if plan.left_for_review:
        lines += ["", click.style(LEFT_HEAD, bold=True), ""]
        for op in plan.left_for_review:
            lines.extend(_text_operation(op))
    if plan.schedule:
        lines += ["", click.style(SCHEDULE_HEAD, bold=True)]
        lines += [f"  {inert(e.at)}  {inert(_event(e))}" for e in plan.schedule]
    return lines


def _markdown_time(plan: Plan) -> list[str]:
    lines: list[str] = []
    if plan.left_for_review:
        lines += ["", f"**{_md_text(LEFT_HEAD)}**", "",
                  *_operations_table(plan, plan.left_for_review)]
    if plan.schedule:
        lines += ["", f"**{_md_text(SCHEDULE_HEAD)}**", "",
                  *[f"- {code(e.at)}: {code(_event(e))}" for e in plan.schedule]]
    # right after the summary when nothing else is shown: one blank line between them
    return lines if plan.operations or plan.drift else lines[1:]
