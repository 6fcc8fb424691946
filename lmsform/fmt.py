"""`lmsform fmt`: manifests rewritten in one canonical layout, every comment kept.

Reviewers read manifest diffs; a diff should show what changed, not how each author indents.
The canonical layout is the examples': mappings indented by 2, list items by 4 with the dash
at 2 (ruamel.yaml's round trip, which keeps comments, quotes, number spellings and the flow
style an author chose for short lists like `[a, b]`); top-level sections in a fixed order;
comments on their own line indented like the line they precede; no trailing whitespace, at
most one blank line in a row, one final newline.

Formatting must never change what a manifest says, so every result is checked before it is
used: read back the way `lmsform validate` reads it, it must hold the same values, and it must
hold the same comments. A step that fails the check is dropped (moving sections, then
tidying lines); if even ruamel's plain rewrite fails it, the file is reported and left alone.
Nothing is written unless every file could be formatted, and each write is atomic.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from lmsform import kinds
from lmsform.backends.file import atomic_write, writing
from lmsform.config import config_manifests
from lmsform.errors import LmsformError, ManifestError, Problem, display_path, reason
from lmsform.precommit import Includes, belongs_to_lmsform, is_yaml
from lmsform.yamlfile import YamlFile, YamlSyntaxError


def section_order() -> tuple[str, ...]:
    """The order of the top-level sections: the blocks that say how and where, what an
    environment reads from elsewhere (include, vars), then the kinds' sections with what they
    refer to first, then the rules they are judged by, then renames."""
    return ("version", "provider", "state", "settings", "include", "vars",
            *kinds.sections(), "policies", "moved")


TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
WIDTH = 4096  # never fold a line: long titles and URLs stay as their authors wrote them


@dataclass(frozen=True)
class Formatted:
    """One manifest and its canonical text."""

    path: Path
    text: str
    changed: bool


class Unformattable(Exception):
    """A file that cannot be formatted (not YAML, or no layout keeps what it says)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


def targets(config_dir: Path, files: Sequence[Path]) -> list[tuple[Path, bool]]:
    """The files to format and, for each, whether it must look like an lmsform manifest.

    Without `files`, every manifest of `config_dir`. With them (pre-commit passes every
    staged YAML file of a repository), only the `*.yaml`/`*.yml` ones that belong to lmsform
    (in a config directory or a shared directory one includes: `lmsform.precommit`): a
    workflow, compose file or Ansible variable file is left alone. A directory stands for its
    manifests.
    """
    if not files:
        return [(path, False) for path in config_manifests(config_dir)]
    chosen: dict[Path, bool] = {}
    includes = Includes()
    for path in files:
        if path.is_dir():
            chosen.update(dict.fromkeys(config_manifests(path), False))
        elif is_yaml(path) and path not in chosen:
            if not path.exists():
                raise LmsformError(f"{display_path(path)} does not exist")
            if belongs_to_lmsform(path, includes):
                chosen[path] = True
    return list(chosen.items())


def format_files(chosen: Iterable[tuple[Path, bool]]) -> list[Formatted]:
    """Every file formatted in memory; a ManifestError naming each file that cannot be (so
    that nothing is written unless everything can be)."""
    results: list[Formatted] = []
    problems: list[Problem] = []
    for path, must_look_like_manifest in chosen:
        try:
            result = format_file(path, manifests_only=must_look_like_manifest)
        except Unformattable as exc:
            problems.append(Problem(display_path(path), exc.line, exc.column, "", exc.message))
            continue
        if result is not None:
            results.append(result)
    if problems:
        raise ManifestError(problems)
    return results


def write(results: Iterable[Formatted]) -> None:
    for result in results:
        if result.changed:
            write_file(result.path, result.text)


def write_file(path: Path, text: str) -> None:
    """Replace a file atomically, keeping its permissions (a temporary file is private);
    a new file gets what the umask allows, as any editor's would."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o666 & ~umask
    with writing("the file", path):
        atomic_write(path, text)
        os.chmod(path, mode)


def format_file(path: Path, *, manifests_only: bool = False) -> Formatted | None:
    """One file formatted; None when there is nothing to format (an empty file, or with
    `manifests_only`, a document that is not an lmsform manifest)."""
    source = YamlFile(path)
    try:
        data = source.load()  # lmsform's own reading: its errors, its positions
    except YamlSyntaxError as exc:
        raise Unformattable(exc.message, exc.position.line, exc.position.column) from None
    except OSError as exc:
        raise Unformattable(f"cannot read this file: {reason(exc)}"
                            ) from None
    if data is None or (manifests_only and not _is_manifest(data)):
        return None
    raw = path.read_bytes()
    text = _decode(raw)
    formatted = format_text(text, data)
    return Formatted(path, formatted, formatted.encode("utf-8") != raw)


def _is_manifest(data: Any) -> bool:
    sections = kinds.manifest_model().model_fields.keys()
    return isinstance(data, dict) and bool(data) and data.keys() <= sections


def _decode(raw: bytes) -> str:
    """Text as the loader reads it: UTF-16 with a byte order mark, else UTF-8 (a BOM
    dropped). Written back as UTF-8."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unformattable("not UTF-8 or UTF-16 text") from exc


