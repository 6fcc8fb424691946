"""Finishing a plan: what --target and --exclude select, the order operations run in (what
they depend on first, removals last), the secrets hidden in what a reader sees, and the
safety limits (max_delete_fraction, --max-deletes) a plan may exceed only with --force."""

from __future__ import annotations

import fnmatch
import itertools
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from lmsform import drift, impact, policies
from lmsform.checkout import recorded_location
from lmsform.config import Config
from lmsform.diff import Change, changed_fields
from lmsform.errors import PlanError
from lmsform.order import topological
from lmsform.plan import Action, Operation, Plan, ScheduledEvent, StateRef, kind_rank
from lmsform.planning.matching import Matched
from lmsform.planning.options import PlanOptions
from lmsform.planning.reading import LiveRead, read_one_by_one
from lmsform.planning.timing import only_scheduled
from lmsform.providers.base import Provider
from lmsform.resources import (
    SENSITIVE,
    LiveNames,
    referenced_keys,
    references,
    refers_to,
)
from lmsform.state import State


def finish(matched: Matched, config: Config, state: State, provider: Provider,
           options: PlanOptions, reading: LiveRead, *, warnings: list[str]) -> Plan:
    """The plan, from what matching found."""
    if options.targets or options.excludes:
        _check_patterns(options.targets + options.excludes,
                        {*config.resources, *state.resources, *matched.ids})
    operations = _select(matched.operations, options)
    left: list[Operation] = []
    if options.scheduled_only:  # what time caused; the rest listed, for review
        operations, left = only_scheduled(operations, matched.timing.rulings)
    notices = list(matched.warnings)
    if options.targets or options.excludes:
        notices.append(
            "--target/--exclude in effect: this plan is partial and may leave the LMS "
            "different from the manifests; meant for emergencies, follow it with a full plan"
        )
    operations = _order(operations)
    found_drift = [d for d in matched.drift if _chosen(d.address, options)]
    _hide_secrets(operations + left, found_drift, config)
    plan = Plan(
        impact=impact.of(operations, matched.live, provider.capabilities,
                         _sensitive(config)),
        operations=operations,
        unmanaged={k: n for k, n in matched.unmanaged.items() if n is None or n},
        warnings=warnings + notices,
        notes=read_one_by_one(provider, reading.timings),
        refresh_only=options.refresh_only,
        drift=found_drift,
        drop_unsupported=options.drop_unsupported,
        dropped=reading.dropped + matched.left_out,
        unmanaged_resources={k: sorted(v) for k, v in matched.unmanaged_addresses.items()},
        state=StateRef(lineage=state.version[0], serial=state.version[1]),
        instant=matched.timing.instant,
        provider={"type": provider.type_name, "instance": provider.identity()},
        config_dir=recorded_location(config.directory),
        known_ids=_known_ids(operations, matched.ids, matched.names),
        targets=options.targets,
        excludes=options.excludes,
        max_deletes=options.max_deletes,
        schedule=_hidden_items(matched.timing.schedule(), config),
        scheduled_only=options.scheduled_only,
        left_for_review=left,
    )
    recreated = {op.address for op in operations
                 if op.action == Action.CREATE and op.address in matched.recorded}
    plan.blocked = _safety(plan, matched.managed, matched.live_counts,
                           config.settings.max_delete_fraction, options.max_deletes, recreated)
    if config.policies and not options.refresh_only:
        plan.policy_violations = _judged(config, operations)
        blocked, warned = policies.summaries(plan.policy_violations)
        plan.blocked += blocked
        plan.warnings += warned
    return plan


def _judged(config: Config, operations: list[Operation]) -> list[policies.PolicyViolation]:
    """What the policies find wrong: the manifests (`on: desired`), then the operations as
    the plan shows them (`on: change`)."""
    changes = (policies.ChangeView(action=op.action.value, address=op.address, kind=op.kind,
                                   before=op.before, after=op.after, changed=_changed(op),
                                   scheduled=op.scheduled)
               for op in operations)
    return config.violations() + policies.judge_changes(
        config.policies, changes, config.resources, config.position, config.secrets().mask)


def _hide_secrets(operations: list[Operation], found: list[drift.Drift],
                  config: Config) -> None:
    """Whatever shows a secret, on either side, and every field that took a value from the
    environment (`Resource.sensitive`), is `(sensitive)` in the plan: in its operations,
    which apply runs with the real values (`Config.write_only`), and in its drift, whose
    `live` then leaves the field out (accepting drift never records it)."""
    secrets = config.secrets()
    if not secrets.values and not any(r.sensitive for r in config.resources.values()):
        return

    def hidden(address: str | None, values: Iterator[tuple[str, Any]]) -> set[str]:
        """The fields secret by their place (`address`'s sensitive ones) or their value."""
        resource = config.resources.get(address) if address else None
        fields = set(resource.sensitive) if resource is not None else set()
        if secrets.values:
            fields.update(k for k, v in values if secrets.shows(v))
        return fields

    for op in operations:
        # a secret new value hides the old one too (it may tell what changed); an old secret
        # alone hides only itself: the new value is what apply sends, and must stay real
        after = hidden(op.address, iter((op.after or {}).items()))
        before = after | (hidden(None, iter(op.before.items())) if op.before else set())
        if before:
            op.before = _masked(op.before, before)
            op.after = _masked(op.after, after)
            op.changes = _hidden_changes(op.changes, before, after)
    for item in found:
        fields = hidden(item.address, itertools.chain(
            ((c.field, c.before) for c in item.changes),
            ((c.field, c.after) for c in item.changes), (item.live or {}).items()))
        if fields:
            item.changes = _hidden_changes(item.changes, fields, fields)
            if item.live is not None:
                item.live = {k: v for k, v in item.live.items() if k not in fields}


