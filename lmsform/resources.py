"""Resources as the engine sees them: a kind, an address and canonical attributes.

Desired resources come from the manifests, live ones from a provider; both pass through
`normalise` so that comparing them is plain equality. References between resources (a user's
department, groups and enrollments, a group's courses...) hold the referenced resource's address
key, never a vendor id: the planner translates ids to keys when it reads the LMS, and the applier
translates keys back to ids when it writes.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from lmsform.manifest import KINDS, Lifecycle


@dataclass(frozen=True)
class KindSchema:
    """What the engine knows about a kind, whatever the vendor."""

    fields: tuple[str, ...]
    references: dict[str, str] = field(default_factory=dict)  # field -> referenced kind
    set_fields: frozenset[str] = frozenset()  # lists compared as sets
    write_only: frozenset[str] = frozenset()  # sent on create, never read back, diffed or shown
    identity_only: frozenset[str] = frozenset()  # names the resource; a vendor may not store it


SCHEMAS: dict[str, KindSchema] = {
    "region": KindSchema(fields=("name",)),
    "division": KindSchema(fields=("name", "region"), references={"region": "region"}),
    "department": KindSchema(fields=("name", "division"), references={"division": "division"}),
    "course": KindSchema(
        fields=(
            "key", "title", "description", "published", "credits", "categories", "pricing",
            "custom",
        ),
        set_fields=frozenset({"categories"}),
        identity_only=frozenset({"key"}),
    ),
    "group": KindSchema(
        fields=("name", "description", "courses"),
        references={"courses": "course"},
        set_fields=frozenset({"courses"}),
    ),
    "user": KindSchema(
        fields=(
            "email", "first_name", "last_name", "username", "employee_id", "job_title", "role",
            "department", "groups", "enrollments", "active", "password", "custom",
        ),
        references={"department": "department", "groups": "group", "enrollments": "course"},
        set_fields=frozenset({"groups", "enrollments"}),
        write_only=frozenset({"password"}),
    ),
    "coupon": KindSchema(
        fields=("code", "discount", "courses", "usage_limit", "expires", "custom"),
        references={"courses": "course"},
        set_fields=frozenset({"courses"}),
    ),
}
assert tuple(SCHEMAS) == tuple(sorted(SCHEMAS, key=KINDS.index))
# the kinds some field refers to (users are not among them)
REFERENCED_KINDS = frozenset(t for schema in SCHEMAS.values() for t in schema.references.values())

SENSITIVE = "(sensitive)"
# the secrets of a resource that has none, shared: an empty dict each would be 6 MB at 100k
NO_SECRETS: Mapping[str, str] = MappingProxyType({})


@dataclass(slots=True)
class Resource:
    """A resource the manifests declare."""

    kind: str
    key: str
    attrs: dict[str, Any]
    secrets: Mapping[str, str] = field(default_factory=lambda: NO_SECRETS)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    origin: tuple[str, tuple[str | int, ...]] | None = None  # (file name, path in that file)
    # fields that took a value from the environment: secret, as write-only ones are
    sensitive: frozenset[str] = frozenset()
    # kind.key, made once: a plan looks it up a dozen times per resource
    address: str = field(init=False)

    def __post_init__(self) -> None:
        self.address = f"{self.kind}.{self.key}"


@dataclass(slots=True)
class LiveResource:
    """A resource as the LMS reports it: the vendor's id and canonical attributes.

    Reference fields hold vendor ids here. What the vendor keeps that lmsform does not
    manage (created times...) is left out: 100k users' worth of it would only cost memory.
    """

    id: str
    attrs: dict[str, Any]


def references(kind: str, attrs: dict[str, Any] | None) -> Iterator[tuple[str, str, str]]:
    """(field, referenced kind, referenced key or id) for each reference in the attributes."""
    for name, target in SCHEMAS[kind].references.items():
        value = (attrs or {}).get(name)
        for ref in value if isinstance(value, list) else [] if value is None else [value]:
            yield name, target, ref


def map_references(kind: str, attrs: dict[str, Any],
                   translate: Callable[[str, Any], str]) -> dict[str, Any]:
    """A copy of the attributes with each reference passed through translate(kind, value):
    vendor ids to address keys when reading the LMS, and back when writing to it."""
    out = dict(attrs)
    _translate(kind, out, translate)
    return out


def live_view(kind: str, attrs: dict[str, Any],
              translate: Callable[[str, Any], str]) -> dict[str, Any]:
    """Live attributes as the engine compares them: references translated to address keys,
    then canonical, in place: the dict is a listing's, which its reader owns
    (`Provider.list_all`), and a copy of each of 100k users' would only cost memory."""
    _translate(kind, attrs, translate)
    make_canonical(kind, attrs)
    return attrs


