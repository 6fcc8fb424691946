"""`aomlms`: AOM LMS (Academy of Mine), through the school's REST API.

AOM's API is a Laravel application under `/api` on the school's own host, authenticated with
a bearer token. It manages users (with a `disabled` switch), courses (with a slug, a status,
credits and categories) and their enrollments, and coupons. Listings are "tabular lists":
`page_size` and `page_number` in the query, answering `{"recordsTotal", "recordsFiltered",
"records"}`, always asked for by id ascending, so that pages are cut from one fixed order and
records created meanwhile land after them; the ids of a bulk upload's users are found in the
newest pages and the unpaged user lookup, never in a paged listing that other creates move.
Failures are Laravel's: 401 `{"message": "Unauthenticated."}`, 422 `{"message", "errors":
{field: [...]}}` (a taken email, slug, code or name is adopted once a read finds it); and the
delete calls answer 200 even when they refused some of the ids ("1 coupon(s) not deleted as
they are associated with orders"), which is a failure here.

What the API cannot do shapes the rest:
- the user list carries no `disabled` flag (only the one-user read does), so `active` is an
  unlisted field: the planner keeps the last applied value from state and reads by id only
  users state does not know; the course list carries no credits, likewise;
- a category create answers no id: it is found again by name in the category lookup;
- an unenrollment names the enrollment, not the user: enrollment ids are kept from the
  listings and looked up again when a course's enrollments changed since;
- a course update and a user update send the whole record: what the manifests do not manage
  is read first and sent back unchanged (a course's grading and duration rules, modules...).
Groups, the region/division/department hierarchy and course pricing are not in this API.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field, SecretStr, field_validator

from lmsform.errors import LmsformError, ProviderError
from lmsform.providers.auth import BearerToken
from lmsform.providers.base import Handler
from lmsform.providers.http import (
    Classifier,
    HttpClient,
    HttpProviderSettings,
    json_param,
    segment,
)
from lmsform.providers.paging import Pages
from lmsform.providers.records import Discounts, FieldMap, day, numeric, pick, record_id, records
from lmsform.providers.toolkit import Call, HttpProvider, gone
from lmsform.resources import LiveResource

API_PREFIX = "/api"
# Every listing is asked for by id, ascending (the document's `order_by`, over a column of the
# records): every page is cut from one fixed order, and a row created while it is read lands
# after the pages already read. Not created_at: a bulk upload makes many users in one second,
# and a tie has no fixed order between pages. `recordsFiltered` counts what the pages hold
# (`recordsTotal` counts before any search).
OLDEST_FIRST = json_param({"colName": "id", "direction": "asc"})
NEWEST_FIRST = json_param({"colName": "id", "direction": "desc"})
PAGES = Pages(size=100, page_param="page_number", size_param="page_size",
              items="records", total_items="recordsFiltered", total_header=None,
              id_field="id")
# How many of the newest pages of users a bulk upload's users are looked for in before the
# unpaged user lookup: above them sit only the users created since, a batch per other thread.
NEWEST_PAGES = 10
# The document's neutral values for what a course create requires and lmsform does not manage.
COURSE_DEFAULTS = {"gradingRule": "no_grading", "durationRule": "unlimited"}
STATUS = {True: "publish", False: "draft"}
DISCOUNTS = Discounts(percent="percent_amount", amount="fixed_amount")
# "2 student(s) not deleted as they has enrollments...": the delete calls' partial refusal.
NOT_DELETED = re.compile(r"(\d+)\s*\w+\(s\)\s+not deleted", re.IGNORECASE)
# A course slug is part of the course's URL.
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# lmsform's user fields -> AOM's names in the one-user record (`active` is `not disabled`)
USER = FieldMap({"first_name": "firstName", "last_name": "lastName", "email": "email",
                 "active": "disabled"},
                write={"first_name": lambda text: text or "", "last_name": lambda text: text or "",
                       "email": lambda text: text or "", "active": lambda active: not active})
# ...and their course fields, in the course record
COURSE = FieldMap({"key": "slug", "title": "name", "published": "status", "credits": "credits"},
                  write={"published": lambda on: STATUS[bool(on)]})
COUPON = FieldMap({"code": "code", "usage_limit": "usage_limit", "expires": "expiry"},
                  write={"expires": day})
# The user record's read-only parts, never sent back in an update.
USER_READ_ONLY = ("lastLoggedIn", "avatar", "id")
COURSE_READ_ONLY = ("associatedProduct", "hasAssociatedProduct", "id", "featuredImageUrl")
# Users per `user/bulkUpload` call (the document names no limit).
BULK_SIZE = 100
DATE_FORMATS = ("%Y-%m-%d", "%b %d, %Y", "%d %b %Y", "%Y-%m-%d %H:%M:%S")


class Laravel(Classifier):
    """Laravel's failures: the message, and for a 422 every field's errors after it. A create
    whose email, slug, code or name is taken answers 422 "The email has already been
    taken."."""

    taken_statuses = (422,)
    taken_words = ("has already been taken",)

    def message(self, response: httpx.Response) -> str:
        text = super().message(response)
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            return text
        if not isinstance(errors, dict) or not errors:
            return text
        details = "; ".join(f"{field}: {' '.join(map(str, problems))}"
                            if isinstance(problems, list) else f"{field}: {problems}"
                            for field, problems in errors.items())
        return f"{text} ({details})" if details not in text else text


