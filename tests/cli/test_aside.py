"""The text plan written by a helper process while the apply runs (`lmsform.cli.aside`)
comes out exactly as when this process writes it: the same bytes, before the progress lines,
whether the helper writes it, dies, or cannot be waited for; and never where the text could
fail to be written, nor at the cost of what the apply says once it is over.

Each apply runs in a process of its own, as `lmsform` does: the helper forks only where no
other thread runs, and a test process may have some."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsform.cli.aside import signals_deferred

APPLY = textwrap.dedent("""\
    import os, signal, sys, threading, time
    from lmsform.cli import aside, main, planning
    from lmsform.config import helper

    how, parent = sys.argv[1], os.getpid()
    print(f"parent {parent}", file=sys.stderr, flush=True)
    aside.MIN_OPERATIONS = 10**9 if how == "here" else 0
    helper._processors = lambda: 2  # forked even on one processor
    written = aside._write

    def dies(*args):  # killed in the helper, as for memory: the text is made here
        os.kill(os.getpid(), signal.SIGKILL)

    def slow(*args):  # still writing when the apply is over, and Ctrl-C pressed meanwhile
        while not os.path.exists(os.environ["APPLY_OVER"]):
            time.sleep(0.01)
        time.sleep(1.0 if how == "slow" else 3.0)
        return written(*args)

    def late(*args):  # written once operations have finished: their lines are held
        while not os.path.exists(os.environ["APPLY_OVER"]):
            time.sleep(0.01)
        return written(*args)

    if how == "late":
        aside._write = late
        progress = planning._Progress.__call__

        def tenth(self, done, *args):
            if done == 10:
                open(os.environ["APPLY_OVER"], "w").close()
            progress(self, done, *args)

        planning._Progress.__call__ = tenth
    if how == "dies":
        aside._write = dies
    if how in ("slow", "hangs"):
        aside._write = slow
        finish = planning._Progress.finish

        def interrupted(self):
            open(os.environ["APPLY_OVER"], "w").close()
            threading.Timer(0.3, os.kill, [parent, signal.SIGINT]).start()
            finish(self)

        planning._Progress.finish = interrupted
    if how == "hangs":
        aside.WAIT_SECONDS = 1.0
    if how == "sigchld":  # as under a supervisor that reaps nothing
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    sys.argv = ["lmsform", "--debug", "apply", "--auto-approve", "--parallelism", "1",
                *sys.argv[2:]]
    main()
    """)

USERS = 300


def _org(directory: Path, users: int = USERS) -> Path:
    """An organisation of `users` users, created one transaction each, so that the apply
    outlasts the helper's text."""
    directory.mkdir(parents=True)
    (directory / "lmsform.yaml").write_text(textwrap.dedent("""\
        provider: {type: local, batch_size: 1}
        hierarchy:
          - region: R
            divisions: [{division: D, departments: [P]}]
        groups: [{name: G0}, {name: G1}]
        courses: [{key: c-1, title: 'One \u00e9t\u00e9'}]
        """))
    (directory / "users.yaml").write_text("users:\n" + "".join(
        f"  - email: user{i}@example.com\n    first_name: N\u00e4me {i}\n"
        f"    department: R/D/P\n    groups: [G{i % 2}]\n    enrollments: [c-1]\n"
        for i in range(users)))
    return directory


def _apply(directory: Path, how: str, *args: str, encoding: str = "utf-8"
           ) -> subprocess.CompletedProcess[bytes]:
    """An apply in a process of its own; what it wrote, each operation's seconds and the
    place of its directory left out."""
    env = {**os.environ, "PYTHONIOENCODING": encoding,
           "APPLY_OVER": str(directory.parent / "apply-over")}
    done = subprocess.run([sys.executable, "-c", APPLY, how, "-C", directory.name, *args],
                          capture_output=True, cwd=directory.parent, env=env, timeout=120)
    done.stdout = re.sub(rb"done \([0-9.]+s\)", b"done", done.stdout).replace(
        os.fsencode(directory.resolve()), b"ORG")
    return done


