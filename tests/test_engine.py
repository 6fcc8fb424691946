"""The engine: where state lives, which LMS it belongs to, and the whole apply sequence."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lmsform import engine
from lmsform.config import load_config
from lmsform.planning import PlanOptions
from tests.support import BASE, ORG, lmsform


def config_dir(root: Path, *, state_block: bool = False) -> Path:
    root.mkdir(parents=True)
    base = BASE if state_block else BASE.replace("state:\n  path: state.json\n", "")
    (root / "main.yaml").write_text(base)
    (root / "org.yaml").write_text(ORG)
    return root


def run(*args: str) -> str:
    result = lmsform(*args)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_default_state_lives_in_the_config_directory_wherever_lmsform_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = config_dir(tmp_path / "a" / "acme"), config_dir(tmp_path / "b" / "acme")
    monkeypatch.chdir(tmp_path)
    run("apply", "--auto-approve", "-C", "a/acme")
    assert (first / ".lmsform" / "state.json").exists()
    assert not (tmp_path / "state").exists()
    # Same directory name, another config: its own state, nothing to move or adopt from a/.
    output = run("plan", "-C", "b/acme")
    assert "Plan: 9 to create, 0 to update, 0 to delete, 0 to adopt." in output
    assert "moved from" not in output
    # The same config from another working directory finds the same state.
    monkeypatch.chdir(first)
    assert "No changes." in run("plan", "-C", ".")
    assert not (second / ".lmsform").exists()


def test_a_saved_plan_applies_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = config_dir(tmp_path / "team" / "acme")
    monkeypatch.chdir(tmp_path / "team")
    run("plan", "-C", "acme", "--out", "plan.json")
    assert json.loads(Path("plan.json").read_text())["config_dir"] == str(directory)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert "Apply complete: 9 created." in run("apply", str(tmp_path / "team" / "plan.json"))
    assert (directory / ".lmsform" / "state.json").exists()


def test_verbose_names_the_config_the_state_and_the_lms(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = config_dir(tmp_path / "acme", state_block=True)
    caplog.set_level(logging.INFO, logger="lmsform")
    engine.plan(load_config(directory), PlanOptions())
    (line,) = [r.getMessage() for r in caplog.records if r.name == "lmsform.engine"]
    assert line == (f"config directory {directory}; state: file backend at "
                    f"{directory / 'state.json'}; provider: "
                    f"local:{(directory / 'lms.sqlite').resolve()}")


def test_two_configs_share_a_state_only_when_their_manifests_say_so(tmp_path: Path) -> None:
    one = config_dir(tmp_path / "one")
    two = config_dir(tmp_path / "two")
    shared = "state:\n  path: ../shared.json\n"
    for directory in (one, two):
        (directory / "state.yaml").write_text(shared)
    # `two` points at the same LMS file as `one`, so the shared state is the same LMS.
    (two / "main.yaml").write_text((two / "main.yaml").read_text().replace(
        "path: lms.sqlite", "path: ../one/lms.sqlite"))
    run("apply", "--auto-approve", "-C", str(one))
    assert "No changes." in run("plan", "-C", str(two))
    # another LMS: the shared state is refused
    (two / "main.yaml").write_text(BASE.replace("state:\n  path: state.json\n", ""))
    result = lmsform("plan", "-C", str(two))
    assert result.exit_code == 1 and "refusing to mix them" in result.output


def test_the_apply_sequence_runs_through_its_hooks_in_order(tmp_path: Path) -> None:
    directory = config_dir(tmp_path / "acme")
    calls: list[str] = []
    hooks = engine.ApplyHooks(
        show=lambda plan: calls.append(f"show {len(plan.operations)}"),
        confirm=lambda plan: calls.append("confirm"),
        starting=lambda: calls.append("starting"),
        progress=lambda done, total, op, seconds: calls.append("progress"),
    )
    result = engine.apply(load_config(directory), PlanOptions(), hooks=hooks)
    assert result is not None and result.ok
    assert calls == ["show 9", "confirm", "starting"] + ["progress"] * 9
    calls.clear()
    assert engine.apply(load_config(directory), PlanOptions(), hooks=hooks) is None
    assert calls == ["show 0"]


def test_simulate_lists_every_installed_simulator() -> None:
    output = run("simulate", "--help")
    listed = [line.split(None, 1) for line in output.split("Commands:")[1].strip().splitlines()]
    assert ["ilms", "The iLMS API, in memory."] in listed
    assert ["braincert", "The BrainCert API, in memory."] in listed
    assert "--fail-every" in run("simulate", "ilms", "--help")


def test_planning_and_applying_change_neither_the_manifests_nor_the_recorded_state(
        tmp_path: Path) -> None:
    """Planning shares dicts between the manifests and the state where they are equal (to
    save memory); nothing along plan and apply may then change one in place."""
    import copy

    directory = config_dir(tmp_path / "acme", state_block=True)
    assert engine.apply(load_config(directory), PlanOptions()) is not None
    (directory / "org.yaml").write_text(ORG.replace("first_name: Bob", "first_name: Robert"))
    config = load_config(directory)
    declared = copy.deepcopy({a: r.attrs for a, r in config.resources.items()})
    with engine.open_state(config) as state:
        recorded = copy.deepcopy({a: e.attributes for a, e in state.resources.items()})
    result = engine.apply(config, PlanOptions())
    assert result is not None and [op.address for op in result.applied] == ["user.bob@example.com"]
    assert {a: r.attrs for a, r in config.resources.items()} == declared
    with engine.open_state(config) as state:
        now = {a: e.attributes for a, e in state.resources.items()}
    assert now["user.bob@example.com"]["first_name"] == "Robert"
    assert {a: v for a, v in now.items() if a != "user.bob@example.com"} == \
        {a: v for a, v in recorded.items() if a != "user.bob@example.com"}


def test_a_plan_reads_the_state_into_the_manifests_own_dicts(tmp_path: Path) -> None:
    """What keeps a converged plan of 100k users lean: state holds no second copy."""
    directory = config_dir(tmp_path / "acme", state_block=True)
    assert engine.apply(load_config(directory), PlanOptions()) is not None
    config = load_config(directory)
    with engine.open_workspace(config) as ws:
        state, plan = engine._plan_reading(config, ws, PlanOptions())
    assert not plan.has_changes
    users = [a for a, r in config.resources.items() if r.kind == "user"]
    assert users and all(state.resources[a].attributes is config.resources[a].attrs
                         for a in users)
