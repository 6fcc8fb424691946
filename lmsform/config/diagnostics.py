"""Problems in the manifests, with their places: the collector every stage of loading reports
into (turning a file and a path into a line and column only when a problem is reported), the
plain words for a pydantic error, and the nearest valid name for a misspelt one, taken from
the model of that very place."""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from lmsform import kinds
from lmsform.config.references import ENV_RE
from lmsform.errors import Problem
from lmsform.manifest import UNION_TAG
from lmsform.secrets import Secrets
from lmsform.yamlfile import Position, YamlFile, YamlSyntaxError

Loc = tuple[str | int, ...]


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


def _syntax_problem(name: str, exc: YamlSyntaxError, c: _Collector) -> None:
    c.problems.append(Problem(name, exc.position.line, exc.position.column, "", exc.message))


def _report(name: str, prefix: Loc, exc: ValidationError, c: _Collector) -> None:
    for error in exc.errors():
        message, at_key = _pydantic_message(error)
        loc = (*prefix, *(s for s in error["loc"] if isinstance(s, int) or (
            isinstance(s, str) and not s.startswith(UNION_TAG))))
        if (name, loc) in c.unexpanded:
            continue  # its reference is the problem, reported already
        c.add(name, loc, _suggest_field(message, at_key, loc), key=at_key)


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
    nearest = did_you_mean(loc[-1], valid)
    section = kinds.sections().get(str(loc[0])) if whole_file and len(loc) == 3 else None
    hint = kinds.field_hint(loc[-1], section.name) if section is not None else None
    return message + (nearest or (f"; {hint}" if hint else ""))
