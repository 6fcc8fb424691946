"""Field-by-field comparison of a desired resource with its live counterpart.

Both sides are canonical (`resources.normalise`): references are address keys, membership
lists sorted, money exact decimal text, emails lower-case. Equality is checked first, since
almost every resource of a converged LMS is unchanged; DeepDiff then names what differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel

from lmsform.resources import SCHEMAS

# Nested fields whose changes are shown per entry: pricing[standard], custom.cost_center.
PER_ENTRY = {"pricing": "{field}[{key}]", "custom": "{field}.{key}"}


# Why an update changes a field (see `lmsform.drift`): the manifests were edited, the LMS
# was changed outside lmsform, or both.
Cause = Literal["manifests", "lms", "both"]


class Change(BaseModel):
    field: str
    before: Any = None
    after: Any = None
    cause: Cause | None = None  # set on updates where state tells; None: it cannot
    # why time makes this change (`expired 2027-03-31`); only a change time causes has one
    reason: str | None = None


def managed_view(kind: str, desired: dict[str, Any], live: dict[str, Any],
                 ignore: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parts of both sides that lmsform manages for this resource.

    Only fields the manifest sets are managed; of `custom`, only the keys it sets.
    """
    write_only = SCHEMAS[kind].write_only
    skip = write_only.union(ignore) if ignore else write_only  # asked of 100k resources
    want = desired if desired.keys().isdisjoint(skip) else \
        {f: v for f, v in desired.items() if f not in skip}
    have = {f: live.get(f) for f in want}
    if isinstance(want.get("custom"), dict):
        live_custom = have.get("custom") or {}
        have["custom"] = {k: live_custom.get(k) for k in want["custom"]}
    return want, have


def diff(kind: str, desired: dict[str, Any], live: dict[str, Any],
         ignore: Iterable[str] = ()) -> list[Change]:
    """The changes that would make `live` match `desired`, in field order."""
    if desired.items() <= live.items():
        return []  # every field it sets is the LMS's: a converged resource, asked in C
    want, have = managed_view(kind, desired, live, ignore)
    if want == have:
        return []
    from deepdiff import DeepDiff  # only when something differs: a converged plan never needs it

    changed = DeepDiff(have, want, verbose_level=0).affected_root_keys or [
        f for f in want if want[f] != have.get(f)
    ]
    order = SCHEMAS[kind].fields
    changes: list[Change] = []
    for field in sorted(changed, key=order.index):
        before, after = have.get(field), want.get(field)
        template = PER_ENTRY.get(field)
        if template and isinstance(before, dict) and isinstance(after, dict):
            differing = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            for key in sorted(differing, key=str):
                changes.append(Change(field=template.format(field=field, key=key),
                                      before=before.get(key), after=after.get(key)))
        else:
            changes.append(Change(field=field, before=before, after=after))
    return changes


def changed_fields(changes: Iterable[Change]) -> set[str]:
    """Top-level fields touched by a list of changes ('pricing[std]' -> 'pricing')."""
    return {c.field.split("[", 1)[0].split(".", 1)[0] for c in changes}
