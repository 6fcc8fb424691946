"""Plugins: providers, state backends and simulators are found by entry-point group, so a
third party adds one with `pip install`, and lmsform imports only the ones a command uses."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from lmsform.errors import LmsformError


def names(group: str) -> list[str]:
    return sorted({e.name for e in entry_points(group=group)})


def find(group: str, name: str) -> EntryPoint | None:
    return next((e for e in entry_points(group=group) if e.name == name), None)


def load(group: str, name: str, what: str) -> Any:
    """The object registered as `name` in `group`; an error listing what is installed
    otherwise (`what` names the kind of plugin: "provider", "state backend")."""
    entry = find(group, name)
    if entry is None:
        installed = ", ".join(names(group)) or "none"
        raise LmsformError(
            f"no {what} named '{name}' is installed (installed: {installed}); {what}s "
            f"register under the '{group}' entry-point group"
        )
    return entry.load()


def release(group: str, name: str) -> str | None:
    """Which distribution, at which version, provides plugin `name` (`lmsform 0.9.0`)."""
    entry = find(group, name)
    if entry is None or entry.dist is None:
        return None
    return f"{entry.dist.name} {entry.dist.version}"
