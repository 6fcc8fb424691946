"""Loading a config directory: read every manifest, substitute ${env:...}, validate, merge.

Every problem found is collected with its file, line, column and field path, and reported
together in one ManifestError, before anything is contacted or written.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import logging
import os
import re
import secrets as random_words
import time
import typing
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from lmsform import backends, kinds, memory, providers
from lmsform.backends import BackendSettings
from lmsform.errors import LmsformError, ManifestError, Problem, display_path, reason
from lmsform.kinds import Declaring
from lmsform.manifest import (
    Expanded,
    MovedSpec,
    SettingsSpec,
    StateSpec,
)
from lmsform.providers.base import ProviderSettings
from lmsform.resources import SCHEMAS, Resource, split_address
from lmsform.secrets import Secrets, secret_settings, signing_key
from lmsform.yamlfile import LaterRunError, Position, YamlFile, YamlSyntaxError

log = logging.getLogger(__name__)
# `$${` (an escaped `${`), a reference with an optional default (which holds no `${` nor
# `}`), or any other `${`, which is malformed.
ENV_RE = re.compile(
    r"\$\$\{"
    r"|\$\{(?:(?P<source>env|var):(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?::-(?P<default>(?:[^$}]|\$(?!\{))*))?\})?"
)
# Every way a `${` can be written in UTF-8 YAML: as itself, or through the escapes of a
# double-quoted scalar (`\x24{`, `$\x7b`, `\u0024{`, a `$\` line continuation). A file
# holding none of them holds no reference, and is read without walking its values.
ESCAPED_DOLLAR = re.compile(rb"\\(?:x24|u0024|U00000024)")
Loc = tuple[str | int, ...]
CREDENTIAL_RE = re.compile(r"[\x20-\x7e]*")  # printable ASCII: what an HTTP header carries


@dataclass
class Config:
    """Everything the manifests of one directory say, validated and merged."""

    directory: Path
    provider: ProviderSettings
    settings: SettingsSpec
    state: BackendSettings
    resources: dict[str, Resource]  # by address, in manifest order
    moved: list[MovedSpec]
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
        pos = self.files[name].locate(loc) if name in self.files else Position(0, 0)
        own = [*resource.secrets.values(), *(resource.attrs.get(f) for f in resource.sensitive)]
        return Problem(name or resource.address, pos.line, pos.column, field_path(loc),
                       self.secrets().mask(message, also=own))

    def problems(self, findings: Iterable[tuple[Resource, str | None, str]]
                 ) -> list[Problem]:
        """Errors about declared resources (or one of their fields), as `problem` says
        each: the places in the manifests resolved here, where they are reported, file by
        file (a file loading let go of is read once again)."""
        return [self.problem(resource, name, message) for resource, name, message in
                sorted(findings, key=lambda f: (f[0].origin or ("",))[0])]

    def where(self, resource: Resource, field_name: str | None = None) -> str:
        """`file:line:column` of a resource, or of one of its fields, in the manifests."""
        if resource.origin is None:
            return resource.address
        name, loc = resource.origin
        if field_name is not None:
            loc = (*loc, field_name)
        pos = self.files[name].locate(loc)
        return f"{name}:{pos.line}:{pos.column}"


def field_path(loc: Loc) -> str:
    """('users', 3, 'department') -> 'users[3].department'."""
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


class _Collector:
    """Gathers problems, turning (file, path) into line and column only when one is reported."""

    def __init__(self) -> None:
        self.files: dict[str, YamlFile] = {}
        self.problems: list[Problem] = []
        self.from_env: set[str] = set()  # values the manifests took from the environment
        # (file, place) of each reference left as text: reported as such, and not validated
        self.unexpanded: set[tuple[str, Loc]] = set()
        # (file, place) -> the text as written, of each value that holds a reference
        self.referenced: dict[tuple[str, Loc], str] = {}
        # (file, place) of each value that took one from the environment, and of what holds
        # it (`custom`, when `custom.token` did)
        self.from_env_at: set[tuple[str, Loc]] = set()

    def literal_secret(self, name: str, loc: Loc, what: str,
                       written: re.Pattern[str] | None = None) -> None:
        """A warning for a secret written as text where a reference belongs: a value with no
        reference, or (`written`: what a password looks like in it) one whose text outside
        its references still holds one (`postgresql://u:pw@${env:HOST}/db`)."""
        raw = self.referenced.get((name, loc))
        if raw is None or (written is not None and written.search(ENV_RE.sub("", raw))):
            self.add(name, loc, f"{what} written as text: whoever reads the repository has "
                     "it; write ${env:NAME} and set NAME where lmsform runs (a CI secret)",
                     warn=True)

    def position(self, name: str, loc: Loc, *, key: bool = False) -> Position:
        yaml_file = self.files[name]
        return yaml_file.locate_key(loc) if key else yaml_file.locate(loc)

    def add(self, name: str, loc: Loc, message: str, *, key: bool = False,
            warn: bool = False) -> None:
        pos = self.position(name, loc, key=key)
        self.problems.append(
            Problem(name, pos.line, pos.column, field_path(loc), message, warning=warn)
        )

    def where(self, name: str, loc: Loc) -> str:
        pos = self.position(name, loc)
        return f"{name}:{pos.line}:{pos.column}"

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    def shown_problems(self) -> list[Problem]:
        """The problems as they may be shown: a value taken from the environment is a
        secret, also where a message quotes it (an unknown group named by one)."""
        if not self.from_env:
            return self.problems
        secrets = Secrets((), from_env=self.from_env)
        return [dataclasses.replace(p, message=secrets.mask(p.message))
                for p in self.problems]


Report = Callable[[Loc, str, bool], None]  # (where, message, whether it is about a key)


def _ignore(loc: Loc, message: str, at_key: bool) -> None:
    pass


@dataclass
class _Expander:
    """Substitutes ${env:NAME}, ${var:NAME} (an environment's `vars:`) and their `:-default`
    forms in every string of a document, mapping keys included; `$${` stands for a literal
    `${`. Any other `${` is an error at its position: a reference written wrong must never
    reach the LMS as literal text (it may be a password). One pass: a substituted value is
    data, never read for references again.

    `variables` is None where variables do not exist yet (the `vars:` and `include:` blocks,
    read first): a `${var:...}` there is an error, so a variable never refers to another or
    to itself. Every value taken from the environment is kept in `from_env`: the secrets set
    knows it."""

    unset: Report
    malformed: Report
    variables: _Variables | None = None
    from_env: set[str] = field(default_factory=set)
    unexpanded: set[Loc] = field(default_factory=set)  # where a reference was left as text
    # where a value holds a reference -> its text as written
    referenced: dict[Loc, str] = field(default_factory=dict)
    from_env_at: set[Loc] = field(default_factory=set)  # where a value took one from the env

    def value(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, dict):
            expanded: dict[Any, Any] = {}
            for k, v in value.items():
                key = self.text(k, (*loc, k), True)
                if key in expanded:
                    self.malformed((*loc, k), f"the key '{k}' reads '{key}', a key this "
                                   "mapping holds already", True)
                expanded[key] = self.value(v, (*loc, k))
            return expanded
        if isinstance(value, list):
            return [self.value(v, (*loc, i)) for i, v in enumerate(value)]
        return self.text(value, loc, False)

    def text(self, value: Any, loc: Loc, at_key: bool) -> Any:
        if not isinstance(value, str) or "${" not in value:
            return value
        text = ENV_RE.sub(lambda match: self._reference(match, loc, at_key), value)
        # marked as a reference's: a flag reads its `true`, a field name cannot be one
        references = any(m.group(0) != "$${" for m in ENV_RE.finditer(value))
        return Expanded(text) if references else text

    def _reference(self, match: re.Match[str], loc: Loc, at_key: bool) -> str:
        if match.group(0) == "$${":
            return "${"
        self.referenced[loc] = match.string
        self.unexpanded.add(loc)  # until expanded below
        name, default = match.group("name"), match.group("default")
        if name is None:
            self.malformed(loc, "malformed reference '${...': write ${env:NAME}, "
                           "${var:NAME} or ${env:NAME:-default} (names are letters, digits "
                           "and _), or $${ for a literal ${", at_key)
        elif match.group("source") == "var":
            if self.variables is None:
                self.malformed(loc, "a ${var:...} cannot be used in vars: or include:, which "
                               "are read before any variable has a value (a variable never "
                               "refers to another, nor to itself)", at_key)
            elif name in self.variables.values:
                if name in self.variables.from_env:
                    self.from_env_at.add(loc)
                return self._expanded(loc, self.variables.values[name])
            elif name in self.variables.broken:
                pass  # reported where it is defined
            elif default is not None:
                return self._expanded(loc, default)
            else:
                self.malformed(loc, f"variable {name} is not in this directory's vars: block",
                               at_key)
        elif name in os.environ:
            self.from_env.add(os.environ[name])
            self.from_env_at.add(loc)
            return self._expanded(loc, os.environ[name])
        elif default is not None:
            return self._expanded(loc, default)
        else:
            self.unset(loc, f"environment variable {name} is not set", at_key)
        return match.group(0)

    def _expanded(self, loc: Loc, value: str) -> str:
        self.unexpanded.discard(loc)
        return value


@dataclass
class _Variables:
    """An environment's `vars:`: the values, and the names whose value is in error (a use of
    one is not reported again)."""

    values: dict[str, str] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    from_env: set[str] = field(default_factory=set)  # the names whose value the env gave


def state_block(text: str) -> BackendSettings:
    """A `state:` block given on the command line (`state migrate --to '{backend: ...}'`),
    read as YAML, with `${env:...}` references, and validated as the manifests' one is."""
    def refuse(loc: Loc, message: str, at_key: bool) -> None:
        raise LmsformError(f"--to: {message}")

    # `{dsn: ${env:X}}` is not YAML: in a flow mapping, `{` and `}` are syntax. Each
    # reference stands as a plain word while the text is parsed, and is put back after,
    # to be expanded as data (never as syntax)
    references: dict[str, str] = {}

    def stand_in(found: re.Match[str]) -> str:
        word = f"lmsform-reference-{len(references)}-{random_words.token_hex(4)}"
        references[word] = found.group(0)
        return word

    try:
        data = YAML(typ="safe").load(FLOW_REFERENCE.sub(stand_in, text))
    except YAMLError as exc:
        raise LmsformError(f"--to is not a YAML mapping: {str(exc).splitlines()[0]}") from None
    data = _put_back(data, references)
    if not isinstance(data, dict):
        raise LmsformError("--to takes a state block as a YAML mapping, such as "
                           "'{backend: postgres, dsn: ${env:LMSFORM_STATE_DSN}, name: acme}'")
    data = _Expander(refuse, refuse, _Variables()).value(data, ())
    try:
        settings: BackendSettings = backends.load(str(data.get("backend", "file"))
                                                  ).settings_model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise LmsformError(f"--to: {'.'.join(map(str, first['loc']))}: "
                           f"{_pydantic_message(first)[0]}") from None
    return settings


