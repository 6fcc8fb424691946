"""`braincert`: BrainCert LMS, through its API v1.

BrainCert sells courses: this provider manages users, groups (create, add members), courses
(with publishing, enrollments and pricing plans) and discounts. Every answer is an envelope
`{"message", "data"}` and errors are `{"message", "error": {"code", "details"}}`; listings
are POSTs with `page` and `limit` (at most 100) in the body, answering `total` beside `data`.

The document lists endpoints but not their bodies: the request names below are the project's
documented assumption (docs/providers/braincert.md). Answers are read liberally (`id` or
`user_id`, `name` or `title`...), since the document shows only one of them.

The guide documents no order for its lists: a record created or deleted between two pages is
caught by the shared pager, which reads the listing again. A create answered "already exists"
(a taken email, a discount code used again) is adopted once a read by that key finds it.

What the API cannot do is declared, so that it is a plan-time error and never a surprise:
users have no update (names are fixed once created) and no deactivation; group members can be
added but not removed, and groups not deleted; a discount cannot be changed, so a changed
coupon is replaced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field, SecretStr

from lmsform.errors import LmsformError
from lmsform.providers.answers import Envelope
from lmsform.providers.auth import StaticHeaders
from lmsform.providers.base import Handler
from lmsform.providers.http import HttpClient, HttpProviderSettings
from lmsform.providers.paging import Pages
from lmsform.providers.records import Discounts, FieldMap, day, numeric, pick, record_id, records
from lmsform.providers.toolkit import Call, HttpProvider, gone
from lmsform.providers.urls import segment
from lmsform.resources import LiveResource, decimal_text

DEFAULT_BASE_URL = "https://lms.braincert.com/api/v1"
# The guide documents no order for its lists: a record created or deleted between two pages
# is caught by the shared pager (records known by id), which reads the listing again.
PAGES = Pages(size=100, page_param="page", size_param="limit", send_in="json", items="data",
              total_items="total", total_header=None)
# Billing as lmsform writes it -> BrainCert's pricing `type` and `interval`.
BILLING = {"one_time": ("one_time", None), "monthly": ("subscription", "month"),
           "yearly": ("subscription", "year")}
COUPON_SEPARATOR = "+"  # a coupon for several courses is one discount per course: ids joined
DISCOUNTS = Discounts(percent="percent", amount="fixed")
COURSE = FieldMap({"title": "name", "description": "description", "published": "status"},
                  write={"description": lambda text: text or "",
                         "published": lambda on: "published" if on else "unpublished"})


class BraincertAnswers(Envelope):
    """BrainCert's envelope; a duplicate (a taken email or username, a discount code used
    again) is a 400 saying "... already exists"."""

    taken_statuses = (400,)
    taken_words = ("already exists",)


class BraincertSettings(HttpProviderSettings):
    api_key: SecretStr  # sent as `Authorization: <key>` (no scheme)
    domain_id: SecretStr  # sent as `x-domain-id`
    # BrainCert's fixed-amount discounts carry no currency: they are in the school's own
    discount_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")


class Users(Handler["BraincertProvider"]):
    """Created with their groups and enrollments, which are all that can change after."""

    fields = frozenset({"email", "username", "first_name", "last_name", "password", "groups",
                        "enrollments"})
    fixed_fields = frozenset({"email", "username", "first_name", "last_name"})
    grow_only_fields = frozenset({"groups"})
    advice = "BrainCert's API has no user update."

    def list_all(self) -> list[LiveResource]:
        lms = self.lms
        members = lms._by_user("members", "group", lms._groups(), lms._members_of)
        enrolled = lms._by_user("enrolled", "course", lms._courses(), lms._enrolled_in)
        return [LiveResource(_id(u, "user"), {
            "email": u.get("email"), "username": u.get("username"),
            "first_name": pick(u, "first_name", "firstname"),
            "last_name": pick(u, "last_name", "lastname"),
            "groups": members.get(_id(u, "user"), []),
            "enrollments": enrolled.get(_id(u, "user"), []),
        }) for u in lms._pages("/users/list", "user")]

    def create(self, attrs: dict[str, Any]) -> str:
        email = str(attrs["email"])
        body = {"username": attrs.get("username") or email, "email": email,
                "first_name": attrs.get("first_name") or "",
                "last_name": attrs.get("last_name") or ""}
        if attrs.get("password"):
            body["password"] = attrs["password"]
        user = self.lms._made("/users/create", "user", body, lambda: self._by_email(email))
        self.update(user, {"groups": attrs.get("groups") or [],
                           "enrollments": attrs.get("enrollments") or []}, {})
        return user

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        """Only links change: members are added (never removed), enrollments both ways."""
        lms = self.lms
        if "groups" in changes:
            lms._sync(changes["groups"] or [], before.get("groups") or [],
                      add=lambda g: Call("POST", "/groups/addUser",
                                         json={"group_id": numeric(g), "user_id": numeric(id)}),
                      remove=_no_removal, present=lambda g: id in lms._members_of(g))
        if "enrollments" in changes:
            def body(course: str) -> dict[str, Any]:
                return {"course_id": numeric(course), "user_id": numeric(id)}

            lms._sync(changes["enrollments"] or [], before.get("enrollments") or [],
                      add=lambda c: Call("POST", "/courses/enroll", json=body(c)),
                      remove=lambda c: Call("POST", "/courses/unenroll", json=body(c)),
                      present=lambda c: id in lms._enrolled_in(c))

    def delete(self, id: str) -> None:
        self.lms.http.request("DELETE", "/users/delete", safe=True,
                              json={"user_id": numeric(id)}, already_done=gone)

    def _by_email(self, email: str) -> str | None:
        record = self.lms._record(f"/users/getuserbyEmail/{segment(email)}")
        if record is None or str(record.get("email")).lower() != email.lower():
            return None  # only a user with this very email confirms it
        return _id(record, "user")


class Groups(Handler["BraincertProvider"]):
    fields = frozenset({"name", "description"})
    advice = "BrainCert's API cannot change or delete groups: do it in BrainCert."

    def list_all(self) -> list[LiveResource]:
        return [LiveResource(_id(g, "group"), {"name": g.get("name"),
                                               "description": g.get("description") or ""})
                for g in self.lms._groups()]

    def create(self, attrs: dict[str, Any]) -> str:
        body = {"name": attrs["name"], "description": attrs.get("description") or ""}
        return self.lms._create_named("/groups/create", "/groups/list", "group", body,
                                      lambda g: g.get("name"))


class Courses(Handler["BraincertProvider"]):
    """Courses with their pricing plans."""

    fields = frozenset({"title", "description", "published", "pricing"})

    def list_all(self) -> list[LiveResource]:
        lms = self.lms
        courses = lms._courses()
        pricing = lms._each(courses, lambda c: lms._pricing(_id(c, "course")))
        return [LiveResource(_id(c, "course"), {**_course_attrs(c), "pricing": _plans(p)})
                for c, p in zip(courses, pricing, strict=True)]

    def create(self, attrs: dict[str, Any]) -> str:
        course = self.lms._create_named("/courses/create", "/courses/list", "course",
                                        COURSE.to_vendor(attrs),
                                        lambda c: pick(c, "name", "title"))
        self._set_pricing(course, attrs.get("pricing") or {}, {})
        return course

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        if COURSE.touches(changes):
            self.lms.http.request("PUT", "/courses/update", safe=True,
                                  json={"course_id": numeric(id), **COURSE.to_vendor(changes)})
        if "pricing" in changes:
            self._set_pricing(id, changes["pricing"] or {}, before.get("pricing") or {})

    def delete(self, id: str) -> None:
        self.lms.http.request("DELETE", f"/courses/delete/{segment(id)}", safe=True,
                              already_done=gone)

    def _set_pricing(self, course: str, after: dict[str, Any], before: dict[str, Any]) -> None:
        """Plans are removed and added again (the API has no change): only those that differ."""
        stale = [plan for plan in before if before[plan] != after.get(plan)]
        if stale:
            ids = {p.get("plan_name"): pick(p, "pricing_id", "id")
                   for p in self.lms._pricing(course)}
            for plan in stale:
                if ids.get(plan) is not None:
                    self.lms.http.request("DELETE", "/shoppingCart/courses/deletepricing",
                                          safe=True, json={"pricing_id": numeric(str(ids[plan]))},
                                          already_done=gone)
        for plan, price in after.items():
            if before.get(plan) != price:
                self._add_plan(course, plan, price)

    def _add_plan(self, course: str, plan: str, price: dict[str, Any]) -> None:
        kind, interval = BILLING[price.get("billing") or "one_time"]
        body = {"course_id": numeric(course), "plan_name": plan,
                "price": float(decimal_text(price["amount"], 2)), "type": kind,
                "currency": price["currency"]}
        if interval:
            body["interval"] = interval
        self.lms.http.request(
            "POST", "/shoppingCart/courses/addpricing", safe=False, json=body,
            landed=lambda: True if any(p.get("plan_name") == plan
                                       for p in self.lms._pricing(course)) else None)


class Coupons(Handler["BraincertProvider"]):
    """One discount per course a coupon names (one global discount when it names none),
    under one code: the coupon's id joins theirs. A discount cannot be changed."""

    fields = frozenset({"code", "discount", "courses", "usage_limit", "expires"})

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        return DISCOUNTS.check(attrs)

    def list_all(self) -> list[LiveResource]:
        """Discounts with one code grouped into one coupon: global, or for listed courses."""
        lms = self.lms
        courses = [_id(c, "course") for c in lms._courses()]
        per_course = lms._each(courses, lambda c: self._discounts(c))
        scoped: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for course, discounts in zip(courses, per_course, strict=True):
            for d in discounts:
                scoped[str(d.get("code"))].append((course, d))
        coupons = [self._coupon([d], None) for d in self._discounts(None)]
        coupons += [self._coupon([d for _, d in pairs], sorted(c for c, _ in pairs))
                    for pairs in scoped.values()]
        return coupons

    def create(self, attrs: dict[str, Any]) -> str:
        courses = attrs.get("courses")
        scopes: list[str | None] = list(courses) if courses else [None]
        return _coupon_id(self._add_discount(attrs, c) for c in scopes)

    def delete(self, id: str) -> None:
        for discount in id.split(COUPON_SEPARATOR):
            self.lms.http.request("DELETE", f"/discounts/removeCourseDiscount/{segment(discount)}",
                                  safe=True, already_done=gone)

    def _discounts(self, course: str | None) -> list[dict[str, Any]]:
        """A course's discounts; the global ones for None."""
        path = ("/discounts/globaldiscounts/list" if course is None
                else f"/discounts/courses/{segment(course)}")
        return records(self.lms.http.call("GET", path, safe=True), "items", "data")

    def _coupon(self, discounts: list[dict[str, Any]], courses: list[str] | None
                ) -> LiveResource:
        first = discounts[0]
        attrs = {"code": first.get("code"),
                 "discount": DISCOUNTS.from_vendor(first.get("discount_type"),
                                                   first.get("value"),
                                                   self.lms.settings.discount_currency),
                 "courses": courses, "usage_limit": first.get("usage_limit"),
                 "expires": first.get("expiry") or None}
        return LiveResource(_coupon_id(_id(d, "discount") for d in discounts), attrs)

    def _add_discount(self, attrs: dict[str, Any], course: str | None) -> str:
        kind, value = DISCOUNTS.to_vendor(attrs["discount"])
        body = {"code": attrs["code"], "discount_type": kind, "value": float(value),
                "course_id": None if course is None else numeric(course),
                "usage_limit": attrs.get("usage_limit"), "expiry": day(attrs.get("expires"))}
        return self.lms._made("/discounts/addCourseDiscount", "discount", body, lambda: next(
            (_id(d, "discount") for d in self._discounts(course) if d.get("code") ==
             attrs["code"]), None))


