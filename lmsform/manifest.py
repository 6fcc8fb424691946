"""The manifest schema: what one YAML file may say, as pydantic models.

Each file is validated on its own (so every error points into the file it came from); the
loader in `config.py` then merges the files and checks what spans them (duplicates, references).
A field left out of a resource is not managed, so every optional field defaults to None and the
set of fields a user wrote is read back with `model_fields_set`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Required, get_args, get_origin

from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_local_part
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic import Strict as StrictType
from pydantic_extra_types.currency_code import ISO4217
from typing_extensions import TypedDict

from lmsform import schedule
from lmsform.cel import CelError, Place, compile_expression

# The names of the kinds of resources, which addresses and `prune` take: the kinds' registry
# (lmsform.kinds) fills it in as kinds register. This module knows no kind.
KIND_NAMES: list[str] = []


# The tags of a tagged union (`pydantic.Tag`: a course key, or an enrollment with its window)
# start with this: they name no place in a file, and errors leave them out of their path.
UNION_TAG = "\x00"


class Expanded(str):
    """Text that a `${env:...}` or `${var:...}` reference gave (config.py marks it so): a
    flag reads a reference's `true` or `false`, where it refuses that text written in quotes;
    and a field name is never one."""


def _no_slash(value: str) -> str:
    if "/" in value:
        raise ValueError("must not contain '/', which separates the levels of the hierarchy")
    return value


# YAML's spellings of a boolean, which a reference's text may take.
YAML_BOOLEANS = {"true": True, "True": True, "TRUE": True,
                 "false": False, "False": False, "FALSE": False}


def _flag(value: Any) -> Any:
    """A flag is a YAML boolean (`"yes"`, `"true"` or `1` are refused: strict); the text a
    reference gave is read as YAML reads it."""
    if isinstance(value, Expanded):
        return YAML_BOOLEANS.get(value, value)
    return value


# Numbers as text: lmsform's YAML reader keeps a number whose value does not read back as
# written (`1.50`, `007`, `1e3`) as the text written, so a number field takes text that
# spells a number; the schema says the same with these patterns (which check the spelling;
# the range of a number in quotes is validate's). Booleans and other text are refused.
WHOLE_TEXT = r"^[0-9]+$"
DECIMAL_TEXT = r"^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"
MONEY_TEXT = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"  # exact: the schema checks it as validate does


def spelled(pattern: str, example: str, what: str = "decimal") -> Any:
    """A validator letting through numbers, and text that spells one as `pattern` says."""
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, str) and not compiled.match(value)):
            raise ValueError(f"must be a {what} number, e.g. {example}")
        return value
    return BeforeValidator(check)


def number_schema(number: dict[str, Any], text: str, kind: str = "number") -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [{"type": kind, **number},
                                     {"type": "string", "pattern": text}]})


# What the editor schema (`lmsform schema`) says of each type: what validation accepts,
# numbers for text included, since a number written for text is that text.
_TEXT_SCHEMA = {"anyOf": [{"type": "string", "minLength": 1, "pattern": r"\S"},
                          {"type": "number"}]}
_NAME_SCHEMA = {"anyOf": [{"type": "string", "minLength": 1, "pattern": r"^[^/]*[^/\s][^/]*$"},
                          {"type": "number"}]}
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1),
                 WithJsonSchema(_TEXT_SCHEMA)]
Name = Annotated[Text, AfterValidator(_no_slash), WithJsonSchema(_NAME_SCHEMA)]
# a number spells a key as its digits (`key: 101`), as it does text
SLUG_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_RE, max_length=200),
                 WithJsonSchema({"anyOf": [{"type": "string", "pattern": SLUG_RE,
                                            "maxLength": 200},
                                           {"type": "number", "minimum": 0}]})]
CODE_RE = r"^[A-Za-z0-9_-]{1,64}$"
Code = Annotated[str, StringConstraints(pattern=CODE_RE),
                 WithJsonSchema({"anyOf": [{"type": "string", "pattern": CODE_RE},
                                           {"type": "integer"}]})]
Flag = Annotated[bool, BeforeValidator(_flag), StrictType()]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False),
                  spelled(MONEY_TEXT, "49.99"),
                  number_schema({"minimum": 0, "exclusiveMaximum": 10**12}, MONEY_TEXT)]
# a code in any case, as the validator upper-cases it; editors complete the upper-case ones
CURRENCIES = sorted(ISO4217.allowed_currencies)
Currency = Annotated[ISO4217, WithJsonSchema({"anyOf": [
    {"enum": CURRENCIES},
    {"type": "string", "pattern": "^(" + "|".join(
        "".join(f"[{c}{c.lower()}]" for c in code) for code in CURRENCIES) + ")$"}]})]
Percent = Annotated[Decimal, Field(gt=0, le=100, decimal_places=4, allow_inf_nan=False),
                    spelled(DECIMAL_TEXT, "12.5"),
                    number_schema({"exclusiveMinimum": 0, "maximum": 100}, DECIMAL_TEXT)]
VAR_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def date_text(value: Any) -> Any:
    """A date is written YYYY-MM-DD (a YAML date, or that text): not a number of seconds,
    nor a date and time."""
    if isinstance(value, dt.date) or (isinstance(value, str) and re.match(DATE_RE, value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD, e.g. 2025-12-31")


def _bound(value: Any) -> Any:
    try:
        return schedule.parse_bound(value)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


# When access starts or ends (`schedule.py`): a date, read in settings.timezone, or a time
# with its offset; a time without one is an error.
Moment = Annotated[dt.date, PlainValidator(_bound),
                   WithJsonSchema({"type": "string", "pattern": schedule.BOUND_PATTERN})]


# what an IANA time zone's name is spelt with (`UTC`, `Etc/GMT+5`, `America/Port-au-Prince`)
ZONE_RE = r"^[A-Za-z][A-Za-z0-9_+/-]*$"


def _zone_name(value: str) -> str:
    """An IANA zone the zone database knows (ValueError naming the nearest)."""
    if not re.match(ZONE_RE, value):
        raise ValueError(f"'{value}' is not a time zone; give an IANA name such as UTC, "
                         "Europe/London or Pacific/Auckland")
    schedule.zone(value)
    return value


TimeZone = Annotated[str, AfterValidator(_zone_name),
                     WithJsonSchema({"type": "string", "pattern": ZONE_RE})]


def _names_written_key(value: Any) -> Any:
    if isinstance(value, Expanded):
        raise ValueError("a variable's name cannot be a ${env:...} reference")
    return value


ADDRESS_RE = re.compile(r"^([a-z][a-z_]*)\.(.+)$")


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    near = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _valid_address(value: str) -> str:
    found = ADDRESS_RE.match(value)
    if not found or found.group(1) not in KIND_NAMES:
        kind = value.partition(".")[0]
        near = difflib.get_close_matches(kind, KIND_NAMES, n=1, cutoff=0.6)
        hint = f" (did you mean '{near[0]}.{value.partition('.')[2]}'?)" if near else ""
        raise ValueError(
            f"'{value}' is not a resource address{hint}; write KIND.NAME, e.g. group.Managers, "
            "department.Americas/Sales/Inside Sales, user.ada@example.com"
        )
    return value


# their schemas name the kinds registered when the schema is made (`schema.py`)
Address = Annotated[str, AfterValidator(_valid_address),
                    WithJsonSchema({"type": "string", "$comment": "address"})]


def _known_kind(value: str) -> str:
    if value not in KIND_NAMES:
        raise ValueError(f"'{value}' is not a kind of resource; the kinds are "
                         f"{', '.join(KIND_NAMES)}{_did_you_mean(value, KIND_NAMES)}")
    return value


KindName = Annotated[str, AfterValidator(_known_kind),
                     WithJsonSchema({"type": "string", "$comment": "kind"})]


@functools.lru_cache(maxsize=4096)
def _check_domain(domain: str) -> None:
    validate_email(f"probe@{domain}", check_deliverability=False)


def _valid_email(value: str) -> str:
    """email-validator's rules, checking each distinct domain once.

    Validating the domain dominates its cost, and an organisation's thousands of users share a
    handful of domains; unusual addresses go through the full validator.
    """
    try:
        local, at, domain = value.rpartition("@")
        if not at or not local or len(value) > 254 or '"' in local or value != value.strip():
            validate_email(value, check_deliverability=False)
        else:
            validate_email_local_part(local)
            _check_domain(domain)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None
    return value


Email = Annotated[str, AfterValidator(_valid_email),
                  WithJsonSchema({"type": "string", "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"})]

MAX_COUNT = 2**31 - 1  # the largest count every LMS database can store
MAX_CREDITS = 100_000
MAX_CUSTOM_INT = 2**53  # integers beyond this lose precision in JSON and in most LMSs


def _storable(value: Any, where: str = "custom") -> Any:
    """Custom values must survive storing and comparing: no NaN or infinity (never equal to
    themselves, so a plan would never converge), no integers beyond 2**53. Returned as plain
    JSON values (a reference's text as plain text)."""
    if isinstance(value, dict):
        return {str(key): _storable(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item, where) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value} is not a number that can be stored; write it in "
                         "quotes if it is text")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CUSTOM_INT:
        raise ValueError(f"{where}: {value} is too large to store as a number (at most 2**53); "
                         "write it in quotes if it is text")
    return value


