"""State: what lmsform manages, by address, with the LMS's ids and the last applied attributes.

The state file is a JSON snapshot written atomically (temp file, fsync, rename). During an
apply every successful operation is also appended to a journal beside it (and fsynced before
new operations start), so an apply killed half-way, or a machine losing power, loses nothing:
loading replays the journal, and the apply folds it into a new snapshot when it ends.
Rewriting the whole snapshot after each operation would make a large apply quadratic.
A lock file beside the state keeps two applies from running at once.
State never holds secrets: write-only fields are not part of the attributes it records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lmsform.errors import LmsformError, StateLockedError

FORMAT_VERSION = 1


class StateEntry(BaseModel):
    kind: str
    id: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    prevent_destroy: bool = False


class ProviderIdentity(BaseModel):
    type: str
    instance: str


class StateFile(BaseModel):
    format_version: int = FORMAT_VERSION
    lineage: str = Field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    provider: ProviderIdentity | None = None
    resources: dict[str, StateEntry] = Field(default_factory=dict)


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class State:
    """The state of one config directory, loaded from its file and journal."""

    def __init__(self, path: Path, data: StateFile) -> None:
        self.path = path
        self.data = data
        self._journal: Any = None
        self.serial = data.serial
        self.persisted = False  # whether a snapshot or journal exists on disk

    @property
    def version(self) -> tuple[str | None, int]:
        """(lineage, serial) as a saved plan records it; no lineage before the first save."""
        return (self.lineage if self.persisted else None, self.serial)

    @property
    def journal_path(self) -> Path:
        return self.path.with_name(self.path.name + ".journal")

    @property
    def lineage(self) -> str:
        return self.data.lineage

    @property
    def resources(self) -> dict[str, StateEntry]:
        return self.data.resources

    @classmethod
    def load(cls, path: Path) -> State:
        """The state at `path`, or a new empty one; an interrupted apply's journal is replayed."""
        data = StateFile()
        if path.exists():
            try:
                data = StateFile.model_validate_json(path.read_bytes())
            except ValueError as exc:
                raise LmsformError(f"the state file {path} is not valid: {exc}") from None
            if data.format_version != FORMAT_VERSION:
                raise LmsformError(
                    f"the state file {path} has format {data.format_version}; this lmsform "
                    f"reads format {FORMAT_VERSION}"
                )
        state = cls(path, data)
        state.persisted = path.exists()
        if state._replay():
            state.serial += 1  # an unfolded journal: the state moved on since the snapshot
            state.persisted = True
        return state

    def _replay(self) -> bool:
        try:
            lines = self.journal_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return False
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                break  # the last line of a killed apply may be cut short
            if record.get("lineage") not in (None, self.lineage):
                continue
            self._change(record)
        return bool(lines)

    def _change(self, record: dict[str, Any]) -> None:
        if "put" in record:
            self.data.resources[record["put"]] = StateEntry.model_validate(record["entry"])
        elif "remove" in record:
            self.data.resources.pop(record["remove"], None)

    def put(self, address: str, entry: StateEntry) -> None:
        self._record({"put": address, "entry": entry.model_dump()})

    def remove(self, address: str) -> None:
        self._record({"remove": address})

    def _record(self, record: dict[str, Any]) -> None:
        """Change the state in memory and, while journaling, on disk before returning."""
        self._change(record)
        if self._journal is not None:
            self._journal.write(json.dumps({"lineage": self.lineage, **record}) + "\n")
            self._journal.flush()  # survives the process being killed from here on

    def sync(self) -> None:
        """Make the journal durable (fsync): apply calls it once per batch of finished
        operations, before starting new ones."""
        if self._journal is not None:
            os.fsync(self._journal.fileno())

    @contextlib.contextmanager
    def journaling(self) -> Iterator[None]:
        """Append every change to the journal until the block ends; then fold it in."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._journal = self.journal_path.open("a", encoding="utf-8")
        try:
            yield
        finally:
            self._journal.flush()
            os.fsync(self._journal.fileno())
            self._journal.close()
            self._journal = None
            self.save()

    def save(self) -> None:
        """Write a new snapshot (serial + 1) and drop the journal it supersedes."""
        self.data.serial = self.serial + 1
        atomic_write(self.path, self.data.model_dump_json(indent=2) + "\n")
        self.serial = self.data.serial
        self.persisted = True
        with contextlib.suppress(FileNotFoundError):
            self.journal_path.unlink()

class StateLock:
    """The lock file beside a state file: taken with O_EXCL, it names its holder."""

    def __init__(self, state_path: Path) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")

    @contextlib.contextmanager
    def held(self, operation: str) -> Iterator[None]:
        """Hold the lock for the block; fail at once, naming the holder, if it is taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = {
            "owner": _user(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "operation": operation,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise StateLockedError(self._locked_message()) from None
        with os.fdopen(fd, "w") as out:
            json.dump(info, out)
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def info(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return {}

    def _locked_message(self) -> str:
        info = self.info() or {}
        holder = (
            f"{info.get('owner', '?')} (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
            f"'{info.get('operation', '?')}' since {info.get('created', '?')})"
        )
        gone = ""
        if info.get("host") == socket.gethostname() and not _alive(info.get("pid")):
            gone = "; that process is no longer running"
        return (
            f"the state is locked by {holder}{gone}. If no lmsform is running against it, "
            "release the lock with `lmsform state unlock --force`"
        )

    def force_release(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
