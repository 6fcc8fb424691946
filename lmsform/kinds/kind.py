"""What a kind of resource is, and the resources the engine passes around.

A `Kind` holds everything lmsform knows about one kind, whatever the vendor: its fields and
references (and so the order kinds are planned in), the canonical form of its values, the key
that names a resource in its address, how the manifests declare it, its rules at plan time and
how export writes it. Each built-in kind is one module of this package; the engine reads the
kinds through the registry (`lmsform.kinds`) and never names one.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ValidationError

from lmsform.manifest import Lifecycle, PlainEntries
from lmsform.schedule import Event

if TYPE_CHECKING:
    from lmsform.manifest import SettingsSpec

SENSITIVE = "(sensitive)"
# the secrets of a resource that has none, shared: an empty dict each would be 6 MB at 100k
NO_SECRETS: Mapping[str, str] = MappingProxyType({})
Loc = tuple[str | int, ...]


@dataclass(slots=True)
class Resource:
    """A resource the manifests declare."""

    kind: str
    key: str
    attrs: dict[str, Any]
    secrets: Mapping[str, str] = field(default_factory=lambda: NO_SECRETS)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    origin: tuple[str, Loc] | None = None  # (file name, path in that file)
    # fields that took a value from the environment: secret, as write-only ones are
    sensitive: frozenset[str] = frozenset()
    # what the manifest says of when it holds (a user's `active_from`...), the kind's own
    # value (`Kind.at` reads it); None, as for nearly every resource: time decides nothing
    timed: Any = None
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


@dataclass
class Exported:
    """One resource as export will write it."""

    kind: str
    key: str
    id: str
    attrs: dict[str, Any]


class Support(Protocol):
    """What a provider can do with a kind, as far as the kind's own rules ask
    (`providers.base.Support` is one)."""

    @property
    def fields(self) -> frozenset[str]: ...
    @property
    def create(self) -> bool: ...
    @property
    def delete(self) -> bool: ...
    @property
    def update(self) -> bool: ...
    @property
    def deactivate(self) -> bool: ...
    @property
    def required_on_create(self) -> frozenset[str]: ...
    @property
    def fixed_fields(self) -> frozenset[str]: ...
    @property
    def grow_only_fields(self) -> frozenset[str]: ...
    @property
    def advice(self) -> str: ...


class Declaring(Protocol):
    """What declaring a manifest entry may say of it, at places (`Loc`) in its file."""

    def error(self, loc: Loc, message: str) -> None: ...

    def literal_secret(self, loc: Loc, what: str) -> None:
        """A secret written in the manifest as text (`what`: "a password")."""

    def where(self, loc: Loc) -> str:
        """A place as `file:line:column`, for a message naming another place."""
        ...

    def from_environment(self, loc: Loc) -> bool:
        """Whether the value at a place took it from `${env:...}` (a secret)."""
        ...


@dataclass(frozen=True, slots=True)
class Ruling:
    """What time decides of a resource at an instant (`Kind.at`), and why: the plan says
    why beside each change it causes, and `apply --scheduled-only` applies those alone.

    `fields`: a field's value now, where time sets it (a user's `active: False` after its
    end, "expired 2027-03-31"). `items`: in a list compared as a set, whether an item is in
    it now, where time decides that (an enrollment before its start, "enrollment in X starts
    2027-04-01"). `exists`: False where the resource is not to be created now (before its
    start, after its end); `created`: why a create now is time's doing (its start passed)."""

    fields: Mapping[str, tuple[Any, str]] = field(default_factory=dict)
    items: Mapping[str, Mapping[str, tuple[bool, str]]] = field(default_factory=dict)
    exists: bool = True
    created: str | None = None

    def why(self, name: str, before: Any, after: Any) -> str | None:
        """Why a change of field `name` from `before` to `after` is time's doing, or None
        where time does not decide it: the value time gives, or the items of a set that
        time puts in or takes out (their reasons together)."""
        given = self.fields.get(name)
        if given is not None and given[0] == after:
            return given[1]
        items = self.items.get(name)
        if not items:
            return None
        old, new = set(before or ()), set(after or ())
        reasons = [why for item, (inside, why) in items.items()
                   if (item in new - old if inside else item in old - new)]
        return "; ".join(reasons) or None

    def alone(self, name: str, before: Any, after: Any) -> bool:
        """Whether time alone makes that change: the value time gives, or only items time
        puts in or takes out (a change that also adds an item the manifests list without a
        window is time's in part only)."""
        given = self.fields.get(name)
        if given is not None:
            return bool(given[0] == after)
        items = self.items.get(name)
        if not items:
            return False
        old, new = set(before or ()), set(after or ())
        return all(item in items and items[item][0] == (item in new) for item in old ^ new)

    def applied(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """The values of `attrs` (a live resource's) that time decides, as time decides
        them now: what `apply --scheduled-only` makes true, and nothing else."""
        out = {name: value for name, (value, _) in self.fields.items()}
        for name, items in self.items.items():
            current = set(attrs.get(name) or ())
            for item, (inside, _) in items.items():
                if inside:
                    current.add(item)
                else:
                    current.discard(item)
            out[name] = sorted(current)
        return out


# How a resource leaves the manifests: deleted, or switched off (deactivated).
Removal = Literal["delete", "deactivate"]


def decimal_text(value: Any, places: int | None = None) -> str:
    """Money and percentages as exact decimal text, so 49, 49.0 and "49.00" compare equal."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if places is not None:
        return str(number.quantize(Decimal(1).scaleb(-places)))
    return f"{number.normalize():f}"


# References and repeated values are one shared string each (`sys.intern`): 100k users name
# the same few hundred departments, groups and courses, and held 30 MB of copies of those.
def as_set(value: Any) -> list[str]:
    return sorted(set(map(sys.intern, map(str, value))))


def shared(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value


class Kind:
    """One kind of resource. Subclasses set the class attributes and override the methods
    where the kind differs from the plain case: one entry of a top-level list declares one
    resource, named by `key_field`."""

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]
    references: ClassVar[Mapping[str, str]] = MappingProxyType({})  # field -> kind
    set_fields: ClassVar[frozenset[str]] = frozenset()  # lists compared as sets
    write_only: ClassVar[frozenset[str]] = frozenset()  # sent, never read back, diffed, shown
    identity_only: ClassVar[frozenset[str]] = frozenset()  # names it; a vendor may not store it
    shared_fields: ClassVar[frozenset[str]] = frozenset()  # repeated values, stored once
    nested_fields: ClassVar[frozenset[str]] = frozenset()  # models in the entry: `field_data`
    key_field: ClassVar[str] = "name"  # the attribute that is its address key

    # the manifests: the top-level list whose entries declare it (None: another kind's
    # entries do, `nested`), and the model of one entry
    section: ClassVar[str | None] = None
    spec: ClassVar[type[BaseModel] | None] = None
    nested: ClassVar[bool] = False  # declared inside its parent's entry: its reference holds
    reference_hint: ClassVar[str] = ""  # said after an unknown reference to it
    # a resource still referred to (after the plan) cannot be removed: the plan refuses
    kept_while_referenced: ClassVar[bool] = False
    # the flag that switches a resource on and off (a user's `active`): removing one may
    # switch it off instead (`removal`), which the setting `removal_setting` chooses
    active_field: ClassVar[str | None] = None
    removal_setting: ClassVar[str] = ""
    export_file: ClassVar[str | None] = None  # where export writes `section`
    # what to say when another kind's entry names one of this kind's own fields (a group's
    # `active_until`): what can be done instead
    field_hints: ClassVar[Mapping[str, str]] = MappingProxyType({})
    # the kinds declared, and so exported, together with it (the hierarchy's three)
    family: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        # the fields its address is made of: never hidden as secret, whatever gave them
        self.naming_fields: frozenset[str] = self.address_fields()
        self.canonical: dict[str, Callable[[Any], Any]] = {
            **dict.fromkeys([f for f in self.fields
                             if f in self.references or f in self.shared_fields], shared),
            **dict.fromkeys(self.set_fields, as_set),
            **self.canonical_values(),
        }
        # what `resource` does with each field an entry may set, made once per kind: 100k
        # users each went through the kind's tables field by field
        self._entry_fields = tuple((name, name in self.nested_fields, self.canonical.get(name))
                                   for name in self.fields if name not in self.write_only)
        self._canonical_items = tuple(self.canonical.items())

    def address_fields(self) -> frozenset[str]:
        return frozenset({self.key_field})

    def canonical_values(self) -> dict[str, Callable[[Any], Any]]:
        """The kind's own canonical forms, beyond references and sets (an email lower-cased,
        prices keyed by plan)."""
        return {}

    # names

    def address_key(self, attrs: dict[str, Any]) -> str:
        """The address key of a resource with these (reference-translated) attributes."""
        return str(attrs[self.key_field])

    def natural_keys(self, attrs: dict[str, Any]) -> list[str]:
        """Keys to find it in the LMS when state does not know it, best first."""
        return [self.address_key(attrs)]

    def sort_text(self, attrs: dict[str, Any]) -> str:
        """What export orders a kind's resources by."""
        return str(attrs.get(self.key_field) or "")

    # the manifests

    def declare(self, spec: BaseModel, origin: tuple[str, Loc],
                say: Declaring) -> Iterator[Resource]:
        """The resources one valid entry of `section` declares, at `origin` (its file and
        place); what is wrong with it beyond its model goes to `say`."""
        yield self.resource(spec, origin)

    def resource(self, spec: BaseModel, origin: tuple[str, Loc] | None) -> Resource:
        """One entry's resource from its model (`resource_of`)."""
        return self.resource_of({name: spec.__dict__[name] for name in spec.model_fields_set},
                                origin)

    def resource_of(self, values: dict[str, Any], origin: tuple[str, Loc] | None
                    ) -> Resource:
        """One entry's resource from the validated fields it sets: canonical; write-only
        ones as secrets."""
        attrs: dict[str, Any] = {}
        for name, nested, canonical in self._entry_fields:
            if name in values:
                value = values[name]
                if value is not None:
                    if nested:
                        value = self.field_data(name, value)
                    if canonical is not None:
                        value = canonical(value)
                attrs[name] = value
        secrets = {name: values[name].get_secret_value() for name in self.write_only
                   if values.get(name) is not None}
        # the key as made canonical (a user's lower-cased email): the same string, not a
        # copy, for 100k users
        return Resource(self.name, attrs[self.key_field], attrs, secrets or NO_SECRETS,
                        values.get("lifecycle") or NO_LIFECYCLE, origin)

    @functools.cached_property
    def plain_entries(self) -> PlainEntries | None:
        """What validates an entry of `section` into a plain dict (`may_be_plain`); None
        for a kind none of whose entries may be (its own `declare` and no `may_be_plain` to
        say which entries need nothing more, or its own `resource`)."""
        kind = type(self)
        never = ((kind.declare is not Kind.declare and kind.may_be_plain is Kind.may_be_plain)
                 or kind.resource is not Kind.resource)
        return PlainEntries.of(self.spec) if self.spec is not None and not never else None

    def plain_resource(self, entry: Any, origin: tuple[str, Loc] | None) -> Resource | None:
        """The resource of an entry validated into a plain dict (`PlainEntries`), for an
        entry of a file without `${...}` that `declare` needs nothing more of; None for any
        other entry, and for one the checks refuse: its model validates it again, to say
        what is wrong as it says it of every entry."""
        plain = self.plain_entries
        if plain is None or not (isinstance(entry, dict) and
                                 entry.keys().isdisjoint(plain.model_only) and
                                 self.may_be_plain(entry)):
            return None
        try:
            return self.resource_of(plain.adapter.validate_python(entry), origin)
        except ValidationError:
            return None

    def may_be_plain(self, entry: dict[str, Any]) -> bool:
        """Whether `declare` needs no more of this entry than its fields' values
        (`resource_of`), so that it may be validated into a plain dict rather than its
        model (`PlainEntries`): true of every entry of a kind that keeps `Kind.declare`; a
        kind whose `declare` reads more of its model says here which entries need it."""
        return type(self).declare is Kind.declare

    def field_data(self, name: str, value: Any) -> Any:
        """A `nested_fields` value from its model as plain data (a model as a dict)."""
        return value

    def doubtful(self, entry: Any) -> dict[str, set[str] | None]:
        """What an invalid entry may declare, per kind: its name (None: any name), so that
        references to it are not reported as unknown as well."""
        key = entry.get(self.key_field) if isinstance(entry, dict) else None
        return {self.name: None if key is None else {self.doubtful_name(key)}}

    def doubtful_name(self, key: Any) -> str:
        return str(key)

    def make_canonical(self, attrs: dict[str, Any]) -> None:
        """Canonical form in place, for a dict its maker owns."""
        for name, canonical in self._canonical_items:
            value = attrs.get(name)
            if value is not None:
                attrs[name] = canonical(value)

    # planning

    def removal(self, settings: SettingsSpec) -> Removal:
        """How a resource of this kind leaves the LMS when the manifests drop it."""
        return "delete"

    def is_switched_off(self, view: dict[str, Any]) -> bool:
        """Whether a live resource is deactivated already."""
        return self.active_field is not None and view.get(self.active_field) is False

    def settings_problems(self, settings: SettingsSpec, support: Support,
                          vendor: str) -> list[str]:
        """What the settings ask of this kind that the provider cannot do."""
        return []

    # time (`lmsform.schedule`): only kinds whose manifests say when they hold override these

    def at(self, resource: Resource, instant: dt.datetime, zone: dt.tzinfo,
           since: dt.datetime | None = None) -> tuple[Resource, Ruling]:
        """A resource with `timed` as the manifests want it at `instant` (dates read in
        `zone`), and what time decided of it; a start the last apply (at `since`) saw pass
        is not time's doing any more."""
        return resource, Ruling()

    def events(self, resource: Resource, zone: dt.tzinfo) -> list[Event]:
        """What the manifests schedule for a resource with `timed`: its start, its end..."""
        return []

    def empty_windows(self, resource: Resource, zone: dt.tzinfo) -> list[tuple[str, str]]:
        """(field, message) for each window of a resource with `timed` that holds no
        instant in `zone` (`settings.timezone`), which its entry alone could not tell."""
        return []

    def time_problems(self, resource: Resource, support: Support,
                      vendor: str) -> list[tuple[str | None, str]]:
        """(field, message) for each time bound of a resource with `timed` that the provider
        cannot honour, saying what it can do instead."""
        return []

    def still_referred(self, address: str, done: str, referrers: list[str]) -> str:
        """The error for a `kept_while_referenced` resource a plan would remove (`done`:
        "deleted") while `referrers` (their address keys) still refer to it."""
        return (f"{address}: to be {done}, but the LMS still has resources referring to it: "
                f"{', '.join(referrers)}")

    # `lmsform init`

    def example(self, support: Support, vendor: str) -> str | None:
        """An example manifest declaring one resource of this kind with what `vendor`
        supports, for `init` to write into `export_file`; None: no example."""
        return None

    def example_settings(self, support: Support | None, vendor: str) -> list[str]:
        """Lines of the `settings:` block `init` writes that concern this kind."""
        return []

    # export

    def export_key(self, attrs: dict[str, Any], resource_id: str,
                   taken: set[str]) -> dict[str, Any]:
        """The attributes as exported, its key filled in where the LMS has none."""
        return attrs

    def export_files(self, exported: Mapping[str, list[Exported]],
                     entry: Callable[[Exported], dict[str, Any]]
                     ) -> list[tuple[str, list[Any]]]:
        """(file name, entries of `section`) for what export writes of this kind."""
        items = exported.get(self.name, [])
        return [(self.export_file, [entry(e) for e in items])] \
            if items and self.export_file else []

    def entry_data(self, attrs: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """What a manifest entry says of a resource, from the fields export writes: checked
        to read back as the LMS holds it before anything is written."""
        assert self.spec is not None
        return {k: v for k, v in fields.items() if k in self.spec.model_fields}

    def read_back(self, data: dict[str, Any]) -> dict[str, Any]:
        """What an entry holding `data` declares once loaded: its canonical attributes
        (write-only fields aside); ValidationError where a manifest cannot say it."""
        assert self.spec is not None
        return self.resource(self.spec.model_validate(data), None).attrs

    def meaning(self, attrs: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
        """What the exported entry of a resource must mean once loaded, from the fields
        export writes of it (`written`)."""
        out = dict(written)
        self.make_canonical(out)
        return out


NO_LIFECYCLE = Lifecycle()  # shared by every resource without one: 100k users


def lifecycle_of(spec: BaseModel) -> Lifecycle:
    lifecycle: Lifecycle | None = getattr(spec, "lifecycle", None)
    return lifecycle or NO_LIFECYCLE
