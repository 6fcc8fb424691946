"""A saved plan applies on another runner: a plan made in one checkout of a repository applies
in another checkout at another path, `-C` with a plan file is honoured or refused, and the
`local` LMS stays the same LMS when its config moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import Result

from lmsform.checkout import config_dir_of, recorded_location
from lmsform.errors import LmsformError
from tests.support import BASE, ORG, lmsform


def checkout(root: Path) -> Path:
    """A repository with a config directory `lms/` (its LMS file and state inside it)."""
    (root / ".git").mkdir(parents=True)
    config = root / "lms"
    config.mkdir()
    (config / "main.yaml").write_text(BASE)
    (config / "org.yaml").write_text(ORG)
    return root


def run(cwd: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.chdir(cwd)
    return lmsform(*args)


@pytest.fixture
def runners(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The plan runner's checkout, with a saved plan; the apply runner's is a copy at
    another path, as CI downloads the plan artifact into a fresh clone."""
    first = checkout(tmp_path / "runner-1" / "repo")
    result = run(first, "plan", "-C", "lms", "--out", "plan.json", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    second = tmp_path / "runner-2" / "build" / "repo"
    shutil.copytree(first, second)
    return first, second


def test_the_plan_records_the_config_relative_to_the_repository(
        runners: tuple[Path, Path]) -> None:
    first, _ = runners
    plan = json.loads((first / "plan.json").read_text())
    assert plan["config_dir"] == "lms"
    # the LMS file relative to the repository: the same in every checkout
    assert plan["provider"] == {"type": "local", "instance": "local:lms/lms.sqlite"}


def test_a_saved_plan_applies_in_another_checkout(runners: tuple[Path, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = runners
    result = run(second, "apply", "plan.json", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert (second / "lms" / "lms.sqlite").exists()
    assert not (first / "lms" / "lms.sqlite").exists()  # the first checkout is untouched
    again = run(second, "plan", "-C", "lms", "--detailed-exitcode", monkeypatch=monkeypatch)
    assert again.exit_code == 0, again.output


def test_the_plan_file_may_be_elsewhere_in_the_checkout(runners: tuple[Path, Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, second = runners
    (second / "artifacts").mkdir()
    (second / "plan.json").rename(second / "artifacts" / "plan.json")
    result = run(second / "artifacts", "apply", "plan.json", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output


def test_minus_c_naming_the_planned_config_is_honoured(runners: tuple[Path, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, second = runners
    result = run(second / "lms", "apply", "-C", ".", "../plan.json", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output


def test_minus_c_naming_another_config_is_refused(runners: tuple[Path, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _, second = runners
    shutil.copytree(second / "lms", second / "other")
    result = run(second, "apply", "-C", "other", "plan.json", monkeypatch=monkeypatch)
    assert result.exit_code == 1
    assert "was planned for the config directory 'lms', not 'other'" in result.output
    assert not (second / "other" / "lms.sqlite").exists()


def test_a_moved_config_keeps_its_local_lms(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    first = checkout(tmp_path / "a")
    assert run(first, "apply", "-C", "lms", "--auto-approve",
               monkeypatch=monkeypatch).exit_code == 0
    moved = tmp_path / "elsewhere" / "b"
    shutil.move(first, moved)
    result = run(moved, "plan", "-C", "lms", "--detailed-exitcode", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output


def test_a_state_naming_the_lms_file_by_its_old_absolute_path_is_still_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = checkout(tmp_path / "repo")
    assert run(repo, "apply", "-C", "lms", "--auto-approve",
               monkeypatch=monkeypatch).exit_code == 0
    state_file = repo / "lms" / "state.json"
    data = json.loads(state_file.read_text())
    data["provider"]["instance"] = f"local:{(repo / 'lms' / 'lms.sqlite').resolve()}"
    state_file.write_text(json.dumps(data))
    result = run(repo, "plan", "-C", "lms", "--detailed-exitcode", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    elsewhere = dict(data, provider={"type": "local", "instance": "local:/srv/other.sqlite"})
    state_file.write_text(json.dumps(elsewhere))
    refused = run(repo, "plan", "-C", "lms", monkeypatch=monkeypatch)
    assert refused.exit_code == 1 and "refusing to mix them" in refused.output


def test_recorded_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = checkout(tmp_path / "repo")
    assert recorded_location(repo) == "."
    assert recorded_location(repo / "lms") == "lms"
    outside = tmp_path / "loose"
    outside.mkdir()
    assert recorded_location(outside) == str(outside.resolve())
    monkeypatch.chdir(repo)
    with pytest.raises(LmsformError, match="outside the repository"):
        config_dir_of("../../etc", repo / "plan.json")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LmsformError, match="neither the working directory nor the plan file"):
        config_dir_of("lms", outside / "plan.json")


def test_minus_c_before_the_command_name(runners: tuple[Path, Path],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, second = runners
    shutil.copytree(second / "lms", second / "other")
    refused = run(second, "-C", "other", "apply", "plan.json", monkeypatch=monkeypatch)
    assert refused.exit_code == 1 and "not 'other'" in refused.output
    listed = run(second, "-C", "lms", "apply", "plan.json", monkeypatch=monkeypatch)
    assert listed.exit_code == 0, listed.output
    listing = run(second, "-C", "lms", "state", "list", monkeypatch=monkeypatch).output
    assert "user.ada@example.com" in listing.split()
