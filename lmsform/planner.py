"""Planning: compare the manifests with the live LMS and the state, and decide what to do.

The path reads straight through: `start_reading` checks the manifests against the provider's
capabilities (before any call) and starts listing every kind in the background while the
caller loads the state; `make_plan` checks that the state belongs to this LMS, takes the
listings, then kind by kind (parents first) matches desired resources to live ones (by
state, then by natural key), diffs them, and decides removals, adoptions and what is left
unmanaged. Finally operations get their dependencies and order, and the safety limits are
checked.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lmsform import drift, kinds
from lmsform.checkout import recorded_location
from lmsform.config import Config
from lmsform.diff import Change, changed_fields, diff
from lmsform.errors import LmsformError, PlanError, Problem, ProviderError
from lmsform.order import topological
from lmsform.plan import Action, Operation, Plan, StateRef, kind_rank
from lmsform.providers import recorded_identity
from lmsform.providers.base import Capabilities, KindSupport, Provider
from lmsform.resources import (
    SCHEMAS,
    SENSITIVE,
    LiveNames,
    LiveResource,
    Resource,
    address_key,
    live_view,
    natural_keys,
    references,
    split_address,
)
from lmsform.state import State, StateEntry

log = logging.getLogger(__name__)


@dataclass
class PlanOptions:
    targets: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    max_deletes: int | None = None
    parallelism: int = 8
    refresh_only: bool = False  # report drift alone (`plan --refresh-only`)
    # leave out, and list, what the provider cannot hold instead of refusing (a migration)
    drop_unsupported: bool = False
    show_unmanaged: bool = False  # list unmanaged resources by address, not only count them


def check_capabilities(config: Config, provider: type[Provider] | Provider) -> None:
    """Everything the manifests ask of this provider must be possible; fail before any call
    (and in `validate`, which has no connection), pointing into the manifests."""
    problems: list[Problem] = []
    caps, vendor = provider.capabilities, provider.type_name
    fields = {kind: support.fields | SCHEMAS[kind].identity_only
              for kind, support in caps.kinds.items()}
    unholdable = False  # some of it this LMS cannot hold: --drop-unsupported would help
    for resource in config.resources.values():
        allowed = fields.get(resource.kind)
        unholdable = unholdable or allowed is None or \
            not resource.attrs.keys() <= allowed or _foreign_custom(resource, caps)
        if allowed is None:
            problems.append(config.problem(
                resource, None, f"{resource.address}: the {vendor} provider does not manage "
                f"{resource.kind}s; remove them from the manifests"))
            continue
        if not (resource.attrs.keys() <= allowed and resource.secrets.keys() <= allowed):
            for name in sorted((resource.attrs.keys() | resource.secrets.keys()) - allowed):
                problems.append(config.problem(
                    resource, name, f"{resource.address}: the {vendor} provider does not "
                    f"support the {resource.kind} field '{name}'; remove it"))
        values = {**resource.attrs, **resource.secrets} if resource.secrets else resource.attrs
        for name, message in provider.check(resource.kind, values):
            problems.append(config.problem(resource, name, message))
    messages = _unprunable(config, provider) + _settings_problems(config, provider)
    if problems or messages:
        raise PlanError(messages, problems, contacted=False,
                        hint=DROP_HINT if unholdable else "")


# Said under errors about what an LMS cannot hold, as when moving to another vendor.
DROP_HINT = ("To plan for this LMS anyway, `--drop-unsupported` (plan, apply) leaves out what "
             "it cannot hold and lists it first.")


def _foreign_custom(resource: Resource, caps: Capabilities) -> bool:
    """Whether a resource has `custom` keys its kind has no place for in this LMS."""
    support = caps.kinds.get(resource.kind)
    custom = resource.attrs.get("custom")
    return support is not None and support.custom_keys is not None and \
        isinstance(custom, dict) and not custom.keys() <= support.custom_keys


def without_unsupported(config: Config, provider: Provider) -> tuple[Config, list[str]]:
    """The manifests less what this provider cannot hold, and what was left out, grouped
    by kind and field with counts (`plan --drop-unsupported`: moving to another vendor
    loses nothing silently)."""
    caps, vendor = provider.capabilities, provider.type_name
    kept: dict[str, Resource] = {}
    unheld: dict[str, int] = defaultdict(int)
    fields: dict[tuple[str, str], int] = defaultdict(int)
    for address, resource in config.resources.items():
        support = caps.kinds.get(resource.kind)
        if support is None:
            unheld[resource.kind] += 1
            continue
        allowed = support.fields | SCHEMAS[resource.kind].identity_only
        for name in (resource.attrs.keys() | resource.secrets.keys()) - allowed:
            fields[resource.kind, name] += 1
        attrs = {k: v for k, v in resource.attrs.items() if k in allowed}
        custom = attrs.get("custom")
        if support.custom_keys is not None and isinstance(custom, dict):
            for key in custom.keys() - support.custom_keys:
                fields[resource.kind, f"custom.{key}"] += 1
            attrs["custom"] = {k: v for k, v in custom.items() if k in support.custom_keys}
            if not attrs["custom"]:
                del attrs["custom"]
        kept[address] = dataclasses.replace(
            resource, attrs=attrs,
            secrets={k: v for k, v in resource.secrets.items() if k in allowed})
    dropped = [f"{kind}s: all {n} (the {vendor} provider does not manage {kind}s)"
               for kind, n in sorted(unheld.items(), key=lambda i: kinds.rank(i[0]))]
    dropped += [f"{kind}.{name}: on {n} {kind}{'s' if n != 1 else ''} (the {vendor} "
                f"provider does not hold this field)"
                for (kind, name), n in sorted(fields.items(),
                                              key=lambda i: (kinds.rank(i[0][0]), i[0][1]))]
    return dataclasses.replace(config, resources=kept), dropped


def _unprunable(config: Config, provider: type[Provider] | Provider) -> list[str]:
    """`prune` needs every live resource of a kind: impossible where the LMS cannot list it."""
    prune = config.settings.prune
    pruned = [k for k in kinds.names() if prune is True or (isinstance(prune, list) and k in prune)]
    return [
        f"settings.prune: the {provider.type_name} provider cannot list {kind}s, so "
        f"lmsform cannot see the ones it does not manage; take '{kind}' out of prune "
        "(list the kinds to prune instead of `true`)"
        for kind in pruned
        if kind in provider.capabilities.kinds and not provider.capabilities.kinds[kind].listable
    ]


def _read_one_by_one(provider: Provider, timings: dict[str, tuple[int, float]]) -> list[str]:
    """What reading a kind the LMS cannot list cost, so that a reviewer of a large plan
    knows why it took as long as it did, and what a larger one would take."""
    notes = []
    for kind, (count, seconds) in timings.items():
        if provider.capabilities.kinds[kind].listable or not count:
            continue
        notes.append(f"{kind}s: the LMS cannot list them, so the {count:,} lmsform knows "
                     f"were read one by one, in {seconds:.1f} s (about "
                     f"{seconds / count * 1000:,.0f} s per 1,000)")
    return notes


def _settings_problems(config: Config, provider: type[Provider] | Provider) -> list[str]:
    """What the settings ask of a kind that this provider cannot do (`user_removal:
    delete` where the LMS cannot delete users): said now, whether or not this plan needs it."""
    return [problem for kind in kinds.kinds()
            if (support := provider.capabilities.kinds.get(kind.name)) is not None
            for problem in kind.settings_problems(config.settings, support,
                                                  provider.type_name)]


class LiveRead:
    """The LMS being read in the background: every listable kind is listed from the moment
    reading starts, so the listings (pages over the network, for a vendor) come in while the
    caller loads the state; a kind the LMS cannot list waits for the ids state records
    (`result`). Made by `start_reading`, after the checks that need no LMS."""

    def __init__(self, provider: Provider, kinds: list[str], parallelism: int) -> None:
        self.provider, self.kinds, self.parallelism = provider, kinds, parallelism
        self.source: tuple[Config, PlanOptions] | None = None  # what it was started for
        # the manifests as `start_reading` checked them, and what --drop-unsupported left out
        self.checked: Config | None = None
        self.dropped: list[str] = []
        self.timings: dict[str, tuple[int, float]] = {}  # per kind: how many, in how long
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(self.kinds))))
        self._futures = {kind: self._pool.submit(self._timed, kind, provider.list_all, kind)
                         for kind in self.kinds
                         if provider.capabilities.kinds[kind].listable}

    def __enter__(self) -> LiveRead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel the reads not started and wait for those running: after an error, the
        provider is closed next, and must not be while a listing still uses it."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def unlistable(self) -> set[str]:
        """The kinds read by id once state is known (`result`)."""
        return set(self.kinds) - self._futures.keys()

    def result(self, recorded: dict[str, dict[str, str]] | None = None,
               declared: dict[str, list[str]] | None = None) -> dict[str, list[LiveResource]]:
        """Every kind, read once: the listings, and for a kind the LMS cannot list, the ids
        state `recorded` (kind -> key -> id) read back and the `declared` keys state does
        not know looked up one by one."""
        recorded, declared = recorded or {}, declared or {}
        for kind in self.kinds:
            if kind not in self._futures:
                self._futures[kind] = self._pool.submit(
                    self._timed, kind, _read_unlistable, self.provider, kind,
                    recorded.get(kind, {}), declared.get(kind, []), self.parallelism)
        live: dict[str, list[LiveResource]] = {}
        try:
            for kind in self.kinds:
                live[kind] = self._futures[kind].result()
        except ProviderError as exc:
            raise ProviderError(f"reading {kind}s: {exc.call}", exc.vendor_message,
                                status=exc.status) from None
        finally:
            self.close()
        return live

    def _timed(self, kind: str, read: Callable[..., list[LiveResource]],
               *args: Any) -> list[LiveResource]:
        start = time.monotonic()
        found = read(*args)
        seconds = time.monotonic() - start
        log.info("read %d %ss in %.2fs", len(found), kind, seconds)
        self.timings[kind] = (len(found), seconds)
        return found


def start_reading(config: Config, provider: Provider, options: PlanOptions) -> LiveRead:
    """Check what the manifests ask of the provider, which needs no LMS (and fails before
    any call), then start reading the LMS for `make_plan` (with the same config and
    options)."""
    source = config
    dropped: list[str] = []
    if options.drop_unsupported:
        config, dropped = without_unsupported(config, provider)
    if not options.refresh_only:  # drift concerns the LMS and state, not the manifests
        check_capabilities(config, provider)
    reading = LiveRead(provider, [k for k in kinds.names() if k in provider.capabilities.kinds],
                       options.parallelism)
    reading.source, reading.checked, reading.dropped = (source, options), config, dropped
    return reading


def fetch_live(provider: Provider, kinds: list[str], parallelism: int,
               recorded: dict[str, dict[str, str]] | None = None,
               ) -> dict[str, list[LiveResource]]:
    """These kinds read at once (`LiveRead.result`), for export."""
    with LiveRead(provider, kinds, parallelism) as reading:
        return reading.result(recorded)


def _read_unlistable(provider: Provider, kind: str, recorded: dict[str, str],
                     declared: list[str], parallelism: int) -> list[LiveResource]:
    found = provider.read(kind, sorted(set(recorded.values())))
    present = {live.id for live in found}
    missing = [key for key in declared if recorded.get(key) not in present]
    if missing:
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(missing)))) as pool:
            for live in pool.map(lambda key: provider.find(kind, key), missing):
                if live is not None and live.id not in present:
                    found.append(live)
                    present.add(live.id)
    return found


def make_plan(config: Config, state: State, provider: Provider,
              options: PlanOptions | None = None, reading: LiveRead | None = None) -> Plan:
    """The plan; `reading` is the LMS already being read (`start_reading`), or it is read
    now."""
    options = options or PlanOptions()
    with reading or start_reading(config, provider, options) as reading:
        assert reading.checked is not None and reading.source is not None \
            and reading.source[0] is config and reading.source[1] is options, \
            "a plan's reading comes from start_reading, for the same config and options"
        config, dropped = reading.checked, reading.dropped
        changed_plugin = check_provider_identity(state, provider)
        live = reading.result(*_known_keys(config, state, reading.unlistable()))
    planner = _Planner(config, state, provider, live, options)
    operations = planner.run(reading.kinds)
    if options.targets or options.excludes:
        _check_patterns(options.targets + options.excludes,
                        {*config.resources, *state.resources, *planner.ids})
    operations = _select(operations, options)
    if options.targets or options.excludes:
        planner.warnings.append(
            "--target/--exclude in effect: this plan is partial and may leave the LMS "
            "different from the manifests; meant for emergencies, follow it with a full plan"
        )
    operations = _order(operations)
    planner_drift = [d for d in planner.drift if _chosen(d.address, options)]
    _hide_secrets(operations, planner_drift, config)
    plan = Plan(
        operations=operations,
        unmanaged={k: n for k, n in planner.unmanaged.items() if n is None or n},
        warnings=changed_plugin + planner.warnings,
        notes=_read_one_by_one(provider, reading.timings),
        refresh_only=options.refresh_only,
        drift=planner_drift,
        drop_unsupported=options.drop_unsupported,
        dropped=dropped + planner.left_out_lines(),
        unmanaged_resources={k: sorted(v) for k, v in planner.unmanaged_addresses.items()},
        state=StateRef(lineage=state.version[0], serial=state.version[1]),
        provider={"type": provider.type_name, "instance": provider.identity()},
        config_dir=recorded_location(config.directory),
        known_ids=_known_ids(operations, planner.ids, planner.names),
        targets=options.targets,
        excludes=options.excludes,
        max_deletes=options.max_deletes,
    )
    recreated = {op.address for op in operations
                 if op.action == Action.CREATE and op.address in planner.state_view}
    plan.blocked = _safety(plan, planner.managed, planner.live_counts,
                           config.settings.max_delete_fraction, options.max_deletes, recreated)
    return plan


def _known_keys(config: Config, state: State, kinds: set[str]
                ) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    """What to read of the kinds the LMS cannot list: the ids state records (kind -> key ->
    id) and the keys the manifests declare (kind -> keys)."""
    recorded: dict[str, dict[str, str]] = defaultdict(dict)
    declared: dict[str, list[str]] = defaultdict(list)
    if not kinds:
        return recorded, declared  # every kind is listed: nothing to look up
    for address, entry in state.resources.items():
        if entry.kind in kinds:
            recorded[entry.kind][split_address(address)[1]] = entry.id
    for resource in config.resources.values():
        if resource.kind in kinds:
            declared[resource.kind].append(resource.key)
    return recorded, declared


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
                        after=SENSITIVE if field(c) in after else c.after, cause=c.cause)
            for c in changes]


def check_provider_identity(state: State, provider: Provider) -> list[str]:
    """Refuses a state of another LMS; warns when another release of the provider plugin
    last applied it (its behaviour may differ from the one that made the state)."""
    recorded = state.data.provider
    if recorded is None or not state.resources:
        return []
    if recorded.type != provider.type_name or not provider.is_instance(recorded.instance):
        raise LmsformError(
            f"the state at {state.backend.location()} belongs to {recorded.type} "
            f"'{recorded.instance}', but the manifests point at {provider.type_name} "
            f"'{provider.identity()}'; refusing to mix them"
        )
    installed = recorded_identity(provider).plugin
    if recorded.plugin is None or recorded.plugin == installed:
        return []
    return [f"the {provider.type_name} provider installed is {installed}; {recorded.plugin} "
            "last applied this state"]


def _to_record(entry: StateEntry | None, resource: Resource) -> bool:
    """Whether state must change for a resource the LMS already matches: lmsform removed it
    and it is declared again, or its `prevent_destroy` changed."""
    return entry is not None and (entry.removed or
                                  entry.prevent_destroy != resource.lifecycle.prevent_destroy)


class _Planner:
    """The matching and diffing of one plan; a class only to share its lookup tables."""

    def __init__(self, config: Config, state: State, provider: Provider,
                 live: dict[str, list[LiveResource]], options: PlanOptions) -> None:
        self.config = config
        self.options = options
        self.drift: list[drift.Drift] = []  # with options.refresh_only
        self.unmanaged_addresses: dict[str, list[str]] = defaultdict(list)
        self.provider = provider
        self.live = live
        self.caps = provider.capabilities
        self.warnings: list[str] = []
        self.errors: list[str] = []  # about what the manifests no longer declare
        self.problems: list[Problem] = []  # about declared resources, pointing at them
        self.unmanaged: dict[str, int | None] = {}
        self.managed: dict[str, int] = defaultdict(int)
        self.live_counts: dict[str, int] = {}  # what the LMS holds, per kind
        self.state_view, self.moved_from = self._apply_moves(state)
        # vendor id -> address key, per kind, to translate live references
        self.names = LiveNames(self.caps.external_kinds, lambda kind, key: (
            f"{kind}.{key}" in config.resources or f"{kind}.{key}" in self.state_view))
        # per kind, vendor id -> the address state records for it
        self.owner: dict[str, dict[str, str]] = defaultdict(dict)
        for address, entry in self.state_view.items():
            self.owner[entry.kind][entry.id] = address
        self.consumed: set[str] = set()  # old addresses of resources whose parent was renamed
        self.ids: dict[str, str] = {}  # address -> vendor id, for every live resource
        for entry in self.state_view.values():
            self.managed[entry.kind] += not entry.removed
        # the references to kinds kept while referenced (`Kind.kept_while_referenced`), as
        # the LMS holds them: (kind, field) -> live id -> key or keys (a user's department)
        self.referring: dict[tuple[str, str], dict[str, Any]] = {}
        # --drop-unsupported: keys of resources missing from an LMS that cannot create their
        # kind, per kind, left out with the references to them (`dropped`: what, and counts)
        self.left_out: dict[str, set[str]] = defaultdict(set)
        self.unreferenced: dict[tuple[str, str], int] = defaultdict(int)
        self.cannot_create = False  # a declared resource is missing and its kind uncreatable

    def _apply_moves(self, state: State) -> tuple[dict[str, StateEntry], dict[str, str]]:
        """State as it will be once the manifests' `moved:` entries are taken into account."""
        moves = [m for m in self.config.moved if m.from_ in state.resources]
        if not moves:  # (`moved:` entries never chain: a target is declared, a source not)
            return state.resources, {}  # read only: no copy of 100k entries
        view = dict(state.resources)
        moved_from: dict[str, str] = {}
        for move in moves:
            if move.from_ in view and move.to not in view:
                view[move.to] = view.pop(move.from_)
                moved_from[move.to] = move.from_
        return view, moved_from

    def run(self, kinds: list[str]) -> list[Operation]:
        desired: dict[str, list[Resource]] = defaultdict(list)
        for resource in self.config.resources.values():
            desired[resource.kind].append(resource)
        operations: list[Operation] = []
        for kind in kinds:
            operations.extend(self._plan_kind(kind, desired[kind]))
        if self.options.refresh_only:
            return []  # drift only: what the manifests would change is not asked
        self._check_still_referred(operations)
        if self.errors or self.problems:
            raise PlanError(self.errors, self.problems,
                            hint=DROP_HINT if self.cannot_create else "")
        return operations

    def _view(self, kind: str, live: LiveResource) -> dict[str, Any]:
        """Live attributes with references translated from vendor ids to address keys."""
        return live_view(kind, self.provider.normalise(kind, live.attrs), self.names.key_of)

    def _views(self, kind: str, listing: list[LiveResource]) -> dict[str, dict[str, Any]]:
        """A kind's live views by id, made in the listing's own dicts (`Provider.list_all`
        hands them over): no second copy of 100k users."""
        return {live.id: self._view(kind, live) for live in listing}

    def _match_keys(self, kind: str, attrs: dict[str, Any]) -> list[str]:
        return self.provider.match_keys(kind, attrs) + natural_keys(kind, attrs)

    def _unstored(self, kind: str) -> frozenset[str]:
        """Identity fields this provider does not store: never diffed nor sent."""
        return SCHEMAS[kind].identity_only - self.caps.kinds[kind].fields

    def _not_compared(self, kind: str, resource: Resource | None) -> frozenset[str]:
        """Fields never diffed for a resource, in a plan or in drift: its
        `lifecycle.ignore_changes` and what this provider does not store."""
        unstored = self._unstored(kind)
        if resource is None or not resource.lifecycle.ignore_changes:
            return unstored
        return unstored | set(resource.lifecycle.ignore_changes)

    def _plan_kind(self, kind: str, desired: list[Resource]) -> Iterator[Operation]:
        if self.left_out:
            desired = [self._without_left_out(r) for r in desired]
        views = self._views(kind, self.live.pop(kind, []))
        self.live_counts[kind] = len(views)
        claimed, matches, natural = self._match(kind, views, desired)
        self._complete(kind, views, desired, matches)
        if self.options.refresh_only:
            self.drift += self._drift(kind, views, self._natural_index(kind, views))

        for resource in desired:
            live_id = matches.get(resource.address)
            if live_id is None:
                yield from self._create(resource)
            else:
                self.names.name(kind, live_id, resource.key)
                self.ids[resource.address] = live_id
                how = "natural" if resource.address in natural else "state"
                yield from self._reconcile(resource, live_id, views[live_id], how)
        for live_id, view in views.items():
            if live_id not in claimed:
                key = address_key(kind, view)
                self.names.name(kind, live_id, key)
                self.ids.setdefault(f"{kind}.{key}", live_id)
        for name, target in SCHEMAS[kind].references.items():
            if kinds.get(target).kept_while_referenced:
                self.referring[kind, name] = {i: v.get(name) for i, v in views.items()}

        yield from self._removals(kind, claimed, views)

    def _declared(self, address: str | None) -> bool:
        """Whether the manifests declare this address (every address starts with its kind,
        so this is also "among this kind's desired resources")."""
        return address in self.config.resources

    def _match(self, kind: str, views: dict[str, dict[str, Any]], desired: list[Resource]
               ) -> tuple[dict[str, str], dict[str, str], set[str]]:
        """Desired resources paired with live ids: live id -> address, address -> live id,
        and the addresses matched by natural key rather than by state."""
        claimed: dict[str, str] = {}
        matches: dict[str, str] = {}
        natural: set[str] = set()
        # First by state: an address state knows keeps its id even if its name changed.
        for resource in desired:
            entry = self.state_view.get(resource.address)
            if entry is not None and entry.id in views and entry.id not in claimed:
                claimed[entry.id] = resource.address
                matches[resource.address] = entry.id
        # Then by natural key, never taking an id that state gives to another live address.
        unmatched = [r for r in desired if r.address not in matches]
        by_natural = self._natural_index(kind, views) if unmatched else {}
        for resource in unmatched:
            for key in self._match_keys(kind, resource.attrs):
                candidates = [
                    i for i in by_natural.get(key, [])
                    if i not in claimed and not self._declared(self.owner[kind].get(i))
                ]
                if candidates:
                    claimed[candidates[0]] = resource.address
                    matches[resource.address] = candidates[0]
                    natural.add(resource.address)
                    break
        return claimed, matches, natural

    def _natural_index(self, kind: str, views: dict[str, dict[str, Any]]
                       ) -> dict[str, list[str]]:
        """Live ids by natural key; built only when something is left to match by it."""
        by_natural: dict[str, list[str]] = defaultdict(list)
        for live_id, view in views.items():
            for key in self._match_keys(kind, view):
                by_natural[key].append(live_id)
        return by_natural

    def _complete(self, kind: str, views: dict[str, dict[str, Any]], desired: list[Resource],
                  matches: dict[str, str]) -> None:
        """Fill the fields the LMS's list leaves out (`KindSupport.unlisted_fields`): the
        last applied value from state, as Terraform keeps what a read cannot see; and, for a
        matched resource state does not know whose manifest sets one, a read by id."""
        unlisted = self.caps.kinds[kind].unlisted_fields
        if not unlisted:
            return
        for live_id, view in views.items():
            address = self.owner[kind].get(live_id)
            recorded = self.state_view[address].attributes if address else {}
            for name in unlisted - view.keys():
                if name in recorded:
                    view[name] = recorded[name]
        unread = sorted({live_id for r in desired if r.address in matches
                         for live_id in [matches[r.address]]
                         if (unlisted & r.attrs.keys()) - views[live_id].keys()})
        if unread:
            for live in self.provider.read(kind, unread):
                full = self._view(kind, live)
                view = views[live.id]
                view.update({name: full[name] for name in unlisted - view.keys()
                             if name in full})

    def _drift(self, kind: str, views: dict[str, dict[str, Any]],
               by_natural: dict[str, list[str]]) -> list[drift.Drift]:
        """What the LMS changed outside lmsform in the managed resources of one kind."""
        def found_by_key(entry: StateEntry) -> str | None:
            for key in self._match_keys(kind, entry.attributes):
                for live_id in by_natural.get(key, []):
                    if live_id not in self.owner[kind]:
                        return live_id
            return None

        def ignored(address: str) -> frozenset[str]:
            return self._not_compared(kind, self.config.resources.get(address))

        entries = {a: e for a, e in self.state_view.items() if e.kind == kind}
        return drift.of_kind(kind, entries, views, found_by_key, ignored)

    def _desired(self, resource: Resource) -> dict[str, Any]:
        """The manifest's attributes, with the custom lists the provider holds as sets
        (`KindSupport.custom_sets`: a list, or a mapping of lists) sorted, as the live side
        reads them."""
        sets = self.caps.kinds[resource.kind].custom_sets
        custom = resource.attrs.get("custom")
        if not sets or not isinstance(custom, dict) or not sets & custom.keys():
            return resource.attrs
        return {**resource.attrs, "custom": {
            k: _as_sets(v) if k in sets else v for k, v in custom.items()}}

    def _without_left_out(self, resource: Resource) -> Resource:
        """A resource less its references to what --drop-unsupported left out (kinds are
        planned referenced first: those are known by the time their referrers are)."""
        attrs = dict(resource.attrs)
        for name, target in SCHEMAS[resource.kind].references.items():
            gone, value = self.left_out.get(target), attrs.get(name)
            if not gone or value is None:
                continue
            if isinstance(value, list) and gone.intersection(value):
                attrs[name] = [v for v in value if v not in gone]
            elif not isinstance(value, list) and value in gone:
                del attrs[name]
            else:
                continue
            self.unreferenced[resource.kind, name] += 1
        return resource if attrs == resource.attrs else dataclasses.replace(resource,
                                                                            attrs=attrs)

    def left_out_lines(self) -> list[str]:
        """What --drop-unsupported left out once the LMS was read, as `dropped` says it."""
        vendor = self.provider.type_name
        lines = [f"{kind}s: {len(keys)} not in the LMS, which the {vendor} provider cannot "
                 f"create ({', '.join(sorted(keys))})" for kind, keys in self.left_out.items()]
        lines += [f"{kind}.{name}: references to those, on {n} {kind}{'s' if n != 1 else ''}"
                  for (kind, name), n in self.unreferenced.items()]
        return lines

    def _create(self, resource: Resource) -> Iterator[Operation]:
        support = self.caps.kinds[resource.kind]
        if not support.create and self.options.drop_unsupported:
            self.left_out[resource.kind].add(resource.key)
            return
        if not support.create:
            self.cannot_create = True
            self.problems.append(self.config.problem(
                resource, None, f"{resource.address}: not found in the LMS, and the "
                f"{self.provider.type_name} provider cannot create {resource.kind}s. "
                f"{support.advice}".rstrip()))
            return
        missing = sorted(support.required_on_create - resource.attrs.keys()
                         - resource.secrets.keys())
        if missing:
            self.problems.append(self.config.problem(
                resource, None, f"{resource.address}: not found in the LMS, and the "
                f"{self.provider.type_name} provider needs {', '.join(missing)} to create a "
                f"{resource.kind}; add {'them' if len(missing) > 1 else 'it'} to the manifest"))
            return
        unstored = self._unstored(resource.kind)
        after = {k: v for k, v in self._desired(resource).items() if k not in unstored}
        after.update({name: SENSITIVE for name in resource.secrets})
        entry = self.state_view.get(resource.address)
        why = ["deleted outside lmsform; it will be created again" if entry else "",
               support.create_note]
        reason = "; ".join(w for w in why if w) or None
        yield Operation(address=resource.address, kind=resource.kind, action=Action.CREATE,
                        after=after, reason=reason,
                        prevent_destroy=resource.lifecycle.prevent_destroy)

    def _reconcile(self, resource: Resource, live_id: str, view: dict[str, Any],
                   how: str) -> Iterator[Operation]:
        kind = resource.kind
        entry = self.state_view.get(resource.address)
        attrs = self._desired(resource)
        active = kinds.get(kind).active_field
        if entry is not None and entry.removed and active and active not in attrs:
            attrs = {**attrs, active: True}  # declared again: restore what lmsform removed
        changes = diff(kind, attrs, view, self._not_compared(kind, resource))
        for change in changes:
            change.cause = drift.cause(change, entry.attributes if entry else None)
        moved_from = self.moved_from.get(resource.address)
        if how == "natural":
            previous = self.owner[kind].get(live_id)
            if previous is not None and previous != resource.address:
                moved_from = previous  # its parent was renamed: same resource, new address
                self.consumed.add(previous)
        if not changes and how == "state" and moved_from is None \
                and not _to_record(entry, resource):
            return  # converged, as almost every resource of a large plan: no operation built
        after = {**view, **attrs}
        if isinstance(attrs.get("custom"), dict):
            after["custom"] = {**(view.get("custom") or {}), **attrs["custom"]}

        def operation(action: Action, changes: list[Change] | None = None,
                      reason: str | None = None) -> Operation:
            return Operation(address=resource.address, kind=kind, action=action, id=live_id,
                             before=view, after=after, changes=changes or [],
                             moved_from=moved_from, reason=reason,
                             prevent_destroy=resource.lifecycle.prevent_destroy)

        if changes:
            support = self.caps.kinds[kind]
            fields = changed_fields(changes)
            if self._impossible_changes(resource, support, changes, fields):
                return
            replace = sorted(fields & support.replace_fields)
            if replace or not support.update:
                why = self._replace_refused(resource, replace)
                if why is not None:
                    yield operation(Action.REPLACE, changes, why)
                return
            adopted = how == "natural" and moved_from is None
            yield operation(Action.UPDATE, changes,
                            "adopted: found by natural key" if adopted else None)
        elif how == "natural" and moved_from is None:
            yield operation(Action.ADOPT)
        elif moved_from is not None:
            yield operation(Action.MOVE)
        elif _to_record(entry, resource):
            yield operation(Action.RECORD)

    def _impossible_changes(self, resource: Resource, support: KindSupport,
                            changes: list[Change], fields: set[str]) -> bool:
        """Changes the API cannot make and that a replace must not make either: reported
        at the field, with what the user can do instead."""
        vendor, found = self.provider.type_name, False
        for name in sorted(fields & support.fixed_fields):
            found = True
            self.problems.append(self.config.problem(
                resource, name, f"{resource.address}: the {vendor} provider cannot change "
                f"{name}{_what_changes(changes, name)} once the {resource.kind} exists "
                f"(replacing it would lose its history). Change it in the LMS, or add it to "
                f"lifecycle.ignore_changes. {support.advice}".rstrip()))
        for change in changes:
            if change.field in support.grow_only_fields:
                removed = sorted(set(change.before or []) - set(change.after or []))
                if removed:
                    found = True
                    self.problems.append(self.config.problem(
                        resource, change.field, f"{resource.address}: the {vendor} provider "
                        f"can add to {change.field} but not remove from it "
                        f"({', '.join(removed)}); remove them in the LMS, or add "
                        f"{change.field} to lifecycle.ignore_changes"))
        return found

    def _replace_refused(self, resource: Resource, fields: list[str]) -> str | None:
        """Why a resource must be replaced, or None (with an error) when it may not be."""
        support = self.caps.kinds[resource.kind]
        entry = self.state_view.get(resource.address)
        protected = resource.lifecycle.prevent_destroy or (entry and entry.prevent_destroy)
        why = (f"{', '.join(fields)} cannot be changed in place" if fields
               else f"{self.provider.type_name} cannot update {resource.kind}s")
        if protected:
            self.problems.append(self.config.problem(
                resource, None, f"{resource.address}: must be replaced ({why}), but "
                "lifecycle.prevent_destroy is set; set it to false first, or undo the change"))
            return None
        if not (support.create and support.delete):
            self.problems.append(self.config.problem(
                resource, None, f"{resource.address}: {why}, and the "
                f"{self.provider.type_name} provider cannot replace it. {support.advice}"
                .rstrip()))
            return None
        return why

    def _removals(self, kind: str, claimed: dict[str, str],
                  views: dict[str, dict[str, Any]]) -> Iterator[Operation]:
        support = self.caps.kinds[kind]
        for address, entry in self.state_view.items():
            if entry.kind != kind or self._declared(address):
                continue
            if address in self.consumed:
                continue
            if entry.id not in views or entry.id in claimed:
                yield Operation(address=address, kind=kind, action=Action.FORGET, id=entry.id,
                                before=entry.attributes)
                continue
            if entry.removed:
                continue  # removed already, and still known
            if entry.prevent_destroy:
                self.errors.append(
                    f"{address}: removed from the manifests, but its state records "
                    "lifecycle.prevent_destroy. Put it back with prevent_destroy: false and "
                    f"apply first, or stop managing it with `lmsform state rm {address}`"
                )
                continue
            yield from self._remove(kind, address, entry.id, views[entry.id], support,
                                    "removed from the manifests")
        prune = self.config.settings.prune
        pruning = prune is True or (isinstance(prune, list) and kind in prune)
        unmanaged = 0
        pruned: set[str] = set()
        for live_id, view in views.items():
            if live_id in claimed or live_id in self.owner[kind]:
                continue
            if pruning and not (self._removal(kind) == "deactivate" and
                                kinds.get(kind).is_switched_off(view)):
                address = f"{kind}.{address_key(kind, view)}"
                if self._declared(address) or address in self.state_view or \
                        address in pruned:
                    address += f"#{live_id}"  # a duplicate in the LMS: name it by its id too
                pruned.add(address)
                yield from self._remove(kind, address, live_id, view, support,
                                        "pruned: declared nowhere")
            else:
                unmanaged += 1
                if self.options.show_unmanaged:
                    self.unmanaged_addresses[kind].append(f"{kind}.{address_key(kind, view)}")
        # What a kind the LMS cannot list holds beyond what lmsform knows is unknown.
        self.unmanaged[kind] = unmanaged if support.listable else None

    def _check_still_referred(self, operations: list[Operation]) -> None:
        """A resource kept while referenced (a department, while users are in it) can only
        be removed once nothing refers to it, deactivated resources included: a plan that
        would fail at apply for that is refused now, naming them."""
        referrers: dict[tuple[str, str], list[str]] = defaultdict(list)
        for (kind, name), current in self.referring.items():
            final = dict(current)
            for op in operations:
                if op.kind != kind or op.id is None:
                    continue
                if op.action in {Action.DELETE, Action.REPLACE}:
                    final.pop(op.id, None)
                elif op.action == Action.UPDATE and op.after is not None:
                    final[op.id] = op.after.get(name)
            target = SCHEMAS[kind].references[name]
            for live_id, value in final.items():
                for key in value if isinstance(value, list) else [value]:
                    referrers[target, key].append(self.names.keys[kind][live_id])
        for op in operations:
            key = split_address(op.address)[1]
            if op.action.removes and referrers.get((op.kind, key)):
                self.errors.append(kinds.get(op.kind).still_referred(
                    op, sorted(referrers[op.kind, key])))

    def _removal(self, kind: str) -> str:
        """How this plan removes a resource of `kind`: deleted, or deactivated where the
        settings say so and the provider can."""
        how = kinds.get(kind).removal(self.config.settings)
        return "deactivate" if how == "deactivate" and self.caps.kinds[kind].deactivate \
            else "delete"

    def _remove(self, kind: str, address: str, live_id: str, view: dict[str, Any],
                support: KindSupport, why: str) -> Iterator[Operation]:
        def operation(action: Action, after: dict[str, Any] | None = None,
                      changes: list[Change] | None = None) -> Operation:
            return Operation(address=address, kind=kind, action=action, id=live_id,
                             before=view, after=after, changes=changes or [], reason=why)

        the_kind = kinds.get(kind)
        active = the_kind.active_field
        if the_kind.removal(self.config.settings) == "deactivate" and not support.deactivate:
            self.errors.append(
                f"{address}: {why}, but the {self.provider.type_name} provider cannot "
                f"deactivate {kind}s; set {the_kind.removal_setting}: delete to delete them, "
                f"or keep declaring it, or stop managing it with `lmsform state rm {address}`")
        elif self._removal(kind) == "deactivate" and active is not None:
            if the_kind.is_switched_off(view):
                yield operation(Action.FORGET)
            else:
                yield operation(Action.DEACTIVATE, {**view, active: False},
                                [Change(field=active, before=view.get(active), after=False)])
        elif support.delete:
            yield operation(Action.DELETE)
        else:
            advice = f"{support.advice} " if support.advice else ""
            self.errors.append(
                f"{address}: {why}, but the {self.provider.type_name} provider cannot delete "
                f"{kind}s. {advice}To stop managing it without deleting it, run "
                f"`lmsform state rm {address}`"
            )


