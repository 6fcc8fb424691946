"""Where a config directory lives, said so that another checkout finds it.

A plan is made on one CI runner and applied on another, whose checkout of the same repository
sits at another path. So a saved plan records its config directory relative to the root of
the repository holding it (the nearest directory with `.git`), and applying the plan finds it
again under the root of the repository the command runs in. A config outside any repository
is recorded by its absolute path, which only that machine can use.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from lmsform.errors import LmsformError


def repository_root(path: Path) -> Path | None:
    """The nearest directory at or above `path` holding `.git` (a directory in a clone, a
    file in a worktree), or None outside a repository."""
    path = path.resolve()
    for directory in (path, *path.parents):
        if (directory / ".git").exists():
            return directory
    return None


def recorded_location(path: Path) -> str:
    """How a plan records its config directory (and the `local` provider its LMS file):
    `examples/acme` (POSIX, relative to the repository root, `.` for the root itself), or
    the absolute path outside a repository."""
    resolved = path.resolve()
    root = repository_root(resolved if resolved.is_dir() else resolved.parent)
    if root is None:
        return str(resolved)
    return PurePosixPath(*resolved.relative_to(root).parts).as_posix() or "."


def config_dir_of(recorded: str, plan_file: Path) -> Path:
    """The config directory a saved plan names, in this checkout: under the repository the
    working directory is in, else the one holding the plan file."""
    if PurePosixPath(recorded).is_absolute() or Path(recorded).is_absolute():
        return Path(recorded)
    for start in (Path.cwd(), plan_file.parent):
        root = repository_root(start)
        if root is not None:
            return _inside(root, recorded)
    raise LmsformError(
        f"the plan was made for the config directory {recorded!r} of a git repository, and "
        "neither the working directory nor the plan file is in one; run apply from a "
        "checkout of that repository, or give -C DIR")


def _inside(root: Path, recorded: str) -> Path:
    directory = (root / recorded).resolve()
    if directory != root and root not in directory.parents:
        raise LmsformError(f"the plan names the config directory {recorded!r}, which is "
                           "outside the repository; nothing was applied")
    return directory


def same_config(given: Path, recorded: str) -> bool:
    """Whether `-C DIR` names the config directory a saved plan was made for."""
    return recorded_location(given) == recorded or (
        Path(recorded).is_absolute() and given.resolve() == Path(recorded).resolve())
