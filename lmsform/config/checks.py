"""What spans the files of a config directory: one provider, state and settings block each
(checked against their plugins' settings), every address declared once, every reference
declared somewhere, `moved:` entries that make sense. The result is the `Config`."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from lmsform import backends, kinds, providers, schedule
from lmsform.backends import BackendSettings
from lmsform.config.diagnostics import (
    Loc,
    _Collector,
    _pydantic_message,
    _suggest_field,
    did_you_mean,
)
from lmsform.config.files import (
    _FileParts,
)
from lmsform.config.model import Config
from lmsform.errors import LmsformError
from lmsform.manifest import (
    MovedSpec,
    SettingsSpec,
    StateSpec,
)
from lmsform.policies import Policy
from lmsform.providers.base import ProviderSettings
from lmsform.resources import SCHEMAS, Resource, split_address


def _folded(address: str) -> str:
    """An address as LMSs compare names: case and Unicode normalisation ignored."""
    if address.isascii():
        return address.lower()  # the same, for the common case, at a fraction of the cost
    return unicodedata.normalize("NFC", address).casefold()


def _merge(directory: Path, parsed: list[_FileParts], c: _Collector) -> Config | None:
    """One Config from every file that parsed; duplicates and references are checked across
    them all, even when some file has errors of its own."""
    singles = _singles(parsed, c)
    resources, moved = _declare(parsed, c)
    doubtful: dict[str, set[str] | None] = {}
    for part in parsed:
        for kind, names in part.doubtful.items():
            known = doubtful.get(kind, set())
            doubtful[kind] = None if names is None or known is None else known | names
    _check_references(resources, c, doubtful, _external_kinds(singles.get("provider")))
    _check_moves(moved, resources, c)
    policies = _policies(parsed, c)
    if "provider" not in singles:
        if not any("provider" in part.broken for part in parsed):  # else: reported already
            first = parsed[0].name if parsed else next(iter(c.files))
            c.add(first, (), "no 'provider:' block in any manifest of this directory")
        return None
    provider: ProviderSettings | None = _plugin_settings(
        *singles["provider"], "provider", "type", providers.load, c)
    state: BackendSettings | None = _plugin_settings(
        *singles.get("state", ("", StateSpec())), "state", "backend", backends.load, c)
    settings = singles.get("settings", ("", SettingsSpec()))[1]
    _check_windows(resources, settings, c)
    if provider is None or state is None:
        return None
    return Config(directory=directory, provider=provider, settings=settings, state=state,
                  resources=resources, moved=[m for _, _, m in moved], policies=policies)


def _check_windows(resources: dict[str, Resource], settings: SettingsSpec,
                   c: _Collector) -> None:
    """Time windows that hold no instant once their dates are days in settings.timezone."""
    timed = [r for r in resources.values() if r.timed is not None]
    if not timed:
        return
    zone = schedule.zone(settings.timezone)
    for resource in timed:
        assert resource.origin is not None
        name, loc = resource.origin
        for field, message in kinds.get(resource.kind).empty_windows(resource, zone):
            c.add(name, (*loc, field), f"{resource.address}: {message}")


def _policies(parsed: list[_FileParts], c: _Collector) -> list[Policy]:
    """Every file's policies, in the order the files are read; a name is one policy's."""
    found: dict[str, Policy] = {}
    for part in parsed:
        for index, spec in part.policies:
            policy = Policy(spec, part.name, index)
            first = found.get(spec.name)
            if first is not None:
                c.add(part.name, (*policy.origin[1], "name"), f"a second policy named "
                      f"'{spec.name}'; the first is at {c.where(*first.origin)}")
                continue
            found[spec.name] = policy
    return list(found.values())


def _singles(parsed: list[_FileParts], c: _Collector) -> dict[str, tuple[str, Any]]:
    """The provider, state and settings blocks, each from the one file that has it."""
    singles: dict[str, tuple[str, Any]] = {}
    for part in parsed:
        for key, value in part.singles.items():
            if key in singles:
                first = singles[key][0]
                c.add(part.name, (key,), f"a second '{key}' block; the first is at "
                      f"{c.where(first, (key,))}", key=True)
            else:
                singles[key] = (part.name, value)
    return singles


def _declare(parsed: list[_FileParts], c: _Collector
             ) -> tuple[dict[str, Resource], list[tuple[str, int, MovedSpec]]]:
    """Every resource by address, refusing duplicates (as an LMS compares names)."""
    resources: dict[str, Resource] = {}
    folded: dict[str, Resource] = {}
    moved: list[tuple[str, int, MovedSpec]] = []
    for part in parsed:
        for resource in part.resources:
            name = _folded(resource.address)
            previous = folded.get(name)
            assert resource.origin is not None
            if previous is not None and previous.origin is not None:
                same = "" if previous.key == resource.key else (
                    f" (the same as '{previous.key}' to an LMS, which ignores case and "
                    "Unicode normalisation)")
                c.add(*resource.origin, f"duplicate {resource.kind} '{resource.key}'{same}; "
                      f"also declared at {c.where(*previous.origin)}")
                continue
            resources[resource.address] = resource
            folded[name] = resource
        moved.extend((part.name, i, m) for i, m in part.moved)
    return resources, moved


CREDENTIAL_RE = re.compile(r"[\x20-\x7e]*")  # printable ASCII: what an HTTP header carries


def _plugin_settings(name: str, spec: BaseModel, block: str, field: str,
                     load: Callable[[str], Any], c: _Collector) -> Any:
    """Check a `provider:` or `state:` block against its plugin's own settings model: the
    plugin named by `field` (`type`, `backend`) is found first, then validates the rest."""
    try:
        cls = load(getattr(spec, field))
    except LmsformError as exc:
        c.add(name, (block, field), str(exc))
        return None
    try:
        settings = cls.settings_model.model_validate(spec.model_dump())
    except ValidationError as exc:
        for error in exc.errors():
            message, at_key = _pydantic_message(error)
            inner = tuple(s for s in error["loc"] if isinstance(s, str | int))
            c.add(name, (block, *inner),
                  _suggest_field(message, at_key, inner, cls.settings_model), key=at_key)
        return None
    for key in type(settings).model_fields:
        value = getattr(settings, key)
        if isinstance(value, str) and PLACEHOLDER in value:
            c.add(name, (block, key), f"still holds the placeholder {PLACEHOLDER} that "
                  "`lmsform init` wrote; replace it with this LMS's value")
        if isinstance(value, SecretStr) and not CREDENTIAL_RE.fullmatch(value.get_secret_value()):
            c.add(name, (block, key), "holds a line break, a control character or a character "
                  "outside ASCII, which no HTTP header can carry; check how the credential was "
                  "copied (its value is not shown)")
            return None
        _warn_literal_secret(name, (block, key), value, c)
    return settings


# What `lmsform init` writes for a setting it cannot know: refused until replaced.
PLACEHOLDER = "CHANGE-ME"


# A password in a URL (`scheme://user:password@host`) or a DSN (`password=...`, in its query
# or as a key/value pair).
WRITTEN_PASSWORD = re.compile(r"^\w[\w+.-]*://[^/@:]*:[^/@]+@|(?:^|[\s?&])password\s*=\s*\S")


def _warn_literal_secret(name: str, loc: Loc, value: Any, c: _Collector) -> None:
    """A credential setting, or a URL or DSN holding a password, written as text."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(text, str) and WRITTEN_PASSWORD.search(text):
        c.literal_secret(name, loc, "a password in a URL", WRITTEN_PASSWORD)
    elif isinstance(value, SecretStr):
        c.literal_secret(name, loc, "a credential")


