"""Where state lives: the `StateBackend` contract and the plugins that implement it.

The engine never touches a state file or a database itself: it speaks to a backend, chosen in
the manifests by `state: {backend: NAME, ...}` (`file` when absent) and found through the
`lmsform.state_backends` entry-point group, so a PostgreSQL backend is one module and a third
party adds one with `pip install`. Terraform's `statemgr` draws the same wall: a backend stores
snapshots, appends to a journal and holds a lock; what the state *means* is `lmsform.state`.

A backend stores three things for one state:
- a snapshot (`StateFile`, JSON), replaced atomically: a crash leaves the old or the new one;
- a journal of records appended during an apply, made durable by `sync()`, read back by
  `replay()` after a crash, and dropped by the next `write()`;
- a lock naming its holder, so that two applies never run at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from lmsform import plugins
from lmsform.errors import StateLockedError

log = logging.getLogger(__name__)

GROUP = "lmsform.state_backends"
LOCK_POLL_SECONDS = 0.25  # how often a waiting run tries the lock again
DEFAULT_BACKEND = "file"

Record = dict[str, Any]  # one journal entry: {"put": address, "entry": {...}} or {"remove": ...}
T = TypeVar("T")


def encode_each(records: list[Record], encode: Callable[[Record], T]
                ) -> tuple[list[T], Exception | None]:
    """Each record that `encode` takes, in order, and the first refusal (a value JSON cannot
    hold): a batch's records are operations the LMS did, so a backend journals every one it
    can before it raises, and one record it cannot write loses no other."""
    encoded: list[T] = []
    refused: Exception | None = None
    for record in records:
        try:
            encoded.append(encode(record))
        except (TypeError, ValueError) as exc:
            refused = refused or exc
    return encoded, refused


class JournalDamaged(Exception):
    """A journal holds something that is not a record lmsform wrote (`replay`): what is
    after it cannot be trusted, so the state refuses to load rather than lose it."""


class BackendSettings(BaseModel):
    """The `state:` block of the manifests; each backend subclasses it with its options."""

    model_config = ConfigDict(extra="forbid")
    backend: str = DEFAULT_BACKEND


class StateBackend(ABC):
    """Storage for one state: snapshot, journal and lock. Safe to call from one thread."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    settings_model: ClassVar[type[BackendSettings]] = BackendSettings

    def __init__(self, settings: BackendSettings, config_dir: Path) -> None:
        self.settings = settings
        self.config_dir = config_dir

    @abstractmethod
    def location(self) -> str:
        """Where the state is, for logs and messages (a path, a database and name); never a
        secret."""

    @abstractmethod
    def read(self) -> str | bytes | None:
        """The snapshot's JSON text (or its UTF-8 bytes, which spare decoding a large file
        before parsing it), or None when there is none yet."""

    @abstractmethod
    def write(self, snapshot: str) -> None:
        """Replace the snapshot atomically, then drop the journal it supersedes."""

    @abstractmethod
    def append(self, record: Record) -> None:
        """Add a record to the journal; it must survive this process being killed."""

    def append_all(self, records: list[Record]) -> None:
        """Add several records at once (the operations an LMS finished together), in order,
        with `append`'s promise; a backend that can write them in one go overrides it."""
        for record in records:
            self.append(record)

    @abstractmethod
    def sync(self) -> None:
        """Make every appended record durable (survive a power loss): called once per batch
        of finished operations, before new ones start."""

    @abstractmethod
    def replay(self) -> Iterator[Record]:
        """The journal's records, oldest first; a record cut short by a crash ends it, and
        anything else that is not a record (not JSON, not UTF-8, not an object) raises
        JournalDamaged."""

    @abstractmethod
    def lock(self, operation: str) -> AbstractContextManager[None]:
        """Hold the lock for a block; raise StateLockedError naming the holder if taken."""

    @abstractmethod
    def lock_holder(self) -> dict[str, Any] | None:
        """Who holds the lock (owner, pid, host, operation, created), or None."""

    @abstractmethod
    def force_unlock(self) -> bool:
        """Release a lock left by a process that died; False when it was not locked."""

    def close(self) -> None:  # noqa: B027 - the file backend holds nothing open between calls
        """Release connections."""


@contextlib.contextmanager
def hold_lock(backend: StateBackend, operation: str, timeout: float = 0.0) -> Iterator[None]:
    """The backend's lock for a block, waiting up to `timeout` seconds for a holder to
    finish (`--lock-timeout`); then, or at once without a timeout, the holder's error.
    Written once over `lock`, so every backend waits the same way."""
    deadline = time.monotonic() + timeout
    announced = False
    with contextlib.ExitStack() as held:
        while True:
            try:
                held.enter_context(backend.lock(operation))
                break
            except StateLockedError as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    waited = f" (waited {timeout:g} s)" if timeout else ""
                    raise StateLockedError(f"{exc}{waited}") from None
                if not announced:
                    log.warning("waiting up to %g s for the state lock: %s", timeout, exc)
                    announced = True
                time.sleep(min(LOCK_POLL_SECONDS, left))
        yield


def available() -> dict[str, type[StateBackend]]:
    """Every installed backend class, by name."""
    return {name: load(name) for name in plugins.names(GROUP)}


def load(name: str) -> type[StateBackend]:
    cls: type[StateBackend] = plugins.load(GROUP, name, "state backend")
    return cls


def open_backend(settings: BackendSettings, config_dir: Path) -> StateBackend:
    """Instantiate the plugin for settings already validated against its settings model."""
    return load(settings.backend)(settings, config_dir)
