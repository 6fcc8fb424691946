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
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from lmsform.errors import LmsformError
from lmsform.providers.auth import StaticHeaders
from lmsform.providers.base import Capabilities, KindSupport
from lmsform.providers.http import Envelope, HttpClient, HttpProviderSettings, segment
from lmsform.providers.paging import Pages
from lmsform.providers.toolkit import Call, HttpProvider
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


class BraincertProvider(HttpProvider):
    type_name = "braincert"
    description = "BrainCert LMS API v1: users, groups, courses with pricing, discounts"
    settings_model = BraincertSettings
    capabilities: ClassVar[Capabilities] = Capabilities(kinds={
        "course": KindSupport(fields=frozenset({"title", "description", "published",
                                                "pricing"})),
        "group": KindSupport(
            fields=frozenset({"name", "description"}), update=False, delete=False,
            advice="BrainCert's API cannot change or delete groups: do it in BrainCert."),
        "user": KindSupport(
            fields=frozenset({"email", "username", "first_name", "last_name", "password",
                              "groups", "enrollments"}),
            fixed_fields=frozenset({"email", "username", "first_name", "last_name"}),
            grow_only_fields=frozenset({"groups"}),
            advice="BrainCert's API has no user update."),
        "coupon": KindSupport(fields=frozenset({"code", "discount", "courses", "usage_limit",
                                                "expires"}), update=False),
    })

    def __init__(self, settings: BraincertSettings, config_dir: Path,
                 transport: httpx.BaseTransport | None = None) -> None:
        auth = StaticHeaders({"Authorization": settings.api_key.get_secret_value(),
                              "x-domain-id": settings.domain_id.get_secret_value()},
                             secret_names=frozenset({"Authorization", "x-domain-id"}))
        http = HttpClient(settings.base_url or DEFAULT_BASE_URL, auth, settings,
                          classifier=BraincertAnswers(), transport=transport)
        super().__init__(settings, config_dir, http)
        self.settings: BraincertSettings = settings

    def identity(self) -> str:
        return f"braincert:{self.http.base_url}"

    @classmethod
    def check(cls, kind: str, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        if kind == "coupon" and "amount" in (attrs.get("discount") or {}):
            return [] if attrs.get("discount", {}).get("currency") else [
                ("discount", "a fixed discount needs its currency")]
        return []

    # reading

    def list_all(self, kind: str) -> list[LiveResource]:
        if kind == "user":
            return self._users()
        if kind == "group":
            return [LiveResource(_id(g, "group"), {"name": g.get("name"),
                                          "description": g.get("description") or ""})
                    for g in self._groups()]
        if kind == "course":
            pricing = self._each(self._courses(), lambda c: self._pricing(_id(c, "course")))
            return [LiveResource(_id(c, "course"), {**_course_attrs(c), "pricing": _plans(p)})
                    for c, p in zip(self._courses(), pricing, strict=True)]
        if kind == "coupon":
            return self._coupons()
        raise LmsformError(f"braincert does not manage {kind}s")

    def _pages(self, path: str, kind: str, **body: Any) -> list[dict[str, Any]]:
        """A whole listing of records of `kind`, known by `id` (or `<kind>_id`)."""
        pages = replace(PAGES, id_field=("id", f"{kind}_id"))
        return list(self.http.paginate(path, method="POST", json=body or None, pages=pages))

    def _groups(self) -> list[dict[str, Any]]:
        return self._cached("groups", lambda: self._pages("/groups/list", "group"))

    def _courses(self) -> list[dict[str, Any]]:
        return self._cached("courses", lambda: self._pages("/courses/list", "course"))

    def _users(self) -> list[LiveResource]:
        members = self._by_user("members", "group", self._groups(), self._members_of)
        enrolled = self._by_user("enrolled", "course", self._courses(), self._enrolled_in)
        return [LiveResource(_id(u, "user"), {
            "email": u.get("email"), "username": u.get("username"),
            "first_name": _pick(u, "first_name", "firstname"),
            "last_name": _pick(u, "last_name", "lastname"),
            "groups": members.get(_id(u, "user"), []),
            "enrollments": enrolled.get(_id(u, "user"), []),
        }) for u in self._pages("/users/list", "user")]

    def _by_user(self, name: str, kind: str, owners: list[dict[str, Any]],
                 users_of: Any) -> dict[str, list[str]]:
        """user id -> ids of the groups (courses) listing them, one paged call per owner."""
        def load() -> dict[str, list[str]]:
            found: dict[str, list[str]] = defaultdict(list)
            for owner, users in zip(owners, self._each(owners, lambda o: users_of(_id(o, kind))),
                                    strict=True):
                for user in users:
                    found[user].append(_id(owner, kind))
            return found

        return self._cached(name, load)

    def _members_of(self, group: str) -> set[str]:
        return {_id(u, "user") for u in self._pages("/groups/listallusers", "user",
                                                    group_id=_num(group))}

    def _enrolled_in(self, course: str) -> set[str]:
        return {_id(u, "user") for u in self._pages("/users/listUsersenrolledincourse",
                                                    "user", course_id=_num(course))}

    def _pricing(self, course: str) -> list[dict[str, Any]]:
        found = self.http.call("GET", f"/shoppingCart/courses/pricing/{segment(course)}", safe=True)
        return _records(found)

    def _coupons(self) -> list[LiveResource]:
        """Discounts with one code grouped into one coupon: global, or for listed courses."""
        courses = [_id(c, "course") for c in self._courses()]
        per_course = self._each(courses, lambda c: _records(self.http.call(
            "GET", f"/discounts/courses/{segment(c)}", safe=True)))
        found = _records(self.http.call("GET", "/discounts/globaldiscounts/list", safe=True))
        scoped: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for course, discounts in zip(courses, per_course, strict=True):
            for d in discounts:
                scoped[str(d.get("code"))].append((course, d))
        coupons = [self._coupon([d], None) for d in found]
        coupons += [self._coupon([d for _, d in pairs], sorted(c for c, _ in pairs))
                    for pairs in scoped.values()]
        return coupons

    def _coupon(self, discounts: list[dict[str, Any]], courses: list[str] | None
                ) -> LiveResource:
        first = discounts[0]
        value = first.get("value")
        discount = ({"percent": value} if first.get("discount_type") == "percent"
                    else {"amount": value, "currency": self.settings.discount_currency})
        attrs = {"code": first.get("code"), "discount": discount, "courses": courses,
                 "usage_limit": first.get("usage_limit"),
                 "expires": first.get("expiry") or None}
        return LiveResource(_coupon_id(_id(d, "discount") for d in discounts), attrs)

    # writing

    def create(self, kind: str, attrs: dict[str, Any]) -> str:
        if kind == "user":
            return self._create_user(attrs)
        if kind == "group":
            return self._create_named("/groups/create", "group", self._groups_named,
                                      {"name": attrs["name"],
                                       "description": attrs.get("description") or ""})
        if kind == "course":
            course = self._create_named("/courses/create", "course", self._courses_named,
                                        _course_body(attrs))
            self._set_pricing(course, attrs.get("pricing") or {}, {})
            return course
        if kind == "coupon":
            return self._create_coupon(attrs)
        raise LmsformError(f"the braincert provider cannot create {kind}s")

    def _create_named(self, path: str, what: str, named: Any, body: dict[str, Any]) -> str:
        """Create a group or course, confirming a lost answer (or an 'already exists') by
        looking for its name."""
        self._forget(f"{what}s")
        return self._made(path, what, body, lambda: named(body["name"]))

    def _made(self, path: str, kind: str, body: dict[str, Any],
              find: Callable[[], str | None]) -> str:
        """A create; the id it left: `id`, or named after the kind (`user_id`)."""
        return self._create("POST", path, json=body, find=find, keys=("id", f"{kind}_id"))

    def _groups_named(self, name: str) -> str | None:
        return next((_id(g, "group") for g in self._pages("/groups/list", "group")
                     if g.get("name") == name), None)

    def _courses_named(self, name: str) -> str | None:
        return next((_id(c, "course") for c in self._pages("/courses/list", "course")
                     if _pick(c, "name", "title") == name), None)

    def _create_user(self, attrs: dict[str, Any]) -> str:
        email = str(attrs["email"])
        body = {"username": attrs.get("username") or email, "email": email,
                "first_name": attrs.get("first_name") or "",
                "last_name": attrs.get("last_name") or ""}
        if attrs.get("password"):
            body["password"] = attrs["password"]
        user = self._made("/users/create", "user", body, lambda: self._user_by_email(email))
        self._set_links(user, {"groups": attrs.get("groups") or [],
                               "enrollments": attrs.get("enrollments") or []}, {})
        return user

    def _user_by_email(self, email: str) -> str | None:
        try:
            found = self.http.call("GET", f"/users/getuserbyEmail/{segment(email)}", safe=True)
        except LmsformError as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise
        record = found[0] if isinstance(found, list) and found else found
        if not isinstance(record, dict) or str(record.get("email")).lower() != email.lower():
            return None  # only a user with this very email confirms it
        return _id(record, "user")

    def update(self, kind: str, id: str, changes: dict[str, Any],
               before: dict[str, Any]) -> None:
        if kind == "user":
            self._set_links(id, changes, before)
        elif kind == "course":
            if {"title", "description", "published"} & changes.keys():
                self.http.request("PUT", "/courses/update", safe=True,
                                  json={"course_id": _num(id), **_course_body(changes)})
            if "pricing" in changes:
                self._set_pricing(id, changes["pricing"] or {}, before.get("pricing") or {})
        else:
            raise LmsformError(f"the braincert provider cannot update {kind}s")

    def _set_links(self, user: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        if "groups" in changes:
            self._sync(changes["groups"] or [], before.get("groups") or [],
                       add=lambda g: Call("POST", "/groups/addUser",
                                          json={"group_id": _num(g), "user_id": _num(user)}),
                       remove=_no_removal, present=lambda g: user in self._members_of(g))
        if "enrollments" in changes:
            def body(course: str) -> dict[str, Any]:
                return {"course_id": _num(course), "user_id": _num(user)}

            self._sync(changes["enrollments"] or [], before.get("enrollments") or [],
                       add=lambda c: Call("POST", "/courses/enroll", json=body(c)),
                       remove=lambda c: Call("POST", "/courses/unenroll", json=body(c)),
                       present=lambda c: user in self._enrolled_in(c))

    def _set_pricing(self, course: str, after: dict[str, Any], before: dict[str, Any]) -> None:
        """Plans are removed and added again (the API has no change): only those that differ."""
        stale = [plan for plan in before if before[plan] != after.get(plan)]
        if stale:
            ids = {p.get("plan_name"): _pick(p, "pricing_id", "id") for p in self._pricing(course)}
            for plan in stale:
                if ids.get(plan) is not None:
                    self.http.request("DELETE", "/shoppingCart/courses/deletepricing", safe=True,
                                      json={"pricing_id": _num(str(ids[plan]))},
                                      already_done=lambda r: r.status_code == 404)
        for plan, price in after.items():
            if before.get(plan) != price:
                self._add_plan(course, plan, price)

    def _add_plan(self, course: str, plan: str, price: dict[str, Any]) -> None:
        kind, interval = BILLING[price.get("billing") or "one_time"]
        body = {"course_id": _num(course), "plan_name": plan,
                "price": float(decimal_text(price["amount"], 2)), "type": kind,
                "currency": price["currency"]}
        if interval:
            body["interval"] = interval
        self.http.request(
            "POST", "/shoppingCart/courses/addpricing", safe=False, json=body,
            landed=lambda: True if any(p.get("plan_name") == plan
                                       for p in self._pricing(course)) else None)

    def _create_coupon(self, attrs: dict[str, Any]) -> str:
        courses = attrs.get("courses")
        scopes: list[str | None] = list(courses) if courses else [None]
        return _coupon_id(self._add_discount(attrs, c) for c in scopes)

    def _add_discount(self, attrs: dict[str, Any], course: str | None) -> str:
        discount = attrs["discount"]
        percent = discount.get("percent") is not None
        body = {"code": attrs["code"], "discount_type": "percent" if percent else "fixed",
                "value": float(discount["percent"] if percent else discount["amount"]),
                "course_id": None if course is None else _num(course),
                "usage_limit": attrs.get("usage_limit"),
                "expiry": str(attrs["expires"])[:10] if attrs.get("expires") else None}
        return self._made("/discounts/addCourseDiscount", "discount", body,
                          lambda: self._discount_id(attrs["code"], course))

    def _discount_id(self, code: str, course: str | None) -> str | None:
        path = ("/discounts/globaldiscounts/list" if course is None
                else f"/discounts/courses/{segment(course)}")
        found = _records(self.http.call("GET", path, safe=True))
        return next((_id(d, "discount") for d in found if d.get("code") == code), None)

    def delete(self, kind: str, id: str) -> None:
        if kind == "user":
            self.http.request("DELETE", "/users/delete", safe=True,
                              json={"user_id": _num(id)},
                              already_done=lambda r: r.status_code == 404)
        elif kind == "course":
            self.http.request("DELETE", f"/courses/delete/{segment(id)}", safe=True,
                              already_done=lambda r: r.status_code == 404)
        elif kind == "coupon":
            for discount in id.split(COUPON_SEPARATOR):
                self.http.request("DELETE", f"/discounts/removeCourseDiscount/{segment(discount)}",
                                  safe=True, already_done=lambda r: r.status_code == 404)
        else:
            raise LmsformError(f"the braincert provider cannot delete {kind}s")


def _coupon_id(discounts: Iterable[str]) -> str:
    """One id for a coupon's discounts, the same however they were listed or created."""
    return COUPON_SEPARATOR.join(sorted(discounts, key=lambda d: (len(d), d)))


def _no_removal(item: str) -> Call:
    raise LmsformError("BrainCert's API cannot remove a group member")  # the planner refuses


def _records(found: Any) -> list[dict[str, Any]]:
    """A list answer's records, whether bare or under `data` (already unwrapped) or `items`."""
    if isinstance(found, dict):
        found = found.get("items", found.get("data", []))
    return [r for r in found or [] if isinstance(r, dict)]


def _pick(record: dict[str, Any], *names: str) -> Any:
    return next((record[n] for n in names if record.get(n) not in (None, "")), None)


def _id(record: dict[str, Any], kind: str) -> str:
    value = _pick(record, "id", f"{kind}_id")
    if value is None:
        raise LmsformError("BrainCert answered a record without an id")
    return str(value)


def _num(id: str) -> int | str:
    """Ids go back as numbers where they are numbers, as the vendor gave them."""
    return int(id) if id.isdigit() else id


def _course_attrs(course: dict[str, Any]) -> dict[str, Any]:
    status = str(course.get("status", "")).lower()
    published = course.get("is_published")
    return {"title": _pick(course, "name", "title"),
            "description": course.get("description") or "",
            "published": bool(published) if published is not None else status == "published"}


def _course_body(attrs: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "title" in attrs:
        body["name"] = attrs["title"]
    if "description" in attrs:
        body["description"] = attrs["description"] or ""
    if "published" in attrs:
        body["status"] = "published" if attrs["published"] else "unpublished"
    return body


def _plans(pricing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BrainCert pricing plans as lmsform writes them (billing from type and interval)."""
    billing = {value: key for key, value in BILLING.items()}
    return [{"plan": p.get("plan_name"), "amount": p.get("price"),
             "currency": p.get("currency"),
             "billing": billing.get((str(p.get("type")),
                                     p.get("interval") if p.get("type") == "subscription"
                                     else None), "one_time")}
            for p in pricing]
