"""`${env:NAME}` and `${var:NAME}` references (with a `:-default`; `$${` is a literal `${`):
expanded in every string of a manifest in one pass, as data, never read for references again.
What came from the environment is remembered (it is a secret); an environment's `vars:` and
the command line's `--var` give the variables; a state block given on the command line
(`state migrate --to`) is read the same way."""

from __future__ import annotations

import os
import re
import secrets as random_words
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from lmsform import backends
from lmsform.backends import BackendSettings
from lmsform.config.diagnostics import (
    Loc,
    Report,
    _Collector,
    _pydantic_message,
    did_you_mean,
)
from lmsform.config.references import ENV_RE, ESCAPED_DOLLAR
from lmsform.errors import LmsformError, display_path, reason
from lmsform.manifest import (
    Expanded,
)
from lmsform.yamlfile import YamlFile, YamlSyntaxError

# The environment blocks, which `_environment` reads before every other file.
ENVIRONMENT_BLOCKS = ("include", "vars")


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