# A `${...}` reference as a state block on the command line writes it (no nested braces)
FLOW_REFERENCE = re.compile(r"\$\{[^{}\s]*\}")


def _put_back(value: Any, references: dict[str, str]) -> Any:
    """Parsed data with the stand-ins for references replaced by the references."""
    if isinstance(value, dict):
        return {_put_back(k, references): _put_back(v, references) for k, v in value.items()}
    if isinstance(value, list):
        return [_put_back(v, references) for v in value]
    if isinstance(value, str):
        for word, reference in references.items():
            value = value.replace(word, reference)
    return value


def _pydantic_message(error: ErrorDetails) -> tuple[str, bool]:
    """A plain message for a pydantic error, and whether it points at a key (not a value)."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown field '{error['loc'][-1]}'", True
    if kind == "missing":
        return f"required field '{error['loc'][-1]}' is missing", False
    message = error["msg"]
    message = message.removeprefix("Value error, ")
    if kind in {"decimal_parsing", "decimal_type"}:
        message = "must be a decimal number, e.g. 49.00"
    elif kind == "decimal_max_places":
        message = f"has too many decimal places ({message.lower()})"
    return message, False


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


# The environment blocks, which `_environment` reads before every other file.
ENVIRONMENT_BLOCKS = ("include", "vars")
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


def _overridden(variables: _Variables, overrides: Mapping[str, str]) -> _Variables:
    """This directory's variables with the command line's values in place of theirs."""
    declared = variables.values.keys() | variables.broken
    for name, value in overrides.items():
        if name not in declared:
            raise LmsformError(f"--var {name}: the vars: block of this config declares no "
                               f"variable {name}{did_you_mean(name, declared)}")
        variables.values[name] = value
        variables.broken.discard(name)
        variables.from_env.discard(name)
    return variables


def variable_file(path: Path) -> dict[str, str]:
    """A `--var-file`: a YAML mapping of variable names to text, numbers or booleans."""
    try:
        data = YamlFile(path).load()
    except OSError as exc:
        raise LmsformError(f"--var-file {display_path(path)}: {reason(exc)}") from None
    except YamlSyntaxError as exc:
        raise LmsformError(f"--var-file {display_path(path)}:{exc.position.line}:"
                           f"{exc.position.column}: {exc.message}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str | int | float | bool)
                                             for v in data.values()):
        raise LmsformError(f"--var-file {display_path(path)}: a YAML mapping of variable "
                           "names to text, numbers or booleans")
    return {str(name): _text(value) for name, value in data.items()}


def _text(value: str | int | float | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


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


def _folded(address: str) -> str:
    """An address as LMSs compare names: case and Unicode normalisation ignored."""
    if address.isascii():
        return address.lower()  # the same, for the common case, at a fraction of the cost
    return unicodedata.normalize("NFC", address).casefold()


def load_config(directory: Path, *, offline: bool = False, blocks_only: bool = False,
                variables: Mapping[str, str] | None = None) -> Config:
    """Read, validate and merge the manifests of `directory`.

    `variables` override the values of `vars:` for this run (`--var`, `--var-file`): each
    must be declared there. With offline=True (`lmsform validate`), unset environment
    variables are warnings, so
    manifests can be checked where no secrets exist (pre-commit, forks). With
    blocks_only=True (`export --provider-only`), only the files holding the provider, state
    or settings block are read, and no resources: the others may be unfinished.
    """
    started = time.monotonic()
    collector = _Collector()
    paths = config_manifests(directory)
    if blocks_only:
        paths = [p for p in paths if _has_top_level(p, SINGLE_BLOCKS)]

    includes, found = _environment(paths)
    values = _overridden(found, variables or {})
    parsed = [part for path in paths
              if (part := _read_file(path, collector, offline, values)) is not None]
    parsed += _read_included(directory, includes, collector, offline, values)
    if blocks_only:
        parsed = [_FileParts(p.name, p.singles, [], [], {}, p.broken) for p in parsed]
    if collector.errors and len(parsed) < len(collector.files):
        parsed.append(_UNREAD)
    # Checks that span files run over every file that parsed, in the same pass: one
    # `validate` shows everything.
    config = _merge(directory, parsed, collector)
    if collector.errors:
        raise ManifestError(collector.shown_problems(), partial=config)
    assert config is not None
    for yaml_file in collector.files.values():
        yaml_file.release()
    memory.release_after(len(config.resources))
    config.warnings = collector.shown_problems()
    config.files = collector.files
    config.from_env = frozenset(collector.from_env)
    log.info("loaded %d manifests declaring %d resources from %s in %.2fs", len(paths),
             len(config.resources), display_path(directory), time.monotonic() - started)
    return config


def _read_file(path: Path, c: _Collector, offline: bool,
               variables: _Variables) -> _FileParts | None:
    """One manifest, parsed, interpolated and validated; what is valid of it even when some
    entries are not, so that checks across files still see it."""
    name = display_path(path)
    try:
        yaml_file = YamlFile(path)
    except OSError as exc:
        c.problems.append(Problem(name, 0, 0, "", f"cannot read this manifest: "
                                  f"{reason(exc)}"))
        return None
    c.files[name] = yaml_file
    interpolated = _may_refer(yaml_file.raw)
    reported = len(c.problems)
    try:
        # a long list is read a run at a time, unless interpolation needs it whole
        data, later = (yaml_file.load(), {}) if interpolated else yaml_file.load_in_runs()
        if not _is_manifest(name, data, c):
            return _FileParts(name, {}, [], [])  # declares nothing: others are judged
        if interpolated:
            data = _expand(name, data, c, offline, variables)
        return _validated(name, data, c, later)
    except LaterRunError:
        del c.problems[reported:]  # what the runs read so far said, said again below
        return _read_again(name, yaml_file, c)
    except YamlSyntaxError as exc:
        _syntax_problem(name, exc, c)
        return None


def _may_refer(raw: bytes) -> bool:
    """Whether a manifest may hold a `${` (`ESCAPED_DOLLAR`): two scans for one byte each
    in nearly every file. A file in UTF-16 or UTF-32 is always walked."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4]:
        return True
    return (b"$" in raw and (b"${" in raw or b"$\\" in raw)) or \
        (b"\\" in raw and ESCAPED_DOLLAR.search(raw) is not None)


