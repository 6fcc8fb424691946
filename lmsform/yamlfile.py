"""Reading YAML manifests fast, and finding where a value sits in them only when an error needs it.

ruamel.yaml's round-trip loader keeps positions but is slow on large manifests (tens of seconds
for 50k users), so the happy path uses the C-accelerated safe loader and a content-addressed
cache of the parsed data; positions come from composing the file again, lazily, when something
has to be reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

# Files smaller than this parse in milliseconds; caching them would only add disk writes.
CACHE_MIN_BYTES = 64 * 1024


class _FixedVersionResolver(VersionedResolver):
    """Always YAML 1.2: ruamel otherwise looks the version up, through an exception, per scalar."""

    @property
    def processing_version(self) -> Any:
        return (1, 2)


def _yaml() -> YAML:
    yaml = YAML(typ="safe")
    yaml.Resolver = _FixedVersionResolver
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


def _plain(value: Any) -> Any:
    """Turn loader output into JSON-compatible data: dates become ISO strings, keys strings."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _cache_dir() -> Path | None:
    """LMSFORM_CACHE_DIR, else the user's cache folder; LMSFORM_NO_CACHE=1 turns caching off."""
    if os.environ.get("LMSFORM_NO_CACHE"):
        return None
    if os.environ.get("LMSFORM_CACHE_DIR"):
        return Path(os.environ["LMSFORM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lmsform" / "yaml"


def _syntax_error(exc: YAMLError) -> YamlSyntaxError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    position = Position(mark.line + 1, mark.column + 1) if mark is not None else Position(1, 1)
    if isinstance(exc, MarkedYAMLError):
        message = " ".join(p for p in (exc.context, exc.problem) if p)
    else:
        message = str(exc)
    return YamlSyntaxError(f"invalid YAML: {message}", position)


class YamlFile:
    """One manifest file: its parsed data now, the positions of its values on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = path.read_bytes()
        self._digest = hashlib.sha256(self._raw).hexdigest()
        self._root: Node | None = None
        self._composed = False
        self._pending_cache: str | None = None  # parsed data to cache once the config validates

    def load(self) -> Any:
        """The document as plain Python data; raises YamlSyntaxError."""
        cached = self._read_cache()
        if cached is not None:
            return cached
        try:
            data = _plain(_yaml().load(self._raw))
        except YAMLError as exc:
            raise _syntax_error(exc) from None
        if self._cache_file() is not None:
            self._pending_cache = json.dumps(data)
        return data

    def mentions(self, text: str) -> bool:
        """Whether `text` appears anywhere in the file (a cheap test before walking the data)."""
        return text.encode() in self._raw

    def _cache_file(self) -> Path | None:
        directory = _cache_dir()
        if directory is None or len(self._raw) < CACHE_MIN_BYTES:
            return None
        return directory / f"{self._digest}.json"

    def _read_cache(self) -> Any:
        cache_file = self._cache_file()
        if cache_file is None:
            return None
        try:
            return json.loads(cache_file.read_bytes())
        except (OSError, ValueError):
            return None

    def store_in_cache(self) -> None:
        """Remember the parsed data of a file that validated; failing to cache is harmless."""
        cache_file = self._cache_file()
        if cache_file is None or self._pending_cache is None:
            return
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as out:
                out.write(self._pending_cache)
            os.replace(tmp, cache_file)
        except OSError:
            pass
        self._pending_cache = None

    def _tree(self) -> Node | None:
        """The composed node tree, built on first use: only error messages need positions."""
        if not self._composed:
            self._composed = True
            try:
                self._root = _yaml().compose(self._raw)
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