def _translate(kind: str, attrs: dict[str, Any], translate: Callable[[str, Any], str]) -> None:
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
        if kind in REFERENCED_KINDS:  # not 100k users: nothing refers to them
            self._names[kind].add(key)

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
    if kind == "division":
        return f"{attrs.get('region')}/{attrs['name']}"
    if kind == "department":
        return f"{attrs.get('division')}/{attrs['name']}"
    if kind == "course":
        return str(attrs.get("key") or attrs.get("title"))
    if kind == "user":
        return str(attrs["email"]).lower()
    if kind == "coupon":
        return str(attrs["code"])
    return str(attrs["name"])


def natural_keys(kind: str, attrs: dict[str, Any]) -> list[str]:
    """Keys to find a resource in the LMS when state does not know it, best first.

    Courses match by manifest key where the LMS stores one, else by title.
    """
    if kind == "course":
        keys = []
        if attrs.get("key"):
            keys.append(f"key:{attrs['key']}")
        if attrs.get("title"):
            keys.append(f"title:{attrs['title']}")
        return keys
    return [address_key(kind, attrs)]


def split_address(address: str) -> tuple[str, str]:
    kind, _, key = address.partition(".")
    if kind not in SCHEMAS or not key:
        raise ValueError(f"'{address}' is not a resource address")
    return kind, key


def decimal_text(value: Any, places: int | None = None) -> str:
    """Money and percentages as exact decimal text, so 49, 49.0 and "49.00" compare equal."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if places is not None:
        return str(number.quantize(Decimal(1).scaleb(-places)))
    return f"{number.normalize():f}"


def _number(value: Any) -> int | float:
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


# The keys of a structured value (a price, a discount) that hold exact decimals as text:
# "49.00" keeps its spelling where a float would not; readers are shown numbers.
EXACT_NUMBER_KEYS = frozenset({"amount", "percent"})


def _pricing(value: Any) -> dict[str, dict[str, Any]]:
    """Plans keyed by name: {"standard": {"amount": "49.00", "currency": "USD", ...}}."""
    if isinstance(value, dict):
        value = [{"plan": plan, **entry} for plan, entry in value.items()]
    return {
        str(p["plan"]): {
            "amount": decimal_text(p["amount"], 2),
            "currency": str(p["currency"]).upper(),
            "billing": p.get("billing") or "one_time",
        }
        for p in value
    }


def _discount(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("percent") is not None:
        return {"percent": decimal_text(value["percent"])}
    return {"amount": decimal_text(value["amount"], 2), "currency": str(value["currency"]).upper()}


# References and roles are one shared string each (`sys.intern`): 100k users name the same
# few hundred departments, groups and courses, and held 30 MB of copies of those names.
def _as_set(value: Any) -> list[str]:
    return sorted({sys.intern(str(v)) for v in value})


def _shared(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value


# Per kind, the fields whose values need putting in canonical form, and how; every other field
# is compared as it is. Built once: normalising runs for every resource on both sides.
_CANONICAL: dict[str, dict[str, Callable[[Any], Any]]] = {
    kind: {
        **dict.fromkeys([f for f in schema.fields if f in schema.references or f == "role"],
                        _shared),
        **dict.fromkeys(schema.set_fields, _as_set),
        **{name: fn for name, fn in (
            ("email", lambda v: str(v).lower()), ("pricing", _pricing),
            ("discount", _discount), ("credits", _number),
            ("expires", lambda v: str(v)[:10])) if name in schema.fields},
    }
    for kind, schema in SCHEMAS.items()
}


def normalise(kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """Canonical form of attributes, applied to both sides of every comparison."""
    out = dict(attrs)
    make_canonical(kind, out)
    return out


def make_canonical(kind: str, attrs: dict[str, Any]) -> None:
    """`normalise` in place, for a dict its maker owns."""
    for name, canonical in _CANONICAL[kind].items():
        value = attrs.get(name)
        if value is not None:
            attrs[name] = canonical(value)