def _expand(name: str, data: dict[str, Any], c: _Collector, offline: bool,
            variables: _Variables) -> dict[str, Any]:
    """A manifest with its references expanded (`_Expander`): `vars:` and `include:` before
    any variable exists; the rest with this directory's variables. What came from the
    environment is a secret (`_Collector.from_env`), but in the provider and state blocks,
    whose settings other than credentials say which LMS and which state they are."""
    def unset(loc: Loc, message: str, at_key: bool) -> None:
        c.add(name, loc, message, key=at_key, warn=offline)

    def malformed(loc: Loc, message: str, at_key: bool) -> None:
        c.add(name, loc, message, key=at_key)

    early = _Expander(unset, malformed, None, c.from_env)
    blocks = _Expander(unset, malformed, variables)
    late = _Expander(unset, malformed, variables, c.from_env)
    expanded: dict[str, Any] = {}
    for key, value in data.items():
        expander = (early if key in ENVIRONMENT_BLOCKS
                    else blocks if key in ("provider", "state") else late)
        expanded[late.text(key, (key,), True)] = expander.value(value, (key,))
    for expander in (early, blocks, late):
        c.unexpanded.update((name, loc) for loc in expander.unexpanded)
        c.referenced.update(((name, loc), raw) for loc, raw in expander.referenced.items())
    c.from_env_at.update((name, loc[:n]) for loc in late.from_env_at
                         for n in range(1, len(loc) + 1))
    return expanded


