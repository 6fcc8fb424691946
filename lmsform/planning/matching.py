"""Matching and diffing: kind by kind, referenced kinds first, each desired resource is
matched to a live one (by the id state records, then by natural key), diffed field by field,
and what the manifests dropped is removed (or deactivated), what the LMS holds beyond them
counted as unmanaged or pruned. The result is a `Matched`, for the finishing stage.
Errors about declared resources are `Finding`s: their places in the manifests are resolved
where they are reported, all at once."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lmsform import drift, kinds
from lmsform.config import Config
from lmsform.diff import Change, changed_fields, diff
from lmsform.errors import LmsformError, PlanError
from lmsform.plan import PLANNED_FIELDS, Action, Operation
from lmsform.planning.capabilities import DROP_HINT
from lmsform.planning.options import PlanOptions
from lmsform.planning.removals import Removals
from lmsform.planning.timing import Timing, explain
from lmsform.providers.base import KindSupport, Provider
from lmsform.resources import (
    SCHEMAS,
    SENSITIVE,
    LiveNames,
    LiveResource,
    Resource,
    address_key,
    live_view,
    live_views,
    natural_keys,
)
from lmsform.state import State, StateEntry


def _to_record(entry: StateEntry | None, resource: Resource) -> bool:
    """Whether state must change for a resource the LMS already matches: lmsform removed it
    and it is declared again, or its `prevent_destroy` changed."""
    return entry is not None and (entry.removed or
                                  entry.prevent_destroy != resource.lifecycle.prevent_destroy)


Finding = tuple[Resource, str | None, str]  # a declared resource, its field, what is wrong


@dataclass(frozen=True)
class Matched:
    """What matching found, for `finishing`."""

    operations: list[Operation]
    drift: list[drift.Drift]
    warnings: list[str]
    unmanaged: dict[str, int | None]  # per kind; None: the LMS cannot list it
    unmanaged_addresses: dict[str, list[str]]
    managed: dict[str, int]  # per kind, what state manages
    live_counts: dict[str, int]  # per kind, what the LMS holds
    ids: dict[str, str]  # address -> vendor id, for every live resource
    names: LiveNames
    recorded: frozenset[str]  # the addresses state records (after `moved:`)
    left_out: list[str]  # what --drop-unsupported left out once the LMS was read
    # per kind, live id -> the resource as read (references as address keys): what the
    # LMS holds beyond what the operations carry, for the plan's impact
    live: dict[str, dict[str, dict[str, Any]]]
    timing: Timing  # the plan's instant, and what time decided


def match(config: Config, state: State, provider: Provider,
          live: dict[str, list[LiveResource]], options: PlanOptions,
          kinds_read: list[str], timing: Timing) -> Matched:
    """`config` is the manifests at the plan's instant (`timing.at_instant`)."""
    matcher = _Matcher(config, state, provider, live, options, timing)
    operations = matcher.run(kinds_read)
    return Matched(operations, matcher.drift, matcher.warnings, matcher.unmanaged,
                   dict(matcher.unmanaged_addresses), dict(matcher.managed),
                   matcher.live_counts, matcher.ids, matcher.names,
                   frozenset(matcher.state_view), matcher.left_out_lines(), matcher.views,
                   timing)