def format_text(text: str, meaning: Any = None) -> str:
    """The canonical layout of one manifest's text. `meaning` is the document as lmsform
    reads it (read from `text` when not given); the result reads the same."""
    document, dumped = _round_trip(text)
    order = section_order()
    reorder = isinstance(document, dict) and list(document) != sorted(
        document, key=lambda k: order.index(k) if k in order else -1)
    original: tuple[Any, Counter[str]] | None = None  # read only when something changed
    for result in _candidates(dumped, reorder):
        if result == text:
            return text
        if original is None:
            original = (_fingerprint(_read(text) if meaning is None else meaning),
                        _comments(text))
        if _keeps(result, *original):
            return result
    assert original is not None
    lost = original[1] - _comments(dumped)
    if lost:
        line = _line_of(text, next(iter(lost)))
        raise Unformattable("this comment would be lost: ruamel.yaml cannot keep a comment "
                            "here (inside a [flow, list] or {flow: map}, say); put it on a "
                            "line of its own. Nothing was written", line, 1)
    raise Unformattable("cannot be rewritten without changing what it says; nothing was "
                        "written")


def _round_trip(text: str) -> tuple[Any, str]:
    """ruamel's reading of a document and its rewrite, after trailing whitespace outside
    scalars is dropped (ruamel loses a blank line holding spaces after a [flow, list])."""
    try:
        if TRAILING_SPACE.search(text):
            protected = _layout(text).protected
            text = "\n".join(line if i in protected else line.rstrip()
                             for i, line in enumerate(_lines(text))) + "\n"
        document = _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise Unformattable(f"invalid YAML: {exc}".splitlines()[0], line, column) from None
    out = io.StringIO()
    _yaml().dump(document, out)
    return document, out.getvalue()


def _candidates(dumped: str, reorder: bool) -> Iterator[str]:
    """Layouts from the canonical one to ruamel's plain rewrite, each made only when the
    one before changed what the file says."""
    if reorder:
        yield _tidy(_reordered(dumped))
    yield _tidy(dumped)
    yield dumped


def _line_of(text: str, comment: str) -> int:
    for number, line in enumerate(_lines(text), 1):
        if comment in line:
            return number
    return 0


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, quotes, number spellings and flow style kept
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = WIDTH
    return yaml


def _keeps(candidate: str, expected: Any, comments: Counter[str]) -> bool:
    """Whether `candidate` says what the original said, with the same comments."""
    try:
        return _fingerprint(_read(candidate)) == expected and _comments(candidate) == comments
    except (Unformattable, YAMLError):
        return False


def _read(text: str) -> Any:
    """The document as `lmsform validate` reads it (number spellings, dates, limits)."""
    with tempfile.TemporaryDirectory(prefix="lmsform-fmt-") as scratch:
        path = Path(scratch) / "manifest.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return YamlFile(path).load()
        except YamlSyntaxError as exc:
            raise Unformattable(exc.message) from None


