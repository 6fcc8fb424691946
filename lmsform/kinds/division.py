"""Divisions: the second level of the hierarchy, declared inside their region's entry,
addressed `Region/Division`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field

from lmsform.kinds.department import DepartmentSpec
from lmsform.kinds.level import Level
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


class Division(Level):
    name = "division"
    fields = FIELDS
    parent = "region"
    references: ClassVar[Mapping[str, str]] = MappingProxyType({"region": "region"})
    nested = True
