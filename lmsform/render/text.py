"""Terraform-style text, and the summary (`plan --summary`) for plans too long for a
terminal."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import click

from lmsform.plan import Action, Operation, Plan
from lmsform.render.escaping import (
    field_text,
    inert,
    value_text,
)
from lmsform.render.lines import (
    CAUSE_NOTES,
    DRIFT_LOOK,
    DROPPED_HEAD,
    LEFT_HEAD,
    SCHEDULE_HEAD,
    STATE_ONLY_NOTES,
    closing_line,
    counts,
    drift_summary,
    event_line,
    no_changes,
    time_reason,
    unmanaged_line,
    violation_counts,
    violation_place,
    where_line,
)
from lmsform.render.people import (
    text_impact,
)


def render_text(plan: Plan) -> str:
    """Terraform-style text; colour codes are stripped by click.echo off a TTY."""
    return "\n".join(text_lines(plan))


def text_lines(plan: Plan) -> Iterator[str]:
    """`render_text`'s lines, made one operation at a time: a command writes them as they
    come (`cli.planning`), since 100k creates' 1.2 million lines held at once, as a list
    and then as one string, cost 100 MB."""
    where = where_line(plan)
    yield from [where, ""] if where else []
    yield from text_impact(plan)
    if plan.dropped:
        yield click.style(DROPPED_HEAD, fg="yellow", bold=True)
        yield from [click.style(f"  ! {inert(d)}", fg="yellow") for d in plan.dropped] + [""]
    yield from _text_violations(plan)
    if plan.refresh_only:
        yield from _text_drift(plan)
    elif not plan.operations:
        yield no_changes(plan)
    else:
        yield "lmsform will perform these operations, in this order:"
        yield ""
        for op in plan.operations:
            yield from text_operation(op)
        yield ""
        yield click.style(closing_line(plan), bold=True)
    yield from _text_time(plan)
    unmanaged = unmanaged_line(plan)
    if unmanaged:
        yield unmanaged
    for addresses in plan.unmanaged_resources.values():
        yield from (f"  ? {inert(a)}" for a in addresses)
    yield from (f"Note: {inert(n)}." for n in plan.notes)
    yield from _warnings_and_blocks(plan)


def _text_violations(plan: Plan) -> list[str]:
    """The section of policy violations, before the operations."""
    if not plan.policy_violations:
        return []
    lines = [click.style(f"Policy violations ({violation_counts(plan)}):", bold=True)]
    width = max(len(v.enforcement) for v in plan.policy_violations)
    for v in plan.policy_violations:
        subject = f"{inert(v.address)} " if v.address else "the manifests as a whole "
        where = inert(violation_place(v))
        lines.append(click.style(
            f"  {v.enforcement:<{width}}  {inert(v.policy)}: {subject}({where}): "
            f"{inert(v.message)}", fg="red" if v.mandatory else "yellow"))
    return [*lines, ""]


def _warnings_and_blocks(plan: Plan) -> list[str]:
    return [*(click.style(f"Warning: {inert(w)}", fg="yellow") for w in plan.warnings),
            *(click.style(f"Blocked: {inert(b)}", fg="red", bold=True) for b in plan.blocked)]


def render_summary(plan: Plan) -> str:
    """`plan --summary`: a plan too long for a terminal as counts per kind and action, with
    what blocks it and its warnings."""
    where = where_line(plan)
    lines: list[str] = [where, ""] if where else []
    lines += text_impact(plan)
    if plan.refresh_only:
        lines.append(drift_summary(plan) if plan.drift else "No drift.")
    elif not plan.operations:
        lines.append(no_changes(plan))
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


def text_operation(op: Operation) -> list[str]:
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
    before, after = _colouring(op.action.colour)
    lines = [f"{before}{head}{after}"]
    if op.action == Action.CREATE and op.after:
        lines += [f"      {field_text(k)}: {value_text(v)}" for k, v in op.after.items()]
    for change in op.changes:
        lines.append(f"      {field_text(change.field)}: {value_text(change.before)} -> "
                     f"{value_text(change.after)}{inert(time_reason(change.reason))}"
                     f"{CAUSE_NOTES.get(change.cause, '')}")
    return lines


@functools.cache
def _colouring(colour: str) -> tuple[str, str]:
    """What `click.style(text, fg=colour)` puts before and after the text: found once per
    colour, where styling each of 100k operations' heads took a tenth of its text."""
    before, _, after = click.style("\0", fg=colour).partition("\0")
    return before, after


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
        lines += [f"      {inert(c.field)}: {value_text(c.before)} -> "
                  f"{value_text(c.after)}" for c in item.changes]
    return [*lines, "", click.style(drift_summary(plan), bold=True),
            "`lmsform apply --refresh-only` accepts it into the state; `lmsform apply` puts "
            "the manifests' values back."]


def _text_time(plan: Plan) -> list[str]:
    lines: list[str] = []
    if plan.left_for_review:
        lines += ["", click.style(LEFT_HEAD, bold=True), ""]
        for op in plan.left_for_review:
            lines.extend(text_operation(op))
    if plan.schedule:
        lines += ["", click.style(SCHEDULE_HEAD, bold=True)]
        lines += [f"  {inert(e.at)}  {inert(event_line(e))}" for e in plan.schedule]
    return lines
