"""`lmsform init`: a commented config directory to start from, for any installed provider.

A new user's first question is what the `provider:` block takes. The answer is the provider's
own pydantic settings model, so the scaffold is written from it, not from a template that
would drift from the code: required fields first, with placeholders to replace (secrets as
`${env:...}` references, so that no credential is ever committed), then the optional ones
commented out with their defaults, then the HTTP options every vendor provider shares. The
example manifest uses only what the provider supports, so `lmsform validate` passes on the
directory as written, and the first plan shows exactly one thing to create.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from lmsform import kinds, providers
from lmsform.backends.file import DEFAULT_PATH
from lmsform.config import PLACEHOLDER, _manifest_files
from lmsform.errors import LmsformError, display_path
from lmsform.fmt import write_file
from lmsform.providers.base import Provider, ProviderSettings
from lmsform.providers.http import HttpOptions

CONFIG_FILE = "lmsform.yaml"
IGNORED = f"{Path(DEFAULT_PATH).parent}/"  # the default state's directory: .lmsform/
WIDTH = 96  # comment lines wrap here, inside the project's 100 columns
PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./@-]*$")  # text YAML reads back as the same text
NOT_TEXT = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"})
# A field of a settings class, at class level, with what its source comment says of it.
FIELD_LINE = re.compile(r"^    (?P<name>\w+)\s*:[^#]*(?:#\s*(?P<note>.*))?$")
# The example user's values, for the fields a provider supports (in this order).


@dataclass
class Scaffold:
    """What `init` wrote, and what the user must provide before a plan can run."""

    files: list[Path] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)  # provider fields to fill in
    variables: list[str] = field(default_factory=list)  # environment variables to set


def init(directory: Path, provider_type: str, *, force: bool = False) -> Scaffold:
    """Write the scaffold into `directory` (created if needed). Refuses, writing nothing,
    when the directory already has manifests, unless `force`."""
    cls = providers.load(provider_type)  # an error listing the installed ones
    if directory.exists() and not directory.is_dir():
        raise LmsformError(f"{display_path(directory)} is a file, not a directory")
    existing = _manifest_files(directory) if directory.is_dir() else []
    example = render_example(cls)
    if existing and not force:
        names = ", ".join(p.name for p in existing)
        written = " and ".join([CONFIG_FILE, *([example[0]] if example else [])])
        raise LmsformError(f"{display_path(directory)} already has manifests ({names}); "
                           "nothing was written. Use --force to write the scaffold anyway "
                           f"(replacing {written} if they exist)")
    result = Scaffold()
    files = {CONFIG_FILE: render_config(cls, directory, result)}
    if example is not None:
        files[example[0]] = example[1]
    ignore = directory / ".gitignore"
    if not ignore.exists() or ignore.read_text(encoding="utf-8") != gitignore(ignore):
        files[ignore.name] = gitignore(ignore)
    for name, text in files.items():
        write_file(directory / name, text)
        result.files.append(directory / name)
    return result


def render_config(cls: type[Provider], directory: Path, result: Scaffold | None = None) -> str:
    """lmsform.yaml: what it is, then the provider, state and settings blocks."""
    result = result if result is not None else Scaffold()
    intro = (f"lmsform configuration for the {cls.type_name} provider"
             f"{': ' + cls.description if cls.description else ''}.")
    lines = [
        *_comment(intro, ""),
        "# Every *.yaml and *.yml file in this directory is a manifest; lmsform merges them.",
        "#   lmsform validate   checks them offline (no LMS, no credentials needed)",
        "#   lmsform plan       shows what `lmsform apply` would change in the LMS",
        "#   lmsform fmt        rewrites them in the canonical layout, comments kept",
        "version: 1",
        "",
        *_comment("Which LMS, and how to reach it. Any value may be ${env:NAME} or "
                  "${env:NAME:-default}, read from the environment: keep credentials out of "
                  "git.", ""),
        "provider:",
        f"  type: {cls.type_name}",
        *_provider_fields(cls, result),
        "",
        *_state_block(directory),
        "",
        *_settings_block(cls),
    ]
    return "\n".join(lines) + "\n"


def _provider_fields(cls: type[Provider], result: Scaffold) -> list[str]:
    """Required fields with placeholders, then optional ones and the HTTP options as
    comments with their defaults: all from the provider's settings model."""
    model = cls.settings_model
    notes = _field_notes(model)
    required, optional, http = [], [], []
    for name, info in model.model_fields.items():
        owner = _declared_in(model, name)
        if owner in ProviderSettings.__mro__:
            continue  # `type`, written already
        key = info.alias or name
        if info.is_required():
            value = _placeholder(cls.type_name, key, info, result)
            required += [*_comment(notes.get(name, ""), "  "), f"  {key}: {value}"]
        elif owner in HttpOptions.__mro__:
            http.append(_commented_default(key, info))
        else:
            optional += [*_comment(notes.get(name, ""), "  "), _commented_default(key, info)]
    lines = required
    if optional:
        lines += ["  # Optional, shown with their defaults:", *optional]
    if http:
        lines += ["  # HTTP options (every provider that calls an API), with their defaults:",
                  *http]
    return lines