class _Matcher(Removals):
    """The matching and diffing of one plan; a class only to share its lookup tables."""

    def __init__(self, config: Config, state: State, provider: Provider,
                 live: dict[str, list[LiveResource]], options: PlanOptions,
                 timing: Timing) -> None:
        self.config = config
        self.options = options
        self.rulings = timing.rulings  # what time decided, of resources bound in time
        self.drift: list[drift.Drift] = []  # with options.refresh_only
        self.unmanaged_addresses: dict[str, list[str]] = defaultdict(list)
        self.provider = provider
        self.live = live
        self.views: dict[str, dict[str, dict[str, Any]]] = {}  # the live resources, as read
        self.caps = provider.capabilities
        self.warnings: list[str] = []
        self.errors: list[str] = []  # about what the manifests no longer declare
        self.findings: list[Finding] = []  # about declared resources
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
        self.unstored: dict[str, frozenset[str]] = {}  # `_unstored`, per kind

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
        if self.errors or self.findings:
            raise PlanError(self.errors, self.config.problems(self.findings),
                            hint=DROP_HINT if self.cannot_create else "")
        return operations

    def _view(self, kind: str, live: LiveResource) -> dict[str, Any]:
        """Live attributes with references translated from vendor ids to address keys."""
        return live_view(kind, self.provider.normalise(kind, live.attrs), self.names)

    def _views(self, kind: str, listing: list[LiveResource]) -> dict[str, dict[str, Any]]:
        """A kind's live views by id, made in the listing's own dicts (`Provider.list_all`
        hands them over): no second copy of 100k users."""
        normalise = self.provider.normalise
        views = {live.id: normalise(kind, live.attrs) for live in listing}
        if not all(type(live_id) is str for live_id in views):  # operations are not checked
            raise LmsformError(f"the {self.provider.type_name} provider listed {kind}s with "
                               "ids that are not text; this is a bug in the provider")
        live_views(kind, list(views.values()), self.names)
        return views

    def _match_keys(self, kind: str, attrs: dict[str, Any]) -> list[str]:
        return self.provider.match_keys(kind, attrs) + natural_keys(kind, attrs)

    def _unstored(self, kind: str) -> frozenset[str]:
        """Identity fields this provider does not store: never diffed nor sent (asked for
        each resource, so worked out once per kind)."""
        unstored = self.unstored.get(kind)
        if unstored is None:
            unstored = self.unstored[kind] = SCHEMAS[kind].identity_only \
                - self.caps.kinds[kind].fields
        return unstored

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
        views = self.views[kind] = self._views(kind, self.live.pop(kind, []))
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
        ruling = self.rulings.get(resource.address) if self.rulings else None
        if ruling is not None and not ruling.exists:
            return  # before its start or after its end: not created
        support = self.caps.kinds[resource.kind]
        if not support.create and self.options.drop_unsupported:
            self.left_out[resource.kind].add(resource.key)
            return
        if not support.create:
            self.cannot_create = True
            self.findings.append((
                resource, None, f"{resource.address}: not found in the LMS, and the "
                f"{self.provider.type_name} provider cannot create {resource.kind}s. "
                f"{support.advice}".rstrip()))
            return
        missing = sorted(support.required_on_create - resource.attrs.keys()
                         - resource.secrets.keys())
        if missing:
            self.findings.append((
                resource, None, f"{resource.address}: not found in the LMS, and the "
                f"{self.provider.type_name} provider needs {', '.join(missing)} to create a "
                f"{resource.kind}; add {'them' if len(missing) > 1 else 'it'} to the manifest"))
            return
        desired, unstored = self._desired(resource), self._unstored(resource.kind)
        after = desired  # the manifest's very dict, as for nearly every create: no copy
        if resource.secrets or not unstored.isdisjoint(desired):
            after = {k: v for k, v in desired.items() if k not in unstored}
            after.update({name: SENSITIVE for name in resource.secrets})
        entry = self.state_view.get(resource.address)
        started = ruling.created if ruling is not None else None  # its start passed
        why = [started or "", "deleted outside lmsform; it will be created again" if entry else "",
               support.create_note]
        reason = "; ".join(w for w in why if w) or None
        yield Operation.model_construct(
            address=resource.address, kind=resource.kind, action=Action.CREATE, after=after,
            reason=reason, scheduled=started is not None and not entry,
            prevent_destroy=resource.lifecycle.prevent_destroy, changes=[], depends_on=[],
            _fields_set=PLANNED_FIELDS)

    def _reconcile(self, resource: Resource, live_id: str, view: dict[str, Any],
                   how: str) -> Iterator[Operation]:
        kind = resource.kind
        entry = self.state_view.get(resource.address)
        attrs = self._desired(resource)
        if entry is not None and entry.removed:  # declared again: restore what lmsform removed
            active = kinds.get(kind).active_field
            if active and active not in attrs:
                attrs = {**attrs, active: True}
        changes = diff(kind, attrs, view, self._not_compared(kind, resource))
        for change in changes:
            change.cause = drift.cause(change, entry.attributes if entry else None)
        scheduled = explain(changes, self.rulings.get(resource.address)) \
            if self.rulings else False
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
            return Operation.model_construct(
                address=resource.address, kind=kind, action=action, id=live_id, before=view,
                after=after, changes=changes or [], moved_from=moved_from, reason=reason,
                prevent_destroy=resource.lifecycle.prevent_destroy,
                scheduled=scheduled and action == Action.UPDATE, depends_on=[],
                _fields_set=PLANNED_FIELDS)

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
            self.findings.append((
                resource, name, f"{resource.address}: the {vendor} provider cannot change "
                f"{name}{_what_changes(changes, name)} once the {resource.kind} exists "
                f"(replacing it would lose its history). Change it in the LMS, or add it to "
                f"lifecycle.ignore_changes. {support.advice}".rstrip()))
        for change in changes:
            if change.field in support.grow_only_fields:
                removed = sorted(set(change.before or []) - set(change.after or []))
                if removed:
                    found = True
                    self.findings.append((
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
            self.findings.append((
                resource, None, f"{resource.address}: must be replaced ({why}), but "
                "lifecycle.prevent_destroy is set; set it to false first, or undo the change"))
            return None
        if not (support.create and support.delete):
            self.findings.append((
                resource, None, f"{resource.address}: {why}, and the "
                f"{self.provider.type_name} provider cannot replace it. {support.advice}"
                .rstrip()))
            return None
        return why


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
