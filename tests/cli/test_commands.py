"""The command line: exit codes, clear errors without tracebacks, and every command."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from lmsform import __version__, engine
from lmsform.cli.common import LONG_COMMAND_THRESHOLDS
from lmsform.plan import Plan
from lmsform.render import render_text
from tests.support import ConfigDir, Org, lmsform

GOLDEN = Path(__file__).parent.parent / "fixtures" / "plan.golden.json"


def test_version() -> None:
    result = lmsform("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_validate_is_offline_and_counts_resources(org: Org) -> None:
    result = org.run("validate")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("The manifests are valid: 1 region, 1 division, "
                                     "2 departments, 1 course, 1 group, 2 users, 1 coupon.")
    assert not org.db_path.exists() and not org.state_path.exists()


def test_manifest_errors_exit_1_without_traceback_and_touch_nothing(org: Org) -> None:
    org.edit("org.yaml", "department: Americas/Sales/Field Sales", "department: No/Where/At")
    org.edit("org.yaml", "first_name: Bob", "first_name: Bob\n    shoe_size: 44")
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        result = org.run(*command)
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        assert "org.yaml:28:5: error: users[1].shoe_size: unknown field 'shoe_size'" in \
            result.output
        # the reference error shows at once, not once the field is fixed
        assert "org.yaml:29:17: error: users[1].department: unknown department 'No/Where/At'" \
            in result.output
        assert result.output.rstrip().endswith(
            "2 errors in the manifests; nothing was contacted or changed.")
    assert not org.db_path.exists() and not org.state_path.exists()


def test_debug_shows_the_traceback(org: Org) -> None:
    org.write("main.yaml", "provider: {type: local}\nstate: {path: state.json}\n")
    (org.dir / "state.json").write_text("{broken")
    plain = org.run("plan")
    assert plain.exit_code == 1 and "Traceback" not in plain.output
    assert "is damaged" in plain.output
    debug = lmsform("--debug", "plan", "-C", str(org.dir))
    assert debug.exit_code == 1 and "Traceback" in debug.output


def test_plan_json_matches_the_golden_file(org: Org) -> None:
    result = org.run("plan", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["config_dir"] == str(org.dir.resolve())  # outside a repository
    # outside a repository, the LMS file is named by its absolute path
    assert document["provider"].pop("instance") == f"local:{(org.dir / 'lms.sqlite').resolve()}"
    for volatile in ("config_dir", "lmsform_version", "instant"):
        document.pop(volatile)
    if os.environ.get("LMSFORM_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(document, indent=2) + "\n")
    assert document == json.loads(GOLDEN.read_text())


def test_markdown_plan(org: Org) -> None:
    result = org.run("plan", "--format", "markdown")
    assert result.exit_code == 0
    assert result.output.startswith("### lmsform plan\n\n**Plan: 9 to create, 0 to update")
    assert "| `+` | `user.ada@example.com` | create |" in result.output


def test_text_plan_has_no_colour_off_a_terminal(org: Org) -> None:
    result = org.run("plan")
    assert "\x1b[" not in result.output
    assert "  + user.ada@example.com\n      email: \"ada@example.com\"" in result.output
    assert '      password: "(sensitive)"' in result.output
    assert result.output.rstrip().endswith(
        "Plan: 9 to create, 0 to update, 0 to delete, 0 to adopt.")


def test_a_long_text_plan_is_written_as_made_and_reads_as_rendered_whole(
        org: Org, tmp_path: Path) -> None:
    """The text plan is written some thousands of lines at a time (never held whole); the
    output is `render_text`'s, as for a short plan."""
    org.write("many.yaml", "users:\n" + "".join(
        f"  - email: user{i}@example.com\n    department: Americas/Sales/Inside Sales\n"
        for i in range(2_000)))
    saved = tmp_path / "plan.json"
    result = org.run("plan", "--out", str(saved))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") > 5_000  # more than one chunk
    assert result.stdout == click.unstyle(render_text(Plan.load(saved))) + "\n"