# its schema, any JSON whose text holds no malformed reference, is `schema.py`'s
Custom = Annotated[dict[str, Any], AfterValidator(_storable),
                   WithJsonSchema({"$comment": "custom"})]


def _names_written(data: Any) -> Any:
    """A field's name is written in the manifest: one a reference gave is refused (the
    reference would decide what the entry declares), whatever the variable's value. (Asked
    of each of 100k users: the keys' types are compared in C, not one by one in Python.)"""
    if isinstance(data, dict) and Expanded in map(type, data):
        raise ValueError("a field name cannot be a ${env:...} or ${var:...} reference")
    return data


class Strict(BaseModel):
    """Unknown fields are errors: a typo must never be silently ignored. Numbers given for
    text (`employee_id: 1001`) are taken as the text they spell."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        return _names_written(data)


_typed_dict: Any = TypedDict  # called with fields known at run time, which type checkers refuse


@dataclass(frozen=True)
class PlainEntries:
    """An entry model's fields as a `TypedDict`: the same checks of every field, into a
    plain dict of the fields the entry sets rather than a model. pydantic makes 100k plain
    dicts in about half the time of 100k models, and a large manifest's entries need
    nothing more (`Kind.may_be_plain`).

    It leaves out `Strict._names`, which can only refuse what `${...}` references gave: use
    it for entries of a file that has none. `model_only` are the fields the model's own
    validators check (a user's `active_until` against its `active_from`): an entry setting
    one takes the model."""

    adapter: TypeAdapter[dict[str, Any]]
    model_only: frozenset[str]

    @staticmethod
    def of(spec: type[BaseModel]) -> PlainEntries | None:
        """None where the model does more than check its fields' values one by one (a
        model validator other than `Strict._names`, one of pydantic 1's, a validator of
        every field, a `model_post_init`), or names a field by an alias."""
        decorators = spec.__pydantic_decorators__
        names_only = {n: _function(d.func) for n, d in decorators.model_validators.items()} \
            in ({}, {"_names": _STRICT_NAMES})
        model_only = {name for v in decorators.field_validators.values()
                      for name in v.info.fields}
        if not names_only or decorators.validators or decorators.root_validators or \
                "*" in model_only or spec.model_post_init is not BaseModel.model_post_init \
                or any(f.alias for f in spec.model_fields.values()):
            return None
        fields = {}
        for name, info in spec.model_fields.items():
            annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata \
                else info.annotation
            fields[name] = Required[annotation] if info.is_required() else annotation
        entry = _typed_dict(f"{spec.__name__}Entry", fields, total=False)
        entry.__pydantic_config__ = spec.model_config
        return PlainEntries(TypeAdapter(entry), frozenset(model_only))


def _function(validator: Any) -> Any:
    """A validator's function, whichever model's classmethod it was bound to."""
    return getattr(validator, "__func__", validator)


_STRICT_NAMES = _function(Strict.__pydantic_decorators__.model_validators["_names"].func)


class Lifecycle(Strict):
    """What lmsform may do to a resource. Each kind's own model (below) names the fields
    `ignore_changes` may list: that kind's managed fields (`resources.SCHEMAS`)."""

    kind: ClassVar[str] = ""
    prevent_destroy: Flag = False
    ignore_changes: Sequence[str] = Field(default_factory=list)

    @field_validator("ignore_changes", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        """The kind's Literal decides; this says which name is wrong, and of what."""
        names = cls.field_names()
        for name in value if names and isinstance(value, list) else ():
            if isinstance(name, str) and name not in names:
                raise ValueError(f"'{name}' is not a field of {cls.kind}"
                                 f"{_did_you_mean(name, names)}")
        return value

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names `ignore_changes` may list (none for this base class)."""
        (item,) = get_args(cls.model_fields["ignore_changes"].annotation) or (None,)
        return get_args(item) if get_origin(item) is Literal else ()


def lifecycle_for(kind: str, fields: Sequence[str]) -> type[Lifecycle]:
    """`lifecycle:` of one kind: `ignore_changes` may name only that kind's fields."""
    names: Any = Literal[tuple(fields)]
    model = create_model(f"{kind.title()}Lifecycle", __base__=Lifecycle,
                         ignore_changes=(list[names], Field(default_factory=list)))
    model.kind = kind
    return model


class Managed(Strict):
    lifecycle: Lifecycle | None = None


class MovedSpec(Strict):
    from_: Address = Field(alias="from")
    to: Address


class SettingsSpec(Strict):
    prune: Flag | list[KindName] = False
    user_removal: Literal["deactivate", "delete"] = "deactivate"
    max_delete_fraction: Annotated[float, Field(ge=0, le=1), spelled(DECIMAL_TEXT, "0.3"),
                                   number_schema({"minimum": 0, "maximum": 1}, DECIMAL_TEXT),
                                   ] = 0.3
    # the zone dates of time bounds are read in (`active_until: 2027-03-31` ends at the end
    # of that day there), and LMSFORM_NOW's date
    timezone: TimeZone = schedule.DEFAULT_ZONE
    # how far ahead every plan lists what is scheduled to happen (its `schedule`)
    schedule_notice_days: Annotated[
        int, Field(ge=0, le=3660), spelled(WHOLE_TEXT, "14", "whole"),
        number_schema({"minimum": 0, "maximum": 3660}, WHOLE_TEXT, "integer"),
    ] = schedule.DEFAULT_NOTICE_DAYS


class StateSpec(BaseModel):
    """`backend` picks the plugin (`file` by default); its settings model validates the rest."""

    model_config = ConfigDict(extra="allow")
    backend: Text = "file"

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        return _names_written(data)


class ProviderSpec(BaseModel):
    """`type` picks the plugin; the plugin's own settings model validates the rest."""

    model_config = ConfigDict(extra="allow")
    type: Text

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        return _names_written(data)


def _place(scope: str, on: str) -> Place:
    if on == "change":
        return Place.CHANGE
    return Place.CONFIG if scope == "config" else Place.RESOURCE


# what `_fits` says, for the editor schema
_CONFIG_SCOPE: dict[str, Any] = {
    "if": {"required": ["scope"], "properties": {"scope": {"const": "config"}}},
    "then": {"properties": {"kinds": {"type": "null"}, "on": {"not": {"const": "change"}}}}}


class PolicySpec(Strict):
    """One rule of `policies:` (docs/policies.md): a CEL expression that is true where the
    manifests, or a planned operation, comply."""

    model_config = ConfigDict(json_schema_extra=_CONFIG_SCOPE)

    name: Slug
    description: Text | None = None
    scope: Literal["resource", "config"] = "resource"
    on: Literal["desired", "change"] = "desired"
    kinds: list[KindName] | None = None
    # code: its schema (`schema.py`) refuses a reference in it, as `_written` does
    expression: Annotated[Text, WithJsonSchema({"$comment": "code"})]
    message: Text | None = None
    enforcement: Literal["mandatory", "advisory"] = "mandatory"

    @property
    def place(self) -> Place:
        """The variable the expression sees: `resource`, `all` or `change`."""
        return _place(self.scope, self.on)

    @field_validator("expression", mode="before")
    @classmethod
    def _written(cls, value: Any) -> Any:
        if isinstance(value, Expanded):
            raise ValueError("an expression is code, reviewed as written: it cannot take a "
                             "${env:...} or ${var:...} reference (a value never becomes "
                             "syntax); compare with the value in the expression instead")
        return value

    @field_validator("expression")
    @classmethod
    def _compiles(cls, value: str, info: ValidationInfo) -> str:
        scope, on = info.data.get("scope"), info.data.get("on")
        if scope is None or on is None or (scope, on) == ("config", "change"):
            return value  # reported on their own
        try:
            compile_expression(value, _place(scope, on))
        except CelError as exc:
            raise ValueError(f"not a valid CEL expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _fits(self) -> PolicySpec:
        if self.scope == "config" and self.on == "change":
            raise ValueError("on: change judges each planned operation, one at a time: it "
                             "takes scope: resource (the default)")
        if self.scope == "config" and self.kinds is not None:
            raise ValueError("kinds: a scope: config policy sees every kind, in `all`; "
                             "kinds chooses the resources of a scope: resource policy")
        return self


class ManifestBlocks(Strict):
    """One YAML file, less the kinds' sections: the registry (`lmsform.kinds`) adds a list
    for each kind a top-level section declares. Every key is optional; the loader merges
    files."""

    version: Annotated[Literal[1], spelled("^$", "1", "whole")] | None = None  # not `true`
    provider: ProviderSpec | None = None
    state: StateSpec | None = None
    settings: SettingsSpec | None = None
    moved: list[MovedSpec] | None = None
    policies: list[PolicySpec] | None = None
    # environments: shared manifest directories read as this directory's own, and the values
    # their `${var:NAME}` references take here (docs/manifests.md, Environments)
    include: list[Text] | None = None
    vars: Annotated[dict[Annotated[str, BeforeValidator(_names_written_key),
                                   StringConstraints(pattern=VAR_NAME_RE)],
                         str | int | float | bool],
                    WithJsonSchema({"type": "object", "propertyNames": {"pattern": VAR_NAME_RE},
                                    "additionalProperties": {"anyOf": [
                                        {"type": "string"}, {"type": "number"},
                                        {"type": "boolean"}]}})] | None = None