def _commented_default(key: str, info: FieldInfo) -> str:
    default = _default(info)
    unset = "   # not set: the provider decides" if default is None else ""
    return f"  # {key}: {_flow(default)}{unset}"


def _declared_in(model: type[BaseModel], name: str) -> type:
    """The class whose body declares a field: a provider overriding an HTTP option (a
    required `base_url`) declares it itself."""
    for klass in model.__mro__:
        if name in vars(klass).get("__annotations__", {}):
            return klass
    return model


def _placeholder(type_name: str, key: str, info: FieldInfo, result: Scaffold) -> str:
    """A value of the right type that nobody could mistake for a real one, and that
    `validate` refuses until it is replaced; a secret is read from the environment
    (LEARNWORLDS_CLIENT_SECRET, say)."""
    if _is_secret(info.annotation):
        variable = re.sub(r"[^A-Za-z0-9]+", "_", f"{type_name}_{key}").upper()
        result.variables.append(variable)
        return f"${{env:{variable}}}"
    result.placeholders.append(key)
    if info.annotation in (int, float):
        return "0"
    if info.annotation is bool:
        return "false"
    return f"https://{PLACEHOLDER}.example.com" if key.endswith("url") else PLACEHOLDER


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_secret(arg) for arg in typing.get_args(annotation))
    return False


def _default(info: FieldInfo) -> Any:
    value = info.get_default(call_default_factory=True)
    return value.model_dump(by_alias=True) if isinstance(value, BaseModel) else value


def _flow(value: Any) -> str:
    """A default written as YAML on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(str(k))}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    text = str(value)
    return text if PLAIN.match(text) and text.lower() not in NOT_TEXT else json.dumps(text)


def _field_notes(model: type[BaseModel]) -> dict[str, str]:
    """What the settings classes' source says of each field: its description, else the
    comment on its line or the comment lines just above it."""
    notes: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        above: list[str] = []
        for line in source.splitlines()[1:]:
            if line.strip().startswith("#"):
                above.append(line.strip().lstrip("#").strip())
                continue
            match = FIELD_LINE.match(line)
            if match and match["name"] in model.model_fields:
                note = (match["note"] or "").strip()
                if note.startswith(("noqa", "type:")):
                    note = ""
                notes[match["name"]] = note or " ".join(above)
            above = []
    for name, info in model.model_fields.items():
        if info.description:
            notes[name] = info.description
    return notes


def _comment(text: str, indent: str) -> list[str]:
    """`text` as comment lines, wrapped; none for no text."""
    if not text:
        return []
    return [f"{indent}# {line}" for line in textwrap.wrap(text, WIDTH - len(indent) - 2)]


def _state_block(directory: Path) -> list[str]:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", directory.resolve().name).strip("-._") or "lmsform"
    return [
        *_comment("Where lmsform records what it manages: the LMS's ids and what it last "
                  "applied, never a secret. This is the default, a file in this directory "
                  "(the .gitignore here keeps it out of git); keep the state somewhere durable "
                  "that everyone who applies shares.", ""),
        "state:",
        "  backend: file",
        f"  path: {DEFAULT_PATH}",
        "# Or in PostgreSQL, for applies from more than one machine (docs/state.md):",
        "# state:",
        "#   backend: postgres",
        "#   dsn: ${env:LMSFORM_STATE_DSN}     # postgresql://user:password@host:5432/db",
        f"#   name: {name}",
    ]


def _settings_block(cls: type[Provider]) -> list[str]:
    """The defaults, said out loud; each kind says its own (users are removed the way this
    provider can)."""
    return [
        "# How plans behave.",
        "settings:",
        "  # true, or a list of kinds: delete what the LMS holds that no manifest declares",
        "  prune: false",
        *(line for kind in kinds.kinds()
          for line in kind.example_settings(cls.capabilities.kinds.get(kind.name),
                                            cls.type_name)),
        "  # refuse (without --force) a plan removing more than this share of a kind",
        "  max_delete_fraction: 0.3",
        "  # the zone the dates of active_from, active_until and enrollment windows are days in",
        "  # (an IANA name), and how many days ahead each plan lists what they schedule",
        "  timezone: UTC",
        "  schedule_notice_days: 14",
    ]


def render_example(cls: type[Provider]) -> tuple[str, str] | None:
    """The example manifest: (file name, text) of the first kind that gives one for what
    this provider supports (one user); None when none does."""
    for kind in kinds.kinds():
        support = cls.capabilities.kinds.get(kind.name)
        text = kind.example(support, cls.type_name) if support is not None else None
        if text is not None and kind.export_file is not None:
            return kind.export_file, text
    return None


def gitignore(path: Path) -> str:
    """.gitignore with the default state's directory: added to one that exists."""
    if not path.exists():
        return f"# lmsform's state, when kept in this directory (the default)\n{IGNORED}\n"
    text = path.read_text(encoding="utf-8")
    if any(line.strip() in (IGNORED, IGNORED.rstrip("/")) for line in text.splitlines()):
        return text
    return text + ("" if text.endswith("\n") or not text else "\n") + f"{IGNORED}\n"
