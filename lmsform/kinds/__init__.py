"""The kinds of resources lmsform manages, and the registry the engine reads them through.

Each built-in kind is one module here (region, division, department, course, group, user,
coupon) owning everything about it: its manifest entry, canonical form, address key,
references, rules at plan time and export layout. The engine asks the registry, never a kind
by name. The order kinds are planned in comes from their references (what a kind refers to
goes first), not from the order they were registered in: adding a kind is one module and one
`register` call (`docs/architecture.md`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, create_model

from lmsform import manifest
from lmsform.kinds.coupon import Coupon
from lmsform.kinds.course import Course
from lmsform.kinds.department import Department
from lmsform.kinds.division import Division
from lmsform.kinds.group import Group
from lmsform.kinds.kind import (
    NO_SECRETS,
    SENSITIVE,
    Declaring,
    Exported,
    Kind,
    LiveResource,
    Removal,
    Resource,
    decimal_text,
)
from lmsform.kinds.region import Region
from lmsform.kinds.user import User

__all__ = [
    "NO_SECRETS",
    "SENSITIVE",
    "Declaring",
    "Exported",
    "Kind",
    "LiveResource",
    "Removal",
    "Resource",
    "decimal_text",
    "field_hint",
    "get",
    "kinds",
    "manifest_model",
    "names",
    "rank",
    "referenced",
    "register",
    "registered",
    "sections",
    "unregister",
]

_registered: dict[str, Kind] = {}  # by name, in the order of registration
_order: list[str] = []  # dependency order: what a kind refers to comes first
_models: dict[str, type[BaseModel]] = {}  # the manifest file model, made on first use
_referenced: set[str] = set()  # the kinds some field refers to
_sections: dict[str, Kind] = {}  # the top-level lists that declare resources, and their kinds
_names: list[tuple[str, ...]] = [()]  # the names in dependency order, as one tuple

registered: Mapping[str, Kind] = _registered  # read-only view, by name


# `Kind` methods by their former names: a kind (a plugin's) that still defines one is refused
RENAMED = {"plain": "field_data", "plain_entry": "may_be_plain"}


def register(kind: Kind) -> None:
    """Add a kind; the kinds it refers to must be registered already."""
    missing = sorted(set(kind.references.values()) - _registered.keys() - {kind.name})
    if missing:
        raise ValueError(f"kind {kind.name} refers to unregistered kinds: {', '.join(missing)}")
    if kind.name in _registered:
        raise ValueError(f"kind {kind.name} is registered already")
    renamed = [f"{old} is {new} now" for old, new in RENAMED.items() if hasattr(kind, old)]
    if renamed:  # a plugin's override of an old name would be passed over in silence
        raise ValueError(f"kind {kind.name}: {'; '.join(renamed)}")
    _registered[kind.name] = kind
    _changed()


def unregister(name: str) -> None:
    """Take a kind out again (a test's own kind)."""
    del _registered[name]
    _changed()


def _changed() -> None:
    _order[:] = _dependency_order()
    manifest.KIND_NAMES[:] = _order
    _models.clear()
    _referenced.clear()
    _referenced.update(t for k in _registered.values() for t in k.references.values())
    _names[0] = tuple(_order)
    _sections.clear()
    _sections.update({k.section: k for k in kinds() if k.section is not None})


def _dependency_order() -> list[str]:
    """Every kind after the kinds it refers to, otherwise in registration order."""
    placed: list[str] = []
    waiting = list(_registered)
    while waiting:
        ready = next(n for n in waiting
                     if set(_registered[n].references.values()) - {n} <= set(placed))
        placed.append(ready)
        waiting.remove(ready)
    return placed


def get(name: str) -> Kind:
    return _registered[name]


def names() -> tuple[str, ...]:
    """Every kind's name, referenced kinds first: the order operations run in."""
    return _names[0]


def kinds() -> Iterator[Kind]:
    """Every kind, referenced kinds first."""
    return (_registered[n] for n in _order)


def referenced(name: str) -> bool:
    """Whether some kind refers to this one (users: none; no need to know them by name)."""
    return name in _referenced


def rank(name: str) -> int:
    return _order.index(name)


def sections() -> Mapping[str, Kind]:
    """The top-level lists of a manifest that declare resources, and their kinds."""
    return _sections


def field_hint(name: str, kind: str | None = None) -> str | None:
    """What to say of a field `name` written on an entry of `kind` that has no such field,
    where another kind owns it (`Kind.field_hints`)."""
    return next((k.field_hints[name] for k in kinds()
                 if name in k.field_hints and k.name != kind), None)


def manifest_model() -> type[BaseModel]:
    """One manifest file: the blocks, and a list for each kind's section, in the order a
    manifest is laid out (`lmsform fmt`)."""
    model = _models.get("file")
    if model is None:
        blocks: dict[str, Any] = {name: (info.annotation, info)
                                  for name, info in manifest.ManifestBlocks.model_fields.items()}
        head = {k: blocks.pop(k) for k in ("version", "provider", "state", "settings")}
        lists: dict[str, Any] = {section: (list[kind.spec] | None, None)  # type: ignore[name-defined]
                                 for section, kind in sections().items()}
        fields: dict[str, Any] = {**head, **lists, **blocks}
        model = create_model("ManifestFile", __base__=manifest.Strict,
                             __doc__=manifest.ManifestBlocks.__doc__, **fields)
        _models["file"] = model
    return model


for _kind in (Region(), Division(), Department(), Course(), Group(), User(), Coupon()):
    register(_kind)
