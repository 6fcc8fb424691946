"""Applying: convergence, failures, crash safety, locking, saved plans and secrets."""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lmsform.apply import apply_plan
from lmsform.backends.file import FileBackend
from lmsform.config import load_config
from lmsform.errors import LmsformError, ProviderError
from lmsform.plan import PLANNED_FIELDS, Operation
from lmsform.planning import make_plan
from lmsform.providers.base import Capabilities
from lmsform.providers.local import LocalProvider
from lmsform.state import State
from tests.support import Org, Simulators, lmsform, recorded


def sql(org: Org, query: str, *args) -> list[tuple]:
    with sqlite3.connect(org.db_path) as db:
        return db.execute(query, args).fetchall()


def test_apply_then_apply_again_changes_nothing(org: Org) -> None:
    first = org.run("apply", "--auto-approve")
    assert first.exit_code == 0, first.output
    assert "Apply complete: 9 created." in first.output
    snapshot = org.state_path.read_text()
    second = org.run("apply", "--auto-approve")
    assert second.exit_code == 0
    assert "No changes." in second.output
    assert org.state_path.read_text() == snapshot
    assert org.run("plan", "--detailed-exitcode").exit_code == 0


def test_detailed_exitcode_reports_changes(org: Org) -> None:
    assert org.run("plan", "--detailed-exitcode").exit_code == 2
    assert org.run("plan").exit_code == 0


def test_apply_refuses_without_a_terminal_or_auto_approve(org: Org) -> None:
    result = org.run("apply")
    assert result.exit_code == 1
    assert "no terminal to confirm on" in result.output
    assert not org.state_path.exists() or recorded(org.state_path) == {}
    assert sql_count_users(org) == 0


def sql_count_users(org: Org) -> int:
    if not org.db_path.exists():
        return 0
    return sql(org, "SELECT count(*) FROM users")[0][0]


def test_a_failure_names_the_resource_call_and_message_and_keeps_what_worked(org: Org) -> None:
    assert org.run("apply", "--auto-approve").exit_code == 0
    # Someone gave a user lmsform does not manage the username we are about to give Bob: the
    # LMS refuses, which no plan could know. (A department that still holds users is refused
    # at plan time instead: test_planner.)
    sql(org, "INSERT INTO users (email, username, created_at) "
             "VALUES ('ghost@example.com', 'bobby', 'x')")
    org.give_bob("    username: bobby\n")
    org.edit("org.yaml", "description: People managers", "description: Managers of people")
    result = org.run("apply", "--auto-approve", "--parallelism", "1")
    assert result.exit_code == 1
    assert "failed: user.bob@example.com: update failed: update user " in result.output
    assert "conflict: another resource already has this username" in result.output
    assert "Applied: 1 updated." in result.output
    state = recorded(org.state_path)
    assert state["group.Managers"]["attributes"]["description"] == "Managers of people"
    assert state["user.bob@example.com"]["attributes"].get("username") != "bobby"
    sql(org, "DELETE FROM users WHERE email = 'ghost@example.com'")
    again = org.run("apply", "--auto-approve")
    assert again.exit_code == 0 and "Apply complete: 1 updated." in again.output


class FailingGroups(LocalProvider):
    def create(self, kind: str, attrs: dict) -> str:
        if kind == "group":
            raise ProviderError("POST /groups", "quota exceeded", status=403)
        return super().create(kind, attrs)


def test_after_a_failure_nothing_new_starts_and_dependents_are_skipped(org: Org) -> None:
    config = load_config(org.dir)
    state = State.load(FileBackend.at(org.state_path))
    provider = FailingGroups(config.provider, org.dir)
    plan = make_plan(config, state, provider)
    result = apply_plan(plan, state, provider, {}, parallelism=1)
    provider.close()
    (failure,) = result.failed
    assert failure.message == ("group.Managers: create failed: POST /groups: quota exceeded")
    applied = [op.address for op in result.applied]
    assert applied == [op.address for op in plan.operations[: len(applied)]]
    assert "group.Managers" not in applied
    skipped = {op.address for op in result.skipped}
    assert {"user.ada@example.com", "coupon.WELCOME10"} <= skipped
    assert set(State.load(FileBackend.at(org.state_path)).resources) == set(applied)


