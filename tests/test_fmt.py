"""`lmsform fmt`: the canonical layout, comments kept, meaning never changed, atomic writes."""

from __future__ import annotations

import io
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from lmsform.config import Config, load_config
from lmsform.fmt import format_text
from lmsform.precommit import belongs_to_lmsform
from tests.support import lmsform

ROOT = Path(__file__).parent.parent / "examples"
# Every example with manifests (environments: several directories, one shared).
EXAMPLES = sorted({p.parent.relative_to(ROOT).parts[0] for p in ROOT.rglob("*.yaml")
                   if belongs_to_lmsform(p)})

MESSY_MAIN = """\
# Messy, but valid: the layout rules broken once each.{ws}
settings:
    prune: false        # keep what nobody declared{ws}
    user_removal: deactivate
provider:
    type: local
    path: lms.sqlite

version: 1
state: {{path: state.json}}
""".format(ws="   ")

MESSY_ORG = """\
users:
-   email: ada@example.com{ws}
    first_name: Ada
    employee_id: 0001
    department: Americas/Sales/Inside Sales
    groups: [ Managers ]
    enrollments:
    - security-101   # the basics
  # she also takes the negotiation course
    - negotiation
    password: ${{env:ADA_PASSWORD:-initial-Secret-1}}
-   email: bob@example.com
    first_name: "Bob"
    department: Americas/Sales/Field Sales
    custom: {{cost_center: 'CC-001', ratio: 1.50}}
# Courses come before the groups that assign them.
courses:
      - key: security-101
        title: Security Awareness
        credits: 2
        pricing:
        - {{plan: standard, amount: 49.00, currency: USD}}
      - key: negotiation
        title: Negotiation
        description: |
            Line one, with two trailing spaces{ws2}
            # not a comment: text of the description


            Last line
groups:
  - name: Managers
    description: >-
      People
      managers
    courses: [security-101]


hierarchy:
  - region: Americas
    divisions:
      - division: Sales
        departments: [Inside Sales, Field Sales]
coupons:
  - code: WELCOME10
    discount: {{percent: 10}}
    expires: 2027-12-31
""".format(ws="      ", ws2="  ")

CANONICAL_MAIN = """\
# Messy, but valid: the layout rules broken once each.
version: 1

provider:
  type: local
  path: lms.sqlite

state: {path: state.json}

settings:
  prune: false          # keep what nobody declared
  user_removal: deactivate
"""

CANONICAL_ORG = """\
hierarchy:
  - region: Americas
    divisions:
      - division: Sales
        departments: [Inside Sales, Field Sales]

# Courses come before the groups that assign them.
courses:
  - key: security-101
    title: Security Awareness
    credits: 2
    pricing:
      - {plan: standard, amount: 49.00, currency: USD}
  - key: negotiation
    title: Negotiation
    description: |
      Line one, with two trailing spaces  
      # not a comment: text of the description


      Last line

groups:
  - name: Managers
    description: >-
      People
      managers
    courses: [security-101]

users:
  - email: ada@example.com
    first_name: Ada
    employee_id: 0001
    department: Americas/Sales/Inside Sales
    groups: [Managers]
    enrollments:
      - security-101 # the basics
      # she also takes the negotiation course
      - negotiation
    password: ${env:ADA_PASSWORD:-initial-Secret-1}
  - email: bob@example.com
    first_name: "Bob"
    department: Americas/Sales/Field Sales
    custom: {cost_center: 'CC-001', ratio: 1.50}

coupons:
  - code: WELCOME10
    discount: {percent: 10}
    expires: 2027-12-31
"""  # noqa: W291 - the description's trailing spaces are its text


def declared(directory: Path) -> dict[str, Any]:
    """What a config directory says: its resources, blocks and moves."""
    config: Config = load_config(directory, offline=True)
    return {"resources": config.resources, "provider": config.provider,
            "state": config.state, "settings": config.settings, "moved": config.moved}