def _writer(done: subprocess.CompletedProcess[bytes]) -> str:
    """Who wrote the text: the helper, this process, or neither (not written aside)."""
    err = done.stderr.decode()
    parent = re.search(r"parent (\d+)", err)
    by = re.search(r"the text plan was written by process (\d+)", err)
    if by is not None:
        assert parent is not None and by[1] != parent[1]
        return "helper"
    return "here" if "the text plan is written here" in err else "neither"


@pytest.fixture
def here(tmp_path: Path) -> bytes:
    """What an apply says with no helper: the output to compare with."""
    done = _apply(_org(tmp_path / "here" / "org"), "here")
    assert done.returncode == 0, done.stderr.decode()
    assert _writer(done) == "neither"
    return done.stdout


@pytest.mark.parametrize(("how", "writer"), [("aside", "helper"), ("dies", "here"),
                                             ("sigchld", "helper")])
def test_the_text_comes_out_as_this_process_writes_it(
        tmp_path: Path, here: bytes, how: str, writer: str) -> None:
    done = _apply(_org(tmp_path / how / "org"), how)
    assert done.returncode == 0, done.stderr.decode()
    assert _writer(done) == writer
    assert done.stdout == here
    assert b"lmsform will perform these operations" in here
    assert here.index(b"Apply complete") > here.index(f"[{USERS + 5}/".encode())


def test_the_text_comes_out_while_the_apply_runs(tmp_path: Path, here: bytes) -> None:
    """Not held until the apply is over: written at the first operation after it is ready,
    the lines held meanwhile after it ("late": ready after the tenth)."""
    done = _apply(_org(tmp_path / "org"), "late")
    assert done.stdout == here
    err = done.stderr.decode()
    written = err.index("the text plan was written by process")
    assert err.count(": done in", 0, written) >= 10
    assert written < err.rindex(": done in"), "the text waited for the end of the apply"


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_no_text_is_written_aside_where_it_could_fail(tmp_path: Path, encoding: str) -> None:
    """Only UTF-8 writes any text; elsewhere the text is written first, as without a
    helper, so that what it cannot write stops the apply before it starts."""
    done = _apply(_org(tmp_path / "org"), "aside", encoding=encoding)
    assert done.returncode == 0, done.stderr.decode()
    assert _writer(done) == "neither"
    plain = _apply(_org(tmp_path / "plain" / "org"), "here", encoding=encoding)
    assert done.stdout == plain.stdout


def test_an_apply_refused_after_its_plan_shows_the_text_first(tmp_path: Path) -> None:
    directory = _org(tmp_path / "org")
    assert _apply(directory, "here").returncode == 0
    (directory / "users.yaml").write_text("users: []\n")
    done = _apply(directory, "aside", "--max-deletes", "0")
    assert done.returncode == 1
    assert b"- user.user0@example.com" in done.stdout
    assert b"exceeds a safety limit" in done.stderr
    assert _writer(done) == "neither"  # refused before the apply started: no helper


@pytest.mark.parametrize(("how", "writer"), [("slow", "helper"), ("hangs", "here")])
def test_ctrl_c_while_the_text_is_awaited_loses_nothing(
        tmp_path: Path, here: bytes, how: str, writer: str) -> None:
    """The apply is over when the text is awaited: Ctrl-C then waits until the text, the
    progress lines and the report are out ("hangs": the helper took longer than allowed,
    and the text was made here)."""
    done = _apply(_org(tmp_path / how / "org"), how)
    assert _writer(done) == writer
    assert done.stdout == here
    assert done.returncode == 130, done.stderr.decode()
    assert done.stderr.decode().rstrip().endswith("interrupted")


@pytest.fixture
def handled() -> Iterator[list[int]]:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    yield seen
    signal.signal(signal.SIGTERM, previous)


def test_signals_wait_for_the_end_of_the_block(handled: list[int]) -> None:
    with signals_deferred():
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        assert handled == []
    assert handled == [signal.SIGTERM]  # the first, handled as it would have been
    with pytest.raises(KeyboardInterrupt), signals_deferred():
        signal.raise_signal(signal.SIGINT)
    with signals_deferred():
        pass
    assert handled == [signal.SIGTERM]
