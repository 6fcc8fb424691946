"""Coupons: declared under `coupons:`, named by their code; a discount is a percent, or an
amount in a currency, off the courses listed (or every course)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.config import JsonDict

from lmsform.kinds.kind import Kind, decimal_text
from lmsform.manifest import (
    DATE_RE,
    MAX_COUNT,
    WHOLE_TEXT,
    Code,
    Currency,
    Custom,
    Managed,
    Money,
    Percent,
    Slug,
    Strict,
    date_text,
    lifecycle_for,
    number_schema,
    spelled,
)

FIELDS = ("code", "discount", "courses", "usage_limit", "expires", "custom")

# The schema's either/or for a discount, as `_one_kind` says it.
_GIVEN: JsonDict = {"not": {"type": "null"}}
_ABSENT: JsonDict = {"type": "null"}
_ONE_KIND: JsonDict = {"oneOf": [
    {"title": "a percent discount", "required": ["percent"],
     "properties": {"percent": _GIVEN, "amount": _ABSENT, "currency": _ABSENT}},
    {"title": "an amount discount, in a currency", "required": ["amount", "currency"],
     "properties": {"amount": _GIVEN, "currency": _GIVEN, "percent": _ABSENT}}]}


class DiscountSpec(Strict):
    model_config = ConfigDict(json_schema_extra=_ONE_KIND)

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
    code: Code
    discount: DiscountSpec
    courses: list[Slug] | None = None
    usage_limit: Annotated[int, Field(ge=1, le=MAX_COUNT), spelled(WHOLE_TEXT, "100", "whole"),
                           number_schema({"minimum": 1, "maximum": MAX_COUNT}, WHOLE_TEXT,
                                         "integer"),
                           ] | None = None
    expires: Annotated[dt.date, BeforeValidator(date_text),
                       WithJsonSchema({"type": "string", "format": "date",
                                       "pattern": DATE_RE})] | None = None
    custom: Custom | None = None
    lifecycle: lifecycle_for("coupon", FIELDS) | None = None  # type: ignore[valid-type]


def discount(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("percent") is not None:
        return {"percent": decimal_text(value["percent"])}
    return {"amount": decimal_text(value["amount"], 2), "currency": str(value["currency"]).upper()}


class Coupon(Kind):
    name = "coupon"
    fields = FIELDS
    nested_fields = frozenset({"discount"})
    references: ClassVar[Mapping[str, str]] = MappingProxyType({"courses": "course"})
    set_fields = frozenset({"courses"})
    key_field = "code"
    section = "coupons"
    spec = CouponSpec
    export_file = "coupons.yaml"

    def canonical_values(self) -> dict[str, Callable[[Any], Any]]:
        return {"discount": discount, "expires": lambda v: str(v)[:10]}

    def field_data(self, name: str, value: Any) -> Any:
        return value.model_dump(exclude_none=True) if name == "discount" else value
