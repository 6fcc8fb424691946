"""An entry validated into a plain dict (`PlainEntries`, for files without `${...}`) declares
what its model declares, and is refused wherever its model refuses it.

The entries are the examples' own, each changed by hypothesis: a field dropped, set to a
value of another field or of another type, or one the model does not know added."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError, field_validator, model_validator

from lmsform import kinds
from lmsform.kinds import Kind
from lmsform.manifest import PlainEntries, Strict
from lmsform.yamlfile import YamlFile

EXAMPLES = Path(__file__).parent.parent / "examples"


def _example_entries() -> dict[str, list[dict[str, Any]]]:
    """Every entry of each kind's section in the examples, by section."""
    found: dict[str, list[dict[str, Any]]] = {s: [] for s in kinds.sections()}
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        data = YamlFile(path).load()
        if isinstance(data, dict):
            for section, entries in found.items():
                entries.extend(e for e in data.get(section) or () if isinstance(e, dict))
    return found


ENTRIES = _example_entries()
PLAIN = {section: kind for section, kind in kinds.sections().items()
         if kind.plain_entries is not None}
ODD_VALUES = st.one_of(
    st.sampled_from(["", "  ", " padded ", "a/b", "admin", "nobody", "x@y", "Ada@Example.COM",
                     "2026-01-01", "c-1", "-bad", "é", "not an email"]),
    st.integers(-2, 2**60), st.floats(allow_nan=True), st.booleans(), st.none(),
    st.lists(st.sampled_from(["Sales", "c-1", "a/b", "", 7, None,
                              {"course": "c-1", "until": "2030-01-01"}]), max_size=3),
    st.fixed_dictionaries({"course": st.sampled_from(["c-1", "-bad"])}),
    st.fixed_dictionaries({"prevent_destroy": st.booleans()}),
    st.fixed_dictionaries({"ignore_changes": st.lists(st.sampled_from(["groups", "nope"]))}),
)


@st.composite
def changed_entries(draw: st.DrawFn, section: str) -> dict[str, Any]:
    entry = dict(draw(st.sampled_from(ENTRIES[section])))
    spec = kinds.sections()[section].spec
    assert spec is not None
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from([*spec.model_fields, "unknown_field"]))
        if name in entry and draw(st.booleans()):
            del entry[name]
        else:
            others = [e[name] for e in ENTRIES[section] if name in e]
            entry[name] = draw(st.sampled_from(others) if others and draw(st.booleans())
                               else ODD_VALUES)
    return entry


class _Said:
    """What declaring an entry said of it (`Declaring`)."""

    def __init__(self) -> None:
        self.said: list[tuple[Any, ...]] = []

    def error(self, loc: Any, message: str) -> None:
        self.said.append((loc, message))

    def literal_secret(self, loc: Any, what: str) -> None:
        self.said.append((loc, what))

    def where(self, loc: Any) -> str:
        return "file:1:1"

    def from_environment(self, loc: Any) -> bool:
        return False


ORIGIN = ("manifest.yaml", ("section", 0))


def _declared(kind: Kind, entry: dict[str, Any]) -> tuple[Any, ...] | None:
    """What an entry's model declares (`Kind.declare`): its one resource's parts, the
    time bounds included, and what was said of it; None where the model refuses it."""
    assert kind.spec is not None
    try:
        spec = kind.spec.model_validate(entry)
    except ValidationError:
        return None
    said = _Said()
    resources = list(kind.declare(spec, ORIGIN, said))
    assert len(resources) == 1, "a plain entry declares one resource"
    attrs, r = resources[0].attrs, resources[0]
    return attrs, list(attrs), r.secrets, r.lifecycle, r.timed, r.origin, said.said


def _plainly_declared(kind: Kind, plain: PlainEntries, entry: dict[str, Any]
                      ) -> tuple[Any, ...] | None:
    try:
        r = kind.resource_of(plain.adapter.validate_python(entry), ORIGIN)
    except ValidationError:
        return None
    return r.attrs, list(r.attrs), r.secrets, r.lifecycle, r.timed, r.origin, []


@pytest.mark.parametrize("section", sorted(PLAIN))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_plain_entry_declares_what_its_model_declares(section: str, data: st.DataObject
                                                        ) -> None:
    kind = PLAIN[section]
    plain = kind.plain_entries
    assert plain is not None
    entry = data.draw(changed_entries(section))
    if not (entry.keys().isdisjoint(plain.model_only) and kind.may_be_plain(entry)):
        return  # its model reads more of it than its fields' values
    # the same values, in the same order (the same plan text), and nothing said
    assert _plainly_declared(kind, plain, entry) == _declared(kind, entry)


def test_the_large_sections_have_plain_entries() -> None:
    """Users, groups and coupons, of which an organisation has thousands: a kind whose model
    gained a check across its fields (a model validator) would lose the faster path here."""
    assert {"users", "groups", "coupons"} <= PLAIN.keys()
    assert ENTRIES["users"] and ENTRIES["groups"] and ENTRIES["coupons"]


def test_an_entry_with_what_declare_reads_of_its_model_takes_the_model() -> None:
    user = kinds.get("user")
    assert user.may_be_plain({"email": "a@example.com", "enrollments": ["c-1"]})
    assert not user.may_be_plain({"email": "a@example.com", "password": "x"})
    assert not user.may_be_plain({"email": "a@example.com",
                                 "enrollments": ["c-1", {"course": "c-2", "until": "2027-01-01"}]})
    plain = user.plain_entries
    assert plain is not None and "active_until" in plain.model_only
    # a course's `declare` checks its pricing, and says of no entry that it needs nothing more
    assert kinds.get("course").plain_entries is None
    assert kinds.get("region").plain_entries is None


def test_a_nested_field_set_to_null_declares_null() -> None:
    """`enrollments: null` is null, as `groups: null` is (it once failed inside lmsform)."""
    user = kinds.get("user")
    assert user.spec is not None
    entry = {"email": "a@example.com", "enrollments": None}
    assert user.resource(user.spec.model_validate(entry), None).attrs["enrollments"] is None


class _Pair(Strict):
    first: str | None = None
    second: str | None = None


class _Checked(_Pair):
    @model_validator(mode="after")
    def _both_or_neither(self) -> _Checked:
        if (self.first is None) != (self.second is None):
            raise ValueError("both or neither")
        return self


class _Aliased(Strict):
    from_: str = Field(alias="from")


class _PostInit(_Pair):
    def model_post_init(self, context: Any) -> None:
        self.second = self.second or self.first


class _Everything(_Pair):
    @field_validator("*")
    @classmethod
    def _shout(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class _OwnNames(_Pair):
    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("first") == data.get("second"):
            raise ValueError("the same twice")
        return data


def test_a_model_that_does_more_than_check_its_fields_has_no_plain_entries() -> None:
    assert PlainEntries.of(_Everything) is None
    assert PlainEntries.of(_OwnNames) is None
    plain = PlainEntries.of(_Pair)
    assert plain is not None and plain.adapter.validate_python({"first": "a"}) == {"first": "a"}
    with pytest.raises(ValidationError):
        plain.adapter.validate_python({"first": "a", "third": "c"})
    assert PlainEntries.of(_Checked) is None
    assert PlainEntries.of(_Aliased) is None
    assert PlainEntries.of(_PostInit) is None
