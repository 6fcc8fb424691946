"""What the manifests ask of the provider, checked before any call (and by `validate`, which
has no connection): kinds and fields it manages, its own rules on values, what the settings
need of it. With --drop-unsupported, what it cannot hold is left out instead, and listed."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from lmsform import kinds
from lmsform.config import Config
from lmsform.errors import PlanError
from lmsform.providers.base import Capabilities, Provider
from lmsform.resources import (
    SCHEMAS,
    Resource,
)


def check_capabilities(config: Config, provider: type[Provider] | Provider) -> None:
    """Everything the manifests ask of this provider must be possible; fail before any call
    (and in `validate`, which has no connection), pointing into the manifests."""
    findings: list[tuple[Resource, str | None, str]] = []
    caps, vendor = provider.capabilities, provider.type_name
    fields = {kind: support.fields | SCHEMAS[kind].identity_only
              for kind, support in caps.kinds.items()}
    unholdable = False  # some of it this LMS cannot hold: --drop-unsupported would help
    for resource in config.resources.values():
        allowed = fields.get(resource.kind)
        unholdable = unholdable or allowed is None or \
            not resource.attrs.keys() <= allowed or _foreign_custom(resource, caps)
        if allowed is None:
            findings.append((
                resource, None, f"{resource.address}: the {vendor} provider does not manage "
                f"{resource.kind}s; remove them from the manifests"))
            continue
        if not (resource.attrs.keys() <= allowed and resource.secrets.keys() <= allowed):
            for name in sorted((resource.attrs.keys() | resource.secrets.keys()) - allowed):
                findings.append((
                    resource, name, f"{resource.address}: the {vendor} provider does not "
                    f"support the {resource.kind} field '{name}'; remove it"))
        values = {**resource.attrs, **resource.secrets} if resource.secrets else resource.attrs
        for name, message in provider.check(resource.kind, values):
            findings.append((resource, name, message))
    findings += time_findings(config, provider)
    messages = _unprunable(config, provider) + _settings_problems(config, provider)
    if findings or messages:
        raise PlanError(messages, config.problems(findings), contacted=False,
                        hint=DROP_HINT if unholdable else "")


def time_findings(config: Config, provider: type[Provider] | Provider
                  ) -> list[tuple[Resource, str | None, str]]:
    """The time bounds (`active_until`, an enrollment's `until`...) this provider cannot
    honour, each with what it can do instead (`Kind.time_problems`). Never left out by
    --drop-unsupported: an end of access dropped in silence is access that lingers."""
    caps, vendor = provider.capabilities, provider.type_name
    return [(resource, name, message) for resource in config.resources.values()
            if resource.timed is not None
            and (support := caps.kinds.get(resource.kind)) is not None
            for name, message in kinds.get(resource.kind).time_problems(resource, support,
                                                                        vendor)]


# Said under errors about what an LMS cannot hold, as when moving to another vendor.
DROP_HINT = ("To plan for this LMS anyway, `--drop-unsupported` (plan, apply) leaves out what "
             "it cannot hold and lists it first.")


def _foreign_custom(resource: Resource, caps: Capabilities) -> bool:
    """Whether a resource has `custom` keys its kind has no place for in this LMS."""
    support = caps.kinds.get(resource.kind)
    custom = resource.attrs.get("custom")
    return support is not None and support.custom_keys is not None and \
        isinstance(custom, dict) and not custom.keys() <= support.custom_keys


def without_unsupported(config: Config, provider: Provider) -> tuple[Config, list[str]]:
    """The manifests less what this provider cannot hold, and what was left out, grouped
    by kind and field with counts (`plan --drop-unsupported`: moving to another vendor
    loses nothing silently)."""
    caps, vendor = provider.capabilities, provider.type_name
    timing = time_findings(config, provider)
    if timing:
        raise PlanError([], config.problems(timing), contacted=False)
    kept: dict[str, Resource] = {}
    unheld: dict[str, int] = defaultdict(int)
    fields: dict[tuple[str, str], int] = defaultdict(int)
    for address, resource in config.resources.items():
        support = caps.kinds.get(resource.kind)
        if support is None:
            unheld[resource.kind] += 1
            continue
        allowed = support.fields | SCHEMAS[resource.kind].identity_only
        for name in (resource.attrs.keys() | resource.secrets.keys()) - allowed:
            fields[resource.kind, name] += 1
        attrs = {k: v for k, v in resource.attrs.items() if k in allowed}
        custom = attrs.get("custom")
        if support.custom_keys is not None and isinstance(custom, dict):
            for key in custom.keys() - support.custom_keys:
                fields[resource.kind, f"custom.{key}"] += 1
            attrs["custom"] = {k: v for k, v in custom.items() if k in support.custom_keys}
            if not attrs["custom"]:
                del attrs["custom"]
        kept[address] = dataclasses.replace(
            resource, attrs=attrs,
            secrets={k: v for k, v in resource.secrets.items() if k in allowed})
    dropped = [f"{kind}s: all {n} (the {vendor} provider does not manage {kind}s)"
               for kind, n in sorted(unheld.items(), key=lambda i: kinds.rank(i[0]))]
    dropped += [f"{kind}.{name}: on {n} {kind}{'s' if n != 1 else ''} (the {vendor} "
                f"provider does not hold this field)"
                for (kind, name), n in sorted(fields.items(),
                                              key=lambda i: (kinds.rank(i[0][0]), i[0][1]))]
    return dataclasses.replace(config, resources=kept), dropped


def _unprunable(config: Config, provider: type[Provider] | Provider) -> list[str]:
    """`prune` needs every live resource of a kind: impossible where the LMS cannot list it."""
    prune = config.settings.prune
    pruned = [k for k in kinds.names() if prune is True or (isinstance(prune, list) and k in prune)]
    return [
        f"settings.prune: the {provider.type_name} provider cannot list {kind}s, so "
        f"lmsform cannot see the ones it does not manage; take '{kind}' out of prune "
        "(list the kinds to prune instead of `true`)"
        for kind in pruned
        if kind in provider.capabilities.kinds and not provider.capabilities.kinds[kind].listable
    ]


def _settings_problems(config: Config, provider: type[Provider] | Provider) -> list[str]:
    """What the settings ask of a kind that this provider cannot do (`user_removal:
    delete` where the LMS cannot delete users): said now, whether or not this plan needs it."""
    return [problem for kind in kinds.kinds()
            if (support := provider.capabilities.kinds.get(kind.name)) is not None
            for problem in kind.settings_problems(config.settings, support,
                                                  provider.type_name)]
