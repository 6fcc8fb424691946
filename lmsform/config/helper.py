"""Manifests read by a second process while this one reads the rest.

Reading 100k users (parsing, validating each entry, making its resource) is Python's work,
one entry after another, on one core: half of a converged plan's time. Where the machine has
a second processor, a process forked from this one (`Helper`) takes half of it:

- the later half of the manifests, by size, when there are many (export writes 5,000 users
  to a file): each comes back as its resources (`files.read_elsewhere`), or, where it needs
  this process (`${...}`, a problem to say, a block, a lifecycle, a secret), unread, and is
  read here in its turn;
- otherwise the second half of a long list's later runs (a 30 MB `users:` list, which the
  fast reader parses in runs of about a megabyte, `LaterRuns`): each entry comes back as its
  resource's key and attributes where it validates plainly (`Kind.plain_resource`), or as it
  was read, to be validated here by its model, in its place; a run that does not parse is
  said to, and the file goes to the full loader as it would here.

Either way what is wrong is said here, exactly as without the helper, and nothing comes back
that a plan could tell apart. Forking is done only where it is safe and pays: on Linux, with
no other thread running (a fork copies no thread, and a lock another thread held would stay
held in the child), with a second processor, for `MIN_BYTES` or more, never from a helper
nor within `unforked()`. Anywhere else, or should the helper fail, everything is read here.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from lmsform import kinds
from lmsform.kinds import Kind
from lmsform.kinds.kind import NO_LIFECYCLE, NO_SECRETS, Loc, Resource
from lmsform.yamlfile import LaterRunError, LaterRuns

log = logging.getLogger(__name__)

# What is shorter than this (the later half of the manifests, or of a list's later runs) is
# read here: for 10k users in one file (3 MB) the helper saved 2% of a `validate`, for 5k it
# cost 3%, for 20k (6 MB) it saved 8%.
MIN_BYTES = 4 * 2**20


@dataclass(frozen=True)
class AsRead:
    """An entry the helper handed back as it was read: its model validates it here."""

    entry: Any


# What the helper makes of one entry: its resource's key and attributes (`portable`), or
# the entry itself.
Portable = tuple[str, dict[str, Any]] | AsRead


def portable(resource: Resource) -> tuple[str, dict[str, Any]] | None:
    """A resource the helper made, as it is handed back: its key and attributes; None
    where it carries more, for this process to make itself (a lifecycle, whose model is
    made at run time and cannot be sent; a secret; a time bound; a value from the
    environment)."""
    if resource.lifecycle is not NO_LIFECYCLE or resource.secrets or \
            resource.timed is not None or resource.sensitive:
        return None
    return resource.key, resource.attrs


def rebuilt(kind: str, key: str, attrs: dict[str, Any],
            origin: tuple[str, Loc] | None = None) -> Resource:
    """A resource handed back (`portable`), made again here."""
    return Resource(kind, key, attrs, NO_SECRETS, NO_LIFECYCLE, origin)


def halfway(sizes: list[int]) -> int:
    """Where the later half of these (files, runs), by size, starts; len(sizes) where the
    last holds most of them."""
    total, running = sum(sizes), 0
    for i, size in enumerate(sizes):
        running += size
        if 2 * running >= total:
            return i + 1
    return len(sizes)


class Helper:
    """Calls made in order by a forked process (`start`); `answers` gives each one's answer
    as it comes or, should the process fail, the call made here instead."""

    def __init__(self, pool: ProcessPoolExecutor, calls: list[tuple[Callable[..., Any],
                                                                   tuple[Any, ...]]]) -> None:
        self._pool, self._calls = pool, calls
        self._futures: list[Future[Any] | None] = []
        for call, args in calls:
            try:
                self._futures.append(pool.submit(call, *args))
            except BrokenProcessPool:  # it died on an earlier call: the rest is made here
                self._futures.append(None)

    @staticmethod
    def start(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> Helper | None:
        """The helper making `calls`, or None where forking is not safe or does not pay
        (another thread running, one processor, not Linux, within a helper already)."""
        if not calls or not _may_fork():
            return None
        for stream in (sys.stdout, sys.stderr):  # the child must not write them out again
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.flush()
        try:  # a pool needs semaphores (/dev/shm), which a sandbox may not have
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                                       initializer=_in_helper, initargs=(os.getpid(),))
        except Exception as exc:
            log.debug("no helper (%r): everything is done here", exc)
            return None
        try:
            return Helper(pool, calls)
        except Exception:
            pool.shutdown(wait=False, cancel_futures=True)
            return None

    def answers(self) -> Iterator[Any]:
        try:
            for i, (call, args) in enumerate(self._calls):
                future, self._futures[i] = self._futures[i], None  # the answer goes with it
                try:
                    if future is None:
                        raise BrokenProcessPool("dead before this call was sent")
                    answer = future.result()
                except Exception as exc:  # the helper died (memory, a signal)
                    log.debug("the helper failed (%r); its call is made here", exc)
                    answer = call(*args)
                yield answer
        finally:
            self.close()

    def ready(self) -> bool:
        """Whether the first call's answer has come (or the helper failed): `answer` would
        not wait."""
        future = self._futures[0]
        return future is None or future.done()

    def answer(self, timeout: float) -> Any:
        """The first call's answer, for a caller that does without it where the helper
        failed or took longer than `timeout` seconds: then this raises. The caller closes
        the helper."""
        future = self._futures[0]
        if future is None:
            raise BrokenProcessPool("dead before the call was sent")
        return future.result(timeout)

    def close(self) -> None:
        """Ask for nothing more: the helper ends once its call under way is made, and with
        this process in any case (`_in_helper`)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class SecondHalf:
    """The later runs of one list split in two: `here` for this process to read, the rest
    being read by the helper, a run at a time (`declared`)."""

    kind: Kind
    here: LaterRuns
    helper: Helper

    def declared(self) -> Iterator[list[Resource | AsRead]]:
        """The helper's runs in order: each entry's resource (its place in the file not
        yet set) or the entry itself. Raises `LaterRunError` at a run that did not parse."""
        for _, run in self.helper.answers():  # (who answered, the run)
            if run is None:
                self.close()
                raise LaterRunError(self.here.key)
            yield [_resource(self.kind, made) for made in run]

    def close(self) -> None:
        self.helper.close()