def test_state_commands(org: Org) -> None:
    assert org.run("apply", "--auto-approve").exit_code == 0
    listed = org.run("state", "list").output.splitlines()
    assert listed[0].startswith("region.Americas\t") and len(listed) == 9
    shown = json.loads(org.run("state", "show", "group.Managers").output)
    assert shown["address"] == "group.Managers" and shown["kind"] == "group"
    moved = org.run("state", "mv", "group.Managers", "group.Leads")
    assert moved.exit_code == 0 and "Moved group.Managers to group.Leads." in moved.output
    assert org.run("state", "mv", "group.Leads", "course.x").exit_code == 1
    removed = org.run("state", "rm", "group.Leads")
    assert removed.exit_code == 0 and "the LMS is unchanged" in removed.output
    assert "group.Leads" not in org.run("state", "list").output
    missing = org.run("state", "show", "group.Leads")
    assert missing.exit_code == 1 and "not in the state" in missing.output
    # The group is still in the LMS: the next plan adopts it back.
    assert "= group.Managers (adopt" in org.run("plan").output
    assert org.run("state", "unlock", "--force").output.strip() == "The state was not locked."


def test_providers_lists_capabilities() -> None:
    result = lmsform("providers")
    assert result.exit_code == 0
    assert "local  Embedded LMS in a SQLite file" in result.output
    assert "  user        create, update, delete, deactivate" in result.output
    assert "replaced on change: code" in result.output
    assert "  user        create, delete (no list call: read one by one)" in result.output
    assert "  course      the LMS's own, not managed: references name its ids" in result.output
    # whose groups give their members their courses: local and ilms, no other
    blocks = {b.split()[0]: b for b in result.output.split("\n\n") if b.strip()}
    assert {name for name, block in blocks.items()
            if "members reach its courses" in block} == {"local", "ilms"}


