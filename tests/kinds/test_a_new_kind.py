"""A kind is one module: a badge (a name, the course it is earned in, points), defined here
and registered, is declared, validated, planned, applied on the `local` LMS, exported and
formatted with no engine module knowing it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import pytest
from click.testing import CliRunner, Result

from lmsform import kinds
from lmsform.cli import cli
from lmsform.kinds import Kind
from lmsform.manifest import Managed, Name, Slug, lifecycle_for
from lmsform.schema import manifest_schema
from tests.support import Org

FIELDS = ("name", "course", "points")


class BadgeSpec(Managed):
    name: Name
    course: Slug
    points: int | None = None
    lifecycle: lifecycle_for("badge", FIELDS) | None = None  # type: ignore[valid-type]


class Badge(Kind):
    name = "badge"
    fields = FIELDS
    references: ClassVar[Mapping[str, str]] = MappingProxyType({"course": "course"})
    section = "badges"
    spec = BadgeSpec
    export_file = "badges.yaml"


BADGES = """\
badges:
  - name: Security Champion
    course: security-101
    points: 10
"""


@pytest.fixture
def badges(org: Org) -> Iterator[Org]:
    kinds.register(Badge())
    org.write("badges.yaml", BADGES)
    yield org
    kinds.unregister("badge")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_a_registered_kind_is_planned_after_what_it_refers_to(badges: Org) -> None:
    assert kinds.names()[-1] == "badge"
    checked = badges.run("validate")
    assert checked.exit_code == 0, checked.output
    assert "1 badge" in checked.output
    plan = json.loads(badges.run("plan", "--json").output)
    addresses = [op["address"] for op in plan["operations"]]
    badge = addresses.index("badge.Security Champion")
    assert badge > addresses.index("course.security-101")
    (op,) = [op for op in plan["operations"] if op["kind"] == "badge"]
    assert op["after"] == {"name": "Security Champion", "course": "security-101", "points": 10}


def test_it_applies_on_local_converges_and_its_changes_plan(badges: Org) -> None:
    badges.apply()
    assert badges.run("plan", "--detailed-exitcode").exit_code == 0
    badges.edit("badges.yaml", "points: 10", "points: 20")
    changed = badges.run("plan")
    assert "~ badge.Security Champion" in changed.output
    assert "points: 10 -> 20" in changed.output
    badges.apply()
    badges.write("badges.yaml", "badges: []\n")
    removed = badges.run("plan")
    assert "- badge.Security Champion" in removed.output


def test_its_references_and_fields_are_checked(badges: Org) -> None:
    badges.write("badges.yaml", "badges:\n  - name: Lost\n    course: nope\n    pointz: 1\n")
    result = badges.run("validate")
    assert result.exit_code == 1
    assert "badges.yaml:3:13: error: badges[0].course: unknown course 'nope'" in result.output
    assert "badges[0].pointz: unknown field 'pointz' (did you mean 'points'?)" in result.output


def test_export_writes_it_and_fmt_orders_it(badges: Org, tmp_path: Path) -> None:
    badges.apply()
    out = tmp_path / "exported"
    exported = run("export", "-C", str(badges.dir), "--out", str(out))
    assert exported.exit_code == 0, exported.output
    assert "badges:\n  - {name: Security Champion, course: security-101, points: 10}\n" \
        in (out / "badges.yaml").read_text()
    assert run("plan", "-C", str(out), "--detailed-exitcode").exit_code == 0
    mixed = badges.dir / "mixed.yaml"
    mixed.write_text("badges: []\ngroups: []\n")
    assert badges.run("fmt").exit_code == 0
    assert mixed.read_text() == "groups: []\nbadges: []\n"


def test_the_editor_schema_knows_it(badges: Org) -> None:
    schema = manifest_schema()
    assert "badges" in schema["properties"]
    assert "badge" in json.dumps(schema["$defs"]["SettingsSpec"])  # prune: [badge]


def test_a_kind_overriding_a_method_by_its_former_name_is_refused() -> None:
    """A plugin's kind written against the former names would have its override passed
    over in silence (a nested model's value left a model): it is refused, naming the new."""
    class OldBadge(Badge):
        def plain(self, name: str, value: object) -> object:
            return value

    with pytest.raises(ValueError, match="badge: plain is field_data now"):
        kinds.register(OldBadge())
    assert "badge" not in kinds.names()
