"""From the file names pre-commit passes (and the changes staged in git) to the config
directories lmsform works on.

pre-commit hands a hook every staged file its `files:` pattern matches, across the whole
repository: manifests, but also CI workflows, compose files and other tools' YAML. In a
shared repository that YAML may look like lmsform's: an Ansible `group_vars/all.yml` has
`users:` and `groups:` too. So a file is never judged by what it says, only by where it is:

    A YAML file belongs to lmsform only inside a config directory: a directory holding an
    `lmsform.yaml` (or `lmsform.yml`), or a shared directory that some config directory of
    the repository names in its `include:`.

Everything else is left alone: neither formatted nor validated, whatever keys it has.

pre-commit passes no deleted file to any hook, yet deleting a manifest can break the config
directory it was in (a group still referred to elsewhere) or every environment that included
it. `staged_paths()` asks git for the staged changes, deletions included, so that the validate
hook checks the directories of deleted paths too. A config directory whose last manifest was
deleted (its `lmsform.yaml` gone with it) is no config directory any more: nothing to check.

A change in a shared directory is checked by validating every config directory that includes
it, found by walking the repository (the nearest directory holding `.git`; outside one, the
shared directory's parent) once per call.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from lmsform.checkout import repository_root
from lmsform.config import _manifest_files
from lmsform.errors import LmsformError
from lmsform.yamlfile import YamlFile, YamlSyntaxError

SUFFIXES = frozenset({".yaml", ".yml"})
# What makes a directory a config directory: the file `lmsform init` writes.
CONFIG_FILES = ("lmsform.yaml", "lmsform.yml")
INCLUDE_LINE = re.compile(r"^include[ \t]*:", re.MULTILINE)
# Directories no config lives in, skipped when looking for the ones including a shared one.
SKIPPED = frozenset({"node_modules", "__pycache__", "site-packages", "venv"})


def is_yaml(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def is_config_dir(directory: Path) -> bool:
    """Whether a directory is a config directory: it holds an `lmsform.yaml`."""
    return any((directory / name).is_file() for name in CONFIG_FILES)


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError:
        return ""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    return raw.decode("utf-8", errors="replace").removeprefix("\ufeff")


class Includes:
    """Which config directories include which shared directory: one walk of the repository
    per search root, made the first time a file outside a config directory is asked about."""

    def __init__(self) -> None:
        self._by_root: dict[Path, dict[Path, list[Path]]] = {}

    def including(self, shared: Path) -> list[Path]:
        target = shared.resolve()
        root = _search_root(target)
        if root not in self._by_root:
            self._by_root[root] = _index(root)
        return self._by_root[root].get(target, [])


def _index(root: Path) -> dict[Path, list[Path]]:
    """Every directory some config directory under `root` includes, with those config
    directories (as the user would type them)."""
    index: dict[Path, list[Path]] = {}
    for directory in _directories(root):
        if not is_config_dir(directory):
            continue
        for path in _manifest_files(directory):
            if INCLUDE_LINE.search(_text(path)):
                for shared in _included(path):
                    index.setdefault(shared, []).append(_relative(directory))
    return {shared: sorted(set(dirs), key=str) for shared, dirs in index.items()}


def belongs_to_lmsform(path: Path, includes: Includes | None = None) -> bool:
    """Whether a YAML file is lmsform's: in a config directory, or in a shared directory a
    config directory includes. What the file says does not matter."""
    if not is_yaml(path):
        return False
    directory = path.parent
    return is_config_dir(directory) or bool((includes or Includes()).including(directory))


def config_dirs(paths: Iterable[Path], deleted: Iterable[Path] = ()) -> list[Path]:
    """The distinct config directories to validate for these paths (YAML files, or
    directories given as config directories) and these deleted files: the directory of each
    (config directories are flat) when it is a config directory; when it is a shared one,
    the config directories that include it; else none (the file is not lmsform's)."""
    includes = Includes()
    found: dict[Path, Path] = {}  # by resolved path: the path as given
    seen: set[tuple[Path, bool]] = set()
    for path, gone in [(p, False) for p in paths] + [(p, True) for p in deleted]:
        given = not gone and path.is_dir()
        directory = path if given else path.parent
        if not given and not is_yaml(path):
            continue
        if (directory.resolve(), given) in seen:
            continue
        seen.add((directory.resolve(), given))
        # else a shared directory, or one lmsform has nothing to do with
        own = given or is_config_dir(directory)
        for config_dir in [directory] if own else includes.including(directory):
            found.setdefault(config_dir.resolve(), config_dir)
    return sorted(found.values(), key=str)


def staged_paths(cwd: Path | None = None) -> tuple[list[Path], list[Path]]:
    """The paths of the changes staged in git, as (present, deleted), relative to the working
    directory. A rename counts as the deletion of its old path and the addition of its new
    one. pre-commit stashes what is not staged, so the work tree holds what is."""
    cwd = cwd or Path.cwd()
    top = _git(["rev-parse", "--show-toplevel"], cwd).decode().strip()
    listed = _git(["diff", "--cached", "--name-only", "--no-renames", "-z"], cwd)
    present: list[Path] = []
    deleted: list[Path] = []
    for name in filter(None, listed.decode("utf-8", errors="surrogateescape").split("\0")):
        path = _relative(Path(top, name), cwd)
        (present if path.exists() or path.is_symlink() else deleted).append(path)
    return present, deleted


class GitError(LmsformError):
    """git could not say what is staged (not a repository, or no git)."""


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        said = exc.stderr.decode(errors="replace").strip()
        raise GitError(f"cannot read the changes staged in git: {said}") from None
    except OSError as exc:
        raise GitError(f"cannot read the changes staged in git: {exc}") from None


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
    return repository_root(target) or target.parent


def _directories(root: Path) -> Iterator[Path]:
    for current, names, _files in os.walk(root):
        names[:] = sorted(n for n in names if not n.startswith(".") and n not in SKIPPED)
        yield Path(current)


def _relative(directory: Path, cwd: Path | None = None) -> Path:
    """A path as the user would type it: relative to the working directory if under it."""
    base = (cwd or Path.cwd()).resolve()
    try:
        return directory.resolve().relative_to(base)
    except ValueError:
        return directory