def _changed(op: Operation) -> list[str]:
    """The names of the fields an operation changes: a create's are all it sets."""
    if op.action.creates and not op.changes:
        return sorted(op.after or {})
    return sorted(changed_fields(op.changes))


def _sensitive(config: Config) -> impact.Sensitive:
    """The fields of a declared resource that took a value from the environment."""
    def fields(address: str) -> frozenset[str]:
        resource = config.resources.get(address)
        return resource.sensitive if resource is not None else frozenset()

    return fields


def _hidden_items(events: list[ScheduledEvent], config: Config) -> list[ScheduledEvent]:
    """What is scheduled, an event's item (an enrollment's course) `(sensitive)` where the
    resource has a field from the environment (its enrollments, say)."""
    def hidden(event: ScheduledEvent) -> bool:
        resource = config.resources.get(event.address)
        return event.item is not None and resource is not None and bool(resource.sensitive)

    return [e.model_copy(update={"item": SENSITIVE}) if hidden(e) else e for e in events]


def _masked(side: dict[str, Any] | None, fields: set[str]) -> dict[str, Any] | None:
    return None if side is None else {k: SENSITIVE if k in fields else v
                                      for k, v in side.items()}


def _hidden_changes(changes: list[Change], before: set[str], after: set[str]
                    ) -> list[Change]:
    """Changes with the fields `before` and `after` name (`custom.token`,
    `pricing[standard]` included) `(sensitive)` on that side."""
    def field(change: Change) -> str:
        return change.field.split(".")[0].split("[")[0]

    return [c if field(c) not in before and field(c) not in after
            else Change(field=c.field, before=SENSITIVE if field(c) in before else c.before,
                        after=SENSITIVE if field(c) in after else c.after, cause=c.cause,
                        reason=c.reason and SENSITIVE)  # time's reason names the items
            for c in changes]


def _known_ids(operations: list[Operation], ids: dict[str, str], names: LiveNames
               ) -> dict[str, str]:
    """The vendor ids of every resource the operations refer to, for apply to send: a live
    resource's, an unnamed reference's (`LiveNames`), or an external kind's key, which is
    its id."""
    keys: dict[str, set[Any]] = defaultdict(set)
    for op in operations:
        referenced_keys(op.kind, op.before, keys)
        referenced_keys(op.kind, op.after, keys)
    known = {}
    for kind, key in ((k, str(key)) for k, named in keys.items() for key in named):
        ref = f"{kind}.{key}"  # the few hundred groups and courses 100k users name, once
        if ref in ids:
            known[ref] = ids[ref]
        elif ref in names.unnamed:
            known[ref] = names.unnamed[ref]
        elif kind in names.external:
            known[ref] = key
    return dict(sorted(known.items()))


def _check_patterns(patterns: list[str], known: set[str]) -> None:
    """A --target or --exclude that names nothing is a typo, not an empty selection."""
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(a, p) for a in known)]
    if unmatched:
        raise PlanError([
            f"--target/--exclude '{p}' matches no resource in the manifests, the state or the "
            "LMS; check the address (KIND.NAME, e.g. user.ada@example.com; globs allowed)"
            for p in unmatched])


def _chosen(address: str, options: PlanOptions) -> bool:
    """Whether --target / --exclude keep this address."""
    def matches(patterns: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(address, p) for p in patterns)

    return (not options.targets or matches(options.targets)) and not matches(options.excludes)


def _select(operations: list[Operation], options: PlanOptions) -> list[Operation]:
    """--target / --exclude: keep the matching operations, refusing to leave a need behind."""
    if not options.targets and not options.excludes:
        return operations

    kept = [op for op in operations if _chosen(op.address, options)]
    created = {op.address for op in operations if op.action.creates}
    kept_addresses = {op.address for op in kept}
    errors = [
        f"{op.address} needs {ref}, which is still to be created but left out by "
        "--target/--exclude; include it too"
        for op in kept if not op.action.retires
        for ref in refers_to(op.kind, op.after)
        if ref in created and ref not in kept_addresses
    ]
    if errors:
        raise PlanError(errors)
    return kept


