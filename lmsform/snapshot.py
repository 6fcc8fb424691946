"""A state's snapshot as text: what a backend stores, written and read here.

Format 2 (what lmsform writes) holds the resources as tables, one per kind and set of
recorded fields, one resource per line: the field names, which every user would otherwise
repeat, are written once per table, and a field that only repeats the resource's address
key (a user's email, a group's name) is left out of its rows. A state of 100k users takes a
third of the bytes of format 1 (about 220 bytes a user in the benchmarks' organisation, 640
before). It stays UTF-8 JSON, a line per resource, sorted by key, so that git shows a changed
resource as a changed line.

    "resources": {
      "user": [
        {"fields": ["email", "first_name", "groups"], "key_field": "email", "entries": [
          ["ada@example.com", "17", "Ada", ["Managers"]],

A row is [address key, LMS id, the value of each field but `key_field`]. A table whose
resources have `prevent_destroy` or were removed by deactivation says so once
(`"prevent_destroy": true`, `"removed": true`). Format 1 (an entry object per resource, every
field named) is still read.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter, ValidationError

from lmsform.backends import StateBackend

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
# What every snapshot lmsform writes holds, an empty state's included.
SNAPSHOT_MEMBERS = frozenset({"format_version", "lineage", "serial", "resources"})


@dataclasses.dataclass(slots=True)
class StateEntry:
    """One managed resource as state records it. A slotted dataclass rather than a model: a
    state of 100k users holds 100k of them (a model's own dict and set of fields cost 90 MB
    more), and made without validation: what comes from a file is validated as it is read
    (`ENTRY` for a journal's record and format 1, the table checks for format 2)."""

    kind: str
    id: str
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    prevent_destroy: bool = False
    # lmsform removed it by deactivating it: still in the LMS, so still known (a department
    # holding it cannot be deleted), and restored when the manifests declare it again
    removed: bool = False

    def dump(self) -> dict[str, Any]:
        """The entry as the journal writes it (and `ENTRY` reads it)."""
        return {"kind": self.kind, "id": self.id, "attributes": self.attributes,
                "prevent_destroy": self.prevent_destroy, "removed": self.removed}


ENTRY = TypeAdapter(StateEntry)


class ProviderIdentity(BaseModel):
    type: str
    instance: str
    plugin: str | None = None  # the distribution and version that last wrote: `lmsform 0.9.0`


class StateFile(BaseModel):
    """A snapshot's members; its resources are written and read by this module."""

    format_version: int = FORMAT_VERSION
    lineage: str = Field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    provider: ProviderIdentity | None = None
    planned_at: AwareDatetime | None = Field(
        None, description="The instant (ISO 8601, UTC) the last complete apply was planned "
                          "for: a start it saw pass is no longer time's doing "
                          "(`apply --scheduled-only`)")
    resources: dict[str, StateEntry] = Field(default_factory=dict)


class Damaged(ValueError):
    """The text is no snapshot lmsform can read."""


class Unreadable(ValueError):
    """A snapshot of a format this lmsform does not read (its version)."""


# writing

def encode(data: StateFile) -> str:
    """The snapshot as format 2's text."""
    head = data.model_dump(mode="json", exclude={"resources"})
    head["format_version"] = FORMAT_VERSION
    lines = ["{"]
    # the members before `resources`, one a line, in the order the PostgreSQL backend's
    # header pattern reads them (format_version, lineage, serial first)
    lines += [f"  {json.dumps(name)}: {json.dumps(value, ensure_ascii=False)}," for name, value
              in head.items()]
    kinds = _tables(data.resources)
    lines.append('  "resources": {' if kinds else '  "resources": {}')
    for k, (kind, tables) in enumerate(kinds.items()):
        lines.append(f"    {json.dumps(kind, ensure_ascii=False)}: [")
        for t, (shape, rows) in enumerate(tables.items()):
            lines += _table_lines(shape, rows, last=t == len(tables) - 1)
        lines.append("    ]" + ("," if k < len(kinds) - 1 else ""))
    if kinds:
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# A row as `json.dumps(row, ensure_ascii=False)` writes it, by the standard library's C
# encoder made once, where there is one (CPython): `JSONEncoder.encode` makes a new one for
# every call, half the time of a row of 100k users'.
_row_text: Callable[[list[Any]], str] = json.JSONEncoder(ensure_ascii=False).encode
if json.encoder.c_make_encoder is not None:  # type: ignore[attr-defined]
    _encode_row = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _refuse, json.encoder.encode_basestring, None, ": ", ", ", False, False, True)

    def _row_text(row: list[Any]) -> str:
        return "".join(_encode_row(row, 0))