def one_at_a_time(org: Org) -> None:
    """The local LMS writes one create per transaction (its batches are 500 by default):
    for the tests that stop an apply between two operations."""
    org.edit("main.yaml", "  path: lms.sqlite\n", "  path: lms.sqlite\n  batch_size: 1\n")


class BatchedUsers(LocalProvider):
    """Creates users three at a time, and refuses one of them."""

    capabilities = Capabilities(kinds={
        **LocalProvider.capabilities.kinds,
        "user": replace(LocalProvider.capabilities.kinds["user"], batch_create=3)})
    batches: list[list[str]] = []

    def create_many(self, kind: str, items: list[dict]) -> list[str | LmsformError]:
        if kind != "user":  # the local LMS batches every kind; these users are the test
            return super().create_many(kind, items)
        self.batches.append([item["email"] for item in items])
        return [ProviderError("POST /users/bulk", "invalid email") if "bad" in item["email"]
                else self.create(kind, item) for item in items]


def test_ready_creates_of_a_batching_kind_go_together_and_fail_one_by_one(org: Org) -> None:
    users = "".join(f"  - email: u{i}@example.com\n    first_name: U{i}\n" for i in range(4))
    org.write("more.yaml", "users:\n" + users + "  - email: bad@example.com\n"
              "    first_name: Bad\n")
    config = load_config(org.dir)
    state = State.load(FileBackend.at(org.state_path))
    provider = BatchedUsers(config.provider, org.dir)
    BatchedUsers.batches.clear()
    plan = make_plan(config, state, provider)
    result = apply_plan(plan, state, provider, {"user.ada@example.com": {
        "password": "initial-Secret-1"}}, parallelism=1)
    provider.close()
    # ada, bad, bob were ready together (after the department, group and course)
    assert BatchedUsers.batches == [["ada@example.com", "bad@example.com", "bob@example.com"]]
    assert [f.message for f in result.failed] == [
        "user.bad@example.com: create failed: POST /users/bulk: invalid email"]
    recorded = set(State.load(FileBackend.at(org.state_path)).resources)
    assert {"user.ada@example.com", "user.bob@example.com"} <= recorded
    assert "user.bad@example.com" not in recorded
    assert {f"user.u{i}@example.com" for i in range(4)} <= {op.address for op in result.skipped}


