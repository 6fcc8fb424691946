"""What a manifest may not be: too deep, too large after aliases expand, or written so that
YAML would read something other than its author meant (misreads caught before they count).
And where a problem is, as a line and column."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass
from typing import Any

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

from lmsform.yamlfile.spelling import _yaml

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


def _position_of(raw: bytes, offset: int) -> Position:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return Position(raw.count(b"\n", 0, offset) + 1, offset - line_start + 1)


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
