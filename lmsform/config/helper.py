"""A long list's later runs declared in a second process while this one declares the rest.

A file of 100k users is a 30 MB list that the fast reader parses in runs of about a megabyte
(`LaterRuns`); parsing a run, validating each entry and making its resource is Python's work,
one entry after another, on one core: half of a converged plan's time. Where the machine has
a second core and the list's later runs are long (`MIN_BYTES`), a process forked from this
one takes their second half: it parses them and makes the resources of the entries that
validate plainly (`Kind.plain_resource`); every other entry comes back as it was read, and
is validated here by its model, in its place, so that what is wrong is said exactly as
without the helper. A run it cannot parse is reported as such, and the file is read again by
the full loader, as it would be here. A resource comes back as its key and attributes (an
entry setting a lifecycle or a secret comes back as read: few do, and the model carries
them); the resources are made again here, with their places in the file.

Forking is done only where it is safe and pays: on Linux, with no other thread running
(a fork copies no thread, and a lock another thread held would stay held in the child), with
a second processor to run on. Anywhere else, or should the helper fail, the runs are read
here.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from lmsform import kinds
from lmsform.kinds import Kind
from lmsform.kinds.kind import NO_LIFECYCLE, NO_SECRETS, Resource
from lmsform.yamlfile import LaterRunError, LaterRuns

log = logging.getLogger(__name__)

# Later runs shorter than this are read here: for 10k users (3 MB) the helper saved 2% of a
# `validate`, for 5k it cost 3%, for 20k (6 MB) it saved 8%.
MIN_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Unplain:
    """An entry the helper handed back as it was read: its model validates it here."""

    entry: Any


# What the helper makes of one entry: its resource's key and attributes, or the entry itself
# (one that sets a lifecycle or a secret among them: those are the model's to carry).
Portable = tuple[str, dict[str, Any]] | Unplain


@dataclass
class SecondHalf:
    """The later runs of one list split in two: `here` for this process to read, the rest
    being read by the helper, a run at a time (`declared`)."""

    kind: Kind
    here: LaterRuns
    elsewhere: LaterRuns
    _pool: ProcessPoolExecutor
    _runs: list[Future[tuple[int, list[Portable] | None]]]
    worker: int | None = None  # the process that read the last run (None: this one)

    def declared(self) -> Iterator[list[Resource | Unplain]]:
        """The helper's runs in order: each entry's resource (its place in the file not
        yet set) or the entry itself. Raises `LaterRunError` at a run that did not parse.
        Should the helper fail, what it did not answer is read here."""
        try:
            for piece, future in zip(self.elsewhere.pieces, self._runs, strict=True):
                try:
                    self.worker, run = future.result()
                except Exception as exc:  # the helper died (memory, a signal)
                    log.debug("the helper reading %s failed (%r); read here instead",
                              self.elsewhere.key, exc)
                    self.worker, run = None, _declare(self.kind.name, self.elsewhere.key,
                                                      piece)[1]
                if run is None:
                    raise LaterRunError(self.elsewhere.key)
                yield [_resource(self.kind, made) for made in run]
        finally:
            self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def start(kind: Kind, runs: LaterRuns) -> SecondHalf | None:
    """The helper started on the second half of `runs`, or None: the runs are read here
    (short ones, another thread running, one processor, not Linux)."""
    if runs.size() < MIN_BYTES or len(runs.pieces) < 2 or not _may_fork():
        return None
    here, elsewhere = runs.split()
    if not elsewhere.pieces:  # one run holds most of them
        return None
    for stream in (sys.stdout, sys.stderr):  # the child must not write them out again
        stream.flush()
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:  # a run at a time: each answer is a few hundred kB, let go once made resources
        futures = [pool.submit(_declare, kind.name, runs.key, piece)
                   for piece in elsewhere.pieces]
    except Exception:
        pool.shutdown(wait=False, cancel_futures=True)
        return None
    return SecondHalf(kind, here, elsewhere, pool, futures)


def _may_fork() -> bool:
    return (sys.platform.startswith("linux") and threading.active_count() == 1
            and len(os.sched_getaffinity(0)) > 1)


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
    if resource is None or resource.lifecycle is not NO_LIFECYCLE or resource.secrets:
        return Unplain(entry)
    return resource.key, resource.attrs


def _resource(kind: Kind, made: Portable) -> Resource | Unplain:
    if isinstance(made, Unplain):
        return made
    key, attrs = made
    return Resource(kind.name, key, attrs, NO_SECRETS, NO_LIFECYCLE)
