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
from typing import Any

import pytest

from lmsform.cli.aside import signals_deferred

APPLY = textwrap.dedent("""\
    import os, signal, sys, threading, time
    from lmsform import state
    from lmsform.cli import aside, main, planning
    from lmsform.config import helper
    from lmsform.providers.local import handlers

    how, parent = sys.argv[1], os.getpid()
    print(f"parent {parent}", file=sys.stderr, flush=True)
    aside.MIN_OPERATIONS = 10**9 if how == "here" else 0
    helper._processors = lambda: 2  # forked even on one processor
    written, render = aside._write, planning._echo_text

    def when(marker):  # a file the test's own code makes at a given moment
        return os.path.join(os.environ["MARKS"], marker)

    waits_for = ("never", 0.0)  # what the helper waits for before it writes (`late_write`)

    def late_write(*args):  # sent to the helper by name: a function of this module
        marker, seconds = waits_for
        while not os.path.exists(when(marker)):
            time.sleep(0.01)
        time.sleep(seconds)
        return written(*args)

    def after(marker, seconds=0.0):  # the helper writing once `marker` is made
        global waits_for
        waits_for = (marker, seconds)
        return late_write

    def at_operation(n, then):  # `then()` as the nth operation is said
        progress = planning._Progress.__call__
        def call(self, done, *args):
            if done == n:
                then()
            progress(self, done, *args)
        planning._Progress.__call__ = call

    def at_finish(then):  # `then()` once the apply is over, before anything is said
        finish = planning._Progress.finish
        def call(self):
            then()
            finish(self)
        planning._Progress.finish = call

    def mark(marker):
        return lambda: open(when(marker), "w").close()

    def interrupt(signum, seconds):
        return lambda: threading.Timer(seconds, os.kill, [parent, signum]).start()

    def killed(*args):
        os.kill(os.getpid(), signal.SIGKILL)

    def refused(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    def ctrl_c_while_waiting():  # Ctrl-C as the text is awaited, the helper still writing
        waited = aside._waited
        def wait(helper):
            os.kill(parent, signal.SIGINT)
            return waited(helper)
        aside._waited = wait

    def oom_write(*args):  # sent to the helper by name: what the kernel is told of it
        with open("/proc/self/oom_score_adj") as score, open(when("oom"), "w") as out:
            out.write(score.read().strip())
        return written(*args)

    if how == "dies":  # killed in the helper, as for memory: the text is made here
        aside._write = killed
    elif how == "no-temp":  # no temporary file can be made: no helper
        aside.tempfile.TemporaryFile = refused
    elif how == "no-pool":  # no semaphores for the helper's pool (no /dev/shm): no helper
        helper.ProcessPoolExecutor = refused
    elif how == "sigchld":  # as under a supervisor that reaps nothing
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    elif how == "late":  # ready after the tenth operation: the lines before it are held
        aside._write = after("tenth")
        at_operation(10, mark("tenth"))
        create = handlers.Stored.create  # and the LMS slow enough to outlast the helper
        handlers.Stored.create = lambda self, attrs: (time.sleep(0.002), create(self, attrs))[1]
    elif how == "slow-lms":  # the first call takes a second: the text comes out meanwhile
        create = handlers.Stored.create  # one at a time: the org's batch_size is 1
        def slow(self, attrs):
            if not os.path.exists(when("slowed")):
                mark("slowed")()
                time.sleep(1.0)
            return create(self, attrs)
        handlers.Stored.create = slow
    elif how == "ctrl-c":  # still writing when the apply is over, and Ctrl-C pressed then
        aside._write = after("never")
        ctrl_c_while_waiting()
    elif how == "oom":
        aside._write = oom_write
    elif how == "progress-full":  # the disk fills as the 100th progress line is written
        import io
        import lmsform.cli
        quiet = lmsform.cli._quiet_when_closed
        class Full(io.TextIOWrapper):
            def write(self, text):
                if "[100/" in text:
                    raise OSError(28, "No space left on device")
                return super().write(text)
        kept = []  # the wrapper `Full` replaces: collected, it would close the stream
        def full(stream):
            made = quiet(stream)
            kept.append(made)
            return Full(made.buffer, encoding=made.encoding, errors=made.errors)
        lmsform.cli._quiet_when_closed = full
    elif how == "hangs":  # still writing once the apply is over and the wait has passed
        aside._write = after("over", 3.0)
        aside.WAIT_SECONDS = 0.5
        at_finish(mark("over"))
    elif how == "sigterm":  # SIGTERM mid-apply, the helper still writing
        aside._write = after("never")
        at_operation(5, interrupt(signal.SIGTERM, 0))
    elif how == "bug":  # the text cannot be made, by the helper or here
        def broken(plan):
            render(plan)
            raise RuntimeError("the renderer broke")
        planning._echo_text = broken
    elif how == "state-fails":  # the state fails mid-apply, Ctrl-C while the text is awaited
        aside._write = after("never")
        ctrl_c_while_waiting()
        sync, syncs = state.State.sync, []
        def failing(self):
            syncs.append(1)
            if len(syncs) == 30:
                raise OSError("the state's disk went away")
            sync(self)
        state.State.sync = failing
    elif how == "bug-and-failure":  # the text cannot be made, and an operation fails
        def broken_too(plan):
            render(plan)
            raise RuntimeError("the renderer broke")
        planning._echo_text = broken_too
        create = handlers.Stored.create
        def refused_once(self, attrs):
            if attrs.get("email") == "user7@example.com":
                raise handlers.ProviderError("create user", "refused", status=409)
            return create(self, attrs)
        handlers.Stored.create = refused_once
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


def _apply(directory: Path, how: str, *args: str, encoding: str = "utf-8",
           stdout: Any = subprocess.PIPE, merged: bool = False, timeout: float = 120
           ) -> subprocess.CompletedProcess[bytes]:
    """An apply in a process of its own; what it wrote, each operation's seconds and the
    place of its directory left out."""
    marks = directory.parent / f"marks-{how}"
    marks.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONIOENCODING": encoding, "MARKS": str(marks)}
    done = subprocess.run([sys.executable, "-c", APPLY, how, "-C", directory.name, *args],
                          cwd=directory.parent, env=env, timeout=timeout, stdout=stdout,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE)
    done.stdout = done.stdout or b""
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


def _converged(directory: Path) -> bool:
    """Whether a plan finds the LMS as the manifests say: every operation was recorded."""
    done = subprocess.run([sys.executable, "-m", "lmsform", "plan", "--detailed-exitcode",
                           "-C", directory.name], cwd=directory.parent, capture_output=True,
                          timeout=120)
    return done.returncode == 0


@pytest.mark.parametrize(("how", "writer"), [
    ("aside", "helper"), ("dies", "here"), ("sigchld", "helper"),
    ("hangs", "here"),  # still writing once the apply is over and the wait has passed
    ("no-temp", "neither"), ("no-pool", "neither"),  # no helper: the text is written first
])
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


def test_the_text_comes_out_while_the_lms_is_slow_to_answer(tmp_path: Path,
                                                            here: bytes) -> None:
    """Ready before any operation has finished, it does not wait for one."""
    directory = _org(tmp_path / "org")
    done = _apply(directory, "slow-lms")
    assert done.stdout == here
    assert (directory.parent / "marks-slow-lms" / "slowed").exists()
    err = done.stderr.decode()
    assert err.index("the text plan was written by process") < err.index(": done in")


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


@pytest.mark.parametrize("how", ["disk-full", "bug", "progress-full"])
def test_output_that_cannot_be_written_never_stops_the_apply(tmp_path: Path,
                                                             how: str) -> None:
    """Written out mid-apply, its failure (standard output on a full disk; a renderer that
    breaks, in the helper and here; the disk full at the 100th progress line) is said once
    every operation is recorded."""
    directory = _org(tmp_path / "org")
    if how == "disk-full":
        with open("/dev/full", "wb") as full:
            done = _apply(directory, "aside", stdout=full)
    else:
        done = _apply(directory, how)
    said = b"the renderer broke" if how == "bug" else \
        b"error: the apply's output could not be written (No space left on device); what it " \
        b"did is recorded in the state: 306 applied, 0 failed\n"
    assert done.returncode == 1
    assert said in done.stderr
    assert _converged(directory), "an operation the LMS made was not recorded"
    if how == "bug":  # the progress lines still written, the text having failed
        assert f"[{USERS + 6}/{USERS + 6}]".encode() in done.stdout


def test_an_apply_that_fails_says_that_and_that_its_text_failed(tmp_path: Path) -> None:
    done = _apply(_org(tmp_path / "org"), "bug-and-failure")
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "user.user7@example.com: create failed" in err
    assert "Writing the output failed too: the renderer broke" in err


def test_the_helper_is_the_kernels_first_choice_when_memory_runs_out(tmp_path: Path) -> None:
    directory = _org(tmp_path / "org")
    done = _apply(directory, "oom")
    assert _writer(done) == "helper"
    assert (directory.parent / "marks-oom" / "oom").read_text() == "1000"


def test_ctrl_c_while_the_text_is_awaited_loses_nothing(tmp_path: Path, here: bytes) -> None:
    """The apply is over when the text is awaited: Ctrl-C ends the wait (the text is made
    here), then waits until the progress lines and the report are out."""
    done = _apply(_org(tmp_path / "org"), "ctrl-c", timeout=30)
    assert _writer(done) == "here"
    assert done.stdout == here
    assert done.returncode == 130, done.stderr.decode()
    assert done.stderr.decode().rstrip().endswith("interrupted")


def test_an_apply_that_fails_says_its_text_then_its_own_error_despite_ctrl_c(
        tmp_path: Path) -> None:
    """The state failing mid-apply, Ctrl-C while the text is awaited: the text, then the
    state's error, which the command ends with."""
    done = _apply(_org(tmp_path / "org"), "state-fails")
    assert done.returncode == 1, done.stderr.decode()
    assert b"lmsform will perform these operations" in done.stdout
    assert done.stderr.decode().rstrip().endswith("the state's disk went away")


def test_sigterm_mid_apply_is_said_after_the_text(tmp_path: Path) -> None:
    """In a log of both streams, as without a helper: the helper still writing, the text
    is made here at once."""
    # made here at once: waiting for the helper (WAIT_SECONDS) would outlast CI's patience
    done = _apply(_org(tmp_path / "org"), "sigterm", merged=True, timeout=30)
    out = done.stdout
    assert done.returncode == 130, out.decode()  # stopped, what was done recorded
    assert b"the text plan is written here: the helper is still writing it" in out
    assert out.index(b"lmsform will perform these operations") < \
        out.index(b"SIGTERM: finishing the operations under way")


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