def _read_again(name: str, yaml_file: YamlFile, c: _Collector) -> _FileParts | None:
    """A file whose later runs did not parse, read whole by the loader that says where."""
    try:
        data = yaml_file.load_full()
    except YamlSyntaxError as exc:
        _syntax_problem(name, exc, c)
        return None
    return _validated(name, data, c) if _is_manifest(name, data, c) else None


def _syntax_problem(name: str, exc: YamlSyntaxError, c: _Collector) -> None:
    c.problems.append(Problem(name, exc.position.line, exc.position.column, "", exc.message))


def _is_manifest(name: str, data: Any, c: _Collector) -> bool:
    """Whether a file is a manifest (an empty one is, and declares nothing); the error
    says what the file is not, never what it holds: it may be any file linked here."""
    if data is None:
        return False
    sections = kinds.manifest_model().model_fields
    if isinstance(data, dict) and not data.keys() & sections and \
            any(did_you_mean(str(key), sections) for key in data):
        return True  # a misspelt section (`userz:`): reported as such, with the others
    if not isinstance(data, dict) or (data and not data.keys() & sections):
        c.add(name, (), "not an lmsform manifest: a manifest is a mapping with some of the "
              f"keys {', '.join(sections)}")
        return False
    return True


# The lists whose entries are validated one at a time, in the order their resources are
# declared.
def _entry_lists() -> dict[str, type[BaseModel]]:
    """Each top-level list whose entries are validated one at a time, and the model of one
    entry: the kinds' sections, and `moved`."""
    return {**{s: k.spec for s, k in kinds.sections().items() if k.spec is not None},
            "moved": MovedSpec}


