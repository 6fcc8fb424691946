"""Groups: declared under `groups:`, named by their name, with the courses their members get.
Users join them through their own `groups:`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from lmsform.kinds.kind import Kind
from lmsform.manifest import Managed, Name, Slug, lifecycle_for

FIELDS = ("name", "description", "courses")


class GroupSpec(Managed):
    name: Name
    description: str | None = None
    courses: list[Slug] | None = None
    lifecycle: lifecycle_for("group", FIELDS) | None = None  # type: ignore[valid-type]


class Group(Kind):
    name = "group"
    fields = FIELDS
    references: ClassVar[Mapping[str, str]] = MappingProxyType({"courses": "course"})
    set_fields = frozenset({"courses"})
    section = "groups"
    spec = GroupSpec
    export_file = "groups.yaml"
