"""The loaded config directory: its resources, settings, provider and state blocks, and what
an error about one of its resources needs to point at it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsform.backends import BackendSettings
from lmsform.config.diagnostics import (
    Loc,
    field_path,
)
from lmsform.errors import Problem
from lmsform.manifest import (
    MovedSpec,
    SettingsSpec,
)
from lmsform.policies import Policy, PolicyViolation, judge_declared
from lmsform.providers.base import ProviderSettings
from lmsform.resources import Resource
from lmsform.secrets import Secrets, secret_settings, signing_key
from lmsform.yamlfile import Position, YamlFile


@dataclass
class Config:
    """Everything the manifests of one directory say, validated and merged."""

    directory: Path
    provider: ProviderSettings
    settings: SettingsSpec
    state: BackendSettings
    resources: dict[str, Resource]  # by address, in manifest order
    moved: list[MovedSpec]
    policies: list[Policy] = field(default_factory=list)
    files: dict[str, YamlFile] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    # every value a resource or a variable took from ${env:...} (see `_expand`)
    from_env: frozenset[str] = frozenset()

    _secrets: Secrets | None = field(default=None, init=False, repr=False, compare=False)

    def secrets(self) -> Secrets:
        """Every secret of this config: credentials, values taken from the environment, and
        write-only values (made once: a plan and an apply ask several times)."""
        if self._secrets is None:
            self._secrets = Secrets(
                [*secret_settings(self.provider), *secret_settings(self.state)],
                [v for r in self.resources.values() for v in r.secrets.values()],
                self.from_env)
        return self._secrets

    def signing_key(self) -> bytes | None:
        """The key saved plans are signed with: made from the provider's and the state's
        credentials, so only who holds them can make a plan this config applies."""
        return signing_key([*secret_settings(self.provider), *secret_settings(self.state)])

    def write_only(self, secrets: Secrets) -> dict[str, dict[str, Any]]:
        """What apply sends but plans and state never show, by address: write-only fields,
        fields that took a value from the environment, and fields whose value shows a
        secret."""
        out: dict[str, dict[str, Any]] = {}
        for address, resource in self.resources.items():
            if not resource.secrets and not resource.sensitive and not secrets.values:
                continue  # nearly every resource: nothing to look at
            hidden = {k: v for k, v in resource.attrs.items()
                      if k in resource.sensitive or secrets.shows(v)}
            if resource.secrets or hidden:
                out[address] = {**hidden, **resource.secrets}
        return out

    def problem(self, resource: Resource, field_name: str | None, message: str) -> Problem:
        """An error about a declared resource (or one of its fields), pointing at it; a
        message that quotes a value never shows a secret, the resource's own included (its
        write-only and sensitive fields)."""
        name, loc = resource.origin or ("", ())
        if field_name is not None:
            loc = (*loc, field_name)
        _, line, column = self.position((name, loc))
        own = [*resource.secrets.values(), *(resource.attrs.get(f) for f in resource.sensitive)]
        return Problem(name or resource.address, line, column, field_path(loc),
                       self.secrets().mask(message, also=own))

    def problems(self, findings: Iterable[tuple[Resource, str | None, str]]
                 ) -> list[Problem]:
        """Errors about declared resources (or one of their fields), as `problem` says
        each: the places in the manifests resolved here, where they are reported, file by
        file (a file loading let go of is read once again)."""
        return [self.problem(resource, name, message) for resource, name, message in
                sorted(findings, key=lambda f: (f[0].origin or ("",))[0])]

    def position(self, origin: tuple[str, Loc] | None) -> tuple[str, int, int]:
        """The file, line and column of a place in the manifests (`Resource.origin`,
        `Policy.origin`)."""
        if origin is None:
            return "", 0, 0
        name, loc = origin
        pos = self.files[name].locate(loc) if name in self.files else Position(0, 0)
        return name, pos.line, pos.column

    def violations(self) -> list[PolicyViolation]:
        """What the policies that judge the manifests (`on: desired`) find wrong."""
        if not self.policies:
            return []
        return judge_declared(self.policies, self.resources, self.position,
                              self.secrets().mask)

    def where(self, resource: Resource, field_name: str | None = None) -> str:
        """`file:line:column` of a resource, or of one of its fields, in the manifests."""
        if resource.origin is None:
            return resource.address
        name, loc = resource.origin
        if field_name is not None:
            loc = (*loc, field_name)
        return ":".join(map(str, self.position((name, loc))))
