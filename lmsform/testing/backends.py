"""The state backend conformance suite: snapshots replace each other whole, the journal keeps
what was appended until a snapshot supersedes it, one lock per state names its holder and
shuts every other process out, and a state saved by one instance is what another reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmsform.backends import StateBackend
from lmsform.errors import StateLockedError
from lmsform.state import State, StateEntry, StateFile


class StateBackendConformance:
    """Subclass as `TestSomething` and implement `make_backend`; pytest runs every test."""

    def make_backend(self, tmp_path: Path, name: str) -> StateBackend:
        """A backend for the state called `name` (two calls with one name: two processes
        sharing one state)."""
        raise NotImplementedError

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Any:
        made = self.make_backend(tmp_path, "conformance")
        yield made
        made.close()

    @pytest.fixture
    def other(self, tmp_path: Path) -> Any:
        made = self.make_backend(tmp_path, "conformance")
        yield made
        made.close()

    def test_a_new_state_has_no_snapshot_and_no_journal(self, backend: StateBackend) -> None:
        assert backend.read() is None
        assert list(backend.replay()) == []

    def test_a_snapshot_replaces_the_last_whole_and_drops_the_journal(
            self, backend: StateBackend) -> None:
        backend.write(_snapshot(1))
        backend.append({"op": "put", "address": "user.a@example.com"})
        backend.write(_snapshot(2))
        assert _text(backend.read()) == _snapshot(2)
        assert list(backend.replay()) == []

    def test_the_journal_replays_what_was_appended_in_order(
            self, backend: StateBackend) -> None:
        backend.write(_snapshot(1))
        records = [{"op": "put", "address": f"user.{i}@example.com", "n": i} for i in range(5)]
        for record in records:
            backend.append(record)
        backend.sync()
        assert [dict(r) for r in backend.replay()] == records

    def test_records_appended_together_replay_in_order_after_the_others(
            self, backend: StateBackend) -> None:
        backend.write(_snapshot(1))
        records = [{"op": "put", "address": f"user.{i}@example.com", "n": i} for i in range(40)]
        backend.append(records[0])
        backend.append_all(records[1:39])
        backend.append_all([])
        backend.append(records[39])
        backend.sync()
        assert [dict(r) for r in backend.replay()] == records

    def test_a_record_replays_as_it_was_appended_whatever_json_it_holds(
            self, backend: StateBackend) -> None:
        """Text beyond ASCII and escapes, an integer past 64 bits (which orjson refuses, so
        the standard library writes that record), floats, nesting, null and booleans."""
        backend.write(_snapshot(1))
        records: list[dict[str, Any]] = [
            {"op": "put", "address": "user.zoë@example.com",
             "entry": {"name": "Zoë \"Z\" \u2028 O'Hara\n", "credits": 2.5, "tiny": 1e-7,
                       "tags": ["a", ["b", {"c": None}]], "on": True, "off": False}},
            {"op": "put", "address": "user.big@example.com", "entry": {"n": 2**70}},
            {"op": "remove", "address": "user.gone@example.com", "n": -(2**63)}]
        backend.append_all(records[:2])
        backend.append(records[2])
        backend.sync()
        assert [dict(r) for r in backend.replay()] == records

    def test_one_lock_per_state_naming_its_holder(self, backend: StateBackend,
                                                  other: StateBackend) -> None:
        assert backend.lock_holder() is None
        with backend.lock("apply"):
            holder = other.lock_holder()
            assert holder is not None and holder.get("operation") == "apply"
            with pytest.raises(StateLockedError), other.lock("apply"):
                pass
        with other.lock("plan"):  # released: another may take it
            pass

    def test_force_unlock_says_whether_there_was_a_lock(self, backend: StateBackend) -> None:
        assert backend.force_unlock() is False

    def test_a_state_saved_by_one_is_what_another_reads(self, backend: StateBackend,
                                                        other: StateBackend) -> None:
        with backend.lock("apply"):
            state = State.load(backend)
            state.put("user.ada@example.com", StateEntry(kind="user", id="7",
                                                         attributes={"first_name": "Ada"}))
            state.save()
        with other.lock("plan"):
            read = State.load(other)
        assert read.resources["user.ada@example.com"].id == "7"
        assert read.version == state.version

    def test_its_location_names_the_state(self, backend: StateBackend) -> None:
        assert backend.location()
        json.dumps(backend.location())  # plain text, for logs and messages


def _snapshot(serial: int) -> str:
    """A snapshot as lmsform writes one (a backend may refuse one without its lineage)."""
    return StateFile(lineage="conformance", serial=serial).model_dump_json()


def _text(snapshot: str | bytes | None) -> str | None:
    return snapshot.decode() if isinstance(snapshot, bytes) else snapshot
