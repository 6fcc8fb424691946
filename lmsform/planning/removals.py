"""Removals: what the manifests dropped is deleted, or switched off where the kind and the
settings say so (users, `user_removal: deactivate`); what the LMS holds beyond the manifests
and the state is pruned where `settings.prune` says, and counted as unmanaged otherwise; and a
resource still referred to (a department users are in) is kept, the plan refused."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from lmsform import kinds
from lmsform.config import Config
from lmsform.diff import Change
from lmsform.plan import PLANNED_FIELDS, Action, Operation
from lmsform.planning.options import PlanOptions
from lmsform.providers.base import Capabilities, KindSupport, Provider
from lmsform.resources import SCHEMAS, LiveNames, address_key, split_address
from lmsform.state import StateEntry


class Removals:
    """The removal half of matching (`matching._Matcher`), over the tables it keeps."""

    config: Config
    options: PlanOptions
    provider: Provider
    caps: Capabilities
    names: LiveNames
    state_view: dict[str, StateEntry]
    owner: dict[str, dict[str, str]]
    consumed: set[str]
    errors: list[str]
    unmanaged: dict[str, int | None]
    unmanaged_addresses: dict[str, list[str]]
    referring: dict[tuple[str, str], dict[str, Any]]

    def _declared(self, address: str | None) -> bool:
        """Whether the manifests declare this address (every address starts with its kind,
        so this is also "among this kind's desired resources")."""
        return address in self.config.resources

    def _removals(self, kind: str, claimed: dict[str, str],
                  views: dict[str, dict[str, Any]]) -> Iterator[Operation]:
        support = self.caps.kinds[kind]
        for address, entry in self.state_view.items():
            if entry.kind != kind or self._declared(address):
                continue
            if address in self.consumed:
                continue
            if entry.id not in views or entry.id in claimed:
                yield Operation.model_construct(
                    address=address, kind=kind, action=Action.FORGET, id=entry.id,
                    before=entry.attributes, changes=[], depends_on=[],
                    _fields_set=PLANNED_FIELDS)
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
            final = self._after(kind, name, current, operations)
            target, keys = SCHEMAS[kind].references[name], self.names.keys[kind]
            members: dict[str, list[str]] = defaultdict(list)
            for live_id, value in final.items():
                if isinstance(value, list):
                    for key in value:
                        members[key].append(keys[live_id])
                else:
                    members[value].append(keys[live_id])
            for key, found in members.items():
                referrers[target, key] += found
        for op in operations:
            if op.action.removes:
                key = split_address(op.address)[1]
                if referrers.get((op.kind, key)):
                    self.errors.append(kinds.get(op.kind).still_referred(
                        op.address, op.action.past, sorted(referrers[op.kind, key])))

    @staticmethod
    def _after(kind: str, name: str, current: dict[str, Any], operations: list[Operation]
               ) -> dict[str, Any]:
        """A reference field of a kind's live resources as the plan leaves it."""
        final = dict(current)
        for op in operations:
            if op.kind != kind or op.id is None:
                continue
            if op.action in {Action.DELETE, Action.REPLACE}:
                final.pop(op.id, None)
            elif op.action == Action.UPDATE and op.after is not None:
                final[op.id] = op.after.get(name)
        return final

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
            return Operation.model_construct(
                address=address, kind=kind, action=action, id=live_id, before=view,
                after=after, changes=changes or [], reason=why, depends_on=[],
                _fields_set=PLANNED_FIELDS)

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
