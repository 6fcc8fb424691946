"""Markdown for pull-request comments: the summary, anything blocked and the impact first,
then tables; a plan too large for one comment (GitHub's limit is 65,536 characters) shows
counts instead, and says where the whole plan is."""

from __future__ import annotations

from lmsform.plan import Operation, Plan
from lmsform.render.escaping import (
    code,
    md_text,
    md_value,
)
from lmsform.render.lines import (
    CAUSE_NOTES,
    DRIFT_LOOK,
    DROPPED_HEAD,
    LEFT_HEAD,
    NO_SCHEDULED,
    SCHEDULE_HEAD,
    closing_line,
    counts,
    drift_summary,
    event_line,
    time_reason,
    unmanaged_line,
    violation_counts,
    violation_place,
    where_line,
)
from lmsform.render.people import (
    IMPACT_SHOWN,
    markdown_impact,
)

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
    head += [""] + [f"> **Blocked:** {md_text(b)}" for b in plan.blocked]
    head += [f"> **Warning:** {md_text(w)}" for w in plan.warnings]
    head += [""] if plan.blocked or plan.warnings else []  # the quote ends here
    dropped = ["", f"**{md_text(DROPPED_HEAD)}**", "",
               *[f"- {md_text(d)}" for d in plan.dropped], ""] if plan.dropped else []
    tail = [""] + [line for line in (unmanaged_line(plan), where_line(plan, code)) if line]
    tail += [f"Note: {md_text(n)}." for n in plan.notes]
    body = _violations_table(plan) + _operations_table(plan) + _created_details(plan) \
        + _drift_table(plan) + _markdown_time(plan) + _unmanaged_details(plan)
    text = "\n".join([*head, *markdown_impact(plan), *dropped, *body, *tail]) + "\n"
    for shown in (IMPACT_SHOWN, 0):
        if len(text) <= MARKDOWN_BUDGET:
            break
        text = "\n".join([*head, *markdown_impact(plan, shown), *dropped, *_violation_summary(plan),
                          *_counts_table(plan, full_plan), *tail]) + "\n"
    return text


def _violations_table(plan: Plan) -> list[str]:
    if not plan.policy_violations:
        return []
    lines = [f"**Policy violations** ({violation_counts(plan)})", "",
             "| Policy | Enforcement | Resource | Where | Message |", "|---|---|---|---|---|"]
    for v in plan.policy_violations:
        lines.append(f"| {code(v.policy)} | {v.enforcement} | "
                     f"{code(v.address) if v.address else '_the manifests as a whole_'} | "
                     f"{code(violation_place(v))} | {md_text(v.message)} |")
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
    return [f"**Policy violations** ({violation_counts(plan)})", "",
            "| Policy | Enforcement | Violations |", "|---|---|---:|", *rows, ""]


POLICY_ROWS = 50  # a comment too large shows this many policies' counts at most


def _operations_table(plan: Plan, operations: list[Operation] | None = None) -> list[str]:
    operations = plan.operations if operations is None else operations
    if not operations:
        return []
    lines = ["| | Address | Action | Changes |", "|---|---|---|---|"]
    for op in operations:
        changes = "<br>".join(
            f"{code(c.field)}: {md_value(c.before)} → {md_value(c.after)}"
            f"{md_text(time_reason(c.reason) + CAUSE_NOTES.get(c.cause, ''))}" for c in op.changes
        )
        note = f" (from {code(op.moved_from)})" if op.moved_from else ""
        note += md_text(time_reason(op.reason)) if op.scheduled and op.reason else ""
        lines.append(f"| `{op.action.symbol}` | {code(op.address)}{note} | {op.action} "
                     f"| {changes} |")
    return lines


def _drift_table(plan: Plan) -> list[str]:
    if not plan.drift:
        return []
    lines = ["| | Address | Outside lmsform | Last applied → now |", "|---|---|---|---|"]
    for item in plan.drift:
        symbol, _, what = DRIFT_LOOK[item.what]
        changes = "<br>".join(f"{code(c.field)}: {md_value(c.before)} → {md_value(c.after)}"
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
        fields = ", ".join(f"{code(k)}: {md_value(v)}" for k, v in op.after.items())
        lines.append(f"- {code(op.address)}: {fields}")
    return [*lines, "", "</details>"]


def _counts_table(plan: Plan, full_plan: str | None) -> list[str]:
    where = (f"in {code(full_plan)}" if full_plan else
             "in the file `lmsform plan --out FILE` writes")
    lines = [f"This plan is too large for one comment; the whole plan is {where}.", "",
             "| Kind | Action | Operations |", "|---|---|---:|"]
    lines += [f"| {kind} | {action} | {n:,} |" for (kind, action), n in counts(plan).items()]
    if plan.left_for_review:  # what the time sections would list, counted
        lines += ["", f"**{md_text(LEFT_HEAD)}** {len(plan.left_for_review):,} operations."]
    if plan.schedule:
        lines += ["", f"**{md_text(SCHEDULE_HEAD)}** {len(plan.schedule):,} events."]
    return lines


def _markdown_time(plan: Plan) -> list[str]:
    lines: list[str] = []
    if plan.left_for_review:
        lines += ["", f"**{md_text(LEFT_HEAD)}**", "",
                  *_operations_table(plan, plan.left_for_review)]
    if plan.schedule:
        lines += ["", f"**{md_text(SCHEDULE_HEAD)}**", "",
                  *[f"- {code(e.at)}: {code(event_line(e))}" for e in plan.schedule]]
    # right after the summary when nothing else is shown: one blank line between them
    return lines if plan.operations or plan.drift else lines[1:]
