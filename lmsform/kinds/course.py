"""Courses, with their pricing: declared under `courses:`, named by their key (a slug), and
found in an LMS that stores no key by their title. A price is one plan: an amount in a
currency, billed once, monthly or yearly."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from lmsform.kinds.kind import Declaring, Kind, Loc, Resource, decimal_text
from lmsform.manifest import (
    DECIMAL_TEXT,
    MAX_CREDITS,
    Currency,
    Custom,
    Flag,
    Managed,
    Money,
    Slug,
    Strict,
    Text,
    lifecycle_for,
    number_schema,
    spelled,
)

FIELDS = ("key", "title", "description", "published", "credits", "categories", "pricing",
          "custom")


class PriceSpec(Strict):
    plan: Slug
    amount: Money
    currency: Currency
    billing: Literal["one_time", "monthly", "yearly"] = "one_time"


class CourseSpec(Managed):
    key: Slug
    title: Text
    description: str | None = None
    published: Flag | None = None
    credits: Annotated[Decimal, Field(ge=0, le=MAX_CREDITS, allow_inf_nan=False),
                       spelled(DECIMAL_TEXT, "1.5"),
                       number_schema({"minimum": 0, "maximum": MAX_CREDITS}, DECIMAL_TEXT),
                       ] | None = None
    categories: list[Text] | None = None
    pricing: list[PriceSpec] | None = None
    custom: Custom | None = None
    lifecycle: lifecycle_for("course", FIELDS) | None = None  # type: ignore[valid-type]
    # a plan named twice is reported by `declare`, which can point at both places


def pricing(value: Any) -> dict[str, dict[str, Any]]:
    """Plans keyed by name: {"standard": {"amount": "49.00", "currency": "USD", ...}}."""
    if isinstance(value, dict):
        value = [{"plan": plan, **entry} for plan, entry in value.items()]
    return {
        str(p["plan"]): {
            "amount": decimal_text(p["amount"], 2),
            "currency": str(p["currency"]).upper(),
            "billing": p.get("billing") or "one_time",
        }
        for p in value
    }


def _number(value: Any) -> int | float:
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


class Course(Kind):
    name = "course"
    fields = FIELDS
    nested_fields = frozenset({"pricing"})
    set_fields = frozenset({"categories"})
    identity_only = frozenset({"key"})
    key_field = "key"
    section = "courses"
    spec = CourseSpec
    reference_hint = " (refer to courses by their key)"
    export_file = "courses.yaml"

    def canonical_values(self) -> dict[str, Callable[[Any], Any]]:
        return {"pricing": pricing, "credits": _number}

    def address_key(self, attrs: dict[str, Any]) -> str:
        return str(attrs.get("key") or attrs.get("title"))

    def natural_keys(self, attrs: dict[str, Any]) -> list[str]:
        """By manifest key where the LMS stores one, else by title."""
        keys = []
        if attrs.get("key"):
            keys.append(f"key:{attrs['key']}")
        if attrs.get("title"):
            keys.append(f"title:{attrs['title']}")
        return keys

    def sort_text(self, attrs: dict[str, Any]) -> str:
        return str(attrs.get("title") or "")

    def declare(self, spec: BaseModel, origin: tuple[str, Loc],
                say: Declaring) -> Iterator[Resource]:
        """A course; a pricing plan named twice points at the second, naming the first."""
        assert isinstance(spec, CourseSpec)
        loc = origin[1]
        first: dict[str, int] = {}
        for j, price in enumerate(spec.pricing or []):
            if price.plan in first:
                say.error((*loc, "pricing", j, "plan"),
                          f"pricing plan '{price.plan}' appears twice; the first is at "
                          f"{say.where((*loc, 'pricing', first[price.plan]))}")
            else:
                first[price.plan] = j
        yield self.resource(spec, origin)

    def field_data(self, name: str, value: Any) -> Any:
        if name == "pricing" and value is not None:
            return [p.model_dump() for p in value]
        return value

    def export_key(self, attrs: dict[str, Any], resource_id: str,
                   taken: set[str]) -> dict[str, Any]:
        """A course the LMS keeps no key for is given one from its title."""
        if not attrs.get("key"):
            attrs["key"] = _unique(_slug(str(attrs.get("title") or resource_id)), taken)
        return attrs


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "course"


def _unique(slug: str, taken: set[str]) -> str:
    unique, n = slug, 2
    while unique.casefold() in taken:
        unique, n = f"{slug}-{n}", n + 1
    return unique