def messy(tmp_path: Path) -> Path:
    directory = tmp_path / "messy"
    directory.mkdir()
    (directory / "lmsform.yaml").write_text(MESSY_MAIN)
    (directory / "org.yaml").write_text(MESSY_ORG)
    return directory


def mess_up(text: str) -> str:
    """The same document indented otherwise, with trailing spaces and stray blank lines."""
    yaml = YAML()
    yaml.indent(mapping=4, sequence=6, offset=4)
    yaml.preserve_quotes = True
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(yaml.load(text), out)
    return "\n\n" + "".join(f"{line}   \n" for line in out.getvalue().splitlines()) + "\n\n"


def manifest_dirs(root: Path) -> list[Path]:
    return sorted({p.parent for p in root.rglob("*.yaml") if belongs_to_lmsform(p)})


@pytest.mark.parametrize("example", EXAMPLES)
def test_examples_are_canonical_and_messing_them_up_is_undone(example: str,
                                                              tmp_path: Path) -> None:
    copy = shutil.copytree(ROOT / example, tmp_path / example)
    directories = manifest_dirs(copy)
    configs = [d for d in directories if "provider:" in "".join(
        p.read_text() for p in d.glob("*.yaml"))]
    before = {d: declared(d) for d in configs}
    originals = {p: p.read_text() for d in directories for p in d.glob("*.yaml")}
    for directory in directories:
        assert lmsform("fmt", "--check", "-C", str(directory)).exit_code == 0
    for path, text in originals.items():
        path.write_text(mess_up(text))
    for directory in directories:
        result = lmsform("fmt", "-C", str(directory))
        assert result.exit_code == 0, result.output
    for path, text in originals.items():
        assert path.read_text() == text, path.name
    assert {d: declared(d) for d in configs} == before


def test_a_messy_config_gets_the_canonical_layout_and_keeps_its_meaning(
        tmp_path: Path) -> None:
    directory = messy(tmp_path)
    before = declared(directory)
    result = lmsform("fmt", "-C", str(directory))
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(directory / "lmsform.yaml"), str(directory / "org.yaml")]
    assert (directory / "lmsform.yaml").read_text() == CANONICAL_MAIN
    assert (directory / "org.yaml").read_text() == CANONICAL_ORG
    assert declared(directory) == before
    # canonical is a fixed point
    again = lmsform("fmt", "--check", "-C", str(directory))
    assert again.exit_code == 0 and again.stdout == ""
    assert format_text(CANONICAL_ORG) == CANONICAL_ORG


def test_every_comment_is_kept(tmp_path: Path) -> None:
    directory = messy(tmp_path)
    comments = [line.split("#", 1)[1].strip() for text in (MESSY_MAIN, MESSY_ORG)
                for line in text.splitlines() if "# " in line and "not a comment" not in line]
    assert lmsform("fmt", "-C", str(directory)).exit_code == 0
    written = (directory / "lmsform.yaml").read_text() + (directory / "org.yaml").read_text()
    for comment in comments:
        assert comment in written


def test_check_lists_what_would_change_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    directory = messy(tmp_path)
    shutil.copy(ROOT / "acme" / "groups.yaml", directory / "groups.yaml")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    result = lmsform("fmt", "--check", "-C", str(directory))
    assert result.exit_code == 1
    assert result.stdout.split() == [str(directory / "lmsform.yaml"), str(directory / "org.yaml")]
    assert "2 of 3 manifests would be reformatted" in result.stderr
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


def test_invalid_yaml_is_an_error_at_its_position_and_nothing_is_written(
        tmp_path: Path) -> None:
    directory = messy(tmp_path)
    (directory / "broken.yaml").write_text("users:\n  - email: a@example.com\n  first: [x\n")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    result = lmsform("fmt", "-C", str(directory))
    assert result.exit_code == 1
    assert f"{directory / 'broken.yaml'}:3:3: error: invalid YAML" in result.output
    assert "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before  # messy ones too


