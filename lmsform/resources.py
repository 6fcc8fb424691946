"""Resources as the engine sees them: a kind, an address and canonical attributes.

Desired resources come from the manifests, live ones from a provider; both pass through
`normalise` so that comparing them is plain equality. References between resources (a user's
department, groups and enrollments, a group's courses...) hold the referenced resource's address
key, never a vendor id: the planner translates ids to keys when it reads the LMS, and the applier
translates keys back to ids when it writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from lmsform import kinds
from lmsform.kinds import NO_SECRETS, SENSITIVE, LiveResource, Resource, decimal_text
from lmsform.kinds.kind import as_set, shared

__all__ = ["NO_SECRETS", "SCHEMAS", "SENSITIVE", "LiveNames", "LiveResource", "Resource",
           "address_key", "decimal_text", "live_view", "live_views", "make_canonical",
           "map_references", "natural_keys", "normalise", "referenced_keys", "references",
           "split_address", "translate_references"]

# Every kind by name, as registered (`lmsform.kinds`): what the engine knows of each.
SCHEMAS = kinds.registered


def references(kind: str, attrs: dict[str, Any] | None) -> Iterator[tuple[str, str, str]]:
    """(field, referenced kind, referenced key or id) for each reference in the attributes."""
    for name, target in SCHEMAS[kind].references.items():
        value = (attrs or {}).get(name)
        for ref in value if isinstance(value, list) else [] if value is None else [value]:
            yield name, target, ref


def refers_to(kind: str, attrs: dict[str, Any] | None) -> list[str]:
    """The addresses a resource's attributes refer to (`group.Managers`...): `references`,
    without its generators, as finishing a plan asks it of each of 100k operations."""
    found: list[str] = []
    if attrs:
        for name, target in SCHEMAS[kind].references.items():
            value = attrs.get(name)
            if isinstance(value, list):
                found += [f"{target}.{key}" for key in value]
            elif value is not None:
                found.append(f"{target}.{value}")
    return found


def referenced_keys(kind: str, attrs: dict[str, Any] | None,
                    into: dict[str, set[Any]]) -> None:
    """The keys a resource's attributes refer to, added to `into` by kind: `refers_to`
    for many resources that name the same few keys, none of them made into an address."""
    if attrs:
        for name, target in SCHEMAS[kind].references.items():
            value = attrs.get(name)
            if isinstance(value, list):
                into[target].update(value)
            elif value is not None:
                into[target].add(value)


def map_references(kind: str, attrs: dict[str, Any],
                   translate: Callable[[str, Any], str]) -> dict[str, Any]:
    """A copy of the attributes with each reference passed through translate(kind, value):
    vendor ids to address keys when reading the LMS, and back when writing to it."""
    out = dict(attrs)
    translate_references(kind, out, translate)
    return out


def live_view(kind: str, attrs: dict[str, Any], names: LiveNames) -> dict[str, Any]:
    """Live attributes as the engine compares them: references translated to address keys
    (`names`), then canonical, in place: the dict is a listing's, which its reader owns
    (`Provider.list_all`), and a copy of each of 100k users' would only cost memory."""
    live_views(kind, [attrs], names)
    return attrs


def live_views(kind: str, views: list[dict[str, Any]], names: LiveNames) -> None:
    """A whole listing's attributes made as the engine compares them (`live_view`), in
    place, a field at a time across the listing: a converged plan of 100k users spent a
    sixth of its time going through the kind's tables once per user. A reference's key is
    the name table's own string, as canonical as interning would make it."""
    kind_ = SCHEMAS[kind]
    made: set[str] = set()  # the references made canonical as they are translated
    for name, target in kind_.references.items():
        key_of, keys = names.key_of, names.keys_of(target)
        canonical = kind_.canonical.get(name)
        for attrs in views:
            value = attrs.get(name)
            if isinstance(value, list):
                found = [keys[v] if v in keys else key_of(target, v) for v in value]
                attrs[name] = sorted(set(found)) if canonical is as_set else found
            elif value is not None:
                attrs[name] = keys[value] if value in keys else key_of(target, value)
        if canonical is None or canonical is as_set or canonical is shared:
            made.add(name)
    for name, canonical in kind_.canonical.items():
        if name not in made:
            for attrs in views:
                value = attrs.get(name)
                if value is not None:
                    attrs[name] = canonical(value)


