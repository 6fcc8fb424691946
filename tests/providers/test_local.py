"""The embedded LMS behaves like a real one: own ids, server fields, integrity rules."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lmsform.config import load_config
from lmsform.errors import ProviderError
from lmsform.providers.base import Provider
from lmsform.providers.local import LocalProvider, LocalSettings
from lmsform.providers.local.handlers import _insert_rows
from lmsform.testing import ProviderConformance, Sample
from tests.support import Org


@pytest.fixture
def lms(tmp_path: Path) -> LocalProvider:
    provider = LocalProvider(LocalSettings(type="local", path="lms.sqlite"), tmp_path)
    yield provider
    provider.close()


def hierarchy(lms: LocalProvider) -> str:
    region = lms.create("region", {"name": "EMEA"})
    division = lms.create("division", {"name": "Ops", "region": region})
    return lms.create("department", {"name": "Finance", "division": division})


def test_listing_a_missing_file_creates_nothing(lms: LocalProvider) -> None:
    assert lms.list_all("user") == []
    assert not lms.path.exists()


def test_create_assigns_ids_and_fills_defaults(lms: LocalProvider) -> None:
    department = hierarchy(lms)
    group = lms.create("group", {"name": "Managers"})
    user_id = lms.create("user", {"email": "Ada@Example.com", "department": department,
                                  "groups": [group], "password": "s3cret"})
    (user,) = lms.list_all("user")
    assert user.id == user_id
    assert user.attrs["department"] == department and user.attrs["groups"] == [group]
    assert user.attrs["active"] is True and "password" not in user.attrs
    assert user.attrs["role"] == "learner"


def test_values_repeated_across_a_listing_are_one_string(lms: LocalProvider) -> None:
    department = hierarchy(lms)
    group = lms.create("group", {"name": "Managers"})
    for email in ("ada@example.com", "bob@example.com"):
        lms.create("user", {"email": email, "department": department, "groups": [group],
                            "job_title": "Engineer"})
    ada, bob = lms.list_all("user")
    for field in ("department", "role", "job_title"):
        assert ada.attrs[field] == bob.attrs[field] and ada.attrs[field] is bob.attrs[field]
    assert ada.attrs["groups"][0] is bob.attrs["groups"][0]


def test_emails_are_unique_case_insensitively(lms: LocalProvider) -> None:
    lms.create("user", {"email": "ada@example.com"})
    with pytest.raises(ProviderError, match="another resource already has this email"):
        lms.create("user", {"email": "ADA@example.com"})


def test_a_department_with_users_cannot_be_deleted(lms: LocalProvider) -> None:
    department = hierarchy(lms)
    lms.create("user", {"email": "ada@example.com", "department": department})
    with pytest.raises(ProviderError, match="still in use") as caught:
        lms.delete("department", department)
    assert caught.value.call == f"delete department {department}"


def test_updates_replace_memberships_and_merge_custom_fields(lms: LocalProvider) -> None:
    a, b = lms.create("group", {"name": "A"}), lms.create("group", {"name": "B"})
    user = lms.create("user", {"email": "u@example.com", "groups": [a],
                               "custom": {"badge": 1, "cc": "X"}})
    lms.update("user", user, {"groups": [b], "custom": {"cc": "Y"}}, {"groups": [a]})
    (live,) = lms.list_all("user")
    assert live.attrs["groups"] == [b]
    assert live.attrs["custom"] == {"badge": 1, "cc": "Y"}


def test_deleting_something_missing_is_a_404(lms: LocalProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        lms.delete("group", "999")
    assert caught.value.status == 404


def test_courses_keep_prices_and_coupons_their_discounts(lms: LocalProvider) -> None:
    course = lms.create("course", {"key": "k", "title": "K", "published": True,
                                   "pricing": {"std": {"amount": "9.00", "currency": "USD",
                                                       "billing": "one_time"}}})
    lms.create("coupon", {"code": "X", "discount": {"amount": "5.00", "currency": "USD"},
                          "courses": [course]})
    (live_course,) = lms.list_all("course")
    assert live_course.attrs["pricing"] == [
        {"plan": "std", "amount": "9.00", "currency": "USD", "billing": "one_time"}]
    (coupon,) = lms.list_all("coupon")
    assert coupon.attrs["discount"] == {"amount": "5.00", "currency": "USD"}
    assert coupon.attrs["courses"] == [course]


def test_a_listing_holds_each_kinds_fields_and_nothing_the_lms_keeps_for_itself(
        lms: LocalProvider) -> None:
    department = hierarchy(lms)
    course = lms.create("course", {"key": "k", "title": "K"})
    group = lms.create("group", {"name": "G", "courses": [course]})
    lms.create("user", {"email": "u@example.com", "department": department, "groups": [group],
                        "password": "s3cret"})
    lms.create("coupon", {"code": "P", "discount": {"percent": "10"}, "courses": [course]})
    fields = {kind: set(lms.list_all(kind)[0].attrs) for kind in
              ("region", "division", "department", "course", "group", "user", "coupon")}
    assert fields == {
        "region": {"name"}, "division": {"name", "region"},
        "department": {"name", "division"},
        "course": {"key", "title", "description", "credits", "categories", "custom",
                   "published", "pricing"},
        "group": {"name", "description", "courses"},
        "user": {"email", "first_name", "last_name", "username", "employee_id", "job_title",
                 "role", "department", "groups", "enrollments", "custom", "active"},
        "coupon": {"code", "usage_limit", "expires", "courses", "discount"},
    }
    assert lms.list_all("coupon")[0].attrs["discount"] == {"percent": "10"}
    assert lms.list_all("user")[0].attrs["department"] == department


def test_deactivate_switches_a_user_off(lms: LocalProvider) -> None:
    user = lms.create("user", {"email": "u@example.com"})
    lms.deactivate("user", user)
    assert lms.list_all("user")[0].attrs["active"] is False


def test_a_path_that_is_a_directory_or_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    (tmp_path / "junk.sqlite").write_text("not a database")
    for name, reason in (("dir.sqlite", "it is a directory"),
                         ("junk.sqlite", "file is not a database")):
        lms = LocalProvider(LocalSettings(type="local", path=name), tmp_path)
        with pytest.raises(ProviderError, match=f"opening .*{name}: {reason}"):
            lms.list_all("user")
        lms.close()


def test_reading_writes_nothing_beside_the_lms_file(tmp_path: Path) -> None:
    lms = LocalProvider(LocalSettings(type="local", path="lms.sqlite"), tmp_path)
    lms.create("region", {"name": "EMEA"})
    lms.close()
    before = (tmp_path / "lms.sqlite").read_bytes()
    reader = LocalProvider(LocalSettings(type="local", path="lms.sqlite"), tmp_path)
    assert [r.attrs["name"] for r in reader.list_all("region")] == ["EMEA"]
    reader.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lms.sqlite"]
    assert (tmp_path / "lms.sqlite").read_bytes() == before


def test_a_batch_without_refusals_makes_every_resource(lms: LocalProvider) -> None:
    made = lms.create_many("group", [{"name": f"G{i}"} for i in range(3)])
    assert all(isinstance(m, str) for m in made)
    assert {g.id: g.attrs["name"] for g in lms.list_all("group")} == {
        made[0]: "G0", made[1]: "G1", made[2]: "G2"}


@pytest.mark.parametrize("parameters", [None, 5])
def test_a_batch_holds_what_creates_one_at_a_time_hold(tmp_path: Path,
                                                       parameters: int | None) -> None:
    """A batch is written a statement of many rows per table: its ids, rows, links and
    prices are the ones the same creates made one at a time get, ids past the largest ever
    given. Also where SQLite takes so few parameters a statement (`parameters`) that a
    user's row is a statement of its own and a link table's takes two rows at a time."""
    def made(batched: bool) -> list[tuple[str, list[tuple[str, dict]]]]:
        lms = LocalProvider(LocalSettings(type="local", path=f"{batched}.sqlite"), tmp_path)
        try:
            department = hierarchy(lms)
            if parameters is not None:
                lms.db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, parameters)
            groups = [lms.create("group", {"name": name}) for name in ("A", "B")]
            lms.delete("group", lms.create("group", {"name": "Gone"}))  # its id: never again
            courses = [{"key": f"c-{i}", "title": f"Course {i}", "published": i % 2 == 0,
                        "pricing": {"std": {"amount": f"{i}9.00", "currency": "EUR",
                                            "billing": "one_time"}}} for i in range(3)]
            users = [{"email": f"u{i}@example.com", "first_name": f"U{i}",
                      "groups": groups[:i], "custom": {"n": i}} for i in range(3)]
            users.append({"email": "d@example.com", "department": department,
                          "active": False})
            for kind, items in (("course", courses), ("group", [{"name": "C"}])):
                ids = lms.create_many(kind, items) if batched else \
                    [lms.create(kind, item) for item in items]
                assert all(isinstance(i, str) for i in ids)
            course_ids = [c.id for c in lms.list_all("course")]
            for user in users[:2]:
                user["enrollments"] = course_ids[:2]
            ids = lms.create_many("user", users) if batched else \
                [lms.create("user", user) for user in users]
            assert all(isinstance(i, str) for i in ids)
            return [(kind, sorted((live.id, live.attrs) for live in lms.list_all(kind)))
                    for kind in ("course", "group", "user")]
        finally:
            lms.close()

    one_by_one = made(batched=False)
    assert made(batched=True) == one_by_one
    users = dict(one_by_one)["user"]
    assert [user["groups"] for _, user in users] == [[], ["1"], ["1", "2"], []]
    assert [group["name"] for _, group in dict(one_by_one)["group"]] == ["A", "B", "C"]
    assert dict(one_by_one)["group"][2][0] == "4"  # past the deleted one


def test_a_batch_that_breaks_on_something_else_than_a_refusal_makes_nothing(
        lms: LocalProvider) -> None:
    lms.create("region", {"name": "EMEA"})  # the file exists
    with pytest.raises(ValueError):
        lms.create_many("user", [{"email": "a@example.com"},
                                 {"email": "b@example.com", "department": "not an id"}])
    assert lms.list_all("user") == []


def test_creates_in_a_batch_are_one_transaction_and_fail_one_by_one(org: Org) -> None:
    provider = LocalProvider(load_config(org.dir).provider, org.dir)
    try:
        made = provider.create_many("user", [
            {"email": "a@example.com", "first_name": "A"},
            {"email": "b@example.com", "first_name": "B"},
            {"email": "A@example.com", "first_name": "Again"},  # emails ignore case
            {"email": "c@example.com", "first_name": "C"}])
        assert [type(m) for m in made] == [str, str, ProviderError, str]
        assert "conflict: another resource already has this email" in str(made[2])
        assert sorted(u.attrs["email"] for u in provider.list_all("user")) == [
            "a@example.com", "b@example.com", "c@example.com"]
    finally:
        provider.close()


LOCAL_SAMPLES = [
    Sample("region", {"name": "Conformance"}, {"name": "Conformance Region"}),
    Sample("division", {"name": "Sales", "region": "Conformance"}),
    Sample("department", {"name": "Inside", "division": "Conformance/Sales"}),
    Sample("course", {"key": "c-101", "title": "Course", "published": True, "credits": 2,
                      "pricing": {"std": {"amount": "49.00", "currency": "USD",
                                          "billing": "one_time"}}},
           {"title": "Course, revised"}),
    Sample("group", {"name": "Team", "description": "x", "courses": ["c-101"]},
           {"courses": []}),
    Sample("user", {"email": "ada@example.com", "first_name": "Ada", "role": "learner",
                    "department": "Conformance/Sales/Inside", "groups": ["Team"],
                    "enrollments": ["c-101"], "active": True, "password": "s3cret-Pass"},
           {"first_name": "Augusta", "groups": []}),
    Sample("coupon", {"code": "TEN", "discount": {"percent": "10"}, "courses": ["c-101"],
                      "usage_limit": 5}, {"usage_limit": 6}),
]


class TestLocalConforms(ProviderConformance):
    def make_provider(self, request: pytest.FixtureRequest) -> Provider:
        return LocalProvider(LocalSettings(type="local", path="lms.sqlite"),
                             request.getfixturevalue("tmp_path"))

    def samples(self) -> list[Sample]:
        return LOCAL_SAMPLES


@pytest.mark.parametrize(("count", "parameters", "most"), [
    (0, None, 256), (1, None, 256), (7, None, 256), (255, None, 256), (256, None, 256),
    (257, None, 256), (500, None, 256), (1000, None, 256), (1000, 200, 100), (7, 5, 2)])
def test_rows_go_in_statements_of_many_rows_from_a_handful_of_spellings(
        count: int, parameters: int | None, most: int) -> None:
    """Every row, in order: statements of `most` rows (256, or fewer where SQLite takes
    fewer parameters a statement), then the rest in powers of two, so that SQLite compiles
    a few statements whatever the batches' sizes."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    if parameters is not None:
        db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, parameters)
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    rows = [(i, f"row {i}") for i in range(count)]

    _insert_rows(db, "t", ("a", "b"), rows)

    db.set_trace_callback(None)
    assert db.execute("SELECT a, b FROM t ORDER BY rowid").fetchall() == rows
    sizes = [s.count("(") - 1 for s in statements if s.startswith("INSERT")]
    full = count // most
    assert sizes[:full] == [most] * full
    rest = sizes[full:]
    assert sum(rest) == count % most and rest == sorted(rest, reverse=True)
    assert all(0 < size < most and size & (size - 1) == 0 for size in rest)
    assert len(set(rest)) == len(rest)  # each power of two once
