"""Finding providers: every plugin registers under the `lmsform.providers` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from lmsform.errors import LmsformError
from lmsform.providers.base import Capabilities, KindSupport, Provider, ProviderSettings

__all__ = [
    "Capabilities",
    "KindSupport",
    "Provider",
    "ProviderSettings",
    "available",
    "load",
    "open_provider",
]

GROUP = "lmsform.providers"


def available() -> dict[str, type[Provider]]:
    """Every installed provider class, by type name."""
    found: dict[str, type[Provider]] = {}
    for entry in entry_points(group=GROUP):
        found[entry.name] = entry.load()
    return dict(sorted(found.items()))


def load(type_name: str) -> type[Provider]:
    matches = [e for e in entry_points(group=GROUP) if e.name == type_name]
    if not matches:
        names = ", ".join(sorted(e.name for e in entry_points(group=GROUP))) or "none"
        raise LmsformError(
            f"no provider named '{type_name}' is installed (installed: {names}); "
            f"providers register under the '{GROUP}' entry-point group"
        )
    cls: type[Provider] = matches[0].load()
    return cls


def open_provider(settings: ProviderSettings, config_dir: Path) -> Provider:
    """Instantiate the plugin for settings already validated against its settings model."""
    return load(settings.type)(settings, config_dir)