class AomlmsSettings(HttpProviderSettings):
    base_url: str  # the school's own host, e.g. https://yourschool.aomlms.com
    token: SecretStr  # sent as `Authorization: Bearer <token>`
    # AOM's fixed-amount coupons carry no currency: they are in the school's own
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    # new users in batches through user/bulkUpload; false: one user/create each
    bulk_upload: bool = True

    @field_validator("base_url")
    @classmethod
    def _host(cls, value: str) -> str:
        """The API lives under /api on the school's host; a URL given with it is accepted."""
        value = value.rstrip("/")
        return value[: -len(API_PREFIX)] if value.endswith(API_PREFIX) else value


class Users(Handler["AomlmsProvider"]):
    """Users with their enrollments; new ones in batches through the bulk upload."""

    fields = frozenset({"email", "first_name", "last_name", "password", "active",
                        "enrollments"})
    unlisted_fields = frozenset({"active"})
    required_on_create = frozenset({"first_name"})
    batch_create = BULK_SIZE

    def list_all(self) -> list[LiveResource]:
        enrolled = self.lms._enrolled_by_user()
        return [LiveResource(_id(u), {**_user_attrs(u), "enrollments": enrolled.get(_id(u), [])})
                for u in self.lms._users()]

    def read(self, ids: list[str]) -> list[LiveResource]:
        """The only read that carries `disabled`."""
        return self.lms._read_each(ids, lambda i: self.lms._record(f"/user/{segment(i)}"),
                                   _user_attrs)

    def create(self, attrs: dict[str, Any]) -> str:
        email = str(attrs["email"])
        # A user needs a password; one lmsform is not given is random and never shown.
        password = str(attrs.get("password") or _random_password())
        body = {"firstName": attrs.get("first_name") or "",
                "lastName": attrs.get("last_name") or "", "email": email,
                "password": password, "password_confirmation": password}
        user = self.lms._create("POST", "/user/create", json=body,
                                find=lambda: self._named({email.lower()}).get(email.lower()))
        if attrs.get("active") is False:
            self._put(user, {"active": False})
        self._enroll_all(user, attrs.get("enrollments") or [], [])
        return user

    def create_many(self, items: list[dict[str, Any]]) -> list[str | LmsformError]:
        """New users through `user/bulkUpload`: one call per set of enrollments (its
        `selectedCourses`), the ids then found by email. A batch AOM refuses as a whole is
        created one by one, so that each refusal is pinned to its user."""
        if not self.lms.settings.bulk_upload:
            return self.lms._each(items, self._outcome)
        together: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for index, attrs in enumerate(items):
            together[tuple(sorted(attrs.get("enrollments") or []))].append(index)
        outcomes: list[str | LmsformError] = [LmsformError("not created")] * len(items)
        for courses, indexes in together.items():
            users = [items[i] for i in indexes]
            try:
                made = self._bulk_upload(users, list(courses))
            except ProviderError as exc:
                if exc.status != 422:
                    raise
                made = {}
            results = self.lms._each(users, functools.partial(self._after_bulk, made=made))
            for index, result in zip(indexes, results, strict=True):
                outcomes[index] = result
        return outcomes

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        if USER.touches(changes):
            self._put(id, changes)
        if "enrollments" in changes:
            self._enroll_all(id, changes["enrollments"] or [], before.get("enrollments") or [])

    def deactivate(self, id: str) -> None:
        self._put(id, {"active": False})

    def delete(self, id: str) -> None:
        # AOM refuses to delete a user with enrollments: deleting the user ends them.
        for course, enrollment in self.lms._courses_of(id).items():
            self._unenroll(course, id, enrollment)
        self.lms._delete("/user/delete", id)

    def _outcome(self, attrs: dict[str, Any]) -> str | LmsformError:
        try:
            return self.create(attrs)
        except LmsformError as exc:
            return exc

    def _bulk_upload(self, users: list[dict[str, Any]], courses: list[str]) -> dict[str, str]:
        """email -> id of the users one bulk upload made (a lost answer: what landed)."""
        emails = {str(u["email"]).lower() for u in users}
        body = {"userList": [{"email": u["email"], "first_name": u.get("first_name") or "",
                              "last_name": u.get("last_name") or "",
                              "password": str(u.get("password") or _random_password())}
                             for u in users],
                "selectedCourses": [numeric(c) for c in courses]}
        self.lms.http.request("POST", "/user/bulkUpload", safe=False, json=body,
                              landed=lambda: self._named(emails) or None)
        return self._named(emails)

    def _named(self, emails: set[str]) -> dict[str, str]:
        """email -> id of these users (lower-cased emails), just created: looked for in the
        newest pages, then in the user lookup. Neither races with creates running meanwhile:
        a newer user only pushes older ones to a later page (read next), and the lookup is
        one unpaged answer."""
        found: dict[str, str] = {}
        for number in range(1, NEWEST_PAGES + 1):
            page = records(self.lms.http.call(
                "GET", "/users/tabularlist", safe=True, params={
                    "page_size": PAGES.size, "page_number": number,
                    "order_by": NEWEST_FIRST}), "records",
                call=f"GET {API_PREFIX}/users/tabularlist")
            found.update(_by_email(page, emails))
            if len(found) == len(emails):
                return found
            if len(page) < PAGES.size:
                break
        rest = emails - found.keys()
        found.update(_by_email(records(self.lms.http.call(
            "GET", "/users/lookup", safe=True), "records",
            call=f"GET {API_PREFIX}/users/lookup"), rest))
        return found

    def _after_bulk(self, attrs: dict[str, Any], made: dict[str, str]) -> str | LmsformError:
        """A user of a bulk upload: disabled if declared so; created alone if the batch
        did not make it."""
        user = made.get(str(attrs["email"]).lower())
        if user is None:
            return self._outcome(attrs)
        try:
            if attrs.get("active") is False:
                self._put(user, {"active": False})
        except LmsformError as exc:
            return exc
        return user

    def _put(self, id: str, changes: dict[str, Any]) -> None:
        """PUT user/{id} takes the whole record: read it, change what lmsform manages."""
        record = self.lms._existing(f"/user/{segment(id)}", "user")
        body = {k: v for k, v in record.items() if k not in USER_READ_ONLY}
        body.setdefault("customUserMetas", [])
        body.update(USER.to_vendor(changes))
        self.lms.http.request("PUT", f"/user/{segment(id)}", safe=True, json=body)

    def _enroll_all(self, user: str, after: list[str], before: list[str]) -> None:
        """Enroll by user id; unenroll by enrollment id (a course with no enrollment of the
        user left has nothing to remove)."""
        lms = self.lms
        ended = {c for c in set(before) - set(after) if lms._enrollment(c, user) is None}
        lms._sync(after, [c for c in before if c not in ended],
                  add=lambda c: Call("POST", f"/course/enroll/{segment(c)}",
                                     json={"studentIds": [numeric(user)]}),
                  remove=lambda c: Call("POST", f"/course/remove/{segment(c)}", json={
                      "enrollmentIds": [numeric(lms._enrollment(c, user) or "")]}),
                  present=lambda c: user in lms._enrolled_in(c))

    def _unenroll(self, course: str, user: str, enrollment: str) -> None:
        self.lms.http.request(
            "POST", f"/course/remove/{segment(course)}", safe=False,
            json={"enrollmentIds": [numeric(enrollment)]},
            landed=lambda: True if user not in self.lms._enrolled_in(course) else None)


