"""The words every rendering of a plan shares: its closing count, what it is for, what it
leaves unmanaged, and how drift, a change's cause, time and a policy violation are told."""

from __future__ import annotations

from collections.abc import Callable

from lmsform.plan import Action, Plan, ScheduledEvent
from lmsform.policies import PolicyViolation
from lmsform.render.escaping import (
    inert,
)

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


def where_line(plan: Plan, quote: Callable[[str], str] = inert) -> str | None:
    """Which config directory, and which LMS, the plan is for."""
    parts = []
    if plan.config_dir:
        parts.append(f"config {quote(plan.config_dir)}")
    if plan.provider:
        parts.append(f"LMS {quote(plan.provider.get('instance') or plan.provider['type'])}")
    return "Planned for " + ", ".join(parts) + "." if parts else None


def violation_place(v: PolicyViolation) -> str:
    return f"{v.file}:{v.line}:{v.column}"


def violation_counts(plan: Plan) -> str:
    mandatory = sum(v.mandatory for v in plan.policy_violations)
    advisory = len(plan.policy_violations) - mandatory
    return ", ".join(f"{n:,} {what}" for n, what in ((mandatory, "mandatory"),
                                                  (advisory, "advisory")) if n)


def counts(plan: Plan) -> dict[tuple[str, Action], int]:
    """Operations per kind and action, in the order the plan first meets them."""
    found: dict[tuple[str, Action], int] = {}
    for op in plan.operations:
        found[op.kind, op.action] = found.get((op.kind, op.action), 0) + 1
    return found


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


# time (`lmsform.schedule`): why a change is time's, what is scheduled soon, and what
# --scheduled-only leaves for review

NO_SCHEDULED = "No scheduled changes. Nothing that time caused is pending."


def no_changes(plan: Plan) -> str:
    """What a plan without operations says."""
    return NO_SCHEDULED if plan.scheduled_only else "No changes. The LMS matches the manifests."
LEFT_HEAD = "Left for review (--scheduled-only applies what time caused, nothing else):"
SCHEDULE_HEAD = "Scheduled soon (within settings.schedule_notice_days):"


def time_reason(reason: str | None) -> str:
    """A change's reason as it follows the change: ` (expired 2027-03-31)`."""
    return f" ({reason})" if reason else ""


def event_line(event: ScheduledEvent) -> str:
    """`user.x expires`, `user.x: enrollment in welcome starts`."""
    if event.item is not None:
        verb = event.event.removeprefix("enrollment_")
        return f"{event.address}: enrollment in {event.item} {verb}"
    return f"{event.address} {event.event}"
