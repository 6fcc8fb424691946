"""Time in a plan (`lmsform.schedule`): the manifests as they are at the plan's instant, why
each change that time causes is made, what is scheduled soon, and `--scheduled-only`.

A plan is made for one instant (the clock, or `LMSFORM_NOW`), read once. Before matching,
each resource whose manifest bounds it in time is replaced by what the manifests want of it at
that instant (`Kind.at`: a user switched off after its end, an enrollment left out before its
start), with a `Ruling` saying what time decided and why; matching writes that why beside each
change (`Change.reason`), and marks an operation that time alone causes (`Operation.scheduled`).
Resources without time bounds, nearly all of them, are not touched: they cost one check each.

`--scheduled-only` keeps what time caused and nothing else: an operation time alone causes
whole; of an update that mixes time's changes with others (an edit, drift), time's fields
alone, what the LMS has put right where time says; every other operation, and the rest of a
mixed one, is left for review (`Plan.left_for_review`), listed and not applied.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from lmsform import kinds, schedule
from lmsform.config import Config
from lmsform.diff import Change, changed_fields, diff
from lmsform.kinds.kind import Ruling
from lmsform.plan import Action, Operation, ScheduledEvent
from lmsform.resources import refers_to


@dataclass(frozen=True)
class Timing:
    """The instant a plan is made for, the zone its dates are read in, what time decided of
    each resource with time bounds (by address), and what is scheduled soon."""

    instant: dt.datetime
    zone: dt.tzinfo
    rulings: dict[str, Ruling] = field(default_factory=dict)
    upcoming: list[schedule.Event] = field(default_factory=list)

    def schedule(self) -> list[ScheduledEvent]:
        """The plan's `schedule`: each upcoming event, its instant in the zone."""
        return [ScheduledEvent(address=e.address, event=e.event,
                               at=schedule.shown(e.at, self.zone), item=e.item)
                for e in self.upcoming]


def at_instant(config: Config, instant: dt.datetime | None = None,
               since: dt.datetime | None = None) -> tuple[Config, Timing]:
    """The manifests as they are at `instant` (now, by default: the clock or LMSFORM_NOW),
    and the timing of the plan; the config itself where nothing is bound in time. `since`
    is the instant the last apply was planned for: a start it saw pass is not time's doing
    now (`--scheduled-only` leaves what is still to do of it for review)."""
    zone = schedule.zone(config.settings.timezone)
    instant = schedule.now(zone) if instant is None else instant.astimezone(dt.UTC)
    timed = [r for r in config.resources.values() if r.timed is not None]
    if not timed:
        return config, Timing(instant, zone)
    resources = dict(config.resources)
    rulings: dict[str, Ruling] = {}
    events: list[schedule.Event] = []
    for resource in timed:
        kind = kinds.get(resource.kind)
        resources[resource.address], rulings[resource.address] = kind.at(
            resource, instant, zone, since)
        events += kind.events(resource, zone)
    upcoming = schedule.upcoming(events, instant, config.settings.schedule_notice_days)
    return (dataclasses.replace(config, resources=resources),
            Timing(instant, zone, rulings, upcoming))


def explain(changes: list[Change], ruling: Ruling | None) -> bool:
    """Each change that time causes (in whole or in part) given its reason; whether time
    alone makes all of them (and there are some): then the operation is time's alone."""
    if ruling is None or not changes:
        return False
    for change in changes:
        change.reason = ruling.why(change.field, change.before, change.after)
    return all(ruling.alone(c.field, c.before, c.after) for c in changes)


# --scheduled-only


def only_scheduled(operations: list[Operation], rulings: dict[str, Ruling]
                   ) -> tuple[list[Operation], list[Operation]]:
    """The operations time caused (of a mixed update, its time-caused fields alone), and
    what is left for review: every other operation, the rest of a mixed one, and whatever
    needs a resource that is left for review to be created first."""
    kept: list[Operation] = []
    left: list[Operation] = []
    for op in operations:
        if op.scheduled:
            kept.append(op)
            continue
        ruling = rulings.get(op.address)
        split = _split(op, ruling) if ruling is not None and op.action == Action.UPDATE \
            else None
        if split is None:
            left.append(op)
        else:
            kept.append(split[0])
            left.append(split[1])
    return _without_unmet_needs(kept, left)


def _split(op: Operation, ruling: Ruling) -> tuple[Operation, Operation] | None:
    """A mixed update as two: time's fields applied (what the LMS has, put right where time
    says), and the rest, left for review; None where time changes none of its fields."""
    assert op.before is not None and op.after is not None
    changed = changed_fields(op.changes)
    wanted = {k: v for k, v in ruling.applied(op.before).items() if k in changed}
    applied = diff(op.kind, wanted, op.before) if wanted else []
    if not applied:
        return None
    middle = {**op.before, **wanted}
    rest = diff(op.kind, {name: op.after.get(name) for name in changed}, middle)
    causes = {c.field: c.cause for c in op.changes}
    for change in applied:
        change.reason = ruling.why(change.field, change.before, change.after)
        change.cause = causes.get(change.field)
    for change in rest:
        change.cause = causes.get(change.field)
    return (op.model_copy(update={"after": middle, "changes": applied, "scheduled": True}),
            op.model_copy(update={"before": middle, "changes": rest, "depends_on": []}))


def _without_unmet_needs(kept: list[Operation], left: list[Operation]
                         ) -> tuple[list[Operation], list[Operation]]:
    """An operation kept that refers to a resource whose create is left for review cannot
    run (the LMS has no id for it yet): it is left for review too, and so on."""
    while True:
        waiting = {op.address for op in left if op.action.creates}
        stuck = [op for op in kept if any(ref in waiting for ref in refers_to(op.kind, op.after))]
        if not stuck:
            return kept, left
        left += stuck
        kept = [op for op in kept if op not in stuck]