def _fingerprint(value: Any) -> Any:
    """Values compared with their types (`True == 1` in Python, not in a manifest); mapping
    order is not part of what a manifest says."""
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(k), _fingerprint(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("seq", tuple(_fingerprint(v) for v in value))
    return (type(value).__name__, value)


def _comments(text: str) -> Counter[str]:
    """Every comment line of a document, as written (trailing whitespace aside)."""
    found: Counter[str] = Counter()
    for token in _yaml().scan(text):
        for comment in _comment_tokens(getattr(token, "comment", None)):
            for line in str(comment.value).splitlines():
                if line.strip().startswith("#"):
                    found[line.strip()] += 1
    return found


def _comment_tokens(value: Any) -> Iterable[Any]:
    if isinstance(value, list | tuple):
        for item in value:
            yield from _comment_tokens(item)
    elif value is not None and hasattr(value, "value"):
        yield value


# Layout


@dataclass
class _Layout:
    """Where things are in a dumped document: lines inside multi-line scalars (their text,
    never touched), and the top-level keys with their lines when the root is a block mapping
    of plain keys."""

    protected: set[int]
    top_keys: list[tuple[str, int]] | None


def _layout(text: str) -> _Layout:
    protected: set[int] = set()
    keys: list[tuple[str, int]] | None = None
    depth, expect_key = 0, True
    for event in YAML(typ="safe").parse(text):  # libyaml's parser: the events and their marks
        name = type(event).__name__
        if name in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1
            continue
        if name not in ("ScalarEvent", "AliasEvent", "MappingStartEvent", "SequenceStartEvent"):
            continue
        if name == "ScalarEvent" and event.start_mark.line != event.end_mark.line:
            last = event.end_mark.line - (1 if event.end_mark.column == 0 else 0)
            protected.update(range(event.start_mark.line + 1, last + 1))
        if depth == 0 and name == "MappingStartEvent" and not event.flow_style:
            keys = []
        elif depth == 1 and keys is not None:
            if expect_key:
                if name == "ScalarEvent":
                    keys.append((str(event.value), event.start_mark.line))
                else:
                    keys = None  # a complex key: leave the order alone
            expect_key = not expect_key
        if name in ("MappingStartEvent", "SequenceStartEvent"):
            depth += 1
    return _Layout(protected, keys)


def _reordered(text: str) -> str:
    """The top-level sections in `section_order()`, each with the comment lines directly
    above it; whatever precedes the first section (the file's header) stays first."""
    layout = _layout(text)
    keys = layout.top_keys
    order = section_order()
    if not keys or any(k not in order for k, _ in keys):
        return text
    names = [k for k, _ in keys]
    wanted = sorted(names, key=order.index)
    if names == wanted:
        return text
    lines = _lines(text)
    starts = [keys[0][1]]
    for _, line in keys[1:]:
        start = line
        while start - 1 > starts[-1] and start - 1 not in layout.protected \
                and lines[start - 1].startswith("#"):
            start -= 1
        starts.append(start)
    blocks: dict[str, list[str]] = {}
    spaced = False
    for i, (key, _) in enumerate(keys):
        end = starts[i + 1] if i + 1 < len(keys) else len(lines)
        while end > starts[i] and end - 1 not in layout.protected and not lines[end - 1].strip():
            end -= 1
            spaced = True
        blocks[key] = lines[starts[i]:end]
    out = lines[:starts[0]]
    for i, key in enumerate(wanted):
        if i and spaced:
            out.append("")
        out.extend(blocks[key])
    return "\n".join(out) + "\n"


def _tidy(text: str) -> str:
    """No trailing whitespace, comments indented like the lines they go with, at most one
    blank line in a row, one final newline; the text of scalars untouched."""
    protected = _layout(text).protected
    lines = _lines(text)
    kinds = [_kind(line, i in protected) for i, line in enumerate(lines)]
    out: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        if kinds[i] == "blank":
            if out and out[-1][1] != "blank":  # none at the start, one in a row
                out.append(("", "blank"))
        elif kinds[i] == "comment":
            out.append((" " * _comment_indent(lines, kinds, i) + line.strip(), "comment"))
        else:
            out.append((line if kinds[i] == "text" else line.rstrip(), kinds[i]))
    if out and out[-1] == ("...", "content"):  # a document end marker: the stream ends anyway
        out.pop()
    if out and out[-1][1] == "blank":
        out.pop()
    return "\n".join(line for line, _ in out) + "\n"


def _lines(text: str) -> list[str]:
    """Lines as YAML breaks them: at \\n only (str.splitlines also breaks at characters a
    scalar may hold)."""
    return text.removesuffix("\n").split("\n")


def _kind(line: str, protected: bool) -> str:
    if protected:
        return "text"  # inside a multi-line scalar: its content
    stripped = line.strip()
    if not stripped:
        return "blank"
    return "comment" if stripped.startswith("#") else "content"


def _comment_indent(lines: list[str], kinds: list[str], i: int) -> int:
    """A comment line goes with the next line, unless that line closes a block the comment
    trails: then it stays indented like that block's content."""
    column = _indent(lines[i])
    after = next((j for j in range(i + 1, len(lines)) if kinds[j] in ("content", "text")), None)
    before = next((j for j in range(i - 1, -1, -1) if kinds[j] in ("content", "text")), None)
    following = _indent(lines[after]) if after is not None else 0
    inner = _content_indent(lines[before]) if before is not None else 0
    if column == following:
        return column
    if following >= inner or column <= following:
        return following
    return inner if column >= inner else column


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content_indent(line: str) -> int:
    """Where the content of a line starts, past list dashes: `  - key: x` -> 4."""
    column = _indent(line)
    while line[column:column + 2] == "- ":
        column += 2
        column += _indent(line[column:])
    return column
