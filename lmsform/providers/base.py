"""The provider interface: what an LMS plugin implements, and the capabilities it declares.

A provider speaks canonical attributes (see `lmsform.resources.SCHEMAS`) with one twist:
reference fields (a user's department, groups and enrollments, a group's courses, a division's
region...) carry the vendor's ids. The engine does every translation between ids and manifest
names, so a provider never needs to know about addresses, state or plans.

A provider is written by kind: one `Handler` per kind it supports, defining the operations its
vendor can do for that kind, and only those. `Provider` dispatches every call that names a kind
to that kind's handler, and the `Capabilities` the engine reads (offline, from the class) are
derived from the handlers, so that what a provider declares and what it does cannot disagree.

Calls may arrive concurrently from several threads (`apply --parallelism`); a provider must be
safe for that.
"""

from __future__ import annotations

import dataclasses
import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from lmsform.errors import LmsformError
from lmsform.resources import SCHEMAS, LiveResource
from lmsform.secrets import Secrets

P = TypeVar("P", bound="Provider")

@dataclass(frozen=True)
class KindSupport:
    """What a provider can do with one kind of resource."""

    fields: frozenset[str]
    listable: bool = True  # False: no list call; read by the ids in state, found by key
    create: bool = True
    update: bool = True
    delete: bool = True
    deactivate: bool = False  # users: switch off instead of deleting
    replace_fields: frozenset[str] = frozenset()  # a change to one of these means delete + create
    # set once at create and never changed, where replacing would lose data (a learner's
    # progress): a change is a plan-time error, with `advice`
    fixed_fields: frozenset[str] = frozenset()
    # lists the API can add to but not take from (members without a removal call): a removal
    # is a plan-time error
    grow_only_fields: frozenset[str] = frozenset()
    required_on_create: frozenset[str] = frozenset()  # the vendor refuses a create without them
    # fields the list call does not return (a user's `disabled` flag, only in the one-user
    # read): the planner takes them from the state's last applied attributes, and reads by id
    # (`read`) the resources state does not know whose manifest sets one. Never references.
    unlisted_fields: frozenset[str] = frozenset()
    # creates the vendor takes many at a time: apply hands `Provider.create_many` up to this
    # many ready creates of the kind at once; 0: one by one
    batch_create: int = 0
    # said in the plan of every create of this kind (what the vendor does with a create that
    # meets an existing resource, say)
    create_note: str = ""
    # `custom` keys whose lists are sets (a user's tags; lists keyed by course): compared and
    # stored sorted, as text
    custom_sets: frozenset[str] = frozenset()
    # the `custom` keys the LMS has a place for; None: any key (`--drop-unsupported` leaves
    # out the others, as it does unsupported fields)
    custom_keys: frozenset[str] | None = None
    # reference fields whose resources this one's members reach through it, for as long as
    # they are members (a group's `courses`, where the vendor gives a group's members its
    # courses): what a plan's impact counts as access given and taken away
    member_access: frozenset[str] = frozenset()
    advice: str = ""  # what the user can do instead when an operation is not supported


@dataclass(frozen=True)
class Capabilities:
    kinds: dict[str, KindSupport] = field(default_factory=dict)
    # kinds the LMS holds but no API call manages (Course Toolkit's courses): references to
    # them (a user's enrollments) are the vendor's ids, and need no declaration
    external_kinds: frozenset[str] = frozenset()

    def operations(self, kind: str) -> list[str]:
        support = self.kinds.get(kind)
        if support is None:
            return []
        names = ("create", "update", "delete", "deactivate")
        return [name for name in names if getattr(support, name)]


# What a handler declares beside its operations (which of those it defines is what the engine
# reads as `KindSupport.listable`, `create`, `update`, `delete` and `deactivate`): the other
# fields of `KindSupport`, with the same meaning.
DECLARED = tuple(f.name for f in dataclasses.fields(KindSupport)
                 if f.name not in {"listable", "create", "update", "delete", "deactivate"})


