"""The fast path: rapidyaml parses a plain manifest about ten times faster than constructing it
in Python, a large file in pieces cut between the entries of a long list; whatever it cannot
read exactly as ruamel.yaml would steps aside to the full loader."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lmsform.yamlfile.spelling import (
    _float,
    _int,
)


# What `_fast_load` leaves to the full loader (see the module docstring): literal markers,
# found at C speed, then the few patterns a literal cannot say. A false alarm (one inside
# quoted text) only costs speed, never correctness.
class LaterRunError(Exception):
    """A later run of a long sequence did not parse (see `YamlFile.load_in_runs`)."""


KEY_SUSPECT = frozenset("tfnTFN~+-.0123456789")  # the first characters of such keys


NOT_FAST_CHARS = b"\t~&*!"  # tabs, ~, anchors, aliases, tags: one pass finds them all


NOT_FAST_OTHER_BYTES = bytes(b for b in range(256) if b not in NOT_FAST_CHARS)


# Each pattern starts with a literal character, which the regex engine finds at C speed: the
# same patterns written with the lookbehind first took ten times longer on a large file.
NOT_FAST_PATTERNS = tuple(re.compile(p, re.MULTILINE) for p in (
    rb"T(?:rue|RUE)", rb"F(?:alse|ALSE)", rb"N(?:ull|ULL)",  # YAML 1.2's other spellings
    rb"\.(?:inf|Inf|INF|nan|NaN|NAN)", rb"0[xo]", rb"<<", rb"\n(?:---|\.\.\.)", rb"\? ",
    # rapidyaml writes plain nan, inf and infinity as .nan and .inf
    rb"nan(?<![\w.]nan)(?![\w.])", rb"inf(?<![\w.]inf)(?:inity)?(?![\w.])",
    rb"\\u[dD][89a-fA-F]",  # an escaped lone surrogate: the full loader refuses it
    # a scalar starting with a character YAML reserves (@, `), or a lone = : the full loader
    # refuses them, rapidyaml does not
    *(rb"%s(?:(?<=[:\-\[{,] %s)|(?<=[\[{,\n]%s))" % (c, c, c) for c in (b"@", b"`")),
    rb"=(?:(?<=[:\-\[{,] =)|(?<=[\[{,\n]=))(?=[\s,\]}])",
    rb"\xc2\x85", rb"\xe2\x80[\xa8\xa9]",  # NEL and the Unicode line separators

    rb"_(?<=\d_)_*\d",  # 1_000
    rb"-(?<=\d{4}-)\d\d?-\d\d?(?:[Tt]|[ \t]+)\d",  # a timestamp with a time
    # .5 and 1.: rapidyaml writes them 0.5 and 1.0
    rb"\.(?:(?<=[^\w.]\.)\d|(?<=[^\w.][-+]\.)\d|(?<=\d\.)[^\w.])",
    rb"\r(?!\n)",  # a lone carriage return
    # an empty key (`: x`, `- : x`, `[: x]`), which rapidyaml reads as "" and YAML as null
    rb":(?<=[\[{,\s]:)(?![^\s,\]}])",
))


PIECE_BYTES = 2**20  # rapidyaml reads a large file in pieces of about this size


# a line starting at column 0 that is neither a comment nor a sequence entry: a top-level
# key (written from its newline, which the regex engine finds far faster than a ^)
TOP_LEVEL_KEY = re.compile(rb"\n(?:[^\s#\-]|-[^\s])")


# `users:` (a plain key, maybe a comment) and, after blank or comment lines, the indentation
# of its sequence's first entry
SEQUENCE_HEADER = re.compile(
    rb"(?P<line>(?P<key>[A-Za-z_][A-Za-z0-9_]*):[ ]*(?:#[^\n]*)?\r?\n)"
    rb"(?:[ ]*(?:#[^\n]*)?\r?\n)*(?P<indent>[ ]*)-[ \r\n]")


def _not_fast(raw: bytes) -> bool:
    first_line = b"\n" + raw[:raw.find(b"\n") + 1 or len(raw)]  # the patterns anchor on \n
    return (raw.startswith((b"---", b"...", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
            or bool(raw.translate(None, NOT_FAST_OTHER_BYTES))
            or any(p.search(raw) or p.search(first_line) for p in NOT_FAST_PATTERNS))


def _fast_load(raw: bytes, piece_bytes: int | None = None) -> Any | None:
    """The document through rapidyaml and JSON, or None where that cannot be trusted to give
    what the full loader gives (then the caller uses it). A large file is read in pieces of
    about `piece_bytes` (see `_pieces`)."""
    try:
        parts = _fast_parts(raw, piece_bytes or PIECE_BYTES)
        if parts is None:
            return None
        document, later = parts
        for key, runs in later.items():
            for entries in _runs(key, runs):
                document[key].extend(entries)
        return document
    except Exception:  # not installed, not UTF-8, not valid YAML, a duplicate key...
        return None


def _fast_parts(raw: bytes, piece_bytes: int
                ) -> tuple[Any, dict[str, list[bytes]]] | None:
    """The fast path's document, but for the runs of a long sequence after its first,
    which are returned unparsed by key, in order (`_run_entries` parses one). None where
    the fast path steps aside; raises where a piece does not parse."""
    if _not_fast(raw):
        return None
    raw.decode("utf-8")
    document: dict[str, Any] = {}
    later: dict[str, list[bytes]] = {}
    for continues, piece in _pieces(raw, piece_bytes):
        if continues is not None:
            later.setdefault(continues, []).append(piece)
            continue
        data = _parse_piece(piece)
        if len(piece) == len(raw):
            return data, {}  # the whole file: whatever it holds
        if data is not None and not _join(document, data):
            return None
    if any(not isinstance(document.get(key), list) for key in later):
        return None
    return document, later


def _parse_piece(piece: bytes) -> Any:
    """One piece through rapidyaml and JSON; None for a piece of comments only."""
    import ryml

    with _quiet_stderr():
        tree = ryml.parse_in_arena(piece)
    text = ryml.emit_json(tree)
    del tree  # ten times the size of the piece: gone before the next one
    if text is None:
        return None
    return json.loads(text, object_pairs_hook=_unique_keys, parse_int=_int,
                      parse_float=_float)


def _run_entries(key: str, run: bytes) -> list[Any]:
    """The entries of one later run of the sequence under `key`; raises where the run is
    not a plain run of entries."""
    data = _parse_piece(run)
    if not isinstance(data, dict) or list(data) != [key] or not isinstance(data[key], list):
        raise ValueError(f"a run of '{key}' that does not join the others")
    entries: list[Any] = data[key]
    return entries


def _join(document: dict[str, Any], data: Any) -> bool:
    """Add one piece's top-level keys to the document; False where the pieces do not make
    one mapping (a top-level key written twice, which the full loader reports)."""
    if not isinstance(data, dict) or data.keys() & document.keys():
        return False
    document.update(data)
    return True


def _pieces(raw: bytes, piece_bytes: int) -> Iterator[tuple[str | None, bytes]]:
    """A file as documents of about `piece_bytes` each, parsed one at a time: rapidyaml's
    tree takes about ten times the size of what it parses, which made a 30 MB users file
    peak at 400 MB. Top-level keys are never split; a long block sequence (the users) is cut
    between its entries, each run after the first under a copy of its key's line and yielded
    with that key, for the caller to join to the first.

    A cut can only fall where a line starts with the entry marker at the entries' own
    indentation: no scalar or mapping continues there, and a flow collection or quoted
    text left open makes the piece fail to parse, which sends the file to the full loader.
    """
    if len(raw) <= piece_bytes:
        yield None, raw
        return
    starts = [0, *(m.start() + 1 for m in TOP_LEVEL_KEY.finditer(raw)), len(raw)]
    pending = 0  # where the sections not yet yielded begin
    for start, end in itertools.pairwise(starts):
        if end - start <= piece_bytes:
            if end - pending > piece_bytes and pending < start:
                yield None, raw[pending:start]
                pending = start
            continue
        if pending < start:
            yield None, raw[pending:start]
        yield from _sequence_runs(raw[start:end], piece_bytes)
        pending = end
    if pending < len(raw):
        yield None, raw[pending:]


def _sequence_runs(section: bytes, piece_bytes: int) -> Iterator[tuple[str | None, bytes]]:
    """One large top-level section: its block sequence's entries in runs of about
    `piece_bytes`, or the whole section where it is not a plain `key:` over a block
    sequence."""
    header = SEQUENCE_HEADER.match(section)
    if header is None:
        yield None, section
        return
    marker = re.compile(rb"\n%s-(?=[ \r\n])" % re.escape(header["indent"]))
    cuts = [0]
    while entry := marker.search(section, max(header.end(), cuts[-1] + piece_bytes) - 1):
        cuts.append(entry.start() + 1)
    key, line = header["key"].decode("utf-8"), header["line"]
    yield None, section[:cuts[1] if len(cuts) > 1 else len(section)]
    for begin, end in itertools.pairwise([*cuts[1:], len(section)]):
        yield key, line + section[begin:end]


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """rapidyaml writes its own diagnostics to the process's stderr when a file does not
    parse; lmsform reports the problem itself, with its position, through the full loader.
    Manifests (and `load_in_runs`'s later runs) are read before any other thread of
    lmsform's starts (a helper process's manager thread aside, which writes nothing): the
    redirection is the whole process's."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A mapping, refused (for the full loader to read) when a key is written twice or is a
    YAML boolean, null or number whose text the full loader would not keep (`true`, `1.50`)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("duplicate key")  # the full loader reports it with its position
    if not _all_text(tuple(found)):
        raise ValueError("a key that is not text")
    return found