class Courses(Handler["AomlmsProvider"]):
    """Courses with a slug (the key), a status, credits and categories."""

    fields = frozenset({"key", "title", "published", "credits", "categories"})
    unlisted_fields = frozenset({"credits"})
    required_on_create = frozenset({"title"})

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        if attrs.get("key") and not SLUG.match(str(attrs["key"])):
            return [("key", "an AOM course slug (the key) is letters, digits, '-' and '_', "
                            "starting with a letter or digit")]
        return []

    def list_all(self) -> list[LiveResource]:
        return [LiveResource(_id(c), _course_attrs(c)) for c in self.lms._courses()]

    def read(self, ids: list[str]) -> list[LiveResource]:
        """The only read that carries `credits`."""
        return self.lms._read_each(ids, lambda i: self.lms._record(f"/course/{segment(i)}"),
                                   _course_attrs)

    def create(self, attrs: dict[str, Any]) -> str:
        slug = str(attrs.get("key") or _slugify(str(attrs["title"])))
        body: dict[str, Any] = {"name": attrs["title"], "slug": slug,
                                "status": STATUS[bool(attrs.get("published", False))],
                                **COURSE_DEFAULTS,
                                "categories": self._category_ids(attrs.get("categories") or [])}
        if attrs.get("credits") is not None:
            body["credits"] = attrs["credits"]
        self.lms._forget("courses")
        return self.lms._create("POST", "/course", json=body, find=lambda: self.lms._listed_id(
            "/courses/tabularlist", "slug", slug))

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        http = self.lms.http
        if "key" in changes:  # a course renamed under `moved:` keeps its id, gets a new slug
            http.request("PUT", f"/course/update-slug/{segment(id)}", safe=True,
                         json={"slug": changes["key"]})
        if not changes.keys() - {"key"}:
            return
        record = self.lms._existing(f"/course/{segment(id)}", "course")
        body = {k: v for k, v in record.items() if k not in COURSE_READ_ONLY}
        body["categories"] = [numeric(c) for c in _category_refs(record.get("categories"))]
        body.update({k: v for k, v in COURSE_DEFAULTS.items() if not body.get(k)})
        body.update(COURSE.to_vendor(changes))
        if "categories" in changes:
            body["categories"] = self._category_ids(changes["categories"] or [])
        http.request("PUT", f"/course/{segment(id)}", safe=True, json=body)

    def delete(self, id: str) -> None:
        self.lms._delete("/course/delete", id)

    def _category_ids(self, names: list[str]) -> list[int | str]:
        """The ids of these course categories, creating the missing ones (one at a time:
        two courses naming a new category must not create it twice)."""
        if not names:
            return []
        with self.lms._categories_lock:
            known = self._category_lookup()
            for name in sorted(set(names) - known.keys()):
                self._create_category(name)
                known = self._category_lookup()
                if name not in known:
                    raise ProviderError(f"POST {API_PREFIX}/category/create",
                                        f"category '{name}' was not found after creating it")
        return [numeric(known[name]) for name in names]

    def _create_category(self, name: str) -> None:
        """The create answers no id: a lost answer, or a name already taken, is confirmed by
        the lookup."""
        self.lms.http.request("POST", "/category/create", safe=False,
                              json={"category_name": name, "categoryType": "course"},
                              landed=lambda: self._category_lookup().get(name),
                              exists=lambda: self._category_lookup().get(name))

    def _category_lookup(self) -> dict[str, str]:
        found = self.lms.http.call("GET", "/categories/course/lookup", safe=True)
        return {str(c["name"]): str(c["id"]) for c in found or []
                if isinstance(c, dict) and "name" in c and "id" in c}


