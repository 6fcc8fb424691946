"""Finding providers: every plugin registers under the `lmsform.providers` entry-point group."""

from __future__ import annotations

from pathlib import Path

from lmsform import plugins
from lmsform.providers.base import Capabilities, KindSupport, Provider, ProviderSettings
from lmsform.secrets import Secrets
from lmsform.state import ProviderIdentity

__all__ = [
    "Capabilities",
    "KindSupport",
    "Provider",
    "ProviderSettings",
    "available",
    "load",
    "open_provider",
    "recorded_identity",
]

GROUP = "lmsform.providers"


def available() -> dict[str, type[Provider]]:
    """Every installed provider class, by type name."""
    return {name: load(name) for name in plugins.names(GROUP)}


def load(type_name: str) -> type[Provider]:
    cls: type[Provider] = plugins.load(GROUP, type_name, "provider")
    return cls


def open_provider(settings: ProviderSettings, config_dir: Path,
                  secrets: Secrets | None = None) -> Provider:
    """Instantiate the plugin for settings already validated against its settings model;
    `secrets` are the config's, which no message of the provider may show."""
    provider = load(settings.type)(settings, config_dir)
    if secrets is not None:
        provider.use_secrets(secrets)
    return provider


def recorded_identity(provider: Provider) -> ProviderIdentity:
    """What a state records of the provider that wrote it: which LMS, and which plugin
    release (a plan warns when another one is installed)."""
    return ProviderIdentity(type=provider.type_name, instance=provider.identity(),
                            plugin=plugins.release(GROUP, provider.type_name))
