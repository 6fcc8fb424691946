"""Providers by kind: a provider's capabilities are derived from its handlers, calls naming a
kind reach that kind's handler, and what a handler does not define is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lmsform import providers
from lmsform.errors import LmsformError
from lmsform.providers.base import Handler, KindSupport, Provider, ProviderSettings
from lmsform.resources import SCHEMAS, LiveResource


class Groups(Handler["Demo"]):
    """Listed and created, never changed nor deleted."""

    fields = frozenset({"name"})
    advice = "Change groups in the vendor's admin UI."

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        return [("name", "too long")] if len(attrs.get("name", "")) > 5 else []

    def list_all(self) -> list[LiveResource]:
        return [LiveResource(i, dict(a)) for i, a in self.lms.groups.items()]

    def create(self, attrs: dict[str, Any]) -> str:
        self.lms.groups[str(len(self.lms.groups) + 1)] = attrs
        return str(len(self.lms.groups))


class Users(Handler["Demo"]):
    """Read one by one and found by email; switched off, never deleted."""

    unlisted_fields = frozenset({"active"})

    def read(self, ids: list[str]) -> list[LiveResource]:
        return [LiveResource(i, {"email": f"{i}@example.com"}) for i in ids]

    def find(self, key: str) -> LiveResource | None:
        return None

    def deactivate(self, id: str) -> None:
        self.lms.off.append(id)


class Demo(Provider):
    type_name = "demo"
    handlers = {"group": Groups, "user": Users}
    external_kinds = frozenset({"course"})

    def __init__(self) -> None:
        super().__init__(ProviderSettings(type="demo"), Path("."))
        self.groups: dict[str, dict[str, Any]] = {}
        self.off: list[str] = []

    def identity(self) -> str:
        return "demo"


def test_capabilities_are_what_the_handlers_define() -> None:
    caps = Demo.capabilities  # from the class: offline, as validate reads them
    assert list(caps.kinds) == ["group", "user"] and caps.external_kinds == {"course"}
    assert caps.kinds["group"] == KindSupport(
        fields=frozenset({"name"}), create=True, update=False, delete=False,
        advice="Change groups in the vendor's admin UI.")
    users = caps.kinds["user"]
    assert (users.listable, users.create, users.update, users.delete, users.deactivate) == \
        (False, False, False, False, True)
    assert users.fields == frozenset(SCHEMAS["user"].fields)  # none declared: the kind's
    assert users.unlisted_fields == {"active"}
    assert caps.operations("user") == ["deactivate"]


def test_calls_naming_a_kind_reach_its_handler() -> None:
    demo = Demo()
    assert demo.create("group", {"name": "Ops"}) == "1"
    assert [(g.id, g.attrs) for g in demo.list_all("group")] == [("1", {"name": "Ops"})]
    assert [u.attrs for u in demo.read("user", ["7"])] == [{"email": "7@example.com"}]
    assert demo.find("user", "ada@example.com") is None
    demo.deactivate("user", "7")
    assert demo.off == ["7"]
    assert Demo.check("group", {"name": "Operations"}) == [("name", "too long")]
    assert Demo.check("coupon", {"code": "X"}) == []  # a kind it does not manage: no rules


def test_what_a_handler_does_not_define_is_refused() -> None:
    demo = Demo()
    with pytest.raises(LmsformError, match=r"^the demo provider cannot delete groups$"):
        demo.delete("group", "1")
    with pytest.raises(LmsformError, match=r"^the demo provider cannot list users$"):
        demo.list_all("user")
    with pytest.raises(LmsformError, match=r"^the demo provider does not manage coupons$"):
        demo.create("coupon", {"code": "X"})
    assert demo.match_keys("coupon", {}) == [] and demo.normalise("coupon", {"a": 1}) == {"a": 1}


@pytest.mark.parametrize(("declared", "message"), [
    ({}, "neither lists nor reads by id and finds by key"),
    ({"list_all": lambda self: [], "unlisted_fields": frozenset({"active"})},
     "unlisted_fields need read"),
    ({"list_all": lambda self: [], "batch_create": 10}, "batch_create and create_many"),
    ({"list_all": lambda self: [], "create_many": lambda self, items: []},
     "batch_create and create_many"),
])
def test_handlers_that_contradict_themselves_are_refused(declared: dict[str, Any],
                                                         message: str) -> None:
    wrong = type("Wrong", (Handler,), declared)
    with pytest.raises(TypeError, match=message):
        wrong.support("user")


@pytest.mark.parametrize(("declared", "message"), [
    ({"member_access": frozenset({"description"})},
     "member_access names description, which is no reference field it stores"),
    ({"fields": frozenset({"name"}), "member_access": frozenset({"courses"})},
     "member_access names courses, which is no reference field it stores"),
])
def test_member_access_must_name_a_reference_the_handler_stores(declared: dict[str, Any],
                                                               message: str) -> None:
    wrong = type("Wrong", (Handler,), {"list_all": lambda self: [], **declared})
    with pytest.raises(TypeError, match=message):
        wrong.support("group")


def test_member_access_needs_a_kind_that_stores_membership() -> None:
    """A group that gives its members its courses, where no kind holds members of groups:
    refused when the capabilities are derived, offline."""
    class Giving(Handler["Demo"]):
        fields = frozenset({"name", "courses"})
        member_access = frozenset({"courses"})

        def list_all(self) -> list[LiveResource]:
            return []

    class Loners(Users):
        fields = frozenset({"email", "enrollments"})

    alone = type("Alone", (Demo,), {"handlers": {"group": Giving, "user": Loners}})
    with pytest.raises(TypeError, match=r"Giving \(group\): member_access, but no kind the "
                                        r"provider supports stores membership of groups"):
        _ = alone.capabilities
    joined = type("Joined", (Demo,), {"handlers": {"group": Giving, "user": Users}})
    assert joined.capabilities.kinds["group"].member_access == {"courses"}


def test_every_installed_provider_derives_its_capabilities() -> None:
    for name, cls in providers.available().items():
        caps = cls.capabilities
        assert caps.kinds, name
        for kind, support in caps.kinds.items():
            handler = cls.handlers[kind]
            assert support == handler.support(kind)
            assert support.delete == handler.defines("delete")