def _validated(name: str, data: dict[str, Any], c: _Collector,
               later: dict[str, Iterator[list[Any]]] | None = None) -> _FileParts:
    """One file's blocks and resources, and what is valid of it even when some entries are
    not (their errors reported), so that checks across files still see it.

    The blocks are validated together, the entries of each list one by one, each raw entry
    dropped as soon as its resources exist, and a long list's `later` runs read only once
    the run before is done: a file of 100k users never holds its raw data, its pydantic
    models and its resources all at once."""
    lists = {k: data[k] for k in _entry_lists() if isinstance(data.get(k), list)}
    part = _FileParts(name, _blocks(name, {k: v for k, v in data.items() if k not in lists},
                                    c), [], [])
    part.broken = {k for k in ("provider", "state", "settings") if k in data}
    part.broken -= part.singles.keys()
    later = later or {}
    for key, first in lists.items():
        start = 0
        for entries in itertools.chain([first], later.pop(key, ())):
            _validate_entries(name, key, start, entries, part, c)
            start += len(entries)
    for runs in later.values():  # a long list under an unknown key: reported, but parsed
        for _ in runs:  # too, where a syntax error may hide
            pass
    return part


def _validate_entries(name: str, key: str, start: int, entries: list[Any], part: _FileParts,
                      c: _Collector) -> None:
    """Entries `start`... of the list under `key`, each replaced by None once done."""
    model = _entry_lists()[key]
    for i, entry in enumerate(entries):
        entries[i] = None
        spec: BaseModel | None
        try:
            spec = model.model_validate(entry)
        except ValidationError as exc:
            _report(name, (key, start + i), exc, c)
            if key in kinds.sections():
                _doubt(key, entry, part.doubtful)
            spec = _without_errors(model, entry, exc)
        if spec is None:
            continue
        if isinstance(spec, MovedSpec):
            part.moved.append((start + i, spec))
        else:
            part.resources.extend(_resources_of(name, (key, start + i), spec, key, c))


