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
official YAML test suite checks all of this (tests/yamlfile/test_yaml_suite.py), and names what
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

`guards` holds the bounds and the misreads, `spelling` the full loader's rules, `fast` the
rapidyaml path; `YamlFile` here puts them together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from lmsform.yamlfile import fast
from lmsform.yamlfile.fast import LaterRunError, LaterRuns, _fast_load, _fast_parts
from lmsform.yamlfile.guards import (
    MAX_DEPTH,
    MAX_EXPANSION,
    MIN_BUDGET,
    Position,
    YamlSyntaxError,
    _Budget,
    _may_be_misread,
    _misread,
    _position_of,
    _text_position,
    _too_deep,
    _TooLarge,
)
from lmsform.yamlfile.spelling import _yaml

__all__ = ["LaterRunError", "LaterRuns", "Position", "YamlFile", "YamlSyntaxError",
           "_fast_load"]


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


class YamlFile:
    """One manifest file: its parsed data now, the positions of its values on demand."""

    def __init__(self, path: Path, *, read: bool = True) -> None:
        """`read=False`: a file read elsewhere (a helper process), its bytes read here only
        once a position in it is asked for (`raw`)."""
        self.path = path
        self._raw: bytes | None = path.read_bytes() if read else None
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

    def load_in_runs(self) -> tuple[Any, dict[str, LaterRuns]]:
        """`load`, but for a long sequence (100k users) only its first run of entries is in
        the document: the others come by key (`LaterRuns`), each run parsed when reached,
        so that the caller can make its own objects from one run before the next exists.
        An iterator raises `LaterRunError` where a run does not parse as the first did
        (then the file is invalid: the caller reads it with `load_full`, which says where)."""
        self._refuse_too_deep()
        try:
            parts = _fast_parts(self.raw, fast.PIECE_BYTES)
        except Exception:
            parts = None
        if parts is None:
            return self.load_full(), {}
        document, later = parts
        return document, {key: LaterRuns(key, runs) for key, runs in later.items()}

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
        """Where `value` is written in the list at `path`: an item that is the value, or a
        mapping holding it (`{course: KEY, until: ...}`); 0 if it cannot be found."""
        node, complete = self._walk(path)
        if complete and isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                held = [v for _, v in item.value] if isinstance(item, MappingNode) else [item]
                if any(isinstance(v, ScalarNode) and str(v.value).strip() == value
                       for v in held):
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