def test_a_comment_ruamel_cannot_keep_is_refused_not_lost(tmp_path: Path) -> None:
    (tmp_path / "lmsform.yaml").write_text("version: 1\n")  # a config directory's file
    path = tmp_path / "groups.yaml"
    path.write_text("groups:\n    - name: A\n      courses: [a,   # the first one\n        b]\n")
    result = lmsform("fmt", str(path))
    assert result.exit_code == 1
    assert f"{path}:3:1: error: this comment would be lost" in result.output
    assert "[a,   # the first one" in path.read_text()


def test_files_formats_only_the_lmsform_manifests_named(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    directory = messy(tmp_path)
    workflow = tmp_path / "ci.yml"
    workflow.write_text("on: push\njobs:\n    test:    \n        runs-on: ubuntu-latest\n")
    template = tmp_path / "values.yaml"
    template.write_text("users: {{ .Values.users }}\n  broken: [\n")  # outside a config dir
    notes = tmp_path / "notes.txt"
    notes.write_text("users:    \n")
    untouched = {p: p.read_bytes() for p in (workflow, notes, directory / "lmsform.yaml")}
    monkeypatch.chdir(tmp_path)
    result = lmsform("fmt", "messy/org.yaml", "ci.yml", "notes.txt")
    assert result.exit_code == 0, result.output
    assert result.stdout == "messy/org.yaml\n"
    assert (directory / "org.yaml").read_text() == CANONICAL_ORG
    assert {p: p.read_bytes() for p in untouched} == untouched
    assert lmsform("fmt", "ci.yml").stderr == "No lmsform manifests among the files given.\n"
    outside = lmsform("fmt", "values.yaml")  # `users:` does not make it lmsform's: left alone
    assert outside.exit_code == 0 and "No lmsform manifests" in outside.stderr
    both = lmsform("fmt", "-C", "messy", "messy/lmsform.yaml")
    assert both.exit_code == 1 and "give -C DIR or FILES, not both" in both.output


def test_writes_keep_the_files_permissions(tmp_path: Path) -> None:
    directory = messy(tmp_path)
    (directory / "org.yaml").chmod(0o640)
    assert lmsform("fmt", "-C", str(directory)).exit_code == 0
    assert stat.S_IMODE((directory / "org.yaml").stat().st_mode) == 0o640
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_scalars_are_never_touched_and_order_moves_only_when_safe() -> None:
    # keep-chomped text at the end of a section: its trailing lines are its value
    kept = "users:\n  - email: a@example.com\n    custom:\n      note: |+\n        kept\n\n\n" \
           "provider: {type: local}\n"
    formatted = format_text(kept)
    assert formatted.startswith("provider: {type: local}\nusers:\n")
    assert format_text(formatted) == formatted
    # an unknown top-level key: the order is the author's
    unknown = "users: []\nprovider: {type: local}\nextra: 1\n"
    assert format_text(unknown) == unknown
    # moving courses first would put the alias before its anchor: the order stays
    aliased = "groups:\n  - name: &m Managers\nprovider: {type: local}\ncourses:\n" \
              "  - {key: a, title: *m}\n"
    assert format_text(aliased) == aliased


def test_a_symlinked_manifest_is_written_through_the_link(tmp_path: Path) -> None:
    """A manifest kept elsewhere and linked in (a shared file, say) is formatted where it
    is; the link stays a link, never replaced by a copy."""
    directory = messy(tmp_path)
    shared = tmp_path / "shared-org.yaml"
    (directory / "org.yaml").rename(shared)
    (directory / "org.yaml").symlink_to(shared)
    assert lmsform("fmt", "-C", str(directory)).exit_code == 0
    assert (directory / "org.yaml").is_symlink()
    assert (directory / "org.yaml").resolve() == shared.resolve()
    assert shared.read_text() == CANONICAL_ORG
    assert not [p for p in tmp_path.rglob("*.tmp")]