def _without_errors(model: type[BaseModel], entry: Any, exc: ValidationError
                    ) -> BaseModel | None:
    """An invalid entry without its invalid fields, when what is left is valid: its errors
    are reported, and what it still declares and refers to is checked with everything else
    in the same run (an unknown group is reported beside a misspelt field, not after its
    fix). None where the entry's key itself, or a required field, is in error."""
    if not isinstance(entry, dict):
        return None
    wrong = {error["loc"][0] for error in exc.errors() if error["loc"]}
    try:
        return model.model_validate({k: v for k, v in entry.items() if k not in wrong})
    except ValidationError:
        return None


def _blocks(name: str, blocks: dict[str, Any], c: _Collector) -> dict[str, Any]:
    """The file's provider, state, settings, include and vars blocks that are valid (the
    others reported); unknown top-level keys are reported here too."""
    try:
        document = kinds.manifest_model().model_validate(blocks)
    except ValidationError as exc:
        _report(name, (), exc, c)
        valid = {}
        for key, value in blocks.items():  # each block on its own: keep the valid ones
            try:
                valid[key] = getattr(kinds.manifest_model().model_validate({key: value}), key)
            except ValidationError:
                continue
        document = kinds.manifest_model().model_construct(**valid)
    return {k: getattr(document, k) for k in ("provider", "state", "settings", "include", "vars")
            if getattr(document, k) is not None}


def _report(name: str, prefix: Loc, exc: ValidationError, c: _Collector) -> None:
    for error in exc.errors():
        message, at_key = _pydantic_message(error)
        loc = (*prefix, *(s for s in error["loc"] if isinstance(s, str | int)))
        if (name, loc) in c.unexpanded:
            continue  # its reference is the problem, reported already
        c.add(name, loc, _suggest_field(message, at_key, loc), key=at_key)


def _doubt(section: str, entry: Any, doubtful: dict[str, set[str] | None]) -> None:
    """Names an invalid entry of `section` may declare: references to them are not
    reported as unknown as well."""
    for kind, names in kinds.sections()[section].doubtful(entry).items():
        known = doubtful.get(kind, set())
        doubtful[kind] = None if names is None or known is None else known | names


@dataclass
class _FileParts:
    """What one validated file contributes; the pydantic models are not kept (memory)."""

    name: str
    singles: dict[str, Any]  # provider, state, settings blocks present in this file
    resources: list[Resource]
    moved: list[tuple[int, MovedSpec]]  # with its index under `moved:`
    # names declared by entries that failed validation, per kind (None: any name)
    doubtful: dict[str, set[str] | None] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)  # provider/state/settings blocks invalid