def _external_kinds(provider: tuple[str, Any] | None) -> frozenset[str]:
    """The kinds whose references the named provider takes as its LMS's own ids."""
    if provider is None:
        return frozenset()
    try:
        cls = providers.load(provider[1].type)
    except LmsformError:
        return frozenset()  # reported with the provider block
    external: frozenset[str] = cls.capabilities.external_kinds
    return external


def _check_references(resources: dict[str, Resource], c: _Collector,
                      doubtful: dict[str, set[str] | None],
                      external: frozenset[str] = frozenset()) -> None:
    """Every name a resource refers to must be declared somewhere in the directory (or in an
    entry that failed validation, whose errors are reported already), except references to
    the provider's external kinds, which are the LMS's own ids."""
    declared: dict[str, set[str]] = defaultdict(set)
    for resource in resources.values():
        if kinds.referenced(resource.kind):  # not users: nothing refers to them
            declared[resource.kind].add(resource.key)
    # per kind, the reference fields to check (nesting makes divisions and departments
    # consistent; an external kind's references are ids)
    checked = {kind: [(f, t) for f, t in schema.references.items() if t not in external]
               for kind, schema in SCHEMAS.items() if not schema.nested}
    for resource in resources.values():
        for field_name, target in checked.get(resource.kind, ()):
            value = resource.attrs.get(field_name)
            known = declared[target]
            if value is None or (known.issuperset(value) if isinstance(value, list)
                                 else value in known):
                continue
            for ref in value if isinstance(value, list) else [value]:
                if ref not in known and not _may_be_declared(doubtful, target, ref):
                    _unknown_reference(resource, field_name, target, ref, known, c)
        for ignored in resource.lifecycle.ignore_changes:
            if ignored not in SCHEMAS[resource.kind].fields:
                name, loc = resource.origin or ("", ())
                c.add(name, (*loc, "lifecycle", "ignore_changes"),
                      f"'{ignored}' is not a field of {resource.kind}")


def _unknown_reference(resource: Resource, field_name: str, target: str, ref: str,
                       known: set[str], c: _Collector) -> None:
    name, loc = resource.origin or ("", ())
    where: Loc = (*loc, field_name)
    if isinstance(resource.attrs[field_name], list):
        where = (*where, c.files[name].index_in_sequence(where, ref))
    if (name, where) in c.unexpanded:
        return  # its reference is the problem, reported already
    c.add(name, where, f"unknown {target} '{ref}'"
          f"{did_you_mean(ref, sorted(known)) or kinds.get(target).reference_hint}")


def _may_be_declared(doubtful: dict[str, set[str] | None], kind: str, key: str) -> bool:
    if kind not in doubtful:
        return False
    names = doubtful[kind]
    return names is None or key in names


def _check_moves(moved: list[tuple[str, int, MovedSpec]], resources: dict[str, Resource],
                 c: _Collector) -> None:
    for name, i, move in moved:
        loc = ("moved", i)
        from_kind, _ = split_address(move.from_)
        to_kind, _ = split_address(move.to)
        if from_kind != to_kind:
            c.add(name, loc, f"cannot move a {from_kind} to a {to_kind}")
        if move.to not in resources:
            c.add(name, (*loc, "to"), f"'{move.to}' is not declared in the manifests")
        if move.from_ in resources:
            c.add(name, (*loc, "from"),
                  f"'{move.from_}' is still declared; a moved resource keeps only its new address")