def _as_sets(value: Any) -> Any:
    """A list as its sorted distinct items (as text); a mapping with each list so."""
    if isinstance(value, list):
        return sorted({str(item) for item in value})
    if isinstance(value, dict):
        return {k: _as_sets(v) for k, v in value.items()}
    return value


def _what_changes(changes: list[Change], name: str) -> str:
    """' (adds X; removes Y)' for a list field, naming the items (the courses of an
    enrollment change, say); '' for anything else."""
    words = []
    for change in changes:
        if change.field != name or not isinstance(change.after or [], list) \
                or not isinstance(change.before or [], list):
            continue
        added = sorted(set(change.after or []) - set(change.before or []))
        removed = sorted(set(change.before or []) - set(change.after or []))
        words += [f"{verb} {', '.join(map(str, items))}"
                  for verb, items in (("adds", added), ("removes", removed)) if items]
    return f" ({'; '.join(words)})" if words else ""


def _references(kind: str, attrs: dict[str, Any] | None) -> Iterator[str]:
    """Addresses a resource's attributes refer to."""
    for _, target, key in references(kind, attrs):
        yield f"{target}.{key}"


def _known_ids(operations: list[Operation], ids: dict[str, str], names: LiveNames
               ) -> dict[str, str]:
    """The vendor ids of every resource the operations refer to, for apply to send: a live
    resource's, an unnamed reference's (`LiveNames`), or an external kind's key, which is
    its id."""
    known = {}
    for op in operations:
        for ref in (*_references(op.kind, op.before), *_references(op.kind, op.after)):
            kind, key = split_address(ref)
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
        for ref in _references(op.kind, op.after)
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
        for ref in _references(op.kind, op.before):
            referenced_by[ref].append(op.address)
    for op in operations:
        needs: set[str] = set()
        if not op.action.retires:
            needs |= {r for r in _references(op.kind, op.after) if r in creating}
        if op.action.removes:
            # whatever still refers to it lets go first: edited away, or removed itself
            needs |= {a for a in referenced_by.get(op.address, [])
                      if op.address not in _references(by_address[a].kind, by_address[a].after)
                      or by_address[a].action in {Action.DELETE, Action.DEACTIVATE}}
        needs.discard(op.address)
        op.depends_on = sorted(needs)

    def priority(address: str) -> tuple[int, int, str]:
        op = by_address[address]
        rank = kind_rank(op.kind)
        return (1, -rank, address) if op.action.retires else (0, rank, address)

    deps = {op.address: op.depends_on for op in operations}
    return [by_address[a] for a in topological(by_address, deps, priority)]


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
        if op.action.removes or _switches_off(op):
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


def _switches_off(op: Operation) -> bool:
    """An update that deactivates (a user's `active: false`) takes the resource away as
    surely as a removal does."""
    active = kinds.get(op.kind).active_field
    return op.action == Action.UPDATE and active is not None and any(
        c.field == active and c.after is False and c.before is not False for c in op.changes)
