"""The text plan of a large apply, written by a helper process while the apply runs.

An apply that asks no confirmation (`--auto-approve`, or a saved plan) prints its text plan
and then starts on the LMS. For 100k creates the text is 1.2 million lines: 0.6 s of this
process's one interpreter lock, which nobody waits on to read before the apply starts. So
where the plan is large and goes to no terminal, the helper process the manifests are read
with (`config.helper.Helper`) is forked as the apply starts, renders the text into a
temporary file with the very code this process would run, and this process applies
meanwhile. The text is copied out as soon as it is ready (at a finished operation, or as the
apply waits for the LMS), the progress lines held until then after it: the same bytes in the
same order as without the helper.

Only where standard output's encoding is UTF-8, which writes any text a plan holds (what is
not printable is escaped, `render.escaping`): the text cannot fail to encode there, which
would have refused the apply before it started. Should the helper fail, or still be writing
once the apply is over and `WAIT_SECONDS` have passed (or Ctrl-C comes then), the text is
rendered here, before anything else is said; as it is, at once, before a Ctrl-C during the
apply is said. Writing it out never stops the apply midway (a full disk, a renderer that
breaks): every operation the LMS finishes is recorded, and the error is said once the apply
is over (`cli.planning._Progress`).
Ctrl-C and SIGTERM wait while the text and the report go out (`signals_deferred`).

What goes to standard error meanwhile (a vendor's retry warning, `-v`'s log lines) may come
before the text in a log that merges both streams; standard output is as without a helper.
In-process callers of the command (tests) would wait at their exit for a helper still
writing; the command itself ends with `os._exit`, and the helper with it.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from lmsform.config.helper import Helper
from lmsform.plan import Plan

log = logging.getLogger(__name__)

# Operations from which the text is written aside: below, the fork costs about what the
# text does (10k creates' text takes 0.06 s).
MIN_OPERATIONS = 10_000
# How long the helper may still take once the apply is over before the text is made here,
# and how often it is looked at meanwhile.
WAIT_SECONDS = 60.0
POLL_SECONDS = 0.02

Render = Callable[[Plan], None]

# What the helper renders, set while it is forked: it has this process's memory, so the
# plan is not sent to it.
_FORKED_WITH: tuple[Render, Plan] | None = None


class TextAside:
    """The `show` and `starting` hooks of an apply that asks no confirmation, and the text
    they hold back until `write_out`."""

    def __init__(self, render: Render) -> None:
        self._render = render
        self._plan: Plan | None = None  # held back: not written out yet
        self._helper: Helper | None = None
        self._file: IO[bytes] | None = None

    def show(self, plan: Plan) -> None:
        """The text now, or, for a large plan going to no terminal, held back (`start`)."""
        if len(plan.operations) >= MIN_OPERATIONS and _writes_any_text(sys.stdout):
            self._plan = plan
        else:
            self._render(plan)

    def start(self) -> None:
        """Just before the apply's first call to the LMS: the helper forked to write the
        held-back text; or, where none can be, the text written here, which refuses the
        apply as it would have before, should it fail."""
        global _FORKED_WITH
        if self._plan is None:
            return
        try:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by write_out
            _FORKED_WITH = (self._render, self._plan)
            self._helper = Helper.start([(_write, (self._file.fileno(), sys.stdout.encoding,
                                                   sys.stdout.errors))])
        except Exception as exc:  # no temporary file: no helper
            log.debug("no helper for the text plan (%r)", exc)
        finally:
            _FORKED_WITH = None
        if self._helper is None:
            self.write_out()

    @property
    def pending(self) -> bool:
        """Text held back, not written out yet."""
        return self._plan is not None

    def ready(self) -> bool:
        """Whether `write_out` would not wait for the helper."""
        return self._helper is None or self._helper.ready()

    def write_out(self, *, patient: bool = True) -> None:
        """The held-back text to standard output: the helper's, or made here where it
        failed, or is still writing and this is no time to wait (`patient` false: Ctrl-C
        during the apply), or takes longer than `WAIT_SECONDS`. The plan is the one shown:
        nothing since, the apply included, changes a plan in place."""
        plan, helper, file = self._plan, self._helper, self._file
        self._plan = self._helper = self._file = None
        if plan is None:
            return
        try:
            copied = helper is not None and file is not None and \
                _copied(helper, file, patient)
        finally:
            if helper is not None:
                helper.close()
            if file is not None:
                file.close()
        if not copied:
            self._render(plan)


def _writes_any_text(stream: Any) -> bool:
    """A stream that is no terminal and writes any text, bytes through a buffer."""
    try:
        return (not stream.isatty() and hasattr(stream, "buffer")
                and codecs.lookup(stream.encoding).name == "utf-8")
    except (AttributeError, LookupError, TypeError, ValueError, OSError):
        return False


def _write(descriptor: int, encoding: str, errors: str) -> int:
    """In the helper: the text into the file, as this process's standard output would take
    it (the same encoding and errors, so that click makes the same choices). Its pid."""
    assert _FORKED_WITH is not None
    render, plan = _FORKED_WITH
    with open(descriptor, "w", encoding=encoding, errors=errors, closefd=False) as out, \
            contextlib.redirect_stdout(out):
        render(plan)
    return os.getpid()


def _copied(helper: Helper, file: IO[bytes], patient: bool) -> bool:
    if not (helper.ready() or (patient and _waited(helper))):
        log.debug("the text plan is written here: the helper is still writing it")
        return False
    try:
        writer = helper.answer(0)
    except Exception as exc:  # it died
        log.debug("the text plan is written here: the helper did not write it (%r)", exc)
        return False
    log.debug("the text plan was written by process %s", writer)
    sys.stdout.flush()
    file.seek(0)
    shutil.copyfileobj(file, sys.stdout.buffer)
    return True


def _waited(helper: Helper) -> bool:
    """Whether the helper is done within `WAIT_SECONDS`, and before Ctrl-C or SIGTERM (held
    by `signals_deferred`), either of which ends the wait."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not helper.ready():
        if _deferred or time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


_deferred: list[int] = []  # the signals `signals_deferred` caught, in its block


@contextlib.contextmanager
def signals_deferred(*, act_after: bool = True) -> Iterator[None]:
    """Ctrl-C and SIGTERM held until the block is done, then acted on as they would have
    been: once an apply is over, what it did is said whole (the text, the progress lines
    held with it, the report) however often the user presses Ctrl-C; a wait for the helper
    ends at once. Dropped where the block raises, or `act_after` is false (the command is
    ending with an error already): that error is what the command ends with."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferred.clear()
    previous: dict[int, Any] = {}
    try:  # installed within the block: a signal between the two installs is undone too
        for deferred in (signal.SIGINT, signal.SIGTERM):
            previous[deferred] = signal.signal(deferred, lambda s, frame: _deferred.append(s))
        yield
    finally:
        caught = _deferred[:1]
        _deferred.clear()
        for signum, handler in reversed(previous.items()):  # SIGINT's last: Ctrl-C's own
            signal.signal(signum, handler)
    if caught and act_after:
        signal.raise_signal(caught[0])