def test_schema_is_a_json_schema_of_the_manifest() -> None:
    result = lmsform("schema")
    schema = json.loads(result.output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["properties"]) == {"version", "provider", "state", "settings", "hierarchy",
                                         "groups", "users", "courses", "coupons", "policies",
                                         "moved", "include", "vars"}
    assert schema["additionalProperties"] is False


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = lmsform("plan", "-C", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert result.output == f"error: the config directory {tmp_path / 'nope'} does not exist\n"


def run_in_terminal(args: list[str], answer: str | None = None,
                    env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run lmsform attached to a pseudo-terminal, as a person at a keyboard would."""
    import pty
    import select
    import subprocess
    import sys

    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120", **(env or {})}
    process = subprocess.Popen([sys.executable, "-m", "lmsform", *args], stdin=follower,
                               stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    output = b""
    answered = False
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        output += chunk
        if answer is not None and not answered and b"Only 'yes' is accepted" in output:
            os.write(leader, answer.encode() + b"\n")
            answered = True
    os.close(leader)
    return process.wait(timeout=30), output.decode(errors="replace")


def test_a_terminal_gets_colour_a_confirmation_prompt_and_progress(org: Org) -> None:
    code, output = run_in_terminal(["apply", "-C", str(org.dir)], answer="yes")
    assert code == 0, output
    assert "\x1b[32m  + region.Americas" in output  # green creates
    assert "Apply these 9 operations?" in output
    assert "\r\x1b[K[1/9] + region.Americas: create done" in output  # one progress line
    assert "Apply complete: 9 created." in output


def test_anything_but_yes_cancels(org: Org) -> None:
    code, output = run_in_terminal(["apply", "-C", str(org.dir)], answer="y")
    assert code == 1 and "apply cancelled; nothing was changed" in output
    assert not org.db_path.exists() or "region" not in org.run("state", "list").output


def test_simulate_ilms_serves_until_stopped(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "lmsform", "simulate", "ilms", "--port", str(port),
         "--transaction-key", "k"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(
            f"iLMS simulator listening on http://127.0.0.1:{port} (org 99999)")
        headers = {"APILoginID": "sim-login", "TransactionKey": "k", "OrgID": "99999"}
        deadline = time.monotonic() + 10
        while True:
            try:
                groups = httpx.get(f"http://127.0.0.1:{port}/organizations/99999/groups",
                                   headers=headers)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert groups.status_code == 200 and groups.headers["X-Total-Count"] == "3"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_plan_that_cannot_be_saved_is_a_clear_error(org: Org, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    result = org.run("plan", "--out", str(blocked / "plan.json"))
    assert result.exit_code == 1
    assert "cannot write the plan to" in result.output and "internal error" not in result.output


def test_a_state_path_pointing_at_another_file_is_named_not_quoted(org: Org) -> None:
    org.state_path.write_text("API_TOKEN=hunter2-hunter2\n")
    result = org.run("plan")
    assert result.exit_code == 1
    assert "is damaged, or not lmsform's state" in result.output and "hunter2" not in result.output


def test_usage_errors_exit_1_never_2(org: Org) -> None:
    for args in (["plan", "--detailed-exitcode", "--bogus"], ["--bogus"],
                 ["plan", "--parallelism", "zero"], ["nosuchcommand"]):
        result = org.run(*args)
        assert result.exit_code == 1, (args, result.output)
    assert org.run("plan", "--detailed-exitcode").exit_code == 2  # 2: changes, nothing else


def test_global_flags_work_after_the_command(org: Org) -> None:
    result = lmsform("plan", "-C", str(org.dir), "-v")
    assert result.exit_code == 0 and "INFO lmsform.engine: config directory" in result.output
    (org.dir / "broken.yaml").write_text("users: [1\n")
    debug = lmsform("validate", "-C", str(org.dir), "--debug")
    assert debug.exit_code == 1 and "Traceback" in debug.output


def test_no_color_and_the_no_color_flag_turn_colour_off_on_a_terminal(org: Org) -> None:
    code, coloured = run_in_terminal(["plan", "-C", str(org.dir)])
    assert code == 0 and "\x1b[32m" in coloured
    code, plain = run_in_terminal(["plan", "-C", str(org.dir)], env={"NO_COLOR": "1"})
    assert code == 0 and "\x1b[" not in plain and "+ region.Americas" in plain
    code, flagged = run_in_terminal(["plan", "-C", str(org.dir), "--no-color"])
    assert code == 0 and "\x1b[" not in flagged


def test_one_output_switch_and_conflicts_are_errors(org: Org) -> None:
    as_json = json.loads(org.run("plan", "--format", "json").output)
    assert json.loads(org.run("plan", "--json").output)["summary"] == as_json["summary"]
    conflict = org.run("plan", "--json", "--format", "markdown")
    assert conflict.exit_code == 1 and "--json and --format markdown" in conflict.output


def test_a_target_that_matches_nothing_is_an_error(org: Org) -> None:
    result = org.run("plan", "--target", "user.ada@exmaple.com")
    assert result.exit_code == 1
    assert "--target/--exclude 'user.ada@exmaple.com' matches no resource" in result.output
    assert org.run("plan", "--exclude", "coupon.*").exit_code == 0


def test_state_show_and_rm_take_patterns_and_rm_confirms_several(org: Org) -> None:
    assert org.run("apply", "--auto-approve").exit_code == 0
    shown = json.loads(org.run("state", "show", "user.*").output)
    assert [s["address"] for s in shown] == ["user.ada@example.com", "user.bob@example.com"]
    refused = org.run("state", "rm", "user.*")  # no terminal to confirm on
    assert refused.exit_code == 1 and "user.ada@example.com" in refused.output
    assert len(json.loads(org.run("state", "show", "user.*").output)) == 2
    removed = org.run("state", "rm", "user.*", "--auto-approve")
    assert removed.exit_code == 0
    assert removed.output.splitlines() == [  # what went, also without a question
        "Removed user.ada@example.com", "Removed user.bob@example.com",
        "Removed 2 from the state; the LMS is unchanged."]
    missing = org.run("state", "rm", "group.Nope*")
    assert missing.exit_code == 1 and "not in the state: group.Nope*" in missing.output


def test_validate_reports_every_problem_as_json_or_github_annotations(org: Org) -> None:
    org.write("bad.yaml", "groups:\n  - name: Leads\n    colour: red\n"
              "users:\n  - email: eve@example.com\n    groups: [Managrs]\n")
    result = org.run("validate", "--format", "json")
    assert result.exit_code == 1
    problems = json.loads(result.output)
    assert [(p["file"].rsplit("/", 1)[-1], p["line"], p["column"], p["path"], p["severity"])
            for p in problems] == [("bad.yaml", 3, 5, "groups[0].colour", "error"),
                                   ("bad.yaml", 6, 14, "users[0].groups[0]", "error")]
    assert problems[1]["message"] == "unknown group 'Managrs' (did you mean 'Managers'?)"
    github = org.run("validate", "--format", "github")
    assert github.exit_code == 1
    lines = github.output.splitlines()
    assert lines[0].startswith("::error file=") and lines[0].endswith(
        "bad.yaml,line=3,col=5,title=lmsform::groups[0].colour: unknown field 'colour'")
    assert len(lines) == 2
    org.write("bad.yaml", "groups: []\n")
    clean = org.run("validate", "--format", "json")
    assert clean.exit_code == 0 and json.loads(clean.output) == []


def test_capability_errors_read_like_manifest_errors_and_end_with_a_count(org: Org) -> None:
    org.write("main.yaml", "provider:\n  type: ilms\n  base_url: http://127.0.0.1:9\n"
              "  org_id: '1'\n  api_login_id: ${env:LOGIN:-a}\n"
              "  transaction_key: ${env:KEY:-b}\n")
    result = org.run("validate")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert all(re.match(r"\S+:\d+:\d+: error: \S+: ", line) for line in lines[:-2]), lines
    assert lines[-2].startswith("To plan for this LMS anyway, `--drop-unsupported`")
    assert re.fullmatch(r"\d+ errors; nothing was contacted or changed\.", lines[-1])
    assert any("coupons[0]: coupon.WELCOME10: the ilms provider does not manage coupons" in line
               for line in lines)


def test_the_command_answers_version_as_the_command_line_would() -> None:
    fast = subprocess.run([sys.executable, "-m", "lmsform", "--version"], capture_output=True,
                          text=True, check=True).stdout
    assert fast == lmsform("--version").output == f"lmsform, version " \
                                                                    f"{__version__}\n"


NO_PLACE = "/proc/lmsform-cannot-hold-files"  # a place no file can be made, even by root


@pytest.mark.parametrize("command", [
    ["plan", "--out", f"{NO_PLACE}/plan.json"],
    ["export", "--out", f"{NO_PLACE}/exported"],
    ["apply", "--auto-approve", "STATE"],
    ["init", "--force", "INIT"],
])
def test_a_place_that_cannot_hold_files_is_a_one_line_error(org: Org,
                                                            command: list[str]) -> None:
    if command[-1] == "STATE":
        org.edit("main.yaml", "path: state.json", f"path: {NO_PLACE}/state.json")
        command = command[:-1]
    result = lmsform("init", "-C", NO_PLACE) if command[-1] == "INIT" else org.run(*command)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_a_value_from_the_environment_never_shows_in_an_error_or_a_traceback(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM", "Confidential-Team-X")
    org.edit("org.yaml", "groups: [Managers]", "groups: [Managers, '${env:TEAM}']")
    for args in (["plan"], ["--debug", "plan"]):
        result = lmsform(*args, "-C", str(org.dir))
        assert result.exit_code == 1
        assert "unknown group '***'" in result.output
        assert "Confidential" not in result.output


@pytest.mark.parametrize(("where", "text", "what", "replacement"), [
    ("org.yaml", "    password: ${env:ADA_PASSWORD:-initial-Secret-1}",
     "users[0].password: a password written as text", "    password: initial-Secret-1"),
    ("main.yaml", "  path: state.json", "state.dsn: a password in a URL written as text",
     "  backend: postgres\n  dsn: postgresql://lms:pw-in-git@db.example/lms\n  name: acme"),
    ("main.yaml", "  path: state.json", "state.dsn: a password in a URL written as text",
     "  backend: postgres\n  dsn: postgresql://lms:pw-in-git@${env:DB_HOST:-db}/lms\n"
     "  name: acme"),
    ("main.yaml", "  path: state.json", "state.dsn: a password in a URL written as text",
     "  backend: postgres\n  dsn: 'host=${env:DB_HOST:-db} password=pw-in-git'\n"
     "  name: acme"),
])
def test_a_secret_written_as_text_is_a_warning_with_its_place(
        org: Org, where: str, text: str, what: str, replacement: str) -> None:
    """A reference elsewhere in the value does not make the password a reference."""
    org.edit(where, text, replacement)
    result = org.run("validate")
    assert result.exit_code == 0, result.output
    assert f"warning: {what}: whoever reads the repository has it" in result.stderr
    assert "pw-in-git" not in result.output and "initial-Secret-1" not in result.output
    org.edit(where, replacement, text)
    assert "written as text" not in org.run("validate").stderr
    if where == "main.yaml":  # the password as a reference, the rest as text: no warning
        org.edit(where, text, replacement.replace("pw-in-git", "${env:DB_PASSWORD:-x}"))
        assert "written as text" not in org.run("validate").stderr


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_a_check_that_quotes_a_value_never_shows_a_secret(
        org: Org, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """The provider's rules quote what they refuse; a value from the environment (or a
    password) is redacted where the problem is made, whatever prints it."""
    monkeypatch.setenv("BADGE_TOKEN", "bdg+Zq81xLmR40pW")
    org.write("main.yaml", "provider:\n  type: ilms\n  base_url: http://127.0.0.1:9\n"
              "  org_id: '1'\n  api_login_id: ${env:LOGIN:-a}\n"
              "  transaction_key: ${env:KEY:-b}\n")
    org.write("org.yaml", "users:\n  - email: ada@example.com\n    first_name: Ada\n"
              "    last_name: Lovelace\n    custom: {custom_field_1: '${env:BADGE_TOKEN}'}\n")
    result = org.run("validate", *([] if fmt == "text" else ["--format", fmt]))
    assert result.exit_code == 1
    assert "does not allow the characters" in result.output
    assert "Zq81" not in result.output


def test_capability_errors_are_reported_with_the_manifest_errors(tmp_path: Path) -> None:
    config = ConfigDir(tmp_path / "ct")
    config.dir.mkdir()
    config.write(
        "lmsform.yaml",
        "version: 1\nprovider:\n  type: coursetoolkit\n  base_url: http://127.0.0.1:9/api\n"
        "  account_id: '1'\n  api_key: ${env:CT_TEST_KEY}\n"
        "settings:\n  user_removal: delete\n")
    config.write("users.yaml",
                 "users:\n  - email: ada@example.com\n    first_name: Ada\n    shoe_size: 44\n")
    result = config.run("validate")
    assert result.exit_code == 1
    assert "users[0].shoe_size: unknown field 'shoe_size'" in result.output
    assert "the coursetoolkit provider does not support the user field 'first_name'" in \
        result.output
    assert "2 errors in the manifests" in result.output


def test_var_and_var_file_override_vars_for_one_run(tmp_path: Path) -> None:
    directory = tmp_path / "env"
    directory.mkdir()
    (directory / "lmsform.yaml").write_text(
        "version: 1\nprovider: {type: local}\nvars:\n  first: Ada\n  last: Lovelace\n")
    (directory / "users.yaml").write_text(
        "users:\n  - {email: ada@example.com, first_name: '${var:first}', "
        "last_name: '${var:last}'}\n")
    (tmp_path / "vars.yaml").write_text("first: Augusta\nlast: King\n")
    result = lmsform(
        "plan", "-C", str(directory), "--json", "--var-file", str(tmp_path / "vars.yaml"),
        "--var", "last=Byron")
    assert result.exit_code == 0, result.output
    (user,) = [op for op in json.loads(result.output)["operations"] if op["kind"] == "user"]
    assert (user["after"]["first_name"], user["after"]["last_name"]) == ("Augusta", "Byron")
    unknown = lmsform("plan", "-C", str(directory), "--var", "frist=x")
    assert unknown.exit_code == 1
    assert "declares no variable frist (did you mean 'first'?)" in unknown.output
    malformed = lmsform("plan", "-C", str(directory), "--var", "first")
    assert malformed.exit_code == 1 and "--var takes NAME=VALUE" in malformed.output


def test_show_renders_a_saved_plan_without_the_lms(org: Org, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    made = org.run("plan", "--out", str(saved))
    org.db_path.unlink(missing_ok=True)
    org.edit("main.yaml", "type: local", "type: ilms")  # the config could not even load
    for fmt, expected in (("text", "+ user.ada@example.com"),
                          ("markdown", "| `+` | `user.ada@example.com` | create |"),
                          ("json", '"address": "user.ada@example.com"')):
        shown = lmsform("show", str(saved), "--format", fmt)
        assert shown.exit_code == 0, shown.output
        assert expected in shown.output
    text = lmsform("show", str(saved)).output
    assert text.splitlines()[2:] == made.output.splitlines()[2:-1]  # less "Saved the plan"
    assert not org.db_path.exists()


def test_summary_counts_operations_per_kind_and_action(org: Org) -> None:
    result = org.run("plan", "--summary")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  user        create  2" in lines
    assert "+ user." not in result.output
    assert lines[-1].startswith("Plan: ")
    refused = org.run("plan", "--summary", "--json")
    assert refused.exit_code == 1 and "--summary" in refused.output


@pytest.mark.parametrize(("command", "status"), [
    ("state list", 0), ("providers", 0), ("plan --detailed-exitcode", 0),
    ("plan --detailed-exitcode --json", 0), ("show plan.json", 0)])
def test_output_into_a_closed_pipe_ends_quietly(org: Org, tmp_path: Path, command: str,
                                                status: int) -> None:
    org.apply()
    org.run("plan", "--out", str(tmp_path / "plan.json"))
    lmsform = Path(sys.executable).parent / "lmsform"
    script = f"set -o pipefail; {lmsform} {command} -C {org.dir} | true"
    if command.startswith(("providers", "show")):
        script = f"set -o pipefail; {lmsform} {command} | true"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          cwd=tmp_path)
    assert (done.returncode, done.stderr) == (status, "")


def test_a_plan_with_changes_into_a_closed_pipe_still_exits_2(org: Org) -> None:
    lmsform = Path(sys.executable).parent / "lmsform"
    script = (f"set -o pipefail; {lmsform} plan --detailed-exitcode -C {org.dir} "
              "| true")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (2, "")


def test_import_adopts_a_live_resource_by_its_id(org: Org) -> None:
    org.apply()
    ada = json.loads(org.run("state", "show", "user.ada@example.com").output)
    org.run("state", "rm", "user.ada@example.com")
    org.edit("org.yaml", "first_name: Ada", "first_name: Augusta")
    refused = [org.run("import", "user.nobody@example.com", ada["id"]),
               org.run("import", "user.ada@example.com", "999999"),
               org.run("import", "user.bob@example.com", ada["id"])]
    assert [r.exit_code for r in refused] == [1, 1, 1]
    assert "is not declared in the manifests" in refused[0].output
    assert "the LMS has no user with id 999999" in refused[1].output
    assert "managed already (id" in refused[2].output
    result = org.run("import", "user.ada@example.com", ada["id"])
    assert result.exit_code == 0, result.output
    assert f"Imported user.ada@example.com (id {ada['id']})" in result.output
    plan = json.loads(org.run("plan", "--json").output)
    (op,) = plan["operations"]  # an update of what it differs in; no create, no adopt
    assert (op["address"], op["action"], op["id"]) == ("user.ada@example.com", "update",
                                                       ada["id"])
    assert [c["field"] for c in op["changes"]] == ["first_name"]
    again = org.run("import", "user.bob@example.com", ada["id"])
    assert "is managed already" in again.output


@pytest.mark.parametrize("group", [[], ["state"], ["simulate"]])
def test_help_never_cuts_a_description_mid_sentence(group: list[str]) -> None:
    result = lmsform(*group, "--help", terminal_width=60)
    listing = result.output.split("Commands:\n")[1]
    assert "..." not in listing
    descriptions = re.split(r"\n  (?=\S)", "\n" + listing)[1:]
    for description in descriptions:
        assert description.rstrip().endswith((".", ")")), description


def test_the_command_ends_at_once_with_its_output_whole_and_its_exit_code(org: Org) -> None:
    """`lmsform` as a process exits without freeing what it built (`cli._exit_at_once`):
    everything it printed is out, and the exit code is the command's."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lmsform", *args, "-C", str(org.dir)],
                              capture_output=True, text=True, timeout=60)

    planned = run("plan", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert planned.stdout.rstrip().endswith("0 to delete, 0 to adopt.")
    listed = run("plan", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["operations"]
    wrong = run("plan", "--no-such-flag")
    assert wrong.returncode == 1 and "no-such-flag" in wrong.stderr
    assert run("apply", "--auto-approve").returncode == 0
    assert run("plan", "--detailed-exitcode").returncode == 0


def test_a_command_run_in_process_leaves_the_garbage_collector_on(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands switch the cyclic collector off while they build; a caller invoking
    lmsform in-process gets it back on (only `lmsform` as a process, which ends with the
    command, leaves it off)."""
    given = gc.get_threshold()
    seen: list[tuple[bool, tuple[int, int, int]]] = []
    applying = engine.apply_plan

    def apply_plan(*args: Any, **kwargs: Any) -> Any:
        seen.append((gc.isenabled(), gc.get_threshold()))
        return applying(*args, **kwargs)

    monkeypatch.setattr(engine, "apply_plan", apply_plan)
    try:
        gc.set_threshold(1234, 5, 6)  # the caller's own, set after lmsform was imported
        assert org.run("apply", "--auto-approve").exit_code == 0
        # on while operations run, collecting seldom; then as the caller had it
        assert seen == [(True, LONG_COMMAND_THRESHOLDS)]
        assert gc.isenabled() and gc.get_threshold() == (1234, 5, 6)
        assert org.run("plan").exit_code == 0
        assert gc.isenabled() and not gc.get_freeze_count()
        assert gc.get_threshold() == (1234, 5, 6)
    finally:
        gc.set_threshold(*given)
