"""Vendors' records, read and written once for every provider: values and records picked out
of answers, field names both ways, and the two kinds of discount."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lmsform.errors import LmsformError, ProviderError
from lmsform.providers.records import Discounts, FieldMap, day, numeric, pick, record_id, records


def test_values_and_records_are_picked_out_of_answers() -> None:
    assert pick({"name": "", "title": "Intro"}, "name", "title") == "Intro"
    assert pick({"name": None}, "name") is None
    assert record_id({"user_id": 7}, "Vendor", "id", "user_id") == "7"
    with pytest.raises(LmsformError, match=r"^Vendor answered a record without an id$"):
        record_id({"id": ""}, "Vendor")
    assert records({"data": [{"id": 1}, "x"]}, "items", "data") == [{"id": 1}]
    assert records([{"id": 1}]) == [{"id": 1}] and records({"data": None}, "data") == []
    with pytest.raises(ProviderError, match="GET /x: the answer holds no list of records"):
        records({"records": [1]}, "records", call="GET /x")
    assert numeric("12") == 12 and numeric("a-1") == "a-1"
    assert day("2027-06-30T00:00:00") == "2027-06-30" and day(None) is None


def test_a_field_map_writes_and_reads_a_vendors_names() -> None:
    fields = FieldMap({"title": "name", "published": "status"},
                      write={"published": lambda on: "live" if on else "draft"},
                      read={"published": lambda status: status == "live"})
    assert fields.to_vendor({"published": True, "other": 1}) == {"status": "live"}
    assert fields.from_vendor({"name": "Intro", "status": "draft"}) == {
        "title": "Intro", "published": False}
    assert fields.touches({"title": "x"}) and not fields.touches({"other": 1})


def test_discounts_are_a_share_off_or_a_sum_off_in_the_schools_currency() -> None:
    words = Discounts(percent="percentage", amount="fixed")
    assert words.to_vendor({"percent": 10}) == ("percentage", Decimal(10))
    assert words.to_vendor({"amount": "5.50", "currency": "EUR"}) == ("fixed", Decimal("5.50"))
    assert words.from_vendor("fixed", 5, "EUR") == {"amount": 5, "currency": "EUR"}
    assert words.from_vendor("other", 5, "EUR") == {"amount": 5, "currency": "EUR"}
    assert Discounts("p", "f", otherwise="percent").from_vendor(None, 5, "EUR") == {"percent": 5}
    assert Discounts.check({"discount": {"amount": 5}}) == [
        ("discount", "a fixed discount needs its currency")]
    assert Discounts.check({"discount": {"percent": 5}}) == []