class Coupons(Handler["AomlmsProvider"]):
    fields = frozenset({"code", "discount", "usage_limit", "expires"})

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        return DISCOUNTS.check(attrs)

    def list_all(self) -> list[LiveResource]:
        return [LiveResource(_id(c), self._attrs(c))
                for c in self.lms._pages("/coupons/tabularlist")]

    def create(self, attrs: dict[str, Any]) -> str:
        code = str(attrs["code"])
        return self.lms._create("POST", "/coupon/create", json=_coupon_body(attrs),
                                find=lambda: self.lms._listed_id(
                                    "/coupons/tabularlist", "code", code,
                                    search_param=json_param({"code": code})))

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        record = self.lms._existing(f"/coupon/{segment(id)}", "coupon")
        kept = ("code", "notes", "value", "type", "usage_limit", "expiry", "allowed_emails")
        body: dict[str, Any] = {k: record[k] for k in kept if k in record}
        body.update(_coupon_body(changes))
        self.lms.http.request("PUT", f"/coupon/{segment(id)}", safe=True, json=body)

    def delete(self, id: str) -> None:
        self.lms._delete("/coupon/delete", id)

    def _attrs(self, coupon: dict[str, Any]) -> dict[str, Any]:
        limit = pick(coupon, "usage_limit", "total_limit")
        return {"code": coupon.get("code"),
                "discount": DISCOUNTS.from_vendor(coupon.get("type"), coupon.get("value"),
                                                  self.lms.settings.currency),
                "usage_limit": _whole(limit),
                "expires": _date(pick(coupon, "expiry", "expired_at"))}


