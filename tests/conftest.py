"""Shared helpers: a small organisation written to a temporary config directory."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lmsform.cli import cli

BASE = """\
version: 1
provider:
  type: local
  path: lms.sqlite
state:
  path: state.json
"""

ORG = """\
hierarchy:
  - region: Americas
    divisions:
      - division: Sales
        departments: [Inside Sales, Field Sales]
courses:
  - key: security-101
    title: Security Awareness
    published: true
    credits: 2
    categories: [Compliance]
    pricing:
      - {plan: standard, amount: 49.00, currency: USD}
groups:
  - name: Managers
    description: People managers
    courses: [security-101]
users:
  - email: ada@example.com
    first_name: Ada
    last_name: Lovelace
    department: Americas/Sales/Inside Sales
    groups: [Managers]
    enrollments: [security-101]
    password: ${env:ADA_PASSWORD:-initial-Secret-1}
  - email: bob@example.com
    first_name: Bob
    department: Americas/Sales/Field Sales
coupons:
  - code: WELCOME10
    discount: {percent: 10}
    courses: [security-101]
"""


class ConfigDir:
    """A config directory, with helpers to edit it and run lmsform on it."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(textwrap.dedent(text))
        return path

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.dir / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new))

    def run(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, [*args, "-C", str(self.dir)], input=input)

    def apply(self) -> Result:
        result = self.run("apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        return result


def copy_example(example: Path, directory: Path, replace: dict[str, str]) -> Path:
    """An example config copied to `directory`, its `lmsform.yaml` edited (the simulator's
    URL and the state path, say)."""
    shutil.copytree(example, directory)
    for old, new in replace.items():
        ConfigDir(directory).edit("lmsform.yaml", old, new)
    return directory


class Org(ConfigDir):
    """The small organisation most tests use, in tmp_path, on the `local` LMS."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "org")
        self.dir.mkdir()
        self.write("main.yaml", BASE)
        self.write("org.yaml", ORG)

    @property
    def state_path(self) -> Path:
        return self.dir / "state.json"

    @property
    def db_path(self) -> Path:
        return self.dir / "lms.sqlite"


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Org:
    monkeypatch.setenv("LMSFORM_NO_CACHE", "1")
    return Org(tmp_path)


def assert_export_round_trips(source: ConfigDir, out: Path, *extra: str) -> str:
    """Export the LMS `source` names into `out`, then plan there: nothing to do. Returns what
    export printed (its 'not exported' lines included)."""
    exported = source.run("export", "--out", str(out), *extra)
    assert exported.exit_code == 0, exported.output
    plan = CliRunner().invoke(cli, ["plan", "--detailed-exitcode", "-C", str(out)])
    assert plan.exit_code == 0, plan.output
    return exported.output