@functools.lru_cache(maxsize=1024)
def _all_text(keys: tuple[str, ...]) -> bool:
    """Whether the full loader reads each of these keys as its text; asked once per set of
    keys, which 100k users' entries share."""
    return all(key[:1] not in KEY_SUSPECT or _same_key(key) for key in keys)


def _same_key(key: str) -> bool:
    """Whether the full loader reads this key as this text (numbers that read back as
    written do: `1`, `2.5`)."""
    if key in {"true", "false", "null", "~", "True", "False", "TRUE", "FALSE", "Null", "NULL"}:
        return False
    try:
        number = float(key)
    except ValueError:
        return True
    return key.lstrip("+") == str(int(number) if number.is_integer() and "." not in key
                                  and "e" not in key.lower() else number)


def _runs(key: str, runs: list[bytes]) -> Iterator[list[Any]]:
    for run in runs:
        try:
            yield _run_entries(key, run)
        except Exception:
            raise LaterRunError(key) from None


@dataclass(frozen=True)
class LaterRuns:
    """The runs of a long sequence after its first, unparsed (`YamlFile.load_in_runs`):
    iterating parses them one at a time, and raises `LaterRunError` at one that does not
    parse as the first did."""

    key: str
    pieces: list[bytes]

    def __iter__(self) -> Iterator[list[Any]]:
        return _runs(self.key, self.pieces)
