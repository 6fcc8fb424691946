"""State: lineage, serials, and a journal that survives a killed apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmsform.backends.file import FileBackend
from lmsform.errors import LmsformError
from lmsform.secrets import Secrets
from lmsform.state import State, StateEntry
from tests.support import recorded


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
    backend._journal.write(b'{"put": "group.C", "entr')  # the kill cut the last line short
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
    assert recorded(tmp_path / "s.json")["group.A"]["id"] == "1"


@pytest.mark.parametrize("content", [b"{not json", b'{"resources": {"\xff": 1}}'])
def test_a_corrupt_state_file_is_an_error_not_an_empty_state(tmp_path: Path,
                                                             content: bytes) -> None:
    (tmp_path / "s.json").write_bytes(content)  # not JSON; not UTF-8
    with pytest.raises(LmsformError, match="is damaged, or not lmsform's state"):
        load(tmp_path / "s.json")


def test_a_journal_of_another_lineage_is_never_replayed(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state = load(path)
    state.put("group.A", entry("1"))
    state.save()
    journal = tmp_path / "s.json.journal"
    records = [
        {"lineage": "another-state", "put": "group.Stranger", "entry": entry("9").dump()},
        {"lineage": "another-state", "remove": "group.A"},
        {"lineage": state.lineage, "put": "group.B", "entry": entry("2").dump()},
    ]
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    recovered = load(path)
    assert set(recovered.resources) == {"group.A", "group.B"}


def test_a_state_of_an_unknown_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"format_version": 99, "lineage": "x"}))
    with pytest.raises(LmsformError, match="has format 99; this lmsform reads formats 1 and 2"):
        load(tmp_path / "s.json")


def test_a_state_path_that_is_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "s.json").mkdir()
    with pytest.raises(LmsformError, match=r"is a directory; name a file"):
        load(tmp_path / "s.json")


def test_the_journal_of_a_first_apply_killed_before_any_save_is_replayed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.json"
    state = load(path)
    state._journaling = True  # a first apply, killed before it saved anything
    state.put("group.A", entry("1"))
    state.backend.close()
    assert not path.exists()
    recovered = load(path)
    assert recovered.lineage == state.lineage
    assert set(recovered.resources) == {"group.A"}
    assert recovered.version == (state.lineage, 1)  # a saved plan made now stays valid


def test_a_damaged_journal_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state = load(path)
    state.save()
    (tmp_path / "s.json.journal").write_text(json.dumps({"put": "group.A", "entry": 3}) + "\n")
    with pytest.raises(LmsformError, match=r"the journal of the state at .* is damaged"):
        load(path)


def test_recorded_attributes_equal_to_the_manifests_are_the_manifests_dicts(
        tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state = load(path)
    state.put("group.A", StateEntry(kind="group", id="1", attributes={
        "name": "A", "custom": {"name": "B"}}))
    state.put("group.B", StateEntry(kind="group", id="2", attributes={"name": "B"}))
    state.put("group.C", StateEntry(kind="group", id="3", attributes={"name": "C",
                                                                      "description": "old"}))
    state.save()
    declared = {"group.A": {"name": "A", "custom": {"name": "B"}}, "group.B": {"name": "B"},
                "group.C": {"name": "C", "description": "new"}}

    again = State.load(FileBackend.at(path), share_with=declared)

    assert again.resources["group.A"].attributes is declared["group.A"]
    assert again.resources["group.B"].attributes is declared["group.B"]
    # different values are never shared
    assert again.resources["group.C"].attributes == {"name": "C", "description": "old"}
    assert declared["group.C"] == {"name": "C", "description": "new"}


@pytest.mark.parametrize("snapshot", [
    "{}", '{"format_version": 1, "serial": 3, "resources": {}}',
    '{"format_version": 1, "lineage": 7, "serial": 3, "resources": {}}',
    '{"format_version": 1, "lineage": "x", "serial": 3}', "[]", "null",
])
def test_a_snapshot_that_parses_but_is_not_whole_is_damaged_not_empty(
        tmp_path: Path, snapshot: str) -> None:
    """`{}` is not an empty state (that has a lineage, a serial and no resources): read as
    one, it would forget everything lmsform manages and start a new lineage."""
    (tmp_path / "s.json").write_text(snapshot)
    with pytest.raises(LmsformError, match=r"is damaged, or not lmsform's state.*restore it"):
        load(tmp_path / "s.json")


@pytest.mark.parametrize("journal", [
    b'{"put": "group.A", "entry": {"kind": "group", "id": "1"}}\n\xff\xfe\n{"remove": "x"}\n',
    b'{"put": "group.A", "entry": {"kind": "group", "id": "1"}}\nnot json\n{"remove": "x"}\n',
    b'[1, 2]\n{"remove": "x"}\n',
])
def test_a_journal_that_is_not_lmsforms_is_damaged(tmp_path: Path, journal: bytes) -> None:
    """Only the last line may be cut short (by a kill); anything else that is not a record,
    not UTF-8 included, leaves what follows it unknowable: refused, never skipped."""
    state = load(tmp_path / "s.json")
    state.save()
    (tmp_path / "s.json.journal").write_bytes(journal)
    with pytest.raises(LmsformError, match=r"journal .* is damaged .*restore the state"):
        load(tmp_path / "s.json")


def test_a_last_journal_line_cut_inside_a_character_is_a_kill_not_damage(
        tmp_path: Path) -> None:
    state = load(tmp_path / "s.json")
    state.save()
    record = {"lineage": state.lineage, "put": "group.Zoë", "entry": entry("1").dump()}
    line = json.dumps(record, ensure_ascii=False).encode()
    (tmp_path / "s.json.journal").write_bytes(line + b"\n" + line[:line.index(b"\xc3") + 1])
    assert set(load(tmp_path / "s.json").resources) == {"group.Zoë"}


def test_the_state_never_records_a_value_that_shows_a_secret(tmp_path: Path) -> None:
    """Whichever command records a resource (apply, refresh, export), an attribute whose
    value shows a secret of the config (a credential, a value taken from the environment,
    a password) is left out; the others are kept."""
    secrets = Secrets(["env-Value-Secret-7"], ["hunter22-pw"])
    state = State.load(FileBackend.at(tmp_path / "s.json"), secrets=secrets)
    state.put("user.a", StateEntry(kind="user", id="1", attributes={
        "email": "a@example.com", "job_title": "x env-Value-Secret-7 y",
        "custom": {"pin": "hunter22-pw"}, "first_name": "Ada"}))
    state.save()
    text = (tmp_path / "s.json").read_text()
    assert "env-Value" not in text and "hunter22" not in text
    assert load(tmp_path / "s.json").resources["user.a"].attributes == {
        "email": "a@example.com", "first_name": "Ada"}


def test_an_apply_after_a_cut_record_starts_its_records_on_a_line_of_their_own(
        tmp_path: Path) -> None:
    """A kill cut the journal's last record short; the next apply, killed too, must leave
    a journal the run after it still reads (its first record glued to the cut one would be
    damage in the middle)."""
    path = tmp_path / "s.json"
    state = load(path)
    state.save()
    journal = tmp_path / "s.json.journal"
    journal.write_text('{"lineage": "' + state.lineage + '", "put": "group.A", "entr')
    second = load(path)
    second._journaling = True
    second.put("group.B", entry("2"))
    second.backend.close()
    assert set(load(path).resources) == {"group.B"}


def test_what_is_recorded_together_reaches_the_journal_at_the_end_even_when_interrupted(
        tmp_path: Path) -> None:
    state = load(tmp_path / "s.json")
    journal = tmp_path / "s.json.journal"
    with state.journaling():
        with state.together():
            state.put("group.A", entry("1"))
            state.put("group.B", entry("2"))
            assert not journal.exists()  # held until the block ends
        assert [json.loads(line)["put"] for line in journal.read_bytes().splitlines()] \
            == ["group.A", "group.B"]
        with pytest.raises(KeyboardInterrupt), state.together():
            state.remove("group.A")
            raise KeyboardInterrupt
        assert json.loads(journal.read_bytes().splitlines()[-1])["remove"] == "group.A"
    assert set(load(tmp_path / "s.json").resources) == {"group.B"}
