"""State: atomic snapshots, a journal that survives a killed apply, and a lock."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from lmsform.backends.file import FileBackend, atomic_write
from lmsform.errors import LmsformError, StateLockedError
from lmsform.state import State, StateEntry


def load(path: Path) -> State:
    return State.load(FileBackend.at(path))


def entry(id: str = "1") -> StateEntry:
    return StateEntry(kind="group", id=id, attributes={"name": "A"})


def test_a_missing_state_is_empty_with_a_new_lineage(tmp_path: Path) -> None:
    one, two = load(tmp_path / "a.json"), load(tmp_path / "b.json")
    assert one.resources == {} and one.serial == 0
    assert one.lineage != two.lineage


def test_save_bumps_the_serial_and_round_trips(tmp_path: Path) -> None:
    state = load(tmp_path / "s.json")
    state.put("group.A", entry())
    state.save()
    again = load(tmp_path / "s.json")
    assert again.serial == 1 and again.lineage == state.lineage
    assert again.resources["group.A"].id == "1"


def test_journal_replays_changes_of_an_interrupted_apply(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state = load(path)
    state.save()
    state._journaling = True  # as inside journaling(), but never folded
    state.put("group.A", entry("1"))
    state.put("group.B", entry("2"))
    state.remove("group.A")
    backend = state.backend
    assert isinstance(backend, FileBackend) and backend._journal is not None
    backend._journal.write('{"put": "group.C", "entr')  # the kill cut the last line short
    backend.close()
    recovered = load(path)
    assert set(recovered.resources) == {"group.B"}
    assert recovered.serial == state.data.serial + 1  # moved on: saved plans are now stale


def test_journaling_folds_the_journal_into_a_snapshot(tmp_path: Path) -> None:
    state = load(tmp_path / "s.json")
    journal = tmp_path / "s.json.journal"
    with state.journaling():
        state.put("group.A", entry())
        assert journal.exists()
    assert not journal.exists()
    assert json.loads((tmp_path / "s.json").read_text())["resources"]["group.A"]["id"] == "1"


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


def test_a_corrupt_state_file_is_an_error_not_an_empty_state(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("{not json")
    with pytest.raises(LmsformError, match="is not valid"):
        load(tmp_path / "s.json")