class BraincertProvider(HttpProvider):
    type_name = "braincert"
    description = "BrainCert LMS API v1: users, groups, courses with pricing, discounts"
    settings_model = BraincertSettings
    handlers = {"course": Courses, "group": Groups, "user": Users, "coupon": Coupons}

    def __init__(self, settings: BraincertSettings, config_dir: Path,
                 transport: httpx.BaseTransport | None = None) -> None:
        auth = StaticHeaders({"Authorization": settings.api_key.get_secret_value(),
                              "x-domain-id": settings.domain_id.get_secret_value()},
                             secret_names=frozenset({"Authorization", "x-domain-id"}))
        http = HttpClient(settings.base_url or DEFAULT_BASE_URL, auth, settings,
                          classifier=BraincertAnswers(), transport=transport)
        super().__init__(settings, config_dir, http, PAGES)
        self.settings: BraincertSettings = settings

    def identity(self) -> str:
        return f"braincert:{self.http.base_url}"

    # reading, shared by the kinds

    def _pages(self, path: str, kind: str, **body: Any) -> list[dict[str, Any]]:
        """A whole listing of records of `kind`, known by `id` (or `<kind>_id`)."""
        return self._listing(path, method="POST", json=body or None,
                             id_field=("id", f"{kind}_id"))

    def _groups(self) -> list[dict[str, Any]]:
        return self._cached("groups", lambda: self._pages("/groups/list", "group"))

    def _courses(self) -> list[dict[str, Any]]:
        return self._cached("courses", lambda: self._pages("/courses/list", "course"))

    def _by_user(self, name: str, kind: str, owners: list[dict[str, Any]],
                 users_of: Callable[[str], set[str]]) -> dict[str, list[str]]:
        """user id -> ids of the groups (courses) listing them, one paged call per owner."""
        return self._cached(name, lambda: self._by_member([_id(o, kind) for o in owners],
                                                          users_of))

    def _members_of(self, group: str) -> set[str]:
        return {_id(u, "user") for u in self._pages("/groups/listallusers", "user",
                                                    group_id=numeric(group))}

    def _enrolled_in(self, course: str) -> set[str]:
        return {_id(u, "user") for u in self._pages("/users/listUsersenrolledincourse",
                                                    "user", course_id=numeric(course))}

    def _pricing(self, course: str) -> list[dict[str, Any]]:
        found = self.http.call("GET", f"/shoppingCart/courses/pricing/{segment(course)}",
                               safe=True)
        return records(found, "items", "data")

    # creating

    def _create_named(self, path: str, listing: str, kind: str, body: dict[str, Any],
                      name_of: Callable[[dict[str, Any]], Any]) -> str:
        """Create a group or course, confirming a lost answer (or an 'already exists') by
        looking for its name in a new `listing`."""
        self._forget(f"{kind}s")
        return self._made(path, kind, body, lambda: next(
            (_id(r, kind) for r in self._pages(listing, kind) if name_of(r) == body["name"]),
            None))

    def _made(self, path: str, kind: str, body: dict[str, Any],
              find: Callable[[], str | None]) -> str:
        """A create; the id it left: `id`, or named after the kind (`user_id`)."""
        return self._create("POST", path, json=body, find=find, keys=("id", f"{kind}_id"))


def _coupon_id(discounts: Iterable[str]) -> str:
    """One id for a coupon's discounts, the same however they were listed or created."""
    return COUPON_SEPARATOR.join(sorted(discounts, key=lambda d: (len(d), d)))


def _no_removal(item: str) -> Call:
    raise LmsformError("BrainCert's API cannot remove a group member")  # the planner refuses


def _id(record: dict[str, Any], kind: str) -> str:
    return record_id(record, "BrainCert", "id", f"{kind}_id")


def _course_attrs(course: dict[str, Any]) -> dict[str, Any]:
    status = str(course.get("status", "")).lower()
    published = course.get("is_published")
    return {"title": pick(course, "name", "title"),
            "description": course.get("description") or "",
            "published": bool(published) if published is not None else status == "published"}


def _plans(pricing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BrainCert pricing plans as lmsform writes them (billing from type and interval)."""
    billing = {value: key for key, value in BILLING.items()}
    return [{"plan": p.get("plan_name"), "amount": p.get("price"),
             "currency": p.get("currency"),
             "billing": billing.get((str(p.get("type")),
                                     p.get("interval") if p.get("type") == "subscription"
                                     else None), "one_time")}
            for p in pricing]
