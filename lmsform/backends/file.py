"""`file`: state in a JSON file, with its journal and lock file beside it.

The default backend. Without a `path`, the state lives in the config directory itself
(`.lmsform/state.json`), so it never depends on where lmsform runs and two config directories
never share one; a relative `path` is taken from the config directory too.

The snapshot is written atomically (temporary file, fsync, rename, fsync of the directory).
The journal is a file of JSON lines appended and flushed per record (so a killed process
loses nothing) and fsynced per batch by `sync()` (so does a machine losing power).
The lock is a file created with O_EXCL that names its holder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from lmsform.backends import (
    BackendSettings,
    JournalDamaged,
    Record,
    StateBackend,
    encode_each,
)
from lmsform.errors import LmsformError, StateLockedError, display_path, reason

DEFAULT_PATH = ".lmsform/state.json"  # inside the config directory


class FileSettings(BackendSettings):
    path: str = DEFAULT_PATH


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash leaves either the old or the new file.
    A symbolic link is written through, to its target, and stays a link. OSError (a
    read-only directory, a place that holds no files) is the caller's to word; `writing`
    words it for most."""
    if path.is_symlink():
        path = path.resolve()  # the file the link names: never a copy in the link's place
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


@contextlib.contextmanager
def writing(what: str, path: Path) -> Iterator[None]:
    """An OSError while writing `what` at `path` as a one-line error that names both."""
    try:
        yield
    except OSError as exc:
        raise LmsformError(f"cannot write {what} {display_path(path)}: "
                           f"{reason(exc)}") from None


class FileBackend(StateBackend):
    name = "file"
    description = "a JSON file, with a journal and a lock file beside it"
    settings_model = FileSettings

    def __init__(self, settings: BackendSettings, config_dir: Path) -> None:
        super().__init__(settings, config_dir)
        assert isinstance(settings, FileSettings)
        self.path = (config_dir / settings.path).absolute()
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._journal: IO[bytes] | None = None

    @classmethod
    def at(cls, path: Path) -> FileBackend:
        """A file backend for an explicit path (tests, tools)."""
        return cls(FileSettings(path=str(path.absolute())), path.parent)

    def location(self) -> str:
        return display_path(self.path)

    # snapshot

    def read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise LmsformError(f"the state path {self.location()} is a directory; "
                               "name a file in `state: {path: ...}`") from None

    def write(self, snapshot: str) -> None:
        try:
            atomic_write(self.path, snapshot)
        except OSError as exc:
            raise LmsformError(
                f"cannot write the state to {self.location()}: "
                f"{reason(exc)}; its journal is kept, so the next run "
                "loses nothing once the state can be written") from None
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.journal_path.unlink()

    # journal

    def append(self, record: Record) -> None:
        self.append_all([record])

    def append_all(self, records: list[Record]) -> None:
        if self._journal is None:
            with writing("the state's journal", self.journal_path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._drop_cut_record()
                self._journal = self.journal_path.open("ab")
        lines, refused = encode_each(records, _journal_line)
        self._journal.write(b"".join(lines))
        self._journal.flush()  # survives the process being killed from here on
        if refused is not None:
            raise refused

    def _drop_cut_record(self) -> None:
        """A record a kill cut short ends the journal, and `replay` passed over it: gone
        before anything is appended, or the next record, glued to it, would be damage in
        the middle of the journal."""
        try:
            with self.journal_path.open("r+b") as journal:
                block_end = journal.seek(0, os.SEEK_END)
                while block_end > 0:  # back to the last line break, a block at a time
                    start = max(0, block_end - 65536)
                    journal.seek(start)
                    found = journal.read(block_end - start).rfind(b"\n")
                    if found >= 0:
                        journal.truncate(start + found + 1)  # nothing, when it ends a line
                        return
                    block_end = start
                journal.truncate(0)
        except FileNotFoundError:
            pass

    def sync(self) -> None:
        if self._journal is not None:
            os.fsync(self._journal.fileno())

    def replay(self) -> Iterator[Record]:
        try:
            lines = self.journal_path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line.decode("utf-8"))
            except ValueError:  # not JSON, or not UTF-8
                if number == len(lines):
                    return  # the last line of a killed apply may be cut short
                raise JournalDamaged(f"line {number} is not a journal record") from None
            if not isinstance(record, dict):
                raise JournalDamaged(f"line {number} is not a journal record")
            yield record

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    # lock

    @contextlib.contextmanager
    def lock(self, operation: str) -> Iterator[None]:
        info = holder_info(operation)
        with writing("the state's lock file", self.lock_path):
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                raise StateLockedError(locked_message(self.lock_holder() or {})) from None
        with os.fdopen(fd, "w") as out:
            json.dump(info, out)
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()

    def lock_holder(self) -> dict[str, Any] | None:
        try:
            info = json.loads(self.lock_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def force_unlock(self) -> bool:
        try:
            self.lock_path.unlink()
        except FileNotFoundError:
            return False
        return True


# What orjson would write where the standard library refuses it, refused by orjson too (and
# then by the standard library, as before): a dataclass, a date or a time. orjson has no such
# option for a UUID or a plain Enum, which it writes as text or as its value; lmsform's kinds
# hold neither, and the snapshot, written by the standard library, would still refuse them.
_AS_BEFORE = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _journal_line(record: Record) -> bytes:
    """A record as the file's journal holds it: a line of JSON, UTF-8, written by orjson
    (an apply from empty writes a record per resource, 100k of them in 0.10 s where the
    standard library took 0.68 s). What orjson refuses (an integer past 64 bits, a key that
    is not text, what `_AS_BEFORE` names) goes to the standard library, which writes it or
    refuses it as before; `replay` reads either. A float that is not a number (NaN,
    infinity) is written as null, where the snapshot writes NaN: no manifest may hold one,
    and as it equals nothing, a plan shows it changed whichever the state recorded."""
    try:
        return orjson.dumps(record, option=_AS_BEFORE | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return json.dumps(record).encode() + b"\n"


def holder_info(operation: str) -> dict[str, Any]:
    """Who takes a lock: shown to whoever finds it taken."""
    return {
        "owner": _user(),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "operation": operation,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def locked_message(info: dict[str, Any]) -> str:
    """The error for a lock found taken, naming its holder and whether it is still alive."""
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