class AomlmsProvider(HttpProvider):
    type_name = "aomlms"
    description = "AOM LMS (Academy of Mine): users, courses with categories, enrollments, coupons"
    settings_model = AomlmsSettings
    handlers = {"course": Courses, "user": Users, "coupon": Coupons}

    def __init__(self, settings: AomlmsSettings, config_dir: Path,
                 transport: httpx.BaseTransport | None = None) -> None:
        auth = BearerToken(settings.token.get_secret_value())
        http = HttpClient(settings.base_url + API_PREFIX, auth, settings, classifier=Laravel(),
                          transport=transport)
        super().__init__(settings, config_dir, http, PAGES)
        self.settings: AomlmsSettings = settings
        # (course id, user id) -> enrollment id, from every enrollment listing read
        self._enrollments: dict[tuple[str, str], str] = {}
        self._categories_lock = threading.Lock()

    def identity(self) -> str:
        return f"aomlms:{self.settings.base_url}"

    # reading, shared by the kinds

    def _pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """A whole listing, oldest first."""
        return self._listing(path, params={**params, "order_by": OLDEST_FIRST})

    def _listed_id(self, path: str, field: str, value: str, **params: Any) -> str | None:
        """The id of the record of a listing whose `field` is `value` (ignoring case, as
        AOM's uniqueness does): a create's confirmation."""
        return next((_id(r) for r in self._pages(path, **params)
                     if str(r.get(field) or "").lower() == value.lower()), None)

    def _existing(self, path: str, what: str) -> dict[str, Any]:
        """A record an update sends back whole: it must still be there."""
        record = self._record(path)
        if record is None:
            raise ProviderError(f"GET {API_PREFIX}{path}", f"the {what} no longer exists",
                                status=404)
        return record

    def _users(self) -> list[dict[str, Any]]:
        return self._cached("users", lambda: self._pages("/users/tabularlist"))

    def _courses(self) -> list[dict[str, Any]]:
        return self._cached("courses", lambda: self._pages("/courses/tabularlist"))

    def _enrolled_by_user(self) -> dict[str, list[str]]:
        """user id -> course ids. One paged listing per course, or per user when the LMS
        has fewer users than courses: whichever needs fewer requests."""
        courses, users = [_id(c) for c in self._courses()], [_id(u) for u in self._users()]
        if len(courses) <= len(users):
            return self._by_member(courses, self._enrolled_in)
        return {user: list(enrolled) for user, enrolled
                in zip(users, self._each(users, self._courses_of), strict=True)}

    def _enrolled_in(self, course: str) -> dict[str, str]:
        """user id -> enrollment id, for one course."""
        return self._enrollment_ids("/course/enrolled-students", "user_id",
                                    lambda user: (course, user), course_id=course)

    def _courses_of(self, user: str) -> dict[str, str]:
        """course id -> enrollment id, for one user."""
        return self._enrollment_ids("/users/enrolled-courses", "courseId",
                                    lambda course: (course, user), user_id=user)

    def _enrollment_ids(self, path: str, field: str, pair: Callable[[str], tuple[str, str]],
                        **params: Any) -> dict[str, str]:
        """One enrollment listing as `field` -> enrollment id, each remembered under its
        (course, user) `pair` for unenrolling."""
        found = {str(r[field]): str(r["id"]) for r in self._pages(path, **params)
                 if r.get(field) is not None and r.get("id") is not None}
        with self._lock:
            self._enrollments.update({pair(key): e for key, e in found.items()})
        return found

    def _enrollment(self, course: str, user: str) -> str | None:
        """The id of a user's enrollment in a course: as listed, or read again."""
        with self._lock:
            known = self._enrollments.get((course, user))
        return known or self._enrolled_in(course).get(user)

    # deleting

    def _delete(self, path: str, id: str) -> None:
        """The delete calls take a list and answer 200 whatever they did: a refusal is in
        the message, and is this resource's failure with the vendor's reason."""
        answer = self.http.call("POST", path, safe=True, json={"delete_ids": [numeric(id)]},
                                already_done=gone)
        message = str(answer.get("message", "")) if isinstance(answer, dict) else ""
        refused = NOT_DELETED.search(message)
        if refused and int(refused.group(1)) > 0:
            raise ProviderError(f"POST {API_PREFIX}{path}", message, status=200)


