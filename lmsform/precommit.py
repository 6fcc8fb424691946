"""From the file names pre-commit passes to the manifests and config directories lmsform works on.

pre-commit hands a hook every staged file its `files:` pattern matches, across the whole
repository: manifests, but also CI workflows, compose files and other tools' YAML. lmsform
must judge its own files and leave the others alone, without parsing them (a template full of
`{{ }}` is not YAML at all). A manifest is recognised by its top-level sections; `version:`
alone does not count, nor `include:` or `vars:`, since other formats use them too.

A directory of manifests without a provider block is shared: environments read it with
`include:`. A change there is checked by validating every config directory that includes it,
found by walking the repository (the nearest directory holding `.git`; outside one, the
shared directory's parent) once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from lmsform.config import _manifest_files
from lmsform.yamlfile import YamlFile, YamlSyntaxError

SUFFIXES = frozenset({".yaml", ".yml"})
# A top-level lmsform section, at the start of a line: what no other common YAML format has.
SECTION_LINE = re.compile(
    r"^(provider|state|settings|hierarchy|groups|users|courses|coupons|moved)[ \t]*:",
    re.MULTILINE)
PROVIDER_LINE = re.compile(r"^provider[ \t]*:", re.MULTILINE)
INCLUDE_LINE = re.compile(r"^include[ \t]*:", re.MULTILINE)
# Directories no config lives in, skipped when looking for the ones including a shared one.
SKIPPED = frozenset({"node_modules", "__pycache__", "site-packages", "venv"})


def is_yaml(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError:
        return ""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    return raw.decode("utf-8", errors="replace").removeprefix("\ufeff")


def looks_like_manifest(path: Path) -> bool:
    """Whether a YAML file is an lmsform manifest, judged by its text (it may not parse)."""
    return SECTION_LINE.search(_text(path)) is not None


def config_dirs(paths: Iterable[Path]) -> list[Path]:
    """The distinct config directories to validate for these paths (YAML files, or
    directories): the directory of each (config directories are flat) when it holds lmsform
    manifests or was given as such; when it is shared (manifests, but no provider block),
    the config directories that include it, if any."""
    found: dict[Path, Path] = {}  # by resolved path: the path as given
    seen: set[Path] = set()
    for path in paths:
        given = path.is_dir()
        directory = path if given else path.parent
        if not given and not (is_yaml(path) and directory.is_dir()):
            continue
        if directory.resolve() in seen:
            continue
        seen.add(directory.resolve())
        texts = [_text(p) for p in _manifest_files(directory)]
        if not given and not any(SECTION_LINE.search(text) for text in texts):
            continue
        shared = bool(texts) and not any(PROVIDER_LINE.search(text) for text in texts)
        for config_dir in (_including(directory) if shared else []) or [directory]:
            found.setdefault(config_dir.resolve(), config_dir)
    return sorted(found.values(), key=str)


def _including(shared: Path) -> list[Path]:
    """The config directories whose `include:` names `shared`."""
    target = shared.resolve()
    including = []
    for directory in _directories(_search_root(target)):
        for path in _manifest_files(directory):
            if INCLUDE_LINE.search(_text(path)) and target in _included(path):
                including.append(_relative(directory))
                break
    return including


def _included(path: Path) -> set[Path]:
    try:
        data = YamlFile(path).load()
    except (OSError, YamlSyntaxError):
        return set()  # validating that directory reports it
    entries = data.get("include") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return set()
    return {(path.parent / entry).resolve() for entry in entries if isinstance(entry, str)}


def _search_root(target: Path) -> Path:
    """The repository holding `target`; outside one, the directory holding `target` (an
    environment beside it: `include: [../shared]`)."""
    for directory in (target, *target.parents):
        if (directory / ".git").exists():
            return directory
    return target.parent


def _directories(root: Path) -> Iterator[Path]:
    for current, names, _files in os.walk(root):
        names[:] = sorted(n for n in names if not n.startswith(".") and n not in SKIPPED)
        yield Path(current)


def _relative(directory: Path) -> Path:
    """A directory as the user would type it: relative to the working directory if under it."""
    try:
        return directory.relative_to(Path.cwd().resolve())
    except ValueError:
        return directory