# a table's shape: its fields, the field its rows leave out (the key), and its flags
_Shape = tuple[tuple[str, ...], str | None, bool, bool]


def _tables(resources: dict[str, StateEntry]) -> dict[str, dict[_Shape, list[list[Any]]]]:
    """The resources grouped by kind, then by shape, as rows."""
    tables: dict[str, dict[_Shape, list[list[Any]]]] = {}
    for address, entry in resources.items():
        key = address.partition(".")[2]
        attrs = entry.attributes
        fields = tuple(attrs)
        # the field that only repeats the key (a user's email, a group's name), if any:
        # nearly always the first, whose row is then the values after it
        key_field = None
        for field, value in attrs.items():
            if value == key and type(value) is str:
                key_field = field
                break
        if key_field is not None and key_field == fields[0]:
            row = [key, entry.id, *itertools.islice(attrs.values(), 1, None)]
        else:
            row = [key, entry.id, *(v for f, v in attrs.items() if f != key_field)]
        shape = (fields, key_field, entry.prevent_destroy, entry.removed)
        tables.setdefault(entry.kind, {}).setdefault(shape, []).append(row)
    return tables


def _table_lines(shape: _Shape, rows: list[list[Any]], last: bool) -> list[str]:
    fields, key_field, prevent_destroy, removed = shape
    head: dict[str, Any] = {"fields": list(fields)}
    if key_field is not None:
        head["key_field"] = key_field
    if prevent_destroy:
        head["prevent_destroy"] = True
    if removed:
        head["removed"] = True
    opening = json.dumps(head, ensure_ascii=False)[:-1] + ', "entries": ['
    rows.sort(key=lambda row: row[0])
    body = [f"        {_row_text(row)}," for row in rows]
    if body:
        body[-1] = body[-1][:-1]
    return [f"      {opening}", *body, "      ]}" + ("" if last else ",")]


# reading

def read(backend: StateBackend, share: Mapping[str, dict[str, Any]]) -> StateFile | None:
    """The backend's snapshot, as `decode` reads it; None when there is none. The text goes
    once parsed: for 100k users it is not held beside the entries being made."""
    text = backend.read()
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # the bytes go: json.loads would hold both at once
    raw = _parsed(text, share)
    del text
    return _snapshot(raw, share)


def decode(text: str, share: Mapping[str, dict[str, Any]] | None = None) -> StateFile:
    """A snapshot's text, checked whole before it is believed. Recorded attributes equal to
    those `share` holds for the same address are that very dict (`State.load`). Damaged or
    Unreadable where it is not a snapshot this lmsform reads."""
    return _snapshot(_parsed(text, share or {}), share or {})


def _parsed(text: str, share: Mapping[str, dict[str, Any]]) -> Any:
    # format 1's attribute objects are shared as they are parsed (`_sharing`)
    return json.loads(text, object_hook=_sharing(share) if '"attributes"' in text else None)


