"""Every command example in the docs runs as written: each fenced `sh` or `console` block of
README.md, docs/*.md and the examples' READMEs runs in a scratch copy of the repository where
the quick start has run (its `apply` of examples/acme), against the `local` LMS or the vendor
simulators the block starts itself.

An `sh` block runs as one bash script that must succeed; a `console` block's `$ ` lines run
one by one, and what each prints must be what the block shows (timings aside). The quick
start's own two commands (install, run the tests) are what `.ci/run` runs: not again here.
A simulator a block starts on a port is given a free one instead, there and in the files."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"),
               *(ROOT / "examples").glob("*/README.md"),
               *(ROOT / "examples").glob("*/*/README.md")])
FENCE = re.compile(r"^```(sh|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)
BIN = Path(sys.executable).parent
QUICK_START_ONLY = ("pip install", "pytest")  # .ci/run runs these as the README says


@dataclass
class Example:
    doc: Path
    index: int  # among the doc's runnable blocks
    language: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}#{self.index}"


def examples() -> Iterator[Example]:
    for doc in DOCS:
        found = [m for m in FENCE.finditer(doc.read_text(encoding="utf-8"))]
        for index, match in enumerate(found):
            if not any(word in match.group(2) for word in QUICK_START_ONLY):
                yield Example(doc, index, match.group(1), match.group(2))


def _move_alan_turing(scratch: Path) -> None:
    """README: "Edit examples/acme/users.yaml: move Alan Turing to the Platform department
    and into the New Starters group." """
    users = scratch / "examples" / "acme" / "users.yaml"
    text = users.read_text()
    start = text.index("  - email: alan.turing@acme.example")
    end = text.index("  - email:", start + 1)
    alan = text[start:end].replace("Americas/Engineering/Mobile",
                                   "Americas/Engineering/Platform")
    users.write_text(text[:start] + alan.replace("groups: []", "groups: [New Starters]")
                     + text[end:])


