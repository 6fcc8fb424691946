"""Departments: the third level of the hierarchy, declared inside their division's entry
(`departments: [Inside Sales]`), addressed `Region/Division/Department`. Users refer to them,
and a department users are still in cannot be removed: the plan says so before apply would
fail on it."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, ClassVar

from pydantic import AfterValidator, WithJsonSchema

from lmsform.kinds.level import Level
from lmsform.manifest import Managed, Name, Text, lifecycle_for

FIELDS = ("name", "division")
# A department as users refer to it: Region/Division/Department, each part a name
PATH_PART = r"[^/\s]([^/]*[^/\s])?"
DEPARTMENT_RE = rf"^\s*{PATH_PART}/{PATH_PART}/{PATH_PART}\s*$"


_DEPARTMENT = re.compile(DEPARTMENT_RE)


@functools.lru_cache(maxsize=4096)
def _is_department_path(value: str) -> bool:
    """Asked once per distinct path: 100k users name a few hundred departments."""
    return _DEPARTMENT.match(value) is not None


def _department_path(value: str) -> str:
    if not _is_department_path(value):
        raise ValueError("write a department as Region/Division/Department, as declared under "
                         "hierarchy:")
    return value


DepartmentPath = Annotated[Text, AfterValidator(_department_path),
                           WithJsonSchema({"type": "string", "pattern": DEPARTMENT_RE})]


class DepartmentSpec(Managed):
    name: Name
    lifecycle: lifecycle_for("department", FIELDS) | None = None  # type: ignore[valid-type]


class Department(Level):
    name = "department"
    fields = FIELDS
    parent = "division"
    references: ClassVar[Mapping[str, str]] = MappingProxyType({"division": "division"})
    nested = True
    spec = DepartmentSpec
    reference_hint = " (write it as Region/Division/Department, as declared under hierarchy:)"
    kept_while_referenced = True

    def still_referred(self, address: str, done: str, referrers: list[str]) -> str:
        shown = ", ".join(referrers[:5]) + (f" and {len(referrers) - 5} more"
                                            if len(referrers) > 5 else "")
        return (f"{address}: to be {done}, but the LMS still has users in it "
                f"(deactivated ones count): {shown}. Declare them with another "
                "department (add `active: false` to keep them deactivated), or remove "
                "them with settings.user_removal: delete, then remove the department")