class Handler(Generic[P]):
    """What a provider does with one kind of resource.

    A handler defines the operations its vendor can do for the kind, and only those: the
    base class's are the refusals. The kind's `KindSupport` is derived from which ones it
    defines (`support`): no `delete`, `delete=False`; no `list_all`, a kind read by id
    (`read`) and found by its natural key (`find`). Beside them it declares, as class
    attributes, the rest of `KindSupport` (the fields the vendor stores, what it cannot
    change...), and `check`s values offline.

    `Provider.handlers` names one handler class per kind. Each provider instance makes one
    instance per kind, on first use: `lms` is the provider, which holds what several kinds
    share (its client, cached listings), and `kind` the kind, for a class that serves several.
    A handler keeps nothing of its own: calls come from several threads.
    """

    fields: ClassVar[frozenset[str] | None] = None  # None: every field of the kind
    replace_fields: ClassVar[frozenset[str]] = frozenset()
    fixed_fields: ClassVar[frozenset[str]] = frozenset()
    grow_only_fields: ClassVar[frozenset[str]] = frozenset()
    required_on_create: ClassVar[frozenset[str]] = frozenset()
    unlisted_fields: ClassVar[frozenset[str]] = frozenset()  # needs `read`
    batch_create: ClassVar[int] = 0  # goes with `create_many`
    create_note: ClassVar[str] = ""
    custom_sets: ClassVar[frozenset[str]] = frozenset()
    custom_keys: ClassVar[frozenset[str] | None] = None
    member_access: ClassVar[frozenset[str]] = frozenset()  # references it stores
    advice: ClassVar[str] = ""

    def __init__(self, lms: P, kind: str) -> None:
        self.lms = lms
        self.kind = kind

    # the operations: each one the vendor cannot do is refused, and declared so

    def list_all(self) -> list[LiveResource]:
        """`Provider.list_all`: every live resource, all pages, in new dicts."""
        raise self._cannot("list")

    def read(self, ids: list[str]) -> list[LiveResource]:
        """`Provider.read`: the live resources with these ids, missing ones left out."""
        raise self._cannot("read", " by id")

    def find(self, key: str) -> LiveResource | None:
        """`Provider.find`: the live resource with this natural key, or None."""
        raise self._cannot("look", " up")

    def create(self, attrs: dict[str, Any]) -> str:
        """`Provider.create`: the new resource's id."""
        raise self._cannot("create")

    def create_many(self, items: list[dict[str, Any]]) -> list[str | LmsformError]:
        """`Provider.create_many`: one id or one error per item, in order."""
        raise self._cannot("create", " in batches")

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        """`Provider.update`: set the changed fields."""
        raise self._cannot("update")

    def delete(self, id: str) -> None:
        """`Provider.delete`: remove for good."""
        raise self._cannot("delete")

    def deactivate(self, id: str) -> None:
        """`Provider.deactivate`: switch off without deleting."""
        raise self._cannot("deactivate")

    # the rest, optional

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        """`Provider.check`: the vendor's rules on values, offline."""
        return []

    def match_keys(self, attrs: dict[str, Any]) -> list[str]:
        """`Provider.match_keys`: extra keys to match a declared resource by."""
        return []

    def normalise(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """`Provider.normalise`: live attributes as the manifests would write them."""
        return attrs

    def _cannot(self, verb: str, how: str = "") -> LmsformError:
        return LmsformError(f"the {self.lms.type_name} provider cannot {verb} "
                            f"{self.kind}s{how}")

    # what the engine reads

    @classmethod
    def defines(cls, operation: str) -> bool:
        """Whether this handler (or a base of its own) defines an operation (`create`...)."""
        return getattr(cls, operation) is not getattr(Handler, operation)

    @classmethod
    def support(cls, kind: str) -> KindSupport:
        """This handler's operations and declarations, as the engine reads them; TypeError
        where they contradict each other."""
        listable = cls.defines("list_all")
        problems = []
        if not listable and not (cls.defines("read") and cls.defines("find")):
            problems.append("it neither lists nor reads by id and finds by key: define "
                            "list_all, or read and find")
        if cls.unlisted_fields and not cls.defines("read"):
            problems.append("unlisted_fields need read")
        if bool(cls.batch_create) != cls.defines("create_many"):
            problems.append("batch_create and create_many go together")
        fields = cls.fields if cls.fields is not None else frozenset(SCHEMAS[kind].fields)
        strays = cls.member_access - (fields & SCHEMAS[kind].references.keys())
        if strays:
            problems.append(f"member_access names {', '.join(sorted(strays))}, which is no "
                            "reference field it stores")
        if problems:
            raise TypeError(f"{cls.__qualname__} ({kind}): {'; '.join(problems)}")
        declared = {name: getattr(cls, name) for name in DECLARED}
        declared["fields"] = fields
        return KindSupport(listable=listable, create=cls.defines("create"),
                           update=cls.defines("update"), delete=cls.defines("delete"),
                           deactivate=cls.defines("deactivate"), **declared)


@functools.cache
def derived(handlers: tuple[tuple[str, type[Handler[Any]]], ...],
            external_kinds: frozenset[str]) -> Capabilities:
    """The capabilities of a provider with these handlers, in their order; TypeError where a
    kind gives its members access (`member_access`) yet no kind stores membership of it."""
    supported = {kind: handler.support(kind) for kind, handler in handlers}
    for kind, support in supported.items():
        if support.member_access and not any(
                SCHEMAS[other].references.get(name) == kind
                for other, theirs in supported.items() for name in theirs.fields):
            owner = dict(handlers)[kind].__qualname__
            raise TypeError(f"{owner} ({kind}): member_access, but no kind the provider "
                            f"supports stores membership of {kind}s")
    return Capabilities(kinds=supported, external_kinds=external_kinds)


class Derived:
    """`Provider.capabilities`: derived from the class's `handlers` and `external_kinds`
    whenever it is read (handlers that follow the kinds registered now, as the local LMS's
    do, give capabilities that follow them too). A class may still set its own."""

    def __get__(self, obj: Provider | None, owner: type[Provider]) -> Capabilities:
        return derived(tuple(owner.handlers.items()), owner.external_kinds)


class ProviderSettings(BaseModel):
    """The `provider:` block of the manifests; each provider subclasses it with its options."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)  # org_id: 99999
    type: str

    def moved(self, source: Path, target: Path) -> dict[str, str]:
        """Settings to write differently when this block is copied from the config directory
        `source` to `target` (`export --out`) so that it still names the same LMS: a path
        relative to the config directory, say. Most providers name their LMS by URL: none."""
        return {}


class Provider(ABC):
    """An LMS, as lmsform drives it: its connection, and a handler per kind it supports."""

    type_name: ClassVar[str]  # the `type:` of the provider block
    description: ClassVar[str] = ""
    settings_model: ClassVar[type[ProviderSettings]] = ProviderSettings
    # kind -> the class of its handler: every kind the provider supports
    handlers: ClassVar[Mapping[str, type[Handler[Any]]]] = {}
    # kinds the LMS holds but no API call manages (`Capabilities.external_kinds`)
    external_kinds: ClassVar[frozenset[str]] = frozenset()
    capabilities = Derived()

    def __init__(self, settings: ProviderSettings, config_dir: Path) -> None:
        self.settings = settings
        self.config_dir = config_dir
        self.secrets = Secrets(())
        self._handlers: dict[str, Handler[Any]] = {}

    def use_secrets(self, secrets: Secrets) -> None:
        """The config's secrets (credentials, values from the environment, write-only
        values), which no message of this provider may show: a provider that words errors
        from what its LMS answers redacts them (`HttpProvider` passes them to its client)."""
        self.secrets = secrets

    @abstractmethod
    def identity(self) -> str:
        """Which LMS this is (a file, a base URL and tenant): recorded in state, never a secret."""

    def is_instance(self, instance: str) -> bool:
        """Whether an identity recorded earlier (in a state, a plan) names this LMS."""
        return instance == self.identity()

    def handler(self, kind: str) -> Handler[Any]:
        """This provider's handler of a kind; an error for a kind it does not manage."""
        found = self._handlers.get(kind)
        if found is None:
            made = type(self).handlers.get(kind)
            if made is None:
                raise LmsformError(f"the {self.type_name} provider does not manage {kind}s")
            found = self._handlers.setdefault(kind, made(self, kind))
        return found

    # Every call that names a kind is its handler's (see `Handler` for what each does).

    def list_all(self, kind: str) -> list[LiveResource]:
        """Every live resource of a listable kind, reading all pages. Each call returns new
        attribute dicts, which the caller owns: the planner makes them canonical in place."""
        return self.handler(kind).list_all()

    def read(self, kind: str, ids: list[str]) -> list[LiveResource]:
        """The live resources with these ids; ids that no longer exist are left out. Called
        for kinds declared `listable=False`, and to fill a kind's `unlisted_fields`."""
        return self.handler(kind).read(ids)

    def find(self, kind: str, key: str) -> LiveResource | None:
        """The live resource with this natural key (`address_key`, e.g. a user's email), for
        a kind the LMS cannot list; None when there is none. Called only for declared
        resources that state does not know, so it may be one request each."""
        return self.handler(kind).find(key)

    def normalise(self, kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
        """Live attributes as the manifests would write them: undo the vendor's formatting
        and drop defaults it fills in, so that a converged LMS never shows a diff."""
        if kind not in type(self).handlers:
            return attrs
        return self.handler(kind).normalise(attrs)

    def create(self, kind: str, attrs: dict[str, Any]) -> str:
        """Create a resource and return its new id. `attrs` includes write-only fields."""
        return self.handler(kind).create(attrs)

    def batch_size(self, kind: str) -> int:
        """How many ready creates of a kind apply hands `create_many` at once: the declared
        `batch_create`, unless this instance's settings say otherwise."""
        support = self.capabilities.kinds.get(kind)
        return support.batch_create if support is not None else 0

    def create_many(self, kind: str, items: list[dict[str, Any]]
                    ) -> list[str | LmsformError]:
        """Create several resources of a kind declaring `batch_create`, in as few calls as
        the vendor allows. One new id or one error per item, in order, so that a failure is
        pinned to its resource and the others are still recorded."""
        return self.handler(kind).create_many(items)

    def update(
        self, kind: str, id: str, changes: dict[str, Any], before: dict[str, Any]
    ) -> None:
        """Set the changed fields. `before` holds their live values, for vendors that add and
        remove memberships one by one. `custom` carries only the keys the manifest manages:
        merge them into the resource's custom fields."""
        self.handler(kind).update(id, changes, before)

    def delete(self, kind: str, id: str) -> None:
        """Delete a resource for good."""
        self.handler(kind).delete(id)

    def deactivate(self, kind: str, id: str) -> None:
        """Switch a resource off without deleting it (users, where supported)."""
        self.handler(kind).deactivate(id)

    def match_keys(self, kind: str, attrs: dict[str, Any]) -> list[str]:
        """Extra keys, tried before the natural ones, to find a live resource for a declared
        one (say, a vendor id the manifest gives in `custom`). Same keys for both sides."""
        if kind not in type(self).handlers:
            return []
        return self.handler(kind).match_keys(attrs)

    @classmethod
    def check(cls, kind: str, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        """Vendor rules on field values (lengths, characters...), checked by `validate` and
        before any plan, so no connection is needed.

        Returns (field, message) pairs; the engine points each at the manifest.
        """
        handler = cls.handlers.get(kind)
        return handler.check(attrs) if handler is not None else []

    def close(self) -> None:  # noqa: B027 - most providers hold nothing to release
        """Release connections."""