def start(kind: Kind, runs: LaterRuns) -> SecondHalf | None:
    """The helper started on the second half of `runs`, or None: the runs are read here
    (short ones, a kind none of whose entries can be plain, or no helper, `Helper.start`)."""
    sizes = [len(piece) for piece in runs.pieces]
    at = halfway(sizes)
    if kind.plain_entries is None or sum(sizes) < MIN_BYTES:
        return None
    # a run at a time: each answer is a few hundred kB, let go once made resources
    helper = Helper.start([(_declare, (kind.name, runs.key, piece))
                           for piece in runs.pieces[at:]])
    here = LaterRuns(runs.key, runs.pieces[:at])
    return SecondHalf(kind, here, helper) if helper is not None else None


_HELPING = False  # this process is a helper: it forks none of its own
_UNFORKED = 0  # blocks of `unforked` under way


@contextlib.contextmanager
def unforked() -> Iterator[None]:
    """No helper within the block: for a load made while this process holds what a fork
    would carry into the helper (export checks the files it wrote under the state lock,
    whose descriptor a helper would hold until it ended)."""
    global _UNFORKED
    _UNFORKED += 1
    try:
        yield
    finally:
        _UNFORKED -= 1


# prctl(2): the signal a process gets when the one that forked it ends
PR_SET_PDEATHSIG = 1
# proc(5): the most a process may ask to be the out-of-memory killer's first choice
OOM_SCORE_ADJ = 1000


def _in_helper(parent: int) -> None:
    """The helper's start: it forks none of its own, Ctrl-C and SIGTERM end it at once (this
    process says what was interrupted), it ends with this process however that ends
    (killed, out of memory), never left running with its output or a lock, and it is the
    first the kernel ends when memory runs out: whatever it does, this process can do."""
    global _HELPING
    _HELPING = True
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before that was asked
        os._exit(1)
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as score:
        score.write(str(OOM_SCORE_ADJ))


def _may_fork() -> bool:
    return (sys.platform.startswith("linux") and not _HELPING and not _UNFORKED
            and threading.active_count() == 1 and _processors() > 1)


def _processors() -> int:
    return len(os.sched_getaffinity(0))


def _declare(kind_name: str, key: str, piece: bytes) -> tuple[int, list[Portable] | None]:
    """In the helper: one run's entries made into portable resources, or handed back;
    None for a run that does not parse."""
    kind = kinds.get(kind_name)
    try:
        (entries,) = LaterRuns(key, [piece])
    except LaterRunError:
        return os.getpid(), None
    return os.getpid(), [_portable(kind.plain_resource(entry, None), entry)
                         for entry in entries]


def _portable(resource: Resource | None, entry: Any) -> Portable:
    carried = portable(resource) if resource is not None else None
    return carried if carried is not None else AsRead(entry)


def _resource(kind: Kind, made: Portable) -> Resource | AsRead:
    return made if isinstance(made, AsRead) else rebuilt(kind.name, *made)