def _order(operations: list[Operation]) -> list[Operation]:
    """Dependencies between operations, then a stable order that respects them."""
    by_address = {op.address: op for op in operations}
    creating = {op.address for op in operations if op.action.creates}
    referenced_by: dict[str, list[str]] = defaultdict(list)
    for op in operations:
        for ref in refers_to(op.kind, op.before):
            referenced_by[ref].append(op.address)
    after: dict[str, set[str]] = {}  # what an operation refers to, asked of a removal's referrers

    def refers_after(address: str) -> set[str]:
        if address not in after:
            op = by_address[address]
            after[address] = set(refers_to(op.kind, op.after))
        return after[address]

    created = _CreatedAddresses(by_address, creating)
    for op in operations:
        needs: set[str] = set()
        if not op.action.retires:
            created.add_needed(op.kind, op.after, needs)
        if op.action.removes:
            # whatever still refers to it lets go first: edited away, or removed itself
            needs |= {a for a in referenced_by.get(op.address, [])
                      if op.address not in refers_after(a)
                      or by_address[a].action in {Action.DELETE, Action.DEACTIVATE}}
        needs.discard(op.address)
        op.depends_on = sorted(needs)

    def priority(address: str) -> tuple[int, int, str]:
        op = by_address[address]
        rank = kind_rank(op.kind)
        return (1, -rank, address) if op.action.retires else (0, rank, address)

    deps = {op.address: op.depends_on for op in operations}
    return [by_address[a] for a in topological(by_address, deps, priority)]


class _CreatedAddresses:
    """What an operation refers to that the plan creates, as the creating operations' own
    address strings: 100k users' five references were 40 MB of copies of a few hundred
    addresses, and each copy made and hashed anew. Looked up by referenced kind and key, text
    the manifests share between resources; a key that is not text (a plugin kind's) is made
    into its address each time, as `refers_to` does."""

    def __init__(self, by_address: dict[str, Operation], creating: set[str]) -> None:
        self.by_address, self.creating = by_address, creating
        self.known: dict[str, dict[str, str | None]] = defaultdict(dict)  # kind -> key -> it

    def add_needed(self, kind: str, attrs: dict[str, Any] | None, into: set[str]) -> None:
        """Add to `into` the address of each operation creating what `attrs` refer to."""
        for _, target, key in references(kind, attrs):
            known = self.known[target]
            if type(key) is not str:
                address = self._created(f"{target}.{key}")
            elif key in known:
                address = known[key]
            else:
                address = known[key] = self._created(f"{target}.{key}")
            if address is not None:
                into.add(address)

    def _created(self, address: str) -> str | None:
        return self.by_address[address].address if address in self.creating else None


def _safety(plan: Plan, managed: dict[str, int], live: dict[str, int], fraction: float,
            max_deletes: int | None, recreated: set[str]) -> list[str]:
    """Limits on how much one plan may take away; exceeding one means apply needs --force.

    Removals include deactivations (by `user_removal` or by `active: false`). A kind's share is
    judged against what lmsform manages and against what the LMS holds, so a lost or empty
    state (nothing managed) cannot let a prune through unchecked. A refresh-only plan removes
    nothing from the LMS but forgets what it found deleted: the same limits hold, since an
    LMS read from the wrong account looks like everything deleted. For the same reason,
    re-creating what vanished from the LMS (`recreated`: managed, yet not found) is held by
    the same limits: through a broken gateway it would double the catalogue."""
    removing: dict[str, int] = defaultdict(int)
    recreating: dict[str, int] = defaultdict(int)
    for op in plan.operations:
        if op.action.removes or op.switches_off:
            removing[op.kind] += 1
        elif op.address in recreated:
            recreating[op.kind] += 1
    for found in plan.drift:
        if found.what == "deleted":
            removing[found.kind] += 1
    verb = "forgets (found deleted)" if plan.refresh_only else "removes or replaces"
    blocked = _shares(verb, removing, [(managed, "managed"), (live, "live")], fraction)
    blocked += _shares("re-creates (vanished from the LMS)", recreating,
                       [(managed, "managed")], fraction)
    total = sum(removing.values()) + sum(recreating.values())
    if max_deletes is not None and total > max_deletes:
        if recreating:
            verb = "removes, replaces or re-creates (vanished from the LMS)"
        blocked.append(f"{verb} {total} resources, more than --max-deletes {max_deletes}; "
                       "apply with --force if this is intended")
    return blocked


def _shares(verb: str, counts: dict[str, int], totals: list[tuple[dict[str, int], str]],
            fraction: float) -> list[str]:
    """A block for each kind whose count is more than `fraction` of one of its totals (of
    at least 10)."""
    blocked = []
    for kind, count in sorted(counts.items(), key=lambda kv: kind_rank(kv[0])):
        for of, what in totals:
            total = of.get(kind, 0)
            if total >= 10 and count / total > fraction:
                blocked.append(
                    f"{verb} {count} of {total} {what} {kind}s ({count / total:.0%}), more "
                    f"than max_delete_fraction {fraction:.0%}; apply with --force if this is "
                    "intended")
                break
    return blocked
