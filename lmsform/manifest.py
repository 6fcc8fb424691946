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
from decimal import Decimal
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_local_part
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_extra_types.currency_code import ISO4217

KINDS: tuple[str, ...] = ("region", "division", "department", "course", "group", "user", "coupon")
"""Every resource kind, parents and referenced kinds first: the order operations run in."""

Kind = Literal["region", "division", "department", "course", "group", "user", "coupon"]


def _no_slash(value: str) -> str:
    if "/" in value:
        raise ValueError("must not contain '/', which separates the levels of the hierarchy")
    return value


# What the editor schema (`lmsform schema`) says of each type: what validation accepts,
# numbers for text included, since a number written for text is that text.
_TEXT_SCHEMA = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "number"}]}
_NAME_SCHEMA = {"anyOf": [{"type": "string", "minLength": 1, "pattern": "^[^/]*$"},
                          {"type": "number"}]}
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1),
                 WithJsonSchema(_TEXT_SCHEMA)]
Name = Annotated[Text, AfterValidator(_no_slash), WithJsonSchema(_NAME_SCHEMA)]
Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=200)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False),
                  WithJsonSchema({"anyOf": [
                      {"type": "number", "minimum": 0, "multipleOf": 0.01},
                      {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$"}]})]
Currency = Annotated[ISO4217, WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]{3}$"})]
Percent = Annotated[Decimal, Field(gt=0, le=100, decimal_places=4, allow_inf_nan=False),
                    WithJsonSchema({"anyOf": [
                        {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                        {"type": "string", "pattern": r"^\d{1,3}(\.\d{1,4})?$"}]})]
ADDRESS_RE = re.compile(r"^(region|division|department|group|course|user|coupon)\.(.+)$")


def _valid_address(value: str) -> str:
    if not ADDRESS_RE.match(value):
        kind = value.partition(".")[0]
        near = difflib.get_close_matches(kind, KINDS, n=1, cutoff=0.6)
        hint = f" (did you mean '{near[0]}.{value.partition('.')[2]}'?)" if near else ""
        raise ValueError(
            f"'{value}' is not a resource address{hint}; write KIND.NAME, e.g. group.Managers, "
            "department.Americas/Sales/Inside Sales, user.ada@example.com"
        )
    return value


Address = Annotated[str, AfterValidator(_valid_address)]


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
    themselves, so a plan would never converge), no integers beyond 2**53."""
    if isinstance(value, dict):
        for key, item in value.items():
            _storable(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _storable(item, where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value} is not a number that can be stored; write it in "
                         "quotes if it is text")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CUSTOM_INT:
        raise ValueError(f"{where}: {value} is too large to store as a number (at most 2**53); "
                         "write it in quotes if it is text")
    return value


Custom = Annotated[dict[str, Any], AfterValidator(_storable)]


class Strict(BaseModel):
    """Unknown fields are errors: a typo must never be silently ignored. Numbers given for
    text (`employee_id: 1001`) are taken as the text they spell."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True)


class Lifecycle(Strict):
    prevent_destroy: bool = False
    ignore_changes: list[str] = Field(default_factory=list)


class Managed(Strict):
    lifecycle: Lifecycle | None = None


def _name_shorthand(value: Any) -> Any:
    """`departments: [Inside Sales]` is shorthand for `[{name: Inside Sales}]`."""
    return {"name": value} if isinstance(value, str) else value


class DepartmentSpec(Managed):
    name: Name


class DivisionSpec(Managed):
    division: Name
    departments: list[Annotated[DepartmentSpec, BeforeValidator(
        _name_shorthand, json_schema_input_type=Name | DepartmentSpec)]] = Field(
        default_factory=list
    )


class RegionSpec(Managed):
    region: Name
    divisions: list[DivisionSpec] = Field(default_factory=list)


class GroupSpec(Managed):
    name: Name
    description: str | None = None
    courses: list[Slug] | None = None


Role = Literal["learner", "instructor", "admin"]


class UserSpec(Managed):
    email: Email
    first_name: Text | None = None
    last_name: Text | None = None
    username: Text | None = None
    employee_id: Text | None = None
    job_title: str | None = None
    role: Role | None = None
    department: Text | None = None
    groups: list[Name] | None = None
    enrollments: list[Slug] | None = None
    active: bool | None = None
    password: SecretStr | None = None
    custom: Custom | None = None


class PriceSpec(Strict):
    plan: Slug
    amount: Money
    currency: Currency
    billing: Literal["one_time", "monthly", "yearly"] = "one_time"


class CourseSpec(Managed):
    key: Slug
    title: Text
    description: str | None = None
    published: bool | None = None
    credits: Annotated[Decimal, Field(ge=0, le=MAX_CREDITS, allow_inf_nan=False),
                       WithJsonSchema({"anyOf": [
                           {"type": "number", "minimum": 0, "maximum": MAX_CREDITS},
                           {"type": "string", "pattern": r"^\d+(\.\d+)?$"}]})] | None = None
    categories: list[Text] | None = None
    pricing: list[PriceSpec] | None = None
    custom: Custom | None = None
    # a plan named twice is reported by the loader, which can point at both places


class DiscountSpec(Strict):
    percent: Percent | None = None
    amount: Money | None = None
    currency: Currency | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> DiscountSpec:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("give exactly one of percent or amount")
        if self.amount is not None and self.currency is None:
            raise ValueError("an amount discount needs a currency")
        if self.percent is not None and self.currency is not None:
            raise ValueError("a percent discount takes no currency")
        return self


class CouponSpec(Managed):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    discount: DiscountSpec
    courses: list[Slug] | None = None
    usage_limit: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = None
    expires: dt.date | None = None
    custom: Custom | None = None


class MovedSpec(Strict):
    from_: Address = Field(alias="from")
    to: Address


class SettingsSpec(Strict):
    prune: bool | list[Kind] = False
    user_removal: Literal["deactivate", "delete"] = "deactivate"
    max_delete_fraction: Annotated[float, Field(ge=0, le=1)] = 0.3


class StateSpec(BaseModel):
    """`backend` picks the plugin (`file` by default); its settings model validates the rest."""

    model_config = ConfigDict(extra="allow")
    backend: Text = "file"


class ProviderSpec(BaseModel):
    """`type` picks the plugin; the plugin's own settings model validates the rest."""

    model_config = ConfigDict(extra="allow")
    type: Text


class ManifestFile(Strict):
    """One YAML file. Every top-level key is optional; the loader merges files."""

    version: Literal[1] | None = None
    provider: ProviderSpec | None = None
    state: StateSpec | None = None
    settings: SettingsSpec | None = None
    hierarchy: list[RegionSpec] | None = None
    groups: list[GroupSpec] | None = None
    users: list[UserSpec] | None = None
    courses: list[CourseSpec] | None = None
    coupons: list[CouponSpec] | None = None
    moved: list[MovedSpec] | None = None
    # environments: shared manifest directories read as this directory's own, and the values
    # their `${var:NAME}` references take here (docs/manifests.md, Environments)
    include: list[Text] | None = None
    vars: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
               str | int | float | bool] | None = None
