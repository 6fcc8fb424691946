"""The state's snapshot as text: format 2's tables, read back as written, checked before
they are believed; format 1 still read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lmsform import snapshot
from lmsform.snapshot import StateEntry, StateFile

ADA = StateEntry("user", "17", {"email": "ada@example.com", "first_name": "Ada",
                                "groups": ["Managers", "Sales"], "custom": {"tier": 2}})
BOB = StateEntry("user", "18", {"email": "bob@example.com", "first_name": "Bob",
                                "groups": [], "custom": {}})
EVE = StateEntry("user", "19", {"email": "eve@example.com", "active": False}, removed=True)
SALES = StateEntry("department", "3", {"name": "Sales", "division": "EMEA/Field"},
                   prevent_destroy=True)
CAFE = StateEntry("group", "5", {"name": "Café \"Ñ\"", "description": None})


def test_what_is_written_is_read_back_as_it_was() -> None:
    data = StateFile(lineage="l-1", serial=4, resources={
        "user.bob@example.com": BOB, "user.ada@example.com": ADA, "user.eve@example.com": EVE,
        "department.EMEA/Field/Sales": SALES, 'group.Café "Ñ"': CAFE})

    again = snapshot.decode(snapshot.encode(data))

    assert again.lineage == "l-1" and again.serial == 4
    assert again.resources == data.resources
    assert again.resources["user.eve@example.com"].removed
    assert again.resources["department.EMEA/Field/Sales"].prevent_destroy


def test_a_table_per_kind_and_shape_names_its_fields_once_and_a_row_per_resource() -> None:
    data = StateFile(lineage="l-1", resources={
        "user.bob@example.com": BOB, "user.ada@example.com": ADA, "user.eve@example.com": EVE,
        "department.EMEA/Field/Sales": SALES})
    text = snapshot.encode(data)
    lines = text.splitlines()

    # rows sorted by key, the email (the address key) not repeated in them
    ada = lines.index('        ["ada@example.com", "17", "Ada", ["Managers", "Sales"], '
                      '{"tier": 2}],')
    assert lines[ada + 1].startswith('        ["bob@example.com", "18", "Bob"')
    assert text.count('"first_name"') == 1 and text.count("ada@example.com") == 1
    # flags said once per table; a department's name is not its key, so it stays
    assert '{"fields": ["email", "active"], "key_field": "email", "removed": true, ' \
           '"entries": [' in text
    assert '["EMEA/Field/Sales", "3", "Sales", "EMEA/Field"]' in text
    assert json.loads(text)["format_version"] == 2


def test_the_header_comes_first_for_backends_that_read_it_alone() -> None:
    text = snapshot.encode(StateFile(lineage="l-1", serial=9))
    assert text.startswith('{\n  "format_version": 2,\n  "lineage": "l-1",\n  "serial": 9,')
    assert snapshot.decode(text).resources == {}


def test_recorded_attributes_equal_to_the_declared_ones_are_those_dicts() -> None:
    text = snapshot.encode(StateFile(lineage="l", resources={"user.ada@example.com": ADA,
                                                             "user.bob@example.com": BOB}))
    declared = {"user.ada@example.com": dict(ADA.attributes),
                "user.bob@example.com": {**BOB.attributes, "first_name": "Robert"}}

    again = snapshot.decode(text, declared)

    assert again.resources["user.ada@example.com"].attributes is declared["user.ada@example.com"]
    assert again.resources["user.bob@example.com"].attributes == BOB.attributes


def test_format_1_is_still_read() -> None:
    text = json.dumps({"format_version": 1, "lineage": "l", "serial": 2, "resources": {
        "user.ada@example.com": {"kind": "user", "id": "17", "attributes": ADA.attributes,
                                 "prevent_destroy": False, "removed": False}}})
    declared = {"user.ada@example.com": dict(ADA.attributes)}

    again = snapshot.decode(text, declared)

    assert again.resources["user.ada@example.com"] == ADA
    assert again.resources["user.ada@example.com"].attributes is declared["user.ada@example.com"]


def damaged(table: dict[str, Any]) -> str:
    return json.dumps({"format_version": 2, "lineage": "l", "serial": 1,
                       "resources": {"user": [table]}})


@pytest.mark.parametrize("text", [
    damaged({"fields": ["email"], "key_field": "email", "entries": [["a@x.io", 17]]}),
    damaged({"fields": ["email"], "key_field": "email", "entries": [["a@x.io", "1", "x"]]}),
    damaged({"fields": ["email"], "key_field": "email", "entries": [{"a@x.io": "1"}]}),
    damaged({"fields": ["email"], "key_field": "name", "entries": []}),
    damaged({"fields": ["email", "email"], "entries": []}),
    damaged({"fields": ["email"], "entries": "a@x.io"}),
    damaged({"fields": ["email"], "entries": [], "kind": "user"}),
    damaged({"fields": "email", "entries": []}),
    json.dumps({"format_version": 2, "lineage": "l", "serial": 1, "resources": {"user": {}}}),
    json.dumps({"format_version": 2, "lineage": "l", "serial": 1, "resources": []}),
    json.dumps({"format_version": 2, "lineage": "l", "resources": {}}),
])
def test_a_snapshot_is_checked_before_it_is_believed(text: str) -> None:
    with pytest.raises(snapshot.Damaged):
        snapshot.decode(text)


def test_a_format_it_does_not_read_is_named() -> None:
    with pytest.raises(snapshot.Unreadable, match="format 3"):
        snapshot.decode('{"format_version": 3, "lineage": "l", "serial": 1, "resources": {}}')


def test_the_key_field_is_the_first_that_repeats_the_key_wherever_it_stands() -> None:
    """Most entries' key field comes first (their row is the values after it); where it
    does not, or where a later field repeats the key too, the row leaves out that one
    field and keeps the rest in order."""
    late = StateEntry("user", "20", {"username": "zed", "email": "zed@example.com",
                                     "first_name": "zed@example.com"})
    twice = StateEntry("group", "6", {"name": "Twins", "description": "Twins"})
    data = StateFile(lineage="l", resources={"user.zed@example.com": late,
                                             "group.Twins": twice})
    text = snapshot.encode(data)

    assert '{"fields": ["username", "email", "first_name"], "key_field": "email", ' in text
    assert '["zed@example.com", "20", "zed", "zed@example.com"]' in text
    assert '{"fields": ["name", "description"], "key_field": "name", ' in text
    assert '["Twins", "6", "Twins"]' in text
    assert snapshot.decode(text).resources == data.resources


ODD_VALUES: list[Any] = [
    "Café \"Ñ\" \\ \n \u2028 \ud800", 0.1 + 0.2, -0.0, 1e300, float("nan"), float("inf"),
    10**30, True, False, None, [], {}, {"a": [1, {"b": "é"}], "": None}, ["x", ["y"]],
    {1: "int", 2.5: "float", False: "bool", None: "none"},  # keys JSON writes as text
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_a_row_is_written_as_the_standard_librarys_json_writes_it(value: Any) -> None:
    """Each row's text is `json.dumps(row, ensure_ascii=False)`'s, whatever encoder makes
    it (`_row_text`): a state keeps its spelling, line for line, from one release to the
    next."""
    row = ["k", "1", value]
    assert snapshot._row_text(row) == json.dumps(row, ensure_ascii=False)


def test_a_row_json_cannot_hold_is_refused_as_the_standard_library_refuses_it() -> None:
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        snapshot._row_text(["k", "1", {1, 2}])
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None"):
        snapshot._row_text(["k", "1", {("a", "tuple"): 1}])
    assert snapshot._row_text(["k", "1", "after a refusal"]) == '["k", "1", "after a refusal"]'
