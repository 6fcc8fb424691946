"""Divisions: the second level of the hierarchy, declared inside their region's entry,
addressed `Region/Division`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field

from lmsform.kinds.department import DepartmentSpec, read_back_name
from lmsform.kinds.kind import Kind
from lmsform.manifest import Managed, Name, lifecycle_for

FIELDS = ("name", "region")


def _name_shorthand(value: Any) -> Any:
    """`departments: [Inside Sales]` is shorthand for `[{name: Inside Sales}]`."""
    return {"name": value} if isinstance(value, str) else value


class DivisionSpec(Managed):
    division: Name
    departments: list[Annotated[DepartmentSpec, BeforeValidator(
        _name_shorthand, json_schema_input_type=Name | DepartmentSpec)]] = Field(
        default_factory=list
    )
    lifecycle: lifecycle_for("division", FIELDS) | None = None  # type: ignore[valid-type]


class Division(Kind):
    name = "division"
    fields = FIELDS
    family = ("region", "division", "department")
    references: ClassVar[Mapping[str, str]] = MappingProxyType({"region": "region"})
    nested = True

    def address_key(self, attrs: dict[str, Any]) -> str:
        return f"{attrs.get('region')}/{attrs['name']}"

    def address_fields(self) -> frozenset[str]:
        return frozenset(FIELDS)

    def entry_data(self, attrs: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        return {"name": attrs.get("name")}

    def read_back(self, data: dict[str, Any]) -> dict[str, Any]:
        return read_back_name(data)

    def meaning(self, attrs: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
        return {k: attrs.get(k) for k in self.fields}