# What the prose around a block tells the reader to do before it, done here.
PROSE_STEPS: dict[str, Callable[[Path], None]] = {"README.md#3": _move_alan_turing}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def postgres_dsn() -> str | None:
    """The test database (see tests/backends/test_postgres.py), or None without one; a
    missing server fails where LMSFORM_REQUIRE_POSTGRES says one must be there."""
    dsn = os.environ.get("LMSFORM_TEST_POSTGRES_DSN")
    if dsn is None and os.environ.get("LMSFORM_REQUIRE_POSTGRES"):
        pytest.fail("LMSFORM_REQUIRE_POSTGRES is set without LMSFORM_TEST_POSTGRES_DSN")
    return dsn


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout (examples, state) where the quick start's apply has run."""
    base = tmp_path_factory.mktemp("checkout")
    shutil.copytree(ROOT / "examples", base / "examples",
                    ignore=shutil.ignore_patterns("*.sqlite*", ".lmsform"))
    (base / "state").mkdir()
    (base / ".venv").mkdir()
    (base / ".venv" / "bin").symlink_to(BIN)
    subprocess.run(["git", "init", "-q", str(base)], check=True)
    done = subprocess.run([str(BIN / "lmsform"), "apply", "-C", "examples/acme",
                           "--auto-approve"], cwd=base, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return base


@pytest.fixture
def scratch(quick_start: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "checkout"
    shutil.copytree(quick_start, copy, symlinks=True)
    return copy


# Examples that spend their time waiting on a vendor's documented pace, for real (LearnWorlds':
# 30 requests in 10 seconds, some 13 s of waiting): started, each in a scratch copy of its own,
# as soon as this module's first test runs, so that they wait while the other examples run.
# Their test then waits for what is left and checks the outcome as any other's.
STARTED_EARLY = {"examples/learnworlds/README.md#0"}


@pytest.fixture(scope="module")
def started_early(quick_start: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[dict[str, subprocess.Popen[str]]]:
    started = {}
    for example in examples():
        if example.name in STARTED_EARLY:
            assert example.language == "sh" and example.name not in PROSE_STEPS
            assert "LMSFORM_STATE_DSN" not in example.text
            copy = tmp_path_factory.mktemp("early") / "checkout"
            shutil.copytree(quick_start, copy, symlinks=True)
            started[example.name] = _start_sh(example, copy, _environment(copy))
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def _with_free_ports(text: str, scratch: Path) -> str:
    """A simulator's port (`--port 8080`) made a free one, in the block and in the files
    that name it (`127.0.0.1:8080`); and each started simulator waited for."""
    for port in sorted(set(re.findall(r"--port (\d+)", text))):
        free = _free_port()
        for path in (scratch / "examples").rglob("*.yaml"):
            content = path.read_text()
            if f"127.0.0.1:{port}" in content:
                path.write_text(content.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free}"))
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free}")
        started = re.compile(rf"(--port ){port}\b(.*&)")
        text = started.sub(rf"\g<1>{free}\g<2>\nwait_for {free}", text)
    return text


PRELUDE = """\
set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
wait_for() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; \
sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }
"""


def _environment(scratch: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NO_COLOR": "1",
            "GIT_AUTHOR_NAME": "Docs", "GIT_AUTHOR_EMAIL": "docs@example.com",
            "GIT_COMMITTER_NAME": "Docs", "GIT_COMMITTER_EMAIL": "docs@example.com",
            "HOME": str(scratch)}


def _start_sh(example: Example, scratch: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    script = PRELUDE + _with_free_ports(example.text, scratch)
    return subprocess.Popen(["bash", "-c", script], cwd=scratch, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish_sh(example: Example, running: subprocess.Popen[str]) -> None:
    try:
        stdout, stderr = running.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        running.kill()
        raise
    assert running.returncode == 0, f"{example.name} failed:\n{stdout}{stderr}"


def _shown(text: str) -> str:
    """Output as compared: timings and trailing spaces aside."""
    text = re.sub(r"\d+\.\d+ ?s\b", "N s", text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _run_console(example: Example, scratch: Path, env: dict[str, str]) -> None:
    commands = re.split(r"^\$ ", example.text, flags=re.MULTILINE)[1:]
    for command in commands:
        line, _, expected = command.partition("\n")
        done = subprocess.run(["bash", "-c", line], cwd=scratch, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode in (0, 2), f"{example.name}: {line}\n{done.stderr}"
        assert _shown(done.stdout) == _shown(expected), f"{example.name}: {line}"


@pytest.mark.parametrize("example", list(examples()), ids=lambda e: e.name)
def test_the_example_runs_as_written(example: Example, scratch: Path, postgres_dsn: str | None,
                                     started_early: dict[str, subprocess.Popen[str]]) -> None:
    if example.name in started_early:
        _finish_sh(example, started_early[example.name])
        return
    env = _environment(scratch)
    if "LMSFORM_STATE_DSN" in example.text:
        if postgres_dsn is None:
            pytest.skip("needs PostgreSQL (LMSFORM_TEST_POSTGRES_DSN)")
        env["LMSFORM_STATE_DSN"] = postgres_dsn
    PROSE_STEPS.get(example.name, lambda _: None)(scratch)
    try:
        if example.language == "sh":
            _finish_sh(example, _start_sh(example, scratch, env))
        else:
            _run_console(example, scratch, env)
    finally:
        if "LMSFORM_STATE_DSN" in example.text and postgres_dsn is not None:
            _forget_doc_states(postgres_dsn, example.text)


def test_every_doc_has_its_blocks_found() -> None:
    """The extraction finds the blocks it should (a renamed fence would hide them)."""
    names = {e.name for e in examples()}
    assert {"README.md#2", "README.md#3", "README.md#4", "docs/state.md#0", "docs/migration.md#0",
            "docs/migration.md#1", "examples/ilms/README.md#0"} <= names
    assert set(PROSE_STEPS) <= names


def _forget_doc_states(dsn: str, text: str) -> None:
    """What a docs example stored in the test database, removed (its schema too, when it
    made it and nothing else is there)."""
    psycopg = pytest.importorskip("psycopg")
    names = set(re.findall(r"name: ([\w-]+)", text))
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('lmsform.states')").fetchone()[0] is None:
            return
        for name in names:
            conn.execute("DELETE FROM lmsform.journal WHERE name = %s", (name,))
            conn.execute("DELETE FROM lmsform.lock_holders WHERE name = %s", (name,))
            conn.execute("DELETE FROM lmsform.states WHERE name = %s", (name,))
        if conn.execute("SELECT count(*) FROM lmsform.states").fetchone()[0] == 0:
            conn.execute("DROP SCHEMA lmsform CASCADE")
