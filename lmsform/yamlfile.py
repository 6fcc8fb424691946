"""Reading YAML manifests fast and safely, and finding where a value sits only when an error
needs it.

ruamel.yaml's round-trip loader keeps positions but is slow on large manifests (tens of seconds
for 50k users), so the happy path uses the C-accelerated safe loader; positions come from
composing the file again, lazily, when something has to be reported.

What the loader gives is bounded before anything else sees it: nesting deeper than
`MAX_DEPTH`, aliases that expand to more than `MAX_EXPANSION` times the file's size (the
"billion laughs"), and aliases that contain themselves are refused with their position.
Numbers are numbers only when they read back as written: `0001`, `1.50` or `0044123` stay the
text the user wrote, so no text field is ever turned into a number and back.

What a document means is what YAML 1.2 says, or the document is refused with a position:
never read as something else. Keys are text, as in JSON (`true:` is the key "true"); a list,
a mapping or a null as a key, and a key written twice, are refused (`_SpellingConstructor`).
Tags are those of YAML's core schema, on values written as the tag says (`_TagConstructor`);
!!binary, !!set, !!omap, other vocabularies' tags and the non-specific `!` are refused.
The loader's parser is libyaml, which reads a few valid documents otherwise than YAML says
(`?x` in a flow collection as a key, an anchor name cut at a colon) and takes a few invalid
ones (`"text"#comment`, a quoted text going on at a lesser indentation): those are found
from its tokens and refused where they are (`_misread`), in a file that cheap patterns say
may hold one. YAML errors name keys and positions, never values, which may be secrets. The
official YAML test suite checks all of this (tests/test_yaml_suite.py), and names what
lmsform refuses of valid YAML, and why.

Faster still, a file whose constructs are all known to read the same either way is parsed by
rapidyaml
(a C++ parser) and emitted as JSON for the standard library to load, about ten times faster
than constructing it in Python: `_fast_load`. It vouches only for what it can: any construct
whose JSON would lose a distinction YAML makes (plain `True`, `~`, `.inf`, `1_000`, hex,
timestamps with a time, non-string keys), anything the budget must watch (anchors, aliases,
merge keys), tags, tabs, several documents, duplicate keys, another encoding, or any parse
error sends the file down the path above, which reports problems with their position. A
property test compares the two on generated manifests. Where libyaml refuses valid YAML that
rapidyaml reads (a URL in a flow mapping: `{url: http://example.org}`), the fast path's
reading stands: the test suite checks that it is YAML's.

rapidyaml's tree takes about ten times the size of what it parses, so a large file goes through
it in pieces of about a megabyte, cut between the entries of a long sequence (`_pieces`); and
`load_in_runs` leaves the runs of entries after the first unparsed until the caller asks for
them, so that 100k users' raw data is never all in memory at once.

Parsed manifests are not cached: a cache is one more input that could change a plan.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import (
    BaseConstructor,
    ConstructorError,
    DuplicateKeyError,
    SafeConstructor,
)
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tokens import (
    AliasToken,
    AnchorToken,
    BlockEndToken,
    BlockMappingStartToken,
    BlockSequenceStartToken,
    FlowMappingEndToken,
    FlowMappingStartToken,
    FlowSequenceEndToken,
    FlowSequenceStartToken,
    KeyToken,
    ScalarToken,
    TagToken,
)

MAX_DEPTH = 64  # levels of nesting; a manifest needs about ten
MAX_EXPANSION = 10  # values per byte of the file, after aliases are expanded (a manifest: < 1)
MIN_BUDGET = 100_000  # values any file may hold, however short
# Block nesting deeper than the limit: 256 columns of indentation, or MAX_DEPTH compact levels
# (`- - - ...`) on one line; each pattern starts with a literal, for speed (see NOT_FAST).
DEEP_INDENT = re.compile(rb"\n[ \t]{256}")
DEEP_SEQUENCES = tuple(re.compile(rb"%s[ \t]+(?:[-?:][ \t]+){%d}" % (start, MAX_DEPTH - 1))
                       for start in (rb"-", rb"\?", rb":"))
BRACKETS = re.compile(rb"[\[\]{}]")
NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# What `_fast_load` leaves to the full loader (see the module docstring): literal markers,
# found at C speed, then the few patterns a literal cannot say. A false alarm (one inside
# quoted text) only costs speed, never correctness.
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


class _FixedVersionResolver(VersionedResolver):
    """Always YAML 1.2: ruamel otherwise looks the version up, through an exception, per scalar."""

    @property
    def processing_version(self) -> Any:
        return (1, 2)


YAML_TAG = "tag:yaml.org,2002:"
STR_TAG, NULL_TAG = YAML_TAG + "str", YAML_TAG + "null"
# The tags whose text the resolver also reads without a tag: a value tagged with one must be
# written as such a value (`!!int 12`, not `!!int twelve`, which ruamel would crash on); a
# float may be written as an integer (`!!float 20`, as lmsform's export writes amounts).
IMPLICIT_TAGS = frozenset(YAML_TAG + t for t in ("int", "float", "bool", "null", "timestamp"))
FITTING = {tag: {tag} for tag in IMPLICIT_TAGS} | {
    YAML_TAG + "float": {YAML_TAG + "float", YAML_TAG + "int"}}
# Every tag lmsform reads: those, text, lists and mappings. !!binary, !!set, !!omap, !!pairs
# and local or global tags of other vocabularies mean nothing in a manifest, and would be read
# as bytes, sets or tuples that are no JSON.
READ_TAGS = IMPLICIT_TAGS | {STR_TAG, YAML_TAG + "seq", YAML_TAG + "map"}


class _SpellingConstructor(SafeConstructor):
    """Numbers that do not read back as written (leading zeros, trailing zeros after the
    point) are kept as the text written; so are dates that do not exist, for the schema to
    refuse with their position.

    Keys are text, as in JSON: a number, boolean or date written as a key is its text as
    written (`1.50`, `true`); a null or empty key, a list or a mapping as a key, and a key
    written twice are refused with their position, naming the key but never a value."""

    def construct_yaml_int(self, node: ScalarNode) -> Any:
        value = super().construct_yaml_int(node)
        return value if str(value) == node.value.replace("_", "") else node.value

    def construct_yaml_float(self, node: ScalarNode) -> Any:
        value = super().construct_yaml_float(node)
        return value if _reads_back(value, node.value) else node.value

    def construct_yaml_timestamp(self, node: ScalarNode, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except (ValueError, OverflowError):
            return node.value

    def construct_mapping(self, node: Node, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            self.flatten_mapping(node)
            for index, (key, value) in enumerate(node.value):
                if type(key) is not ScalarNode or key.tag != STR_TAG:
                    node.value[index] = (self._text_key(key), value)
        return BaseConstructor.construct_mapping(self, node, deep=deep)

    def _text_key(self, key: Node) -> Node:
        """A key as the text written, or refused; a copy, since an alias may share the node
        as a value (where `1` stays a number)."""
        if not isinstance(key, ScalarNode):
            raise _refused("a list or a mapping as a key: lmsform reads keys that are text",
                           key)
        if key.tag == NULL_TAG:
            raise _refused("an empty or null key: lmsform reads keys that are text", key)
        if key.tag in IMPLICIT_TAGS and _implied(self, key) == key.tag:
            return ScalarNode(STR_TAG, key.value, key.start_mark, key.end_mark,
                              style=key.style)
        return key  # another tag: constructed (or refused) as tagged

    def check_mapping_key(self, node: MappingNode, key_node: Node, mapping: Any, key: Any,
                          value: Any) -> bool:
        """ruamel's message quotes both values, which may be secrets: this one names the key
        and where it was first written."""
        if key not in mapping:
            return True
        first = next(k for k, _ in node.value if k is key_node
                     or (isinstance(k, ScalarNode) and k.value == key_node.value))
        line, column = first.start_mark.line + 1, first.start_mark.column + 1
        raise DuplicateKeyError(None, None, f'duplicate key "{key}" (first written at line '
                                f"{line}, column {column})", key_node.start_mark)


_SpellingConstructor.add_constructor("tag:yaml.org,2002:int",
                                     _SpellingConstructor.construct_yaml_int)
_SpellingConstructor.add_constructor("tag:yaml.org,2002:float",
                                     _SpellingConstructor.construct_yaml_float)
_SpellingConstructor.add_constructor("tag:yaml.org,2002:timestamp",
                                     _SpellingConstructor.construct_yaml_timestamp)


class _TagConstructor(_SpellingConstructor):
    """For a file that writes a tag (only such a file can hold a node of another tag, or a
    value its tag does not fit): every node's tag is one lmsform reads, and a tagged value
    is written as what its tag says, or the node is refused with its position."""

    def construct_non_recursive_object(self, node: Node, tag: str | None = None) -> Any:
        written: str = tag if tag is not None else str(node.tag)
        if written not in READ_TAGS:
            raise _refused(f"the tag {_short(written)}: lmsform reads text, numbers, "
                           "booleans, nulls, dates, lists and mappings", node)
        if isinstance(node, ScalarNode) and written in IMPLICIT_TAGS \
                and _implied(self, node) not in FITTING[written]:
            raise _refused(f"a value that is not written as its tag {_short(written)} says",
                           node)
        return super().construct_non_recursive_object(node, tag)


def _implied(constructor: SafeConstructor, node: ScalarNode) -> str:
    """The tag the resolver gives the node's text written plain, without a tag."""
    return str(constructor.resolver.resolve(ScalarNode, node.value, (True, False)))


