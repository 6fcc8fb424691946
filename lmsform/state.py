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
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pydantic
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter, ValidationError

from lmsform import memory
from lmsform.backends import JournalDamaged, Record, StateBackend
from lmsform.errors import LmsformError
from lmsform.secrets import Secrets

FORMAT_VERSION = 1
# What every snapshot lmsform writes holds, an empty state's included.
SNAPSHOT_MEMBERS = frozenset({"format_version", "lineage", "serial", "resources"})


@pydantic.dataclasses.dataclass(slots=True)
class StateEntry:
    """One managed resource as state records it. A slotted dataclass rather than a model: a
    state of 100k users holds 100k of them, and a model's own dict and set of fields cost
    90 MB more."""

    kind: str
    id: str
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    prevent_destroy: bool = False
    # lmsform removed it by deactivating it: still in the LMS, so still known (a department
    # holding it cannot be deleted), and restored when the manifests declare it again
    removed: bool = False

    def dump(self) -> dict[str, Any]:
        """The entry as the journal writes it (and `TypeAdapter(StateEntry)` reads it)."""
        return {"kind": self.kind, "id": self.id, "attributes": self.attributes,
                "prevent_destroy": self.prevent_destroy, "removed": self.removed}


_ENTRY = TypeAdapter(StateEntry)


class ProviderIdentity(BaseModel):
    type: str
    instance: str
    plugin: str | None = None  # the distribution and version that last wrote: `lmsform 0.9.0`


class StateFile(BaseModel):
    """The snapshot a backend stores, as JSON."""

    format_version: int = FORMAT_VERSION
    lineage: str = Field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    provider: ProviderIdentity | None = None
    planned_at: AwareDatetime | None = Field(
        None, description="The instant (ISO 8601, UTC) the last complete apply was planned "
                          "for: a start it saw pass is no longer time's doing "
                          "(`apply --scheduled-only`)")
    resources: dict[str, StateEntry] = Field(default_factory=dict)


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
    def load(cls, backend: StateBackend, share_with: Iterable[dict[str, Any]] = (),
             secrets: Secrets | None = None) -> State:
        """The backend's state, or a new empty one; an interrupted apply's journal is
        replayed. Recorded attributes equal to a dict of `share_with` (the manifests' attributes)
        are that very dict: in a converged state of 100k users the two would otherwise be
        100 MB of the same values. Neither side is ever changed in place. `secrets`: the
        config's, whose values `put` never records."""
        data = _read_snapshot(backend, _sharing(share_with))
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
                entry = _ENTRY.validate_python(record["entry"])
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
            self._journal({"put": address, "entry": entry.dump()})

    def remove(self, address: str) -> None:
        self.data.resources.pop(address, None)
        if self._journaling:
            self._journal({"remove": address})

    def _journal(self, record: Record) -> None:
        self.backend.append({"lineage": self.lineage, **record})

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
        self.backend.write(self.data.model_dump_json(indent=2) + "\n")
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
    target.write(data.model_dump_json(indent=2) + "\n")


def _sharing(share_with: Iterable[dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function that swaps a dict for an equal one of `share_with`, found by the value of its
    first member (a user's email, a group's name); a few same-named departments keep their
    own copies. Any equal object is swapped, a nested one too (equal as `==` says: 1 and
    true alike, as comparing state with the manifests always has): which is only sound
    because shared dicts are never changed in place. A closure rather than a class: it runs
    for every object of the state file."""
    by_first: dict[str, dict[str, Any]] = {}
    for attributes in share_with:
        for first in attributes.values():
            if type(first) is str:
                by_first.setdefault(first, attributes)
            break
    find = by_first.get

    def share(parsed: dict[str, Any]) -> dict[str, Any]:
        for first in parsed.values():
            if type(first) is str:
                found = find(first)
                if found is not None and found == parsed:
                    return found
            break
        return parsed

    return share


def _read_snapshot(backend: StateBackend, share: Callable[[dict[str, Any]], dict[str, Any]]
                   ) -> StateFile | None:
    """The backend's snapshot, validated; None when there is none. Parsed by the standard
    library, each object shared as soon as it is parsed (so the parse never holds a second
    copy of the manifests), then validated entry by entry, each raw entry replaced as it
    goes: for 100k users, the file's text, its parse and the entries are never all in
    memory at once (pydantic's own JSON parsing held them together, 150 MB more)."""
    text = backend.read()
    if text is None:
        return None
    location = backend.location()
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")  # the bytes go: json.loads would hold both at once
        raw = json.loads(text, object_hook=share)
        del text
        if not isinstance(raw, dict):
            raise ValueError("not a snapshot")
        version = raw.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise LmsformError(f"the state at {location} has format {version}; "
                               f"this lmsform reads format {FORMAT_VERSION}")
        if not raw.keys() >= SNAPSHOT_MEMBERS or not isinstance(raw["lineage"], str):
            raise ValueError("not a whole snapshot")  # `{}` is no empty state: it lost one
        entries = raw.pop("resources")
        data = StateFile.model_validate(raw)
        if not isinstance(entries, dict):
            raise ValueError("resources is not a mapping")
        for address, entry in entries.items():
            entries[address] = validated = _ENTRY.validate_python(entry)
            # the parsed (maybe shared) dict, not the copy validation made: `attributes` has
            # no validator of its own that this would skip
            validated.attributes = entry.get("attributes", validated.attributes)
        data.resources = entries
    except (ValidationError, ValueError):  # UnicodeDecodeError is one
        raise LmsformError(
            f"the state at {location} is damaged, or not lmsform's state (it lacks what every "
            "state holds); restore it from a backup, or move it away: the next plan then "
            "starts from an empty state and adopts what it finds in the LMS by natural key"
        ) from None
    return data
