"""Which files a config directory is: its `*.yaml`/`*.yml` manifests, and those of the shared
directories its `include:` names (read as its own), with the environment's `vars:` read
before anything else."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from lmsform.config.diagnostics import (
    _Collector,
    _ignore,
)
from lmsform.config.files import (
    _UNREAD,
    _FileParts,
    _read_file,
)
from lmsform.config.interpolation import (
    ENVIRONMENT_BLOCKS,
    _Expander,
    _text,
    _Variables,
)
from lmsform.errors import LmsformError, display_path
from lmsform.yamlfile import YamlFile, YamlSyntaxError

# The top-level blocks `blocks_only` reads.
SINGLE_BLOCKS = ("provider", "state", "settings")


def _has_top_level(path: Path, names: Iterable[str]) -> bool:
    """Whether a file has a line starting with one of these keys, looked for before it is
    parsed. One pattern a name, each starting with a literal newline: the regex engine finds
    those at C speed, where a `^` anchor makes it try every position of a large file."""
    raw = b"\n" + path.read_bytes()
    return any(re.search(rb"\n" + name.encode() + rb"\s*:", raw) for name in names)


def config_manifests(directory: Path) -> list[Path]:
    """The manifests of a config directory; a plain error where it is none."""
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise LmsformError(f"the config directory {display_path(directory)} {what}")
    paths = _manifest_files(directory)
    if not paths:
        raise LmsformError(f"the config directory {display_path(directory)} holds no "
                           "manifests (*.yaml, *.yml)")
    return paths


def _manifest_files(directory: Path) -> list[Path]:
    """Every *.yaml and *.yml file, whatever the case of its extension."""
    return sorted(
        p for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in {".yaml", ".yml"}
    )




# What an included (shared) directory may not say: it is read as part of another one.
NOT_SHARED = (*SINGLE_BLOCKS, *ENVIRONMENT_BLOCKS)


def _environment(paths: list[Path]) -> tuple[list[tuple[str, int, str]], _Variables]:
    """What the files holding `include:` or `vars:` say, read before the rest: the shared
    directories to read (file, index, directory) and the variables. Their types are checked,
    and their references' problems reported, with the rest of the file."""
    includes: list[tuple[str, int, str]] = []
    variables = _Variables()
    for path in paths:
        try:
            if not _has_top_level(path, ENVIRONMENT_BLOCKS):
                continue
            data = YamlFile(path).load()
        except (OSError, YamlSyntaxError):
            continue  # reported when the file is read
        if not isinstance(data, dict):
            continue
        # a reference must never reach the LMS, or a path, as text
        early = _Expander(_ignore, _ignore)
        for index, entry in enumerate(data.get("include") or []):
            if isinstance(entry, str):
                includes.append((display_path(path), index, early.text(entry, (), False)))
        values = data.get("vars")
        if isinstance(values, dict):
            values = early.value(values, ())
            for name, value in values.items():
                if (name,) in early.unexpanded:
                    variables.broken.add(str(name))
                elif isinstance(value, str | int | float | bool):
                    variables.values[str(name)] = _text(value)
                    if (name,) in early.from_env_at:
                        variables.from_env.add(str(name))
    return includes, variables


def _read_included(directory: Path, includes: list[tuple[str, int, str]], c: _Collector,
                   offline: bool, variables: _Variables) -> list[_FileParts]:
    """The manifests of the shared directories `include:` names, read as this directory's
    own (with its variables); their problems name their own files."""
    parsed: list[_FileParts] = []
    seen: set[Path] = {directory.resolve()}
    for name, index, entry in includes:
        shared = (directory / entry).resolve()
        if not shared.is_dir():
            if "${" not in entry:  # else: its reference is reported as such
                c.add(name, ("include", index), f"no such directory: {entry}")
            parsed.append(_UNREAD)  # what it would declare is unknown
            continue
        if shared in seen:
            continue
        seen.add(shared)
        for path in _manifest_files(shared):
            part = _read_file(path, c, offline, variables)
            if part is None:
                continue
            for block in part.singles.keys() & set(NOT_SHARED):
                c.add(part.name, (block,), f"an included directory holds shared resources "
                      f"only; '{block}' belongs in the directory that includes it", key=True)
            parsed.append(part)
    return parsed
