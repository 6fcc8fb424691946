"""State: what lmsform manages, by address, with the LMS's ids and the last applied attributes.

`State` is the meaning of a state; where it is stored is a backend's business
(`lmsform.backends`). During an apply every successful operation is appended to the backend's
journal (and made durable once per batch of finished operations), so an apply killed half-way,
or a machine losing power, loses nothing: loading replays the journal, and the apply folds it
into a new snapshot when it ends. Rewriting the whole snapshot after each operation would make
a large apply quadratic.

Journal records carry the lineage of the state they belong to, so a journal left beside a
snapshot of another state (a restored backup, a state replaced by hand) is never applied to it.
State never holds secrets: write-only fields are not part of the attributes it records, and
`State.put` leaves out every attribute whose value shows a secret the config knows
(credentials, values taken from the environment), whichever command records it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from lmsform import memory, snapshot
from lmsform.backends import JournalDamaged, Record, StateBackend
from lmsform.errors import LmsformError
from lmsform.secrets import Secrets
from lmsform.snapshot import ENTRY, ProviderIdentity, StateEntry, StateFile

__all__ = ["ProviderIdentity", "State", "StateEntry", "StateFile", "copy_state"]


class State:
    """The state of one config directory, as its backend holds it."""

    def __init__(self, backend: StateBackend, data: StateFile, persisted: bool,
                 secrets: Secrets | None = None) -> None:
        self.backend = backend
        self.data = data
        self.serial = data.serial
        self.persisted = persisted  # whether a snapshot or journal exists in the backend
        self.secrets = secrets or Secrets(())  # what `put` never records
        self._journaling = False
        self._together: list[Record] | None = None  # records held until `together` ends

    @property
    def version(self) -> tuple[str | None, int]:
        """(lineage, serial) as a saved plan records it; no lineage before the first save."""
        return (self.lineage if self.persisted else None, self.serial)

    @property
    def lineage(self) -> str:
        return self.data.lineage

    @property
    def planned_at(self) -> dt.datetime | None:
        """The instant the last complete apply was planned for (`StateFile.planned_at`)."""
        return self.data.planned_at

    @property
    def resources(self) -> dict[str, StateEntry]:
        return self.data.resources

    @classmethod
    def load(cls, backend: StateBackend, share_with: Mapping[str, dict[str, Any]] | None = None,
             secrets: Secrets | None = None) -> State:
        """The backend's state, or a new empty one; an interrupted apply's journal is
        replayed. Recorded attributes equal to those `share_with` holds for the same address
        (the manifests') are that very dict: in a converged state of 100k users the two would
        otherwise be 100 MB of the same values. Neither side is ever changed in place.
        `secrets`: the config's, whose values `put` never records."""
        data = _read_snapshot(backend, share_with or {})
        persisted = data is not None
        if data is None:
            # A first apply killed before its first save left only a journal: the state is
            # the one that journal was written for.
            first = next(_records(backend), {})
            lineage = first.get("lineage")
            data = StateFile(lineage=lineage) if isinstance(lineage, str) else StateFile()
        memory.release_after(len(data.resources))
        state = cls(backend, data, persisted=persisted, secrets=secrets)
        if state._replay():
            state.serial += 1  # an unfolded journal: the state moved on since the snapshot
            state.persisted = True
        return state

    def _replay(self) -> bool:
        replayed = False
        for record in _records(self.backend):
            replayed = True
            if record.get("lineage") not in (None, self.lineage):
                continue  # another state's journal: never mix the two
            self._change(record)
        return replayed

    def _change(self, record: Record) -> None:
        try:
            if "put" in record:
                entry = ENTRY.validate_python(record["entry"])
                self.data.resources[str(record["put"])] = entry
            elif "remove" in record:
                self.data.resources.pop(str(record["remove"]), None)
        except (ValidationError, KeyError, TypeError):
            raise _damaged_journal(self.backend, "a record that is not lmsform's") from None

    def put(self, address: str, entry: StateEntry) -> None:
        """Record a resource (the entry is the state's from now on), less any attribute
        whose value shows a secret; while journaling, in the backend too before returning."""
        shows = self.secrets.shows
        if self.secrets.values and any(shows(v) for v in entry.attributes.values()):
            entry.attributes = {k: v for k, v in entry.attributes.items() if not shows(v)}
        self.data.resources[address] = entry
        if self._journaling:
            self._journal({"lineage": self.lineage, "put": address, "entry": entry.dump()})

    def remove(self, address: str) -> None:
        self.data.resources.pop(address, None)
        if self._journaling:
            self._journal({"lineage": self.lineage, "remove": address})

    def _journal(self, record: Record) -> None:
        """A record (with the state's lineage) to the journal, or to the block's batch."""
        if self._together is not None:
            self._together.append(record)
        else:
            self.backend.append(record)

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """What the block records goes to the journal in one append when it ends: the
        operations of a batch the LMS finished at once (a write per record was a tenth of
        an apply from empty)."""
        self._together = []
        try:
            yield
        finally:
            records, self._together = self._together, None
            if records:
                self.backend.append_all(records)

    def sync(self) -> None:
        """Make the journal durable: apply calls it once per batch of finished operations,
        before starting new ones."""
        if self._journaling:
            self.backend.sync()

    @contextlib.contextmanager
    def journaling(self) -> Iterator[None]:
        """Append every change to the journal until the block ends; then fold it in."""
        self._journaling = True
        try:
            yield
        finally:
            self.backend.sync()
            self._journaling = False
            self.save()

    def save(self) -> None:
        """Write a new snapshot (serial + 1), which drops the journal it supersedes."""
        self.data.serial = self.serial + 1
        self.backend.write(snapshot.encode(self.data))
        self.serial = self.data.serial
        self.persisted = True


def _records(backend: StateBackend) -> Iterator[Record]:
    """The backend's journal; a damaged one is an error saying how to recover."""
    try:
        yield from backend.replay()
    except JournalDamaged as exc:
        raise _damaged_journal(backend, str(exc)) from None


def _damaged_journal(backend: StateBackend, what: str) -> LmsformError:
    return LmsformError(
        f"the journal of the state at {backend.location()} is damaged ({what}); restore the "
        "state from a backup, or move the journal away to continue from the last snapshot "
        "and let the next plan adopt what the interrupted apply created")


def copy_state(source: State, target: StateBackend, *, force: bool = False) -> None:
    """Put `source` (its journal replayed) into another backend as it is: same lineage,
    same serial, so that a saved plan made before the move still applies after it. A target
    that holds a state already is refused unless `force`. The caller holds both locks."""
    if target.read() is not None and not force:
        raise LmsformError(f"{target.location()} holds a state already; refusing to replace "
                           "it (--force replaces it)")
    data = source.data.model_copy(update={"serial": source.serial})
    target.write(snapshot.encode(data))


def _read_snapshot(backend: StateBackend, share: Mapping[str, dict[str, Any]]
                   ) -> StateFile | None:
    """The backend's snapshot, checked whole (`snapshot.read`); None when there is none."""
    location = backend.location()
    try:
        return snapshot.read(backend, share)
    except snapshot.Unreadable as exc:
        raise LmsformError(f"the state at {location} has {exc}; this lmsform reads formats "
                           f"{' and '.join(map(str, snapshot.READABLE_VERSIONS))}") from None
    except ValueError:  # snapshot.Damaged; UnicodeDecodeError is one too
        raise LmsformError(
            f"the state at {location} is damaged, or not lmsform's state (it lacks what every "
            "state holds); restore it from a backup, or move it away: the next plan then "
            "starts from an empty state and adopts what it finds in the LMS by natural key"
        ) from None
