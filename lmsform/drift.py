"""Drift: what changed in the LMS, outside lmsform, since lmsform last applied.

State keeps the attributes lmsform last applied to every resource it manages (as Terraform's
state does). Comparing them with what the LMS holds now tells a change made in the LMS from an
edit of the manifests, which a plain diff of manifests and LMS cannot:

- `plan --refresh-only` reports drift alone, as its own section, proposing nothing;
- `apply --refresh-only` accepts it: the state takes the LMS's values;
- a normal plan marks each change of an update with its cause (`Change.cause`).

Drift is found by the planner, which already holds the live views with their references
translated to manifest names; this module says what counts as drift and what accepting it
writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from typing import Any, Literal

from pydantic import BaseModel, Field

from lmsform.diff import Cause, Change, diff, managed_view
from lmsform.state import State, StateEntry


class Drift(BaseModel):
    """One managed resource the LMS changed outside lmsform."""

    address: str
    kind: str
    id: str = Field(description="The id state records")
    what: Literal["changed", "deleted", "recreated"]
    changes: list[Change] = Field(
        default_factory=list, description="before: as lmsform last applied; after: the LMS now")
    new_id: str | None = Field(None, description="recreated: the id the LMS gives it now")
    live: dict[str, Any] | None = Field(
        None, description="The LMS's values of the fields state records: what accepting the "
                          "drift writes to state")


def of_kind(kind: str, entries: dict[str, StateEntry], views: dict[str, dict[str, Any]],
            found_by_key: Callable[[StateEntry], str | None],
            ignored: Callable[[str], Collection[str]]) -> list[Drift]:
    """Drift of the managed resources of one kind. `entries` are the kind's state entries by
    address; `views` the live resources by id, as the planner compares them;
    `found_by_key(entry)` the id of an unowned live resource with the entry's
    natural key (it was deleted and created again); `ignored(address)` the fields never
    compared for it (`lifecycle.ignore_changes`, what the vendor does not store)."""
    found = []
    for address, entry in sorted(entries.items()):
        ignore = ignored(address)
        recorded = {k: v for k, v in entry.attributes.items() if k not in ignore}
        view = views.get(entry.id)
        if view is None:
            new_id = found_by_key(entry)
            if new_id is None:
                found.append(Drift(address=address, kind=kind, id=entry.id, what="deleted"))
            else:
                found.append(Drift(address=address, kind=kind, id=entry.id, what="recreated",
                                   new_id=new_id, live=_live(kind, recorded, views[new_id]),
                                   changes=_changes(kind, recorded, views[new_id])))
            continue
        changes = _changes(kind, recorded, view)
        if changes:
            found.append(Drift(address=address, kind=kind, id=entry.id, what="changed",
                               changes=changes, live=_live(kind, recorded, view)))
    return found


def _live(kind: str, recorded: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    return managed_view(kind, recorded, view)[1]


def _changes(kind: str, recorded: dict[str, Any], view: dict[str, Any]) -> list[Change]:
    """The recorded fields whose live value differs (by the same field-by-field rules as any
    plan): before as applied, after as now."""
    return [Change(field=c.field, before=c.after, after=c.before)
            for c in diff(kind, recorded, view)]


def cause(change: Change, recorded: dict[str, Any] | None) -> Cause | None:
    """Why an update changes a field: the manifests were edited (state still holds what the
    LMS has), the LMS was changed outside lmsform (state still holds what the manifests
    say), or both. None when state records no value to tell by (an adopted resource, a
    field newly managed)."""
    if recorded is None:
        return None
    found, applied = _recorded_value(recorded, change.field)
    if not found:
        return None
    if applied == change.after:
        return "lms"
    if applied == change.before:
        return "manifests"
    return "both"


def _recorded_value(recorded: dict[str, Any], field: str) -> tuple[bool, Any]:
    """The applied value of a change's field: `custom.x` and `pricing[plan]` look inside."""
    if "[" in field:
        name, _, key = field.partition("[")
        inner = recorded.get(name)
        return (name in recorded, inner.get(key.rstrip("]")) if isinstance(inner, dict)
                else None)
    name, _, key = field.partition(".")
    if key and isinstance(recorded.get(name), dict):
        return key in recorded[name], recorded[name].get(key)
    return field in recorded, recorded.get(field)


def accept(state: State, drift: list[Drift]) -> None:
    """Make state hold what the LMS holds: changed values recorded, a deleted resource
    forgotten, a re-created one recorded under its new id. The caller journals and saves."""
    for item in drift:
        entry = state.resources.get(item.address)
        if entry is None:
            continue
        if item.what == "deleted":
            state.remove(item.address)
            continue
        attributes = {**entry.attributes, **(item.live or {})}
        state.put(item.address, dataclasses.replace(
            entry, id=item.new_id or entry.id, attributes=attributes))
