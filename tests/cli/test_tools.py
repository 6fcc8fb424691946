"""Tools around the manifests: shell completion, `validate FILES...` and the pre-commit hooks."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from ruamel.yaml import YAML

from tests.support import lmsform

REPO = Path(__file__).parent.parent.parent
EXAMPLES = REPO / "examples"
WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return lmsform(*args, env=env, prog_name="lmsform")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository holding two config directories, an environment pair sharing a
    catalogue, and YAML that is not lmsform's; the working directory, as for pre-commit."""
    shutil.copytree(EXAMPLES / "acme", tmp_path / "acme")
    shutil.copytree(EXAMPLES / "learnworlds", tmp_path / "learnworlds")
    shutil.copytree(EXAMPLES / "environments", tmp_path / "environments")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


# completion


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o nosort -F _lmsform_completion lmsform"),
    ("zsh", "#compdef lmsform"),
    ("fish", "complete --no-files --command lmsform"),
])
def test_completion_prints_the_shells_script(shell: str, marker: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0, result.output
    assert "_LMSFORM_COMPLETE" in result.stdout and marker in result.stdout


def test_completion_completes_commands_and_provider_types() -> None:
    def complete(words: str) -> list[str]:
        result = run(env={"_LMSFORM_COMPLETE": "bash_complete", "COMP_WORDS": words,
                          "COMP_CWORD": str(len(words.split()) - 1)})
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]

    assert "init" in complete("lmsform in")
    assert complete("lmsform init --provider l") == ["learnworlds", "local"]


def test_completion_refuses_other_shells() -> None:
    result = run("completion", "tcsh")
    assert result.exit_code == 1 and "'tcsh' is not one of" in result.output


# validate FILES


def test_validate_files_checks_each_config_directory_once(repo: Path) -> None:
    result = run("validate", "acme/users.yaml", "acme/groups.yaml", "learnworlds/people.yaml",
                 ".github/workflows/ci.yml", "acme/README.md")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "acme: The manifests are valid: 3 regions, 6 divisions, 12 departments, 5 courses, "
        "4 groups, 30 users, 3 coupons.",
        "learnworlds: The manifests are valid: 4 courses, 2 groups, 6 users, 3 coupons.",
    ]


def test_validate_files_reports_every_error_of_every_directory(repo: Path) -> None:
    groups = repo / "acme" / "groups.yaml"
    groups.write_text(groups.read_text().replace("name: EU Staff", "name: EU Team"))
    people = repo / "learnworlds" / "people.yaml"
    people.write_text(people.read_text().replace("role: admin", "role: boss"))
    result = run("validate", "acme/groups.yaml", "learnworlds/people.yaml")
    assert result.exit_code == 1
    assert "acme/users.yaml:" in result.stderr and "unknown group 'EU Staff'" in result.stderr
    assert "learnworlds/people.yaml:23:11: error: users[3].role:" in result.stderr
    as_json = run("validate", "--format", "json", "acme/groups.yaml", "learnworlds/people.yaml")
    assert as_json.exit_code == 1
    files = {p["file"] for p in json.loads(as_json.stdout) if p["severity"] == "error"}
    assert files == {"acme/users.yaml", "learnworlds/people.yaml"}
    annotations = run("validate", "--format", "github", "learnworlds/people.yaml",
                      "acme/users.yaml")
    assert annotations.exit_code == 1
    assert {line.split(",")[0] for line in annotations.stdout.splitlines()} == {
        "::error file=acme/users.yaml", "::error file=learnworlds/people.yaml"}


def test_validate_files_in_a_shared_directory_checks_the_environments(repo: Path) -> None:
    result = run("validate", "environments/shared/catalogue.yaml")
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        "environments/production", "environments/staging"]
    catalogue = repo / "environments" / "shared" / "catalogue.yaml"
    catalogue.write_text(catalogue.read_text().replace("${var:security_price}", "${var:price}"))
    broken = run("validate", "environments/shared/catalogue.yaml")
    assert broken.exit_code == 1
    assert broken.stderr.count("variable price is not in this directory's vars: block") == 2


def test_validate_files_without_manifests_has_nothing_to_do(repo: Path) -> None:
    result = run("validate", ".github/workflows/ci.yml")
    assert result.exit_code == 0
    assert result.stdout == "No lmsform manifests among the files given.\n"
    assert run("validate", "--format", "json", ".github/workflows/ci.yml").stdout == "[]\n"


def test_validate_takes_files_or_a_directory_not_both(repo: Path) -> None:
    result = run("validate", "-C", "acme", "acme/users.yaml")
    assert result.exit_code == 1 and "give -C DIR or FILES, not both" in result.output


# pre-commit hooks


def hooks() -> dict[str, dict[str, object]]:
    listed = YAML(typ="rt").load(REPO / ".pre-commit-hooks.yaml")
    return {str(hook["id"]): dict(hook) for hook in listed}


def test_the_hooks_file_declares_validate_and_fmt() -> None:
    declared = hooks()
    assert set(declared) == {"lmsform-validate", "lmsform-fmt"}
    assert declared["lmsform-validate"]["entry"] == "lmsform validate --staged"
    assert declared["lmsform-validate"]["always_run"] is True  # a deletion-only commit too
    assert declared["lmsform-fmt"]["entry"] == "lmsform fmt"
    assert "always_run" not in declared["lmsform-fmt"]
    for hook in declared.values():
        assert hook["language"] == "python" and hook["pass_filenames"] is True
        pattern = re.compile(str(hook["files"]))
        assert pattern.search("lms/users.yaml") and pattern.search("ci.yml")
        assert not pattern.search("README.md")


def run_hook(hook_id: str, staged: list[str]) -> Result:
    """What pre-commit does: the entry, with the staged files its `files:` pattern matches."""
    hook = hooks()[hook_id]
    program, *args = shlex.split(str(hook["entry"]))
    assert program == "lmsform"
    files = [f for f in staged if re.search(str(hook["files"]), f)]
    return run(*[a for a in args if a != "--staged"], *files)  # no git here: see
    # tests/test_precommit.py for the hooks run by pre-commit itself, in a git repository


def test_the_hooks_run_as_pre_commit_runs_them(repo: Path) -> None:
    courses = repo / "acme" / "courses.yaml"
    canonical = courses.read_text()
    courses.write_text(canonical.replace("\n  - key:", "\n  -   key:").replace("\n    ", "\n      ")
                       .replace("title: GDPR Basics", "title: GDPR Basics   "))
    staged = ["acme/courses.yaml", "acme/README.md", ".github/workflows/ci.yml"]
    formatted = run_hook("lmsform-fmt", staged)
    assert formatted.exit_code == 0, formatted.output
    assert formatted.stdout == "acme/courses.yaml\n"  # pre-commit fails on the change it sees
    assert courses.read_text() == canonical
    assert (repo / ".github" / "workflows" / "ci.yml").read_text() == WORKFLOW
    assert run_hook("lmsform-fmt", staged).stdout == ""  # the second run passes
    assert run_hook("lmsform-validate", staged).exit_code == 0
    courses.write_text(canonical.replace("key: onboarding", "key: on boarding"))
    failed = run_hook("lmsform-validate", staged)
    assert failed.exit_code == 1
    assert "acme/courses.yaml:28:10: error: courses[3].key:" in failed.stderr
