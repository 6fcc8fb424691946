"""A level of the hierarchy (region, division, department): named by its name under its
parent's address (`Americas/Sales/Inside Sales`), declared and exported nested in its region's
entry, where what an entry says of it is its name alone."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from lmsform.kinds.kind import Kind
from lmsform.manifest import Name


class _Named(BaseModel):
    name: Name


class Level(Kind):
    family = ("region", "division", "department")
    parent: ClassVar[str | None] = None  # the field naming the level above

    def address_key(self, attrs: dict[str, Any]) -> str:
        if self.parent is None:
            return str(attrs["name"])
        return f"{attrs.get(self.parent)}/{attrs['name']}"

    def address_fields(self) -> frozenset[str]:
        return frozenset(self.fields)

    def entry_data(self, attrs: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        return {"name": attrs.get("name")}

    def read_back(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"name": _Named.model_validate(data).name}

    def meaning(self, attrs: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
        return {k: attrs.get(k) for k in self.fields}
