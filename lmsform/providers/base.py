"""The provider interface: what an LMS plugin implements, and the capabilities it declares.

A provider speaks canonical attributes (see `lmsform.resources.SCHEMAS`) with one twist:
reference fields (a user's department, groups and enrollments, a group's courses, a division's
region...) carry the vendor's ids. The engine does every translation between ids and manifest
names, so a provider never needs to know about addresses, state or plans.

Calls may arrive concurrently from several threads (`apply --parallelism`); a provider must be
safe for that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from lmsform.errors import LmsformError
from lmsform.resources import LiveResource
from lmsform.secrets import Secrets


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
    """An LMS, as lmsform drives it."""

    type_name: ClassVar[str]  # the `type:` of the provider block
    description: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities]
    settings_model: ClassVar[type[ProviderSettings]] = ProviderSettings

    def __init__(self, settings: ProviderSettings, config_dir: Path) -> None:
        self.settings = settings
        self.config_dir = config_dir
        self.secrets = Secrets(())

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

    @abstractmethod
    def list_all(self, kind: str) -> list[LiveResource]:
        """Every live resource of a listable kind, reading all pages. Each call returns new
        attribute dicts, which the caller owns: the planner makes them canonical in place."""

    def read(self, kind: str, ids: list[str]) -> list[LiveResource]:
        """The live resources with these ids; ids that no longer exist are left out. Called
        for kinds declared `listable=False`, and to fill a kind's `unlisted_fields`."""
        raise NotImplementedError(f"{self.type_name} cannot read {kind}s by id")

    def find(self, kind: str, key: str) -> LiveResource | None:
        """The live resource with this natural key (`address_key`, e.g. a user's email), for
        a kind the LMS cannot list; None when there is none. Called only for declared
        resources that state does not know, so it may be one request each."""
        raise NotImplementedError(f"{self.type_name} cannot look {kind}s up")

    def normalise(self, kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
        """Live attributes as the manifests would write them: undo the vendor's formatting
        and drop defaults it fills in, so that a converged LMS never shows a diff."""
        return attrs

    @abstractmethod
    def create(self, kind: str, attrs: dict[str, Any]) -> str:
        """Create a resource and return its new id. `attrs` includes write-only fields."""

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
        raise NotImplementedError(f"{self.type_name} cannot create {kind}s in batches")

    @abstractmethod
    def update(
        self, kind: str, id: str, changes: dict[str, Any], before: dict[str, Any]
    ) -> None:
        """Set the changed fields. `before` holds their live values, for vendors that add and
        remove memberships one by one. `custom` carries only the keys the manifest manages:
        merge them into the resource's custom fields."""

    @abstractmethod
    def delete(self, kind: str, id: str) -> None:
        """Delete a resource for good."""

    def deactivate(self, kind: str, id: str) -> None:
        """Switch a resource off without deleting it (users, where supported)."""
        raise NotImplementedError(f"{self.type_name} cannot deactivate a {kind}")

    def match_keys(self, kind: str, attrs: dict[str, Any]) -> list[str]:
        """Extra keys, tried before the natural ones, to find a live resource for a declared
        one (say, a vendor id the manifest gives in `custom`). Same keys for both sides."""
        return []

    @classmethod
    def check(cls, kind: str, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        """Vendor rules on field values (lengths, characters...), checked by `validate` and
        before any plan, so no connection is needed.

        Returns (field, message) pairs; the engine points each at the manifest.
        """
        return []

    def close(self) -> None:  # noqa: B027 - most providers hold nothing to release
        """Release connections."""
