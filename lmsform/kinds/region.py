"""Regions: the top of the hierarchy. One entry of `hierarchy:` declares a region with its
divisions and their departments, nested, and export writes them back the same way."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, Field

from lmsform.kinds.division import DivisionSpec
from lmsform.kinds.kind import Declaring, Exported, Loc, Resource, lifecycle_of
from lmsform.kinds.level import Level
from lmsform.manifest import Managed, Name, lifecycle_for

FIELDS = ("name",)


class RegionSpec(Managed):
    region: Name
    divisions: list[DivisionSpec] = Field(default_factory=list)
    lifecycle: lifecycle_for("region", FIELDS) | None = None  # type: ignore[valid-type]


class Region(Level):
    name = "region"
    fields = FIELDS
    section = "hierarchy"
    spec = RegionSpec
    export_file = "hierarchy.yaml"

    def declare(self, spec: BaseModel, origin: tuple[str, Loc],
                say: Declaring) -> Iterator[Resource]:
        assert isinstance(spec, RegionSpec)
        name, loc = origin
        yield Resource("region", spec.region, {"name": spec.region},
                       lifecycle=lifecycle_of(spec), origin=origin)
        for d, division in enumerate(spec.divisions):
            dloc = (*loc, "divisions", d)
            division_key = f"{spec.region}/{division.division}"
            yield Resource("division", division_key,
                           {"name": division.division, "region": spec.region},
                           lifecycle=lifecycle_of(division), origin=(name, dloc))
            for p, department in enumerate(division.departments):
                yield Resource("department", f"{division_key}/{department.name}",
                               {"name": department.name, "division": division_key},
                               lifecycle=lifecycle_of(department),
                               origin=(name, (*dloc, "departments", p)))

    def doubtful(self, entry: Any) -> dict[str, set[str] | None]:
        """An invalid entry of the hierarchy may declare any region, division or department."""
        return dict.fromkeys(self.family)

    def export_files(self, exported: Mapping[str, list[Exported]],
                     entry: Callable[[Exported], dict[str, Any]]
                     ) -> list[tuple[str, list[Any]]]:
        """The regions with their divisions and departments nested, as one file."""
        if not any(exported.get(k) for k in self.family):
            return []

        def kept(item: Exported, fields: dict[str, Any]) -> dict[str, Any]:
            lifecycle = entry(item).get("lifecycle")
            return {**fields, "lifecycle": lifecycle} if lifecycle else fields

        divisions: dict[str, list[Exported]] = defaultdict(list)
        for division in exported.get("division", []):
            divisions[str(division.attrs.get("region"))].append(division)
        departments: dict[str, list[Any]] = defaultdict(list)
        for department in exported.get("department", []):
            name = str(department.attrs["name"])
            written = kept(department, {"name": name})
            departments[str(department.attrs.get("division"))].append(
                written if len(written) > 1 else name)
        assert self.export_file is not None
        return [(self.export_file, [kept(region, {"region": region.attrs["name"], "divisions": [
            kept(d, {"division": d.attrs["name"], "departments": departments.get(d.key, [])})
            for d in divisions.get(region.key, [])]}) for region in exported.get("region", [])])]