def _snapshot(raw: Any, share: Mapping[str, dict[str, Any]]) -> StateFile:
    try:
        if not isinstance(raw, dict):
            raise Damaged("not a snapshot")
        version = raw.get("format_version", 1)
        if version not in READABLE_VERSIONS:
            raise Unreadable(f"format {version}")
        if not raw.keys() >= SNAPSHOT_MEMBERS or not isinstance(raw["lineage"], str):
            raise Damaged("not a whole snapshot")  # `{}` is no empty state: it lost one
        resources = raw.pop("resources")
        data = StateFile.model_validate(raw)
        reader = _entries_v1 if version == 1 else _entries_v2
        data.resources = dict(reader(resources, share))
    except (ValidationError, TypeError, KeyError) as exc:
        raise Damaged(str(exc)) from None
    return data


def _entries_v1(resources: Any, share: Mapping[str, dict[str, Any]]
                ) -> Iterator[tuple[str, StateEntry]]:
    if not isinstance(resources, dict):
        raise Damaged("resources is not a mapping")
    for address, entry in resources.items():
        validated = ENTRY.validate_python(entry)
        # the parsed (maybe shared) dict, not the copy validation made: `attributes` has
        # no validator of its own that this would skip
        validated.attributes = entry.get("attributes", validated.attributes)
        yield address, validated


class _Table(BaseModel, extra="forbid"):
    fields: list[str]
    key_field: str | None = None
    prevent_destroy: bool = False
    removed: bool = False
    entries: Any  # rows, checked one by one below: pydantic would copy 100k lists


def _entries_v2(resources: Any, share: Mapping[str, dict[str, Any]]
                ) -> Iterator[tuple[str, StateEntry]]:
    if not isinstance(resources, dict):
        raise Damaged("resources is not a mapping")
    for kind, tables in resources.items():
        if not isinstance(tables, list):
            raise Damaged(f"{kind}: not a list of tables")
        for raw in tables:
            table = _Table.model_validate(raw)
            yield from _rows(kind, table, share)


def _rows(kind: str, table: _Table, share: Mapping[str, dict[str, Any]]
          ) -> Iterator[tuple[str, StateEntry]]:
    """A table's entries, each row checked before it is believed, and let go once read."""
    fields = table.fields
    if len(set(fields)) != len(fields) or not isinstance(table.entries, list):
        raise Damaged(f"{kind}: a table's fields repeat, or it has no list of entries")
    at = fields.index(table.key_field) if table.key_field in fields else None
    if table.key_field is not None and at is None:
        raise Damaged(f"{kind}: key_field {table.key_field} is not one of its fields")
    width = len(fields) + 2 - (at is not None)
    rows = table.entries
    for i, row in enumerate(rows):
        rows[i] = None
        if type(row) is not list or len(row) != width or type(row[0]) is not str \
                or type(row[1]) is not str:
            raise Damaged(f"{kind}: entry {i} is not [key, id, a value per field]")
        key, values = row[0], row[2:]
        if at is not None:
            values.insert(at, key)
        attrs = dict(zip(fields, values, strict=True))
        address = f"{kind}.{key}"
        declared = share.get(address)
        if declared is not None and declared == attrs:
            attrs = declared
        yield address, StateEntry(kind, row[1], attrs, table.prevent_destroy, table.removed)


def _sharing(share: Mapping[str, dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """For format 1: a function that swaps each parsed object for an equal one of `share`,
    found by the value of its first member (a user's email, a group's name), so that the
    parse never holds a second copy of the manifests. Any equal object is swapped, a nested
    one too (equal as `==` says), which is only sound because shared dicts are never changed
    in place. A closure rather than a class: it runs for every object of the file."""
    by_first: dict[str, dict[str, Any]] = {}
    for attributes in share.values():
        for first in attributes.values():
            if type(first) is str:
                by_first.setdefault(first, attributes)
            break
    find = by_first.get

    def swap(parsed: dict[str, Any]) -> dict[str, Any]:
        for first in parsed.values():
            if type(first) is str:
                found = find(first)
                if found is not None and found == parsed:
                    return found
            break
        return parsed

    return swap