def _by_email(records: list[Any], emails: set[str]) -> dict[str, str]:
    return {str(r.get("email")).lower(): _id(r) for r in records
            if isinstance(r, dict) and str(r.get("email", "")).lower() in emails}


def _user_attrs(user: dict[str, Any]) -> dict[str, Any]:
    """A user from the list (snake_case) or the one-user read (camelCase)."""
    attrs = {"email": user.get("email"),
             "first_name": pick(user, "first_name", "firstName") or "",
             "last_name": pick(user, "last_name", "lastName") or ""}
    if user.get("disabled") is not None:
        attrs["active"] = not _flag(user["disabled"])
    return attrs


def _course_attrs(course: dict[str, Any]) -> dict[str, Any]:
    """A course from the list or the one-course read."""
    attrs = {"key": course.get("slug"), "title": course.get("name"),
             "published": str(course.get("status", "")).lower() == STATUS[True],
             "categories": _category_names(course.get("categories"))}
    if "credits" in course:
        attrs["credits"] = course["credits"]
    return attrs


def _category_names(value: Any) -> list[str]:
    """The list gives a course's categories as text ("Sales, Security"); a read may give
    names or {id, name} records."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if isinstance(value, list):
        return [str(v.get("name")) if isinstance(v, dict) else str(v) for v in value
                if not isinstance(v, dict) or v.get("name")]
    return []


def _category_refs(value: Any) -> list[str]:
    """Category ids from a one-course read, for sending the record back."""
    if not isinstance(value, list):
        return []
    return [str(v.get("id")) if isinstance(v, dict) else str(v) for v in value
            if not isinstance(v, dict) or v.get("id") is not None]


def _coupon_body(attrs: dict[str, Any]) -> dict[str, Any]:
    body = COUPON.to_vendor(attrs)
    if attrs.get("discount"):
        body["type"], value = DISCOUNTS.to_vendor(attrs["discount"])
        body["value"] = float(value)
    return body


def _date(value: Any) -> str | None:
    """A date as YYYY-MM-DD, from any of the forms AOM's answers use ("Aug 26, 2020")."""
    if value in (None, "", "Never"):
        return None
    text = str(value).strip()
    for form in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, form).date().isoformat()
        except ValueError:
            continue
    return text[:10]


def _whole(value: Any) -> Any:
    """A count as a number when it is one ("12" -> 12); anything else as it came."""
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return value


def _random_password() -> str:
    """Long, random, and with the character classes password rules usually ask for."""
    return f"Lf1!{secrets.token_urlsafe(24)}"


def _slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "course"


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _id(record: dict[str, Any]) -> str:
    return record_id(record, "AOM LMS")