def test_a_killed_apply_reruns_to_convergence_without_duplicates(org: Org) -> None:
    one_at_a_time(org)
    users = "".join(
        f"  - email: user{i}@example.com\n    department: Americas/Sales/Inside Sales\n"
        f"    groups: [Managers]\n" for i in range(400)
    )
    org.write("many.yaml", "users:\n" + users)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "lmsform", "apply", "--auto-approve", "--parallelism", "1",
               "-C", str(org.dir)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    done = 0
    for line in process.stdout:
        if line.startswith("["):
            done += 1
        if done == 60:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    applied_before_kill = sql_count_users(org)
    assert 0 < applied_before_kill < 402
    # The lock of the killed process is still there, and says its owner is gone.
    blocked = org.run("plan")
    assert blocked.exit_code == 0  # plan reads without the lock
    locked = org.run("apply", "--auto-approve")
    assert locked.exit_code == 1 and "no longer running" in locked.output
    assert org.run("state", "unlock", "--force").exit_code == 0
    rerun = org.run("apply", "--auto-approve")
    assert rerun.exit_code == 0, rerun.output
    assert sql_count_users(org) == 402
    assert sql(org, "SELECT count(*) FROM (SELECT email FROM users GROUP BY email "
                    "HAVING count(*) > 1)") == [(0,)]
    state = recorded(org.state_path)
    user_ids = {e["id"] for a, e in state.items() if a.startswith("user.")}
    assert user_ids == {str(i) for (i,) in sql(org, "SELECT id FROM users")}
    assert org.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_second_apply_fails_fast_while_the_state_is_locked(org: Org) -> None:
    with FileBackend.at(org.state_path).lock("apply"):
        result = org.run("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "the state is locked by" in result.output and f"pid {os.getpid()}" in result.output
    assert sql_count_users(org) == 0


def test_a_saved_plan_applies_exactly(org: Org, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    assert org.run("plan", "--out", str(plan_file)).exit_code == 0
    result = org.run("apply", str(plan_file))
    assert result.exit_code == 0, result.output
    assert "Apply complete: 9 created." in result.output


def test_a_saved_plan_is_refused_once_the_state_moved_on(org: Org, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    assert org.run("plan", "--out", str(plan_file)).exit_code == 0
    assert org.run("apply", "--auto-approve").exit_code == 0
    result = org.run("apply", str(plan_file))
    assert result.exit_code == 1
    assert "the state changed since this plan was made" in result.output
    assert "nothing was applied" in result.output


def test_a_saved_plan_is_refused_when_the_lms_changed(org: Org, tmp_path: Path) -> None:
    assert org.run("apply", "--auto-approve").exit_code == 0
    org.edit("org.yaml", "first_name: Bob", "first_name: Robert")
    plan_file = tmp_path / "plan.json"
    assert org.run("plan", "--out", str(plan_file)).exit_code == 0
    sql(org, "UPDATE users SET first_name = 'Bobby' WHERE email = 'bob@example.com'")
    result = org.run("apply", str(plan_file))
    assert result.exit_code == 1
    assert "the LMS or the manifests changed since this plan was made (user.bob@example.com)" \
        in result.output
    assert sql(org, "SELECT first_name FROM users WHERE email = 'bob@example.com'") == [
        ("Bobby",)]


def test_secrets_never_reach_output_plans_logs_or_state(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Sup3r-Secret-Passw0rd"
    monkeypatch.setenv("ADA_PASSWORD", secret)
    outputs = [org.run("plan").output, org.run("plan", "--json").output,
               org.run("plan", "--format", "markdown").output]
    plan_file = tmp_path / "plan.json"
    assert org.run("plan", "--out", str(plan_file)).exit_code == 0
    outputs.append(plan_file.read_text())
    debug = lmsform("--debug", "apply", str(plan_file), "-C", str(org.dir))
    assert debug.exit_code == 0, debug.output
    outputs.append(debug.output)
    assert "create user.ada@example.com: done" in caplog.text
    outputs.append(caplog.text)
    outputs.append(org.state_path.read_text())
    outputs.append(org.run("state", "show", "user.ada@example.com").output)
    assert "(sensitive)" in outputs[0] and "(sensitive)" in outputs[1]
    for text in outputs:
        assert secret not in text
    (stored,) = sql(org, "SELECT password_hash FROM users WHERE email = 'ada@example.com'")
    assert stored[0].startswith("pbkdf2$") and secret not in stored[0]


def test_finished_operations_are_made_durable_before_new_ones_start(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    class Recording(LocalProvider):
        def create(self, kind: str, attrs: dict) -> str:
            events.append("call")
            return super().create(kind, attrs)

    def sync(self: FileBackend) -> None:
        events.append("sync")

    monkeypatch.setattr(FileBackend, "sync", sync)
    one_at_a_time(org)
    config = load_config(org.dir)
    state = State.load(FileBackend.at(org.state_path))
    provider = Recording(config.provider, org.dir)
    plan = make_plan(config, state, provider)
    assert apply_plan(plan, state, provider, {}, parallelism=1).ok
    provider.close()
    calls = events.count("call")
    assert calls == len(plan.operations) == 9
    # one call at a time: each is followed by a sync before the next call starts
    assert "".join("c" if e == "call" else "s" for e in events).startswith("cs" * calls)


def test_a_saved_plan_of_another_format_is_refused(org: Org, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    assert org.run("plan", "--out", str(plan_file)).exit_code == 0
    document = json.loads(plan_file.read_text())
    document["format_version"] = 2
    plan_file.write_text(json.dumps(document))
    result = lmsform("apply", str(plan_file))
    assert result.exit_code == 1
    assert "has plan format 2; this lmsform reads 1" in result.output
    assert not org.db_path.exists()


def _edited_plan(org: Org, tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    plan_file = tmp_path / "plan.json"
    assert org.run("plan", "--out", str(plan_file)).exit_code == 0
    document = json.loads(plan_file.read_text())
    edit(document)
    plan_file.write_text(json.dumps(document))
    return plan_file


def _first(document: dict, address: str) -> dict:
    return next(op for op in document["operations"] if op["address"] == address)


TAMPERINGS = {
    "kind": lambda d: _first(d, "coupon.WELCOME10").update(kind="course"),
    "action": lambda d: _first(d, "user.bob@example.com").update(action="delete"),
    "after": lambda d: _first(d, "user.bob@example.com")["after"].update(
        department="Americas/Sales/Inside Sales"),
    "id": lambda d: _first(d, "user.bob@example.com").update(id="999"),
    "moved_from": lambda d: _first(d, "user.bob@example.com").update(
        moved_from="user.ada@example.com"),
    "prevent_destroy": lambda d: _first(d, "user.bob@example.com").update(prevent_destroy=True),
    "depends_on": lambda d: _first(d, "user.bob@example.com").update(
        depends_on=["coupon.WELCOME10"]),
    "known_ids": lambda d: d["known_ids"].update(
        {"department.Americas/Sales/Field Sales": "999"}),
    "an operation dropped": lambda d: d["operations"].pop(),
    "an operation added": lambda d: d["operations"].append(
        {**_first(d, "user.bob@example.com"), "address": "user.eve@example.com"}),
    "order": lambda d: d["operations"].reverse(),
    "targets": lambda d: d.update(targets=["user.*"]),
}


@pytest.mark.parametrize("field", list(TAMPERINGS))
def test_a_saved_plan_edited_in_any_field_is_refused(org: Org, tmp_path: Path,
                                                      field: str) -> None:
    assert org.run("apply", "--auto-approve").exit_code == 0
    org.edit("org.yaml", "first_name: Bob", "first_name: Robert")
    org.edit("org.yaml", "discount: {percent: 10}", "discount: {percent: 15}")
    before = org.state_path.read_text()
    plan_file = _edited_plan(org, tmp_path, TAMPERINGS[field])
    result = org.run("apply", str(plan_file))
    assert result.exit_code == 1, result.output
    assert "nothing was applied" in result.output or "is not an lmsform plan" in result.output
    assert org.state_path.read_text() == before
    assert sql(org, "SELECT first_name FROM users WHERE email = 'bob@example.com'") == [("Bob",)]


def _twelve_groups_then_five_removed(org: Org) -> None:
    org.write("teams.yaml", "groups:\n" + "".join(f"  - name: Team {i}\n" for i in range(12)))
    assert org.run("apply", "--auto-approve").exit_code == 0
    org.write("teams.yaml", "groups:\n" + "".join(f"  - name: Team {i}\n" for i in range(7)))


def test_safety_limits_are_judged_again_when_a_saved_plan_is_applied(org: Org,
                                                                      tmp_path: Path) -> None:
    _twelve_groups_then_five_removed(org)
    plan_file = _edited_plan(org, tmp_path, lambda d: d.update(blocked=[]))
    result = org.run("apply", str(plan_file))
    assert result.exit_code == 1 and "exceeds a safety limit" in result.output
    assert sql(org, "SELECT count(*) FROM groups_") == [(13,)]


def test_max_deletes_holds_for_a_saved_plan(org: Org, tmp_path: Path) -> None:
    org.write("teams.yaml", "groups:\n" + "".join(f"  - name: Team {i}\n" for i in range(20)))
    assert org.run("apply", "--auto-approve").exit_code == 0
    org.write("teams.yaml", "groups:\n" + "".join(f"  - name: Team {i}\n" for i in range(18)))
    plan_file = _edited_plan(org, tmp_path, lambda d: None)
    result = org.run("apply", str(plan_file), "--max-deletes", "1")
    assert result.exit_code == 1 and "more than --max-deletes 1" in result.output
    # a limit the plan was made with is kept even when apply does not repeat it
    plan_file = tmp_path / "limited.json"
    assert org.run("plan", "--max-deletes", "1", "--out", str(plan_file)).exit_code == 0
    result = org.run("apply", str(plan_file))
    assert result.exit_code == 1 and "more than --max-deletes 1" in result.output
    assert sql(org, "SELECT count(*) FROM groups_") == [(21,)]
    assert org.run("apply", str(plan_file), "--force").exit_code == 0
    assert sql(org, "SELECT count(*) FROM groups_") == [(19,)]


def test_a_saved_plan_applies_whatever_the_hash_seed(org: Org, tmp_path: Path) -> None:
    def with_seed(seed: int, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        return subprocess.run([sys.executable, "-m", "lmsform", *args, "-C", str(org.dir)],
                              env=env, capture_output=True, text=True, timeout=60)

    assert with_seed(0, "apply", "--auto-approve").returncode == 0
    org.edit("org.yaml", "categories: [Compliance]", "categories: [Compliance, Security, Law]")
    org.edit("org.yaml", "amount: 49.00", "amount: 59.00")
    plan_file = tmp_path / "plan.json"
    for seed in (1, 2, 3, 4):
        made = with_seed(seed, "plan", "--out", str(plan_file))
        assert made.returncode == 0, made.stderr
        other = with_seed(seed + 10, "apply", str(plan_file), "--max-deletes", "0")
        assert other.returncode == 0, other.stderr
        org.edit("org.yaml", f"amount: {59 + seed - 1}.00", f"amount: {59 + seed}.00")


def test_sigterm_finishes_running_operations_saves_state_and_releases_the_lock(
    org: Org,
) -> None:
    one_at_a_time(org)
    org.write("many.yaml", "users:\n" + "".join(
        f"  - email: user{i}@example.com\n    department: Americas/Sales/Inside Sales\n"
        for i in range(400)))
    command = [sys.executable, "-m", "lmsform", "apply", "--auto-approve", "--parallelism", "4",
               "-C", str(org.dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    assert process.stdout is not None
    done = 0
    for line in process.stdout:
        done += line.startswith("[")
        if done == 60:
            process.send_signal(signal.SIGTERM)
            break
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted:" in stderr and "Run apply again to continue" in stderr
    assert not org.state_path.with_name("state.json.lock").exists()
    assert not org.state_path.with_name("state.json.journal").exists()
    state = recorded(org.state_path)
    ids = {e["id"] for a, e in state.items() if a.startswith("user.")}
    assert ids == {str(i) for (i,) in sql(org, "SELECT id FROM users")}
    assert 0 < len(ids) < 402
    rerun = org.run("apply", "--auto-approve")
    assert rerun.exit_code == 0, rerun.output
    assert sql_count_users(org) == 402


def test_a_credential_repeated_in_a_manifest_is_shown_as_sensitive_everywhere(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "tr4nsaction-KEY-9"
    monkeypatch.setenv("ADA_PASSWORD", key)
    org.edit("org.yaml", "    description: People managers\n",
             "    description: ${env:ADA_PASSWORD}\n")
    outputs = [org.run("plan").output, org.run("plan", "--json").output,
               org.run("plan", "--format", "markdown").output]
    assert '"description": "(sensitive)"' in outputs[1]
    plan_file = tmp_path / "plan.json"
    assert org.run("plan", "--out", str(plan_file)).exit_code == 0
    applied = org.run("apply", str(plan_file))
    assert applied.exit_code == 0, applied.output
    outputs += [plan_file.read_text(), applied.output, org.state_path.read_text(),
                org.run("state", "show", "group.Managers").output]
    for text in outputs:
        assert key not in text
    # the LMS has the real value, and the plan converges without showing it
    assert sql(org, "SELECT description FROM groups_") == [(key,)]
    assert org.run("plan", "--detailed-exitcode").exit_code == 0
    monkeypatch.setenv("ADA_PASSWORD", key + "-rotated")
    changed = org.run("plan")
    assert "description: \"(sensitive)\" -> \"(sensitive)\"" in changed.output
    assert key not in changed.output
    assert org.run("apply", "--auto-approve").exit_code == 0
    assert sql(org, "SELECT description FROM groups_") == [(key + "-rotated",)]


@pytest.mark.parametrize("credential", ["line\nbreak", "caf\u00e9", "tab\there"])
def test_a_credential_no_header_can_carry_is_a_configuration_error(
    org: Org, credential: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ILMS_KEY", credential)
    org.write("main.yaml", "provider:\n  type: ilms\n  base_url: http://127.0.0.1:9\n"
              "  org_id: '1'\n  api_login_id: login\n  transaction_key: ${env:ILMS_KEY}\n")
    result = lmsform("plan", "-C", str(org.dir))
    assert result.exit_code == 1
    assert "provider.transaction_key: holds a line break, a control character or a character " \
           "outside ASCII" in result.output
    assert credential not in result.output


def test_a_file_that_is_not_a_plan_is_named_not_quoted(org: Org, tmp_path: Path) -> None:
    secret_file = tmp_path / "prod.env"
    secret_file.write_text('{"format_version": "API_KEY=hunter2-hunter2"}')
    result = org.run("apply", str(secret_file))
    assert result.exit_code == 1
    assert "is not an lmsform plan" in result.output and "hunter2" not in result.output


def test_a_name_is_data_even_when_it_looks_like_an_id(org: Org) -> None:
    """A reference the LMS gives to something it did not list reads `#<id>`; a group that
    is *called* `#<id of another group>` or `#hash` is a group all the same, never read as
    an id."""
    org.edit("org.yaml", "groups:\n", "groups:\n  - name: Others\n")
    org.apply()
    lms = sqlite3.connect(org.db_path)
    (others,) = lms.execute("SELECT id FROM groups_ WHERE name = 'Others'").fetchone()
    looks_like_others = f"#{others}"
    org.edit("org.yaml", "groups:\n", f"groups:\n  - name: '{looks_like_others}'\n"
             "  - name: '#hash'\n")
    org.edit("org.yaml", "groups: [Managers]", f"groups: [Managers, '{looks_like_others}', "
             "'#hash']")
    org.apply()
    ada_groups = {name for (name,) in lms.execute(
        "SELECT g.name FROM user_groups ug JOIN groups_ g ON g.id = ug.group_id "
        "JOIN users u ON u.id = ug.user_id WHERE u.email = 'ada@example.com'")}
    assert ada_groups == {"Managers", looks_like_others, "#hash"}
    assert org.run("plan", "--detailed-exitcode").exit_code == 0
    org.edit("org.yaml", f"groups: [Managers, '{looks_like_others}', '#hash']",
             "groups: [Managers]")
    org.apply()
    assert org.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_saved_plan_whose_limit_was_taken_out_is_refused(org: Org, tmp_path: Path) -> None:
    """The plan file shows a limit it was blocked by; the same file without the limit would
    let apply through: the fresh plan, made with the file's own limit, must find every
    block the file shows."""
    org.write("teams.yaml", "groups:\n" + "".join(f"  - name: Team {i}\n" for i in range(20)))
    org.apply()
    org.write("teams.yaml", "groups:\n" + "".join(f"  - name: Team {i}\n" for i in range(18)))
    plan_file = tmp_path / "plan.json"
    assert org.run("plan", "--max-deletes", "1", "--out", str(plan_file)).exit_code == 0
    document = json.loads(plan_file.read_text())
    assert document["blocked"] and document["max_deletes"] == 1
    document["max_deletes"] = None
    plan_file.write_text(json.dumps(document))
    result = org.run("apply", str(plan_file))
    assert result.exit_code == 1 and "nothing was applied" in result.output
    assert "(blocked)" in result.output
    assert sql(org, "SELECT count(*) FROM groups_") == [(21,)]


@pytest.mark.parametrize("edit", [
    lambda d: d.update(max_deletes=None, blocked=[]),  # consistent: only a key tells
    lambda d: d.update(notes=["reviewed"]),
    lambda d: d.update(signature=None),
])
def test_a_plan_signed_with_the_lms_credentials_refuses_any_edit(
        tmp_path: Path, simulators: Simulators, edit: Any) -> None:
    """Where the config has credentials, a plan carries their signature: an edit that keeps
    every field consistent (a limit taken out with the block it caused) is refused too."""
    from tests.providers.test_coursetoolkit import Account

    account = Account(tmp_path, simulators)
    account.apply()
    account.edit("people.yaml", "  - email: grace.hopper@acme.example\n", "")
    account.edit("people.yaml", "  - email: ada.lovelace@acme.example\n", "")
    plan_file = tmp_path / "plan.json"
    made = account.run("plan", "--max-deletes", "1", "--out", str(plan_file))
    assert made.exit_code == 0, made.output
    signed = plan_file.read_text()
    document = json.loads(signed)
    assert document["signature"] and document["blocked"]
    edit(document)
    plan_file.write_text(json.dumps(document))
    result = account.run("apply", str(plan_file))
    assert result.exit_code == 1
    assert "its signature does not match" in result.output
    assert len(account.emails()) == 3
    plan_file.write_text(signed)  # as it was made: applies, with --force for its block
    assert account.run("apply", str(plan_file)).exit_code == 1
    assert account.run("apply", str(plan_file), "--force").exit_code == 0
    assert account.emails() == ["linus.pauling@acme.example"]


class EchoingUsers(LocalProvider):
    """An LMS that refuses users with the request it was sent, as some vendors do, in a
    ProviderError or in an exception of another kind."""

    capabilities = Capabilities(kinds={
        **LocalProvider.capabilities.kinds,
        "user": replace(LocalProvider.capabilities.kinds["user"], batch_create=0)})
    error: type[Exception] = ProviderError

    def create(self, kind: str, attrs: dict) -> str:
        if kind != "user":
            return super().create(kind, attrs)
        if self.error is ProviderError:
            raise ProviderError("POST /users", f"rejected {json.dumps(attrs)}", status=422)
        raise self.error(f"could not encode {attrs}")


@pytest.mark.parametrize("error", [ProviderError, ValueError])
def test_secrets_never_leave_through_a_failure_message(
        org: Org, monkeypatch: pytest.MonkeyPatch, error: type[Exception]) -> None:
    """What the LMS echoes of a request (a password, a value taken from the environment) is
    redacted from apply's failure messages, whatever raised them."""
    monkeypatch.setenv("ADA_PASSWORD", "Sup3r-Secret-Passw0rd")
    monkeypatch.setenv("ADA_TITLE", "Deputy-of-Secrets")
    org.edit("org.yaml", "    first_name: Ada\n", "    first_name: Ada\n"
             "    job_title: ${env:ADA_TITLE}\n")
    config = load_config(org.dir)
    state = State.load(FileBackend.at(org.state_path))
    provider = EchoingUsers(config.provider, org.dir)
    provider.error = error
    plan = make_plan(config, state, provider)
    result = apply_plan(plan, state, provider, config.write_only(config.secrets()),
                        parallelism=1, known=config.secrets())
    provider.close()
    (failure,) = result.failed
    assert failure.operation.address == "user.ada@example.com"
    assert "ada@example.com" in failure.message and "***" in failure.message
    assert "Sup3r" not in failure.message and "Deputy-of-Secrets" not in failure.message


def test_a_field_that_took_a_value_from_the_environment_is_the_secret_not_the_value(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """The field is hidden in plans and kept out of state; the same text elsewhere (here,
    the domain of every email) is not."""
    monkeypatch.setenv("TEAM_NOTE", "example.com")
    org.edit("org.yaml", "description: People managers", "description: ${env:TEAM_NOTE}")
    plan = json.loads(org.run("plan", "--json").stdout)
    (group,) = [op for op in plan["operations"] if op["address"] == "group.Managers"]
    assert group["after"]["description"] == "(sensitive)"
    (ada,) = [op for op in plan["operations"] if op["address"] == "user.ada@example.com"]
    assert ada["after"]["email"] == "ada@example.com"
    org.apply()
    state = recorded(org.state_path)
    assert "description" not in state["group.Managers"]["attributes"]
    assert state["user.ada@example.com"]["attributes"]["email"] == "ada@example.com"
    assert sql(org, "SELECT description FROM groups_") == [("example.com",)]
    assert org.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_secret_the_lms_holds_is_hidden_and_replaced_by_the_manifests_value(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone pasted a password into a field lmsform manages: the plan hides the old value
    only, and apply writes the manifest's value (it once wrote the marker `(sensitive)`)."""
    monkeypatch.setenv("ADA_PASSWORD", "Sw0rdfish-Secret")
    org.apply()
    sql(org, "UPDATE groups_ SET description = 'Sw0rdfish-Secret'")
    plan = json.loads(org.run("plan", "--json").stdout)
    (op,) = plan["operations"]
    assert (op["changes"][0]["before"], op["changes"][0]["after"]) == (
        "(sensitive)", "People managers")
    org.apply()
    assert sql(org, "SELECT description FROM groups_") == [("People managers",)]


def test_ctrl_c_on_a_terminal_speaks_on_lines_of_its_own(org: Org) -> None:
    """The progress line is rewritten in place on a terminal; what Ctrl-C makes lmsform say
    starts on a new line, in lmsform's own words (no logging prefix)."""
    import pty
    import select

    one_at_a_time(org)
    org.write("many.yaml", "users:\n" + "".join(
        f"  - email: user{i}@example.com\n" for i in range(400)))
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "lmsform", "apply", "--auto-approve", "--parallelism", "1",
         "-C", str(org.dir)], stdin=follower, stdout=follower, stderr=follower,
        env={**os.environ, "TERM": "xterm"}, close_fds=True)
    os.close(follower)
    output, interrupted = b"", False
    while select.select([leader], [], [], 30)[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        output += chunk
        if not interrupted and output.count(b"] + user.") >= 20:
            process.send_signal(signal.SIGINT)
            interrupted = True
    os.close(leader)
    assert process.wait(timeout=60) == 130
    text = output.decode()
    lines = text.replace("\r\n", "\n").split("\n")
    said = [line for line in lines if "SIGINT" in line or line.startswith("interrupted")]
    assert said[0] == "SIGINT: finishing the operations under way, starting no more."
    assert said[1].startswith("interrupted: ") and said[1].endswith("to continue")
    assert "WARNING" not in text


def _edited(org: Org) -> None:
    """The org applied, then changed so that its next plan holds every kind of operation:
    Carol created, Bob updated, Ada deactivated, the coupon forgotten (gone from both)."""
    assert org.run("apply", "--auto-approve").exit_code == 0
    org.edit("org.yaml", "    first_name: Bob\n", "    first_name: Robert\n")
    text = (org.dir / "org.yaml").read_text()
    org.edit("org.yaml", text[text.index("  - email: ada"):text.index("  - email: bob")],
             "  - email: carol@example.com\n    department: Americas/Sales/Field Sales\n")
    org.edit("org.yaml", text[text.index("coupons:"):], "")
    with sqlite3.connect(org.db_path) as db:
        db.execute("DELETE FROM coupon_courses")
        db.execute("DELETE FROM coupons")


def test_the_manifests_dicts_a_plan_and_the_state_share_are_never_changed(org: Org) -> None:
    """A create's `after` and then its state record are the manifests' own dict, a
    removal's `before` the state's or the listing's, not copies (100k users' worth):
    nothing on the way, planning or applying, may change one in place."""
    for round_ in ("from empty", "every action"):
        if round_ == "every action":
            _edited(org)
        config = load_config(org.dir)
        declared = copy.deepcopy({a: r.attrs for a, r in config.resources.items()})
        state = State.load(FileBackend.at(org.state_path))
        recorded = copy.deepcopy({a: e.attributes for a, e in state.resources.items()})
        provider = LocalProvider(config.provider, org.dir)
        plan = make_plan(config, state, provider)
        sides = [(op.address, op.before, op.after) for op in plan.operations]
        seen = copy.deepcopy(sides)
        shared = [op.address for op in plan.operations
                  if op.after is not None and op.address in config.resources
                  and op.after is config.resources[op.address].attrs]
        assert apply_plan(plan, state, provider, {}, parallelism=2).ok
        provider.close()
        assert {a: r.attrs for a, r in config.resources.items()} == declared
        assert sides == seen
        assert all(state.resources[a].attributes is config.resources[a].attrs for a in shared)
        untouched = recorded.keys() - {op.address for op in plan.operations}
        assert {a: state.resources[a].attributes for a in untouched} == {
            a: recorded[a] for a in untouched}
    assert {op.action for op in plan.operations} == {"create", "update", "deactivate",
                                                    "forget"}
    assert "user.carol@example.com" in shared
    assert "user.ada@example.com" not in shared  # her password is left out: a copy
    assert set(Operation.model_fields) == PLANNED_FIELDS, "the shared fields set changed"


def test_the_planner_gives_every_field_with_a_default_factory(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner makes operations with `model_construct`: a field with a default factory
    left out would have pydantic ask `inspect.signature` of the factory, for each
    operation, a hundred times its cost. Every such factory refuses here, for a plan of
    every kind of operation."""
    _edited(org)

    def refuse() -> None:
        raise AssertionError("a default factory was called: give the field")

    for field in Operation.model_fields.values():
        if field.default_factory is not None:
            monkeypatch.setattr(field, "default_factory", refuse)
    config = load_config(org.dir)
    provider = LocalProvider(config.provider, org.dir)
    try:
        plan = make_plan(config, State.load(FileBackend.at(org.state_path)), provider)
    finally:
        provider.close()
    assert {op.action for op in plan.operations} == {"create", "update", "deactivate",
                                                    "forget"}
