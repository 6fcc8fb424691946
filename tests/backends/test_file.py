"""The file backend: atomic snapshots and a lock file that names its holder."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path

import pytest

from lmsform.backends import StateBackend
from lmsform.backends.file import FileBackend, FileSettings, atomic_write
from lmsform.errors import LmsformError, StateLockedError
from lmsform.testing import StateBackendConformance


def test_atomic_write_leaves_the_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.json"
    path.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_the_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    lock = FileBackend.at(tmp_path / "s.json")
    with lock.lock("apply"):
        other = FileBackend.at(tmp_path / "s.json")
        with pytest.raises(StateLockedError) as caught, other.lock("apply"):
            pass
        message = str(caught.value)
        assert f"pid {os.getpid()}" in message and "'apply'" in message
        assert "lmsform state unlock --force" in message
    with lock.lock("apply"):  # released: can be taken again
        pass


def test_a_lock_left_by_a_dead_process_says_so(tmp_path: Path) -> None:
    lock = FileBackend.at(tmp_path / "s.json")
    lock.lock_path.write_text(json.dumps(
        {"owner": "ci", "pid": 2**22 + 12345, "host": socket.gethostname(), "operation": "apply",
         "created": "2026-01-01T00:00:00+00:00"}))
    with pytest.raises(StateLockedError, match="no longer running"), lock.lock("apply"):
        pass
    assert lock.force_unlock() and not lock.lock_path.exists()


def test_a_state_that_cannot_be_written_is_a_clear_error_and_keeps_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FileBackend.at(tmp_path / "s.json")
    backend.append({"remove": "group.A"})

    def full(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("lmsform.backends.file.atomic_write", full)
    with pytest.raises(LmsformError, match=r"cannot write the state to .*s.json: No space left"):
        backend.write("{}")
    assert (tmp_path / "s.json.journal").exists()


class TestFileBackendConforms(StateBackendConformance):
    def make_backend(self, tmp_path: Path, name: str) -> StateBackend:
        return FileBackend(FileSettings(path=f"{name}.json"), tmp_path)


@pytest.mark.parametrize("value", [dt.datetime(2026, 1, 2, tzinfo=dt.UTC), dt.date(2026, 1, 2)])
def test_the_journal_refuses_what_the_standard_library_refuses(tmp_path: Path,
                                                               value: object) -> None:
    """orjson would write a date; the journal writes only what the snapshot can (through
    the standard library), and refuses the rest, after writing the rest of its batch: those
    are operations the LMS did."""
    backend = FileBackend(FileSettings(path="s.json"), tmp_path)
    backend.append({"put": "user.a@example.com", "n": 1})
    with pytest.raises(TypeError, match="not JSON serializable"):
        backend.append_all([{"put": "user.b@example.com", "at": value},
                            {"put": "user.c@example.com"}, {"put": "user.d@example.com"}])
    backend.sync()
    assert [record["put"] for record in backend.replay()] == [
        "user.a@example.com", "user.c@example.com", "user.d@example.com"]
    backend.close()
