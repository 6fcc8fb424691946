"""Vendors' records, read and written the same way by every provider.

What an API answers is a JSON record of the vendor's own names, spelt as the vendor likes
(`id` or `user_id`, `name` or `title`, ids as numbers), and what lmsform sends must be one
again. Written once here: picking a value out of a record and records out of a list answer
(`pick`, `record_id`, `records`), ids sent back as the numbers they were (`numeric`), dates as
days (`day`), field names both ways (`FieldMap`), and the two kinds of discount a coupon gives
(`Discounts`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from lmsform.errors import LmsformError, ProviderError


def pick(record: Mapping[str, Any], *names: str) -> Any:
    """The first of these fields the record holds a value in (neither missing, null nor
    empty), or None: answers spell one field several ways."""
    return next((record[n] for n in names if record.get(n) not in (None, "")), None)


def record_id(record: Mapping[str, Any], vendor: str, *names: str) -> str:
    """A record's id, as text: its `id`, or the first of `names` it holds."""
    value = pick(record, *(names or ("id",)))
    if value is None:
        raise LmsformError(f"{vendor} answered a record without an id")
    return str(value)


def records(answer: Any, *keys: str, call: str | None = None) -> list[dict[str, Any]]:
    """The records of a list answer: the answer itself when it is a list, else the list under
    the first of `keys` a JSON object answer holds. What is not a JSON object is left out,
    unless `call` is given: then an answer without a list of JSON objects is an error of that
    call."""
    found = answer
    if isinstance(answer, dict):
        found = next((answer[k] for k in keys if k in answer), None)
    if call is not None and (not isinstance(found, list)
                             or not all(isinstance(r, dict) for r in found)):
        raise ProviderError(call, "the answer holds no list of records")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def numeric(id: str) -> int | str:
    """An id as the vendor gave it: a number where it is one."""
    return int(id) if id.isdigit() else id


def day(value: Any) -> str | None:
    """A date (or a time) as the day it falls on, YYYY-MM-DD; None for none."""
    return str(value)[:10] if value else None


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class FieldMap:
    """Canonical fields and a vendor's names for them, both ways.

    `names` maps each canonical field to the vendor's; `write` converts a field's value on its
    way to the vendor (a flag to a status word), `read` on its way back.
    """

    names: Mapping[str, str]
    write: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    read: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    def to_vendor(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """The vendor's fields for those of `attrs` this map names, in the map's order."""
        return {vendor: self.write.get(name, _same)(attrs[name])
                for name, vendor in self.names.items() if name in attrs}

    def from_vendor(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Every field this map names, from a vendor's record (None where it has none)."""
        return {name: self.read.get(name, _same)(record.get(vendor))
                for name, vendor in self.names.items()}

    def touches(self, attrs: Mapping[str, Any]) -> bool:
        """Whether `attrs` hold any field this map names."""
        return not self.names.keys().isdisjoint(attrs)


@dataclass(frozen=True)
class Discounts:
    """How a vendor words the two kinds of discount a coupon gives: `{percent: N}`, a share
    off, and `{amount: N, currency: C}`, a sum off. Vendors hold a type word and a value;
    a sum off is in the school's currency, which their records do not repeat."""

    percent: str  # the vendor's word for a share off
    amount: str  # ...and for a sum off
    otherwise: Literal["percent", "amount"] = "amount"  # what any other word is read as

    def to_vendor(self, discount: Mapping[str, Any]) -> tuple[str, Decimal]:
        """The vendor's type word and the value."""
        percent = discount.get("percent") is not None
        value = discount["percent"] if percent else discount["amount"]
        return (self.percent if percent else self.amount), Decimal(str(value))

    def from_vendor(self, word: Any, value: Any, currency: str) -> dict[str, Any]:
        """A discount as lmsform writes it, from the vendor's type word and value."""
        shape = ("percent" if str(word) == self.percent else
                 "amount" if str(word) == self.amount else self.otherwise)
        return {"percent": value} if shape == "percent" else \
            {"amount": value, "currency": currency}

    @staticmethod
    def check(attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        """A sum off needs its currency (`Provider.check`)."""
        discount = attrs.get("discount") or {}
        if "amount" in discount and not discount.get("currency"):
            return [("discount", "a fixed discount needs its currency")]
        return []