# Stands for a file that did not parse, or a directory `include:` could not read: it may
# declare anything, so references to what it might hold cannot be judged.
_UNREAD = _FileParts("", {}, [], [], dict.fromkeys(SCHEMAS), {"provider"})


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
    if "provider" not in singles:
        if not any("provider" in part.broken for part in parsed):  # else: reported already
            first = parsed[0].name if parsed else next(iter(c.files))
            c.add(first, (), "no 'provider:' block in any manifest of this directory")
        return None
    provider: ProviderSettings | None = _plugin_settings(
        *singles["provider"], "provider", "type", providers.load, c)
    state: BackendSettings | None = _plugin_settings(
        *singles.get("state", ("", StateSpec())), "state", "backend", backends.load, c)
    if provider is None or state is None:
        return None
    return Config(directory=directory, provider=provider,
                  settings=singles.get("settings", ("", SettingsSpec()))[1], state=state,
                  resources=resources, moved=[m for _, _, m in moved])


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
            previous = folded.get(_folded(resource.address))
            assert resource.origin is not None
            if previous is not None and previous.origin is not None:
                same = "" if previous.key == resource.key else (
                    f" (the same as '{previous.key}' to an LMS, which ignores case and "
                    "Unicode normalisation)")
                c.add(*resource.origin, f"duplicate {resource.kind} '{resource.key}'{same}; "
                      f"also declared at {c.where(*previous.origin)}")
                continue
            resources[resource.address] = resource
            folded[_folded(resource.address)] = resource
        moved.extend((part.name, i, m) for i, m in part.moved)
    return resources, moved


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


def _resources_of(name: str, loc: Loc, spec: BaseModel, section: str,
                  c: _Collector) -> Iterator[Resource]:
    """The resources one valid entry of a kind's section declares (`Kind.declare`), with
    canonical attributes: only the fields the manifest sets. A field that took a value from
    the environment is sensitive (`Resource.sensitive`), unless it names the resource."""
    for resource in kinds.sections()[section].declare(spec, (name, loc), _Saying(name, c)):
        if c.from_env_at:
            naming = kinds.get(resource.kind).naming_fields
            resource.sensitive = frozenset(
                f for f in resource.attrs
                if f not in naming and (name, (*loc, f)) in c.from_env_at)
        yield resource


@dataclass
class _Saying(Declaring):
    """What a kind says of an entry it declares, collected with every other problem."""

    name: str
    c: _Collector

    def error(self, loc: Loc, message: str) -> None:
        self.c.add(self.name, loc, message)

    def literal_secret(self, loc: Loc, what: str) -> None:
        self.c.literal_secret(self.name, loc, what)

    def where(self, loc: Loc) -> str:
        return self.c.where(self.name, loc)


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


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'X'?)` for the nearest candidate, or nothing when none is near."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _fields_at(model: type[BaseModel], path: Loc) -> set[str]:
    """The field names valid at `path` inside `model` (a user entry's fields under
    `users[3]`, the settings' under `settings`): what an unknown field there may have meant.
    Empty where the path leads to no model (a mapping of custom fields, a plugin's block)."""
    annotation: Any = model
    for step in path:
        if isinstance(step, str):
            current = _model_in(annotation)
            if current is None:
                return set()
            fields = {info.alias or key: info for key, info in current.model_fields.items()}
            if step not in fields:
                return set()
            annotation = fields[step].annotation
        else:  # an index into a list
            annotation = next(iter(_arguments(annotation)), None)
    found = _model_in(annotation)
    return {info.alias or key for key, info in found.model_fields.items()} if found else set()


def _arguments(annotation: Any) -> list[Any]:
    """What a list's (or an Optional list's) items may be."""
    for option in typing.get_args(annotation) or [annotation]:
        if typing.get_origin(option) is list:
            return list(typing.get_args(option))
    return []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (`X | None`, `Annotated[X, ...]`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for option in typing.get_args(annotation):
        found = _model_in(option) if typing.get_origin(option) is not list else None
        if found is not None:
            return found
    return None


def _suggest_field(message: str, at_key: bool, loc: Loc,
                   model: type[BaseModel] | None = None) -> str:
    """An unknown field's message, with the nearest name valid in that place (never the
    name that was written); `model` is where `loc` starts (a manifest file by default)."""
    if not at_key or not loc or not isinstance(loc[-1], str):
        return message
    whole_file = model is None
    model = model or kinds.manifest_model()
    valid = _fields_at(model, loc[:-1]) - {loc[-1]}
    if not loc[:-1] and whole_file:
        message = message.replace("unknown field", "unknown section")
    return message + did_you_mean(loc[-1], valid)


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