def translate_references(kind: str, attrs: dict[str, Any],
                         translate: Callable[[str, Any], str]) -> None:
    """`map_references` in place, for a dict its caller has just made."""
    for name, target in SCHEMAS[kind].references.items():
        value = attrs.get(name)
        if isinstance(value, list):
            attrs[name] = [translate(target, v) for v in value]
        elif value is not None:
            attrs[name] = translate(target, value)


class LiveNames:
    """How the LMS's ids become address keys as its resources are read, for the planner and
    for export alike.

    A listed resource is known by its name (`name`). A reference to an id no listing gave
    (something the LMS did not list) gets an unnamed key, `#<id>`, lengthened with `#`
    until it is no name of that kind, neither in the LMS nor in the manifests or the state
    (`taken`): a group called `#12` is a group, and never stands for the id 12. `unnamed`
    maps those keys' addresses back to their ids, for apply. References are read parents
    first, so every name of a kind is known before anything refers to it."""

    def __init__(self, external: frozenset[str] = frozenset(),
                 taken: Callable[[str, str], bool] = lambda kind, key: False) -> None:
        self.external = external  # kinds whose ids are their own keys
        self.taken = taken  # whether (kind, key) is declared or recorded somewhere else
        self.keys: dict[str, dict[str, str]] = defaultdict(dict)  # kind -> id -> key
        self._names: dict[str, set[str]] = defaultdict(set)  # kind -> every key given out
        self.unnamed: dict[str, str] = {}  # address of an unnamed key -> its id

    def name(self, kind: str, vendor_id: str, key: str) -> None:
        self.keys[kind][vendor_id] = key
        if kinds.referenced(kind):  # not 100k users: nothing refers to them
            self._names[kind].add(key)

    def keys_of(self, kind: str) -> dict[str, str]:
        """The keys known of a kind by id (none for a kind whose ids are its keys): what
        `key_of` would answer for them."""
        return {} if kind in self.external else self.keys[kind]

    def key_of(self, kind: str, vendor_id: Any) -> str:
        """The address key for an id the LMS gave in a reference."""
        text = str(vendor_id)
        if kind in self.external:
            return text
        key = self.keys[kind].get(text)
        if key is None:
            key = f"#{text}"
            while key in self._names[kind] or self.taken(kind, key):
                key = f"#{key}"
            self.name(kind, text, key)
            self.unnamed[f"{kind}.{key}"] = text
        return key

    def is_unnamed(self, kind: str, key: str) -> bool:
        return f"{kind}.{key}" in self.unnamed


def address_key(kind: str, attrs: dict[str, Any]) -> str:
    """The address key a resource with these (reference-translated) attributes would have."""
    return kinds.get(kind).address_key(attrs)


def natural_keys(kind: str, attrs: dict[str, Any]) -> list[str]:
    """Keys to find a resource in the LMS when state does not know it, best first."""
    return kinds.get(kind).natural_keys(attrs)


def split_address(address: str) -> tuple[str, str]:
    kind, _, key = address.partition(".")
    if kind not in SCHEMAS or not key:
        raise ValueError(f"'{address}' is not a resource address")
    return kind, key


# The keys of a structured value (a price, a discount) that hold exact decimals as text:
# "49.00" keeps its spelling where a float would not; readers are shown numbers.
EXACT_NUMBER_KEYS = frozenset({"amount", "percent"})


def normalise(kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """Canonical form of attributes, applied to both sides of every comparison."""
    out = dict(attrs)
    SCHEMAS[kind].make_canonical(out)
    return out


def make_canonical(kind: str, attrs: dict[str, Any]) -> None:
    """`normalise` in place, for a dict its maker owns."""
    kinds.get(kind).make_canonical(attrs)