def _short(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG):] if tag.startswith(YAML_TAG) else tag


def _refused(problem: str, node: Node) -> ConstructorError:
    return ConstructorError(None, None, problem, node.start_mark)


def _reads_back(value: float, text: str) -> bool:
    return text.lower().lstrip("+") in {repr(value), str(value)} or value != value \
        or value in (float("inf"), float("-inf"))


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
    Manifests (and `load_in_runs`'s later runs) are read on one thread, before any other
    starts: the redirection is the whole process's."""
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
    for key in found:
        if key[:1] in KEY_SUSPECT and not _same_key(key):
            raise ValueError("a key that is not text")
    return found


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


def _int(text: str) -> int | str:
    """A number keeps its spelling unless it reads back as written (as the full loader)."""
    value = int(text)
    return value if str(value) == text else text


def _float(text: str) -> float | str:
    value = float(text)
    return value if _reads_back(value, text) else text


def _yaml(tags: bool = False) -> YAML:
    """The full loader; `tags` where the file writes a tag (see `_TagConstructor`)."""
    yaml = YAML(typ="safe")
    yaml.Resolver = _FixedVersionResolver
    yaml.Constructor = _TagConstructor if tags else _SpellingConstructor
    return yaml


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


class YamlSyntaxError(Exception):
    """The file is not valid YAML (or has a duplicate key); carries the position."""

    def __init__(self, message: str, position: Position) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class _Budget:
    """Turns loader output into JSON-compatible data (dates as ISO text, keys as text),
    counting values so that aliases cannot make it expand without bound."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.open: set[int] = set()  # containers on the current path: an alias to one loops

    def plain(self, value: Any) -> Any:
        self.left -= 1
        if self.left < 0:
            raise _TooLarge("aliases expand this file to more values than lmsform reads "
                            f"(at most {MAX_EXPANSION} per byte of the file)")
        if isinstance(value, dict | list):
            if id(value) in self.open:
                raise _TooLarge("an alias refers to a value that contains it")
            self.open.add(id(value))
            try:
                if isinstance(value, dict):
                    return {k if isinstance(k, str) else str(k): self.plain(v)
                            for k, v in value.items()}
                return [self.plain(v) for v in value]
            finally:
                self.open.discard(id(value))
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        return value


class _TooLarge(Exception):
    pass


class LaterRunError(Exception):
    """A later run of a long sequence did not parse (see `YamlFile.load_in_runs`)."""


def _runs(key: str, runs: list[bytes]) -> Iterator[list[Any]]:
    for run in runs:
        try:
            yield _run_entries(key, run)
        except Exception:
            raise LaterRunError(key) from None


def _syntax_error(exc: YAMLError) -> YamlSyntaxError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    position = Position(mark.line + 1, mark.column + 1) if mark is not None else Position(1, 1)
    if isinstance(exc, MarkedYAMLError) and "duplicate anchor" in (exc.context or ""):
        first = exc.context_mark
        message = (f"an anchor defined again (first at line {first.line + 1}, column "
                   f"{first.column + 1}): lmsform reads each anchor once")
    elif isinstance(exc, MarkedYAMLError):
        message = " ".join(p for p in (exc.context, exc.problem) if p)
    else:
        message = str(exc)
    return YamlSyntaxError(f"invalid YAML: {message}", position)


def _with_final_break(raw: bytes) -> bytes:
    """libyaml drops the spaces of a file's last line when no line break ends it, which
    inside a block scalar loses a line of the text; YAML reads that line the same with or
    without its break (the test suite says so, in cases L24T and JEF9), so one is added."""
    last = raw[raw.rfind(b"\n") + 1:]
    return raw + b"\n" if last and not last.strip(b" \t") else raw


# Where libyaml (the C parser under ruamel.yaml) reads a document otherwise than YAML 1.2
# says, or reads what YAML calls invalid: found from its tokens by `_misread`, in a file that
# one of these patterns (or `_flow_across_lines`) says may hold such a place. They find a
# superset of those places, each from a literal character that the regex engine finds at C
# speed, so that an ordinary large file is never scanned twice.
FLOW_SEPARATOR = rb"(?=[\s,\[\]{}])"
MISREAD_SUSPECTS = tuple(re.compile(p) for p in (
    rb"#(?<=[^\sA-Za-z_]#)",  # a comment right after a token, with no space between
    rb'"(?<=[\s\[{,:]")(?:[^"\\\n]|\\.)*\\?\n',  # double-quoted text across lines
    rb"'(?<=[\s\[{,:]')(?:[^'\n]|'')*\n",  # single-quoted text across lines
    # a block scalar's leading empty line
    *(rb"%s[-+0-9]*[ \t]*(?:#[^\n]*)?\r?\n +\r?\n" % c for c in (rb"\|", rb">")),
    # a lone -, ? or : in a flow collection, or ? starting a flow entry
    *(rb"%s[ \t]*(?:\?|[-:]%s)" % (c, FLOW_SEPARATOR) for c in (rb"\[", rb"\{", rb",")),
    rb":[ \t]*[-?:]" + FLOW_SEPARATOR,
    # an anchor or alias name that libyaml cuts short
    *(rb"%s[\w-]+(?=[^\s,\[\]{}\w-])" % c for c in (rb"&", rb"\*")),
    rb"!(?![^\s,\[\]{}])",  # the non-specific tag
))
NOT_FLOW = bytes(b for b in range(256) if b not in b"[]{}\n")
LINE_BREAK = re.compile(r"\r\n|\r|\n")
CONTINUATION = re.compile(r"\n( *)[ \t]*\S")  # a line with text, and its indentation
BLOCK_HEADER = re.compile(r"[|>][-+0-9]*")
SEPARATORS = frozenset(" \t\r\n,[]{}")
BLOCK_STARTS = (BlockMappingStartToken, BlockSequenceStartToken)
FLOW_STARTS = (FlowMappingStartToken, FlowSequenceStartToken)
FLOW_ENDS = (FlowMappingEndToken, FlowSequenceEndToken)


def _may_be_misread(utf8: bytes) -> bool:
    return any(p.search(utf8) for p in MISREAD_SUSPECTS) or _flow_across_lines(utf8)


def _flow_across_lines(utf8: bytes) -> bool:
    """Whether a flow collection may span lines: an opening bracket left once the pairs
    that open and close on one line are taken away (brackets in text count too)."""
    brackets = utf8.translate(None, NOT_FLOW)
    while (fewer := brackets.replace(b"[]", b"").replace(b"{}", b"")) != brackets:
        brackets = fewer
    return b"[" in brackets or b"{" in brackets


def _misread(text: str) -> tuple[str, int] | None:
    """The first place where libyaml reads the document otherwise than YAML 1.2 says (what
    is there, and its offset in `text`), from its tokens; None where there is none."""
    blocks, flow, end = [-1], 0, 0  # the columns of the open block collections
    for token in _yaml().scan(text):
        start = token.start_mark.index
        found = _unseparated_comment(text, end, start) if start > end else None
        found = found or _token_misread(text, token, flow > 0, blocks[-1])
        if found:
            return found
        if isinstance(token, BLOCK_STARTS):
            blocks.append(token.start_mark.column)
        elif isinstance(token, BlockEndToken):
            blocks.pop()
        flow += isinstance(token, FLOW_STARTS) - isinstance(token, FLOW_ENDS)
        end = max(end, token.end_mark.index)
    return None


def _unseparated_comment(text: str, end: int, start: int) -> tuple[str, int] | None:
    """YAML 1.2 [77] s-b-comment: a comment is separated from what precedes it by white
    space; libyaml takes `"text"#note`, `[a]#note` or `%YAML 1.2#note` as a comment."""
    if end > 0 and text.startswith("#", end) and not text[end - 1].isspace():
        return ("'#' with no space before it: YAML starts a comment only after a space or "
                "a tab", end)
    return None


def _token_misread(text: str, token: Any, in_flow: bool, indent: int
                   ) -> tuple[str, int] | None:
    """What is wrong with one token, in a flow collection or not, `indent` being the column
    of the block collection it is in (-1 at the top)."""
    start, stop = token.start_mark.index, token.end_mark.index
    after = text[stop:stop + 1]
    if isinstance(token, ScalarToken):
        if token.style in ("|", ">"):
            return _block_scalar_misread(text, start, indent)
        if not token.plain or in_flow:
            found = _underindented(text, start + 1, stop, indent)
            if found:
                return found
        if token.plain and in_flow and text[start] in "-?:" \
                and text[start + 1:start + 2] in SEPARATORS | {""}:
            return (f"a plain '{text[start]}' followed by a space or , ] }} in a flow "
                    "collection: YAML 1.2 [126] ns-plain-first does not allow it; quote it",
                    start)
    elif isinstance(token, KeyToken) and in_flow and text.startswith("?", start) \
            and not text[start + 1:start + 2].isspace():
        return ("a text starting with '?' in a flow collection: lmsform cannot read it as "
                "YAML says; quote it", start)
    elif isinstance(token, AnchorToken | AliasToken) and after and after not in SEPARATORS:
        return ("an anchor or alias name with characters other than letters, digits, - and _:"
                " lmsform cannot read it as YAML says", start)
    elif isinstance(token, TagToken) and token.value == (None, "!"):
        return ("the non-specific tag '!': lmsform does not read it; quote the value instead",
                start)
    if in_flow:
        line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
        if not text[line_start:start].strip(" \t"):
            return _underindented(text, line_start - 1, start + 1, indent)
    return None


def _underindented(text: str, start: int, stop: int, indent: int) -> tuple[str, int] | None:
    """YAML 1.2 [69] s-flow-line-prefix: each line that a quoted text or a flow collection
    goes on to is indented more than the block collection it is in (libyaml takes any)."""
    for line in CONTINUATION.finditer(text, max(start, 0), stop):
        if len(line[1]) <= indent:
            return ("this line goes on with a quoted text or a [...] or {...} collection and "
                    f"is indented {len(line[1])} spaces: YAML needs more than the {indent} of "
                    "the key or '-' it belongs to", line.start() + 1)
    return None


def _block_scalar_misread(text: str, start: int, indent: int) -> tuple[str, int] | None:
    """YAML 1.2 [162] c-b-block-header: only white space and a comment follow `|` or `>` and
    their indicators. 8.1.1.1: where the indentation is not given, no leading empty line has
    more spaces than the first line of text."""
    header = BLOCK_HEADER.match(text, start)
    after = header.end() if header else start + 1
    if text[after:after + 1] not in ("", " ", "\t", "\r", "\n"):
        return ("text right after a block scalar's indicator: YAML allows only a space and a"
                " comment there", after)
    if header is None or any(c.isdigit() for c in header[0]):
        return None
    widest, at = -1, 0
    begin = text.find("\n", after) + 1
    while 0 < begin < len(text):
        end = text.find("\n", begin)
        line = text[begin:end if end >= 0 else len(text)].rstrip("\r")
        if line.strip(" "):
            spaces = len(line) - len(line.lstrip(" "))
            if spaces > indent and widest > spaces:
                return ("a leading empty line of a block scalar with more spaces than its "
                        "first line of text", at)
            return None
        if len(line) > widest:
            widest, at = len(line), begin
        begin = end + 1 if end >= 0 else len(text)
    return None


def _text_position(text: str, offset: int) -> Position:
    line_start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    return Position(len(LINE_BREAK.findall(text, 0, line_start)) + 1, offset - line_start + 1)


def _too_deep(raw: bytes) -> YamlSyntaxError | None:
    """Nesting deep enough to exhaust the parser's stack is refused before parsing (the C
    composer recurses without a limit). Brackets inside quoted text count too: a manifest
    never holds dozens of them unclosed."""
    depth, at = 0, None
    brackets = raw.translate(None, NOT_BRACKETS)  # the deepest point, at C speed, first
    if brackets and max(itertools.accumulate(map(BRACKET_STEP.__getitem__, brackets))) \
            > MAX_DEPTH:
        for match in BRACKETS.finditer(raw):
            depth += 1 if match.group() in b"[{" else -1
            if depth > MAX_DEPTH:
                at = match.start()
                break
    if at is None:
        indent = DEEP_INDENT.search(b"\n" + raw)  # its start is the line's, in `raw`
        found = [m.start() for m in (indent, *(p.search(raw) for p in DEEP_SEQUENCES)) if m]
        at = min(found) if found else None
    if at is None:
        return None
    return YamlSyntaxError(f"nested deeper than lmsform reads (at most {MAX_DEPTH} levels, "
                           "or 256 columns of indentation)", _position_of(raw, at))


def _position_of(raw: bytes, offset: int) -> Position:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return Position(raw.count(b"\n", 0, offset) + 1, offset - line_start + 1)


class YamlFile:
    """One manifest file: its parsed data now, the positions of its values on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw: bytes | None = path.read_bytes()
        self._root: Node | None = None
        self._composed = False

    @property
    def raw(self) -> bytes:
        """The file's bytes, read again if `release` dropped them (nothing when the file is
        gone by then: positions fall back to the start of the file)."""
        if self._raw is None:
            try:
                self._raw = self.path.read_bytes()
            except OSError:
                self._raw = b""
        return self._raw

    def release(self) -> None:
        """Drop the file's bytes once it is read: 100k users' 30 MB need not last a whole
        plan. Should an error need a position after that, the file is read again (if it was
        edited in between, the position is in the edited file)."""
        self._raw = None

    def load(self) -> Any:
        """The document as plain Python data; raises YamlSyntaxError."""
        self._refuse_too_deep()
        fast = _fast_load(self.raw)
        return fast if fast is not None else self.load_full()

    def load_in_runs(self) -> tuple[Any, dict[str, Iterator[list[Any]]]]:
        """`load`, but for a long sequence (100k users) only its first run of entries is in
        the document: the others come from iterators by key, each run parsed when reached,
        so that the caller can make its own objects from one run before the next exists.
        An iterator raises `LaterRunError` where a run does not parse as the first did
        (then the file is invalid: the caller reads it with `load_full`, which says where)."""
        self._refuse_too_deep()
        try:
            parts = _fast_parts(self.raw, PIECE_BYTES)
        except Exception:
            parts = None
        if parts is None:
            return self.load_full(), {}
        document, later = parts
        return document, {key: _runs(key, runs) for key, runs in later.items()}

    def _refuse_too_deep(self) -> None:
        too_deep = _too_deep(self.raw)
        if too_deep is not None:
            self._composed = True  # composing it would exhaust the stack too
            raise too_deep

    def load_full(self) -> Any:
        """The document through ruamel.yaml, every check and position included."""
        raw = _with_final_break(self.raw)
        try:
            data = _yaml(tags=b"!" in raw).load(raw)
            self._refuse_misread(raw)
        except YAMLError as exc:
            error = _syntax_error(exc)
            if self._indented_with_tab(error.position.line):
                error = YamlSyntaxError("a tab in the indentation of this line: YAML indents "
                                        "with spaces only", Position(error.position.line, 1))
            raise error from None
        except RecursionError:
            self._composed = True
            raise YamlSyntaxError(f"nested deeper than lmsform reads (at most {MAX_DEPTH} "
                                  "levels)", Position(1, 1)) from None
        try:
            return _Budget(max(MIN_BUDGET, MAX_EXPANSION * len(self.raw))).plain(data)
        except _TooLarge as exc:
            raise YamlSyntaxError(str(exc), self._first_alias()) from None

    def _refuse_misread(self, raw: bytes) -> None:
        """A document that libyaml read otherwise than YAML 1.2 says is refused where it
        does (`_misread`); a file with no place where it could is not scanned again."""
        utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
        if not _may_be_misread(raw.decode("utf-16").encode("utf-8") if utf16 else raw):
            return
        text = raw.decode("utf-16") if utf16 else raw.decode("utf-8-sig")
        misread = _misread(text)
        if misread is not None:
            problem, offset = misread
            raise YamlSyntaxError(f"invalid YAML: {problem}", _text_position(text, offset))

    def _first_alias(self) -> Position:
        match = re.search(rb"(?<![\w\"'])\*[^\s,\]}]+", self.raw)
        return _position_of(self.raw, match.start()) if match else Position(1, 1)

    def _indented_with_tab(self, line: int) -> bool:
        lines = self.raw.splitlines()
        if not 0 < line <= len(lines):
            return False
        text = lines[line - 1]
        return b"\t" in text[:len(text) - len(text.lstrip(b" \t"))]

    def _tree(self) -> Node | None:
        """The composed node tree, built on first use: only error messages need positions."""
        if not self._composed:
            self._composed = True
            try:
                self._root = _yaml().compose(self.raw)
            except YAMLError:
                self._root = None
        return self._root

    def _walk(self, path: Sequence[str | int]) -> tuple[Node | None, bool]:
        """The deepest node along `path`, and whether the whole path exists."""
        node = self._tree()
        if node is None:
            return None, False
        for step in path:
            child = _child(node, step)
            if child is None:
                return node, False
            node = child
        return node, True

    def locate(self, path: Sequence[str | int]) -> Position:
        """Where the value at `path` starts; the nearest existing parent when it is absent."""
        node, _ = self._walk(path)
        return _position(node)

    def locate_key(self, path: Sequence[str | int]) -> Position:
        """Where the key at the end of `path` is written (for unknown or duplicate fields)."""
        if not path:
            return Position(1, 1)
        parent, complete = self._walk(path[:-1])
        if complete and isinstance(parent, MappingNode):
            for key, _ in parent.value:
                if key.value == path[-1]:
                    return _position(key)
        return _position(parent)

    def index_in_sequence(self, path: Sequence[str | int], value: str) -> int:
        """Where `value` is written in the list at `path` (0 if it cannot be found)."""
        node, complete = self._walk(path)
        if complete and isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                if str(getattr(item, "value", "")).strip() == value:
                    return i
        return 0


def _position(node: Node | None) -> Position:
    if node is None:
        return Position(1, 1)
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _child(node: Node, step: str | int) -> Node | None:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if key.value == step or (not isinstance(step, str) and key.value == str(step)):
                child: Node = value
                return child
    elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        item: Node = node.value[step]
        return item
    return None
