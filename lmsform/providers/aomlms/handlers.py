"""The kinds AOM LMS manages, one handler each: users (one by one or in bulk uploads),
courses with their categories, and coupons."""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from lmsform.errors import LmsformError, ProviderError
from lmsform.providers.aomlms.api import (
    _by_email,
    _category_refs,
    _coupon_body,
    _course_attrs,
    _date,
    _id,
    _random_password,
    _slugify,
    _user_attrs,
    _whole,
)
from lmsform.providers.aomlms.settings import (
    API_PREFIX,
    BULK_SIZE,
    COURSE,
    COURSE_DEFAULTS,
    COURSE_READ_ONLY,
    DISCOUNTS,
    NEWEST_FIRST,
    NEWEST_PAGES,
    PAGES,
    SLUG,
    STATUS,
    USER,
    USER_READ_ONLY,
)
from lmsform.providers.aomlms.together import disable_together, enroll_together
from lmsform.providers.base import Handler
from lmsform.providers.records import numeric, pick, records
from lmsform.providers.toolkit import Call
from lmsform.providers.urls import json_param, segment
from lmsform.resources import LiveResource

if TYPE_CHECKING:  # the school the handlers reach, named in their base class
    from lmsform.providers.aomlms.school import AomlmsSchool  # noqa: F401


class Users(Handler["AomlmsSchool"]):
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
        user = self._create_alone(attrs)
        if attrs.get("active") is False:
            self.deactivate(user)
        self._enroll_all(user, attrs.get("enrollments") or [], [])
        return user

    def create_many(self, items: list[dict[str, Any]]) -> list[str | LmsformError]:
        """New users in as few calls as AOM allows: through `user/bulkUpload` (`_uploads`
        says how many), the ids then found by email; one `user/create` each without it
        (`bulk_upload: false`), and for the users of an upload AOM refused. Then, once for
        the batch (`together`): the users declared inactive switched off, and the
        enrollments no upload made, one call per course. A failure is pinned to its user;
        the others are recorded."""
        uploads = _uploads(items) if self.lms.settings.bulk_upload else {}
        made = self._upload(items, uploads)
        alone = [i for i, found in enumerate(made) if found is None]
        created = self.lms._each([items[i] for i in alone], self._outcome)
        outcomes: list[str | LmsformError] = [
            found if found is not None else LmsformError("not created") for found in made]
        for index, outcome in zip(alone, created, strict=True):
            outcomes[index] = outcome
        enrolled = {i for courses, indexes in uploads.items() if courses for i in indexes
                    if made[i] is not None}
        return self._finish(items, outcomes,
                            [i for i in range(len(items)) if i not in enrolled])

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        if USER.touches(changes):
            self._put(id, changes)
        if "enrollments" in changes:
            self._enroll_all(id, changes["enrollments"] or [], before.get("enrollments") or [])

    def deactivate(self, id: str) -> None:
        """One `user/quickEdit` (a flag, safe to send again), not a read and a PUT of the
        whole record; a refusal is made again that way, for AOM's words about the user."""
        failed = disable_together(self.lms, [id], self._disable_alone)
        if id in failed:
            raise failed[id]

    def _disable_alone(self, id: str) -> None:
        self._put(id, {"active": False})

    def delete(self, id: str) -> None:
        # AOM refuses to delete a user with enrollments: deleting the user ends them.
        for course, enrollment in self.lms._courses_of(id).items():
            self._unenroll(course, id, enrollment)
        self.lms._delete("/user/delete", id)

    def _create_alone(self, attrs: dict[str, Any]) -> str:
        """`user/create`, and nothing else: the new id."""
        email = str(attrs["email"])
        # A user needs a password; one lmsform is not given is random and never shown.
        password = str(attrs.get("password") or _random_password())
        body = {"firstName": attrs.get("first_name") or "",
                "lastName": attrs.get("last_name") or "", "email": email,
                "password": password, "password_confirmation": password}
        return self.lms._create("POST", "/user/create", json=body,
                                find=lambda: self._named({email.lower()}).get(email.lower()))

    def _outcome(self, attrs: dict[str, Any]) -> str | LmsformError:
        try:
            return self._create_alone(attrs)
        except LmsformError as exc:
            return exc

    def _upload(self, items: list[dict[str, Any]], uploads: dict[tuple[str, ...], list[int]]
                ) -> list[str | LmsformError | None]:
        """Per user, what the bulk uploads made of it: its id; None where an upload was
        refused (422: AOM names no culprit), did not make it or none was sent, to create
        alone; the error of an upload that failed otherwise, for each of its users."""
        found: list[str | LmsformError | None] = [None] * len(items)
        for courses, indexes in uploads.items():
            try:
                made = self._bulk_upload([items[i] for i in indexes], list(courses))
            except ProviderError as exc:
                if exc.status != 422:
                    for index in indexes:
                        found[index] = exc
                continue
            for index in indexes:
                found[index] = made.get(str(items[index]["email"]).lower())
        return found

    def _finish(self, items: list[dict[str, Any]], outcomes: list[str | LmsformError],
                unenrolled: list[int]) -> list[str | LmsformError]:
        """The batch's new users switched off where declared so (first: a user never has
        access it should not), then the users at `unenrolled` enrolled, one call per course.
        A user for whom either fails has that failure as its outcome."""
        made = {i: o for i, o in enumerate(outcomes) if isinstance(o, str)}
        failed = disable_together(self.lms, [user for i, user in made.items()
                                             if items[i].get("active") is False],
                                  self._disable_alone)
        courses: dict[str, list[str]] = defaultdict(list)
        for index in unenrolled:
            user = made.get(index)
            if user is not None and user not in failed:
                for course in items[index].get("enrollments") or []:
                    courses[course].append(user)
        for refused in self.lms._each(sorted(courses), lambda c: enroll_together(
                self.lms, c, courses[c], functools.partial(self._enroll_in, c))):
            for user, error in refused.items():
                failed.setdefault(user, error)
        return [failed.get(o, o) if isinstance(o, str) else o for o in outcomes]

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

    def _enroll_in(self, course: str, user: str) -> None:
        self._enroll_all(user, [course], [])

    def _unenroll(self, course: str, user: str, enrollment: str) -> None:
        self.lms.http.request(
            "POST", f"/course/remove/{segment(course)}", safe=False,
            json={"enrollmentIds": [numeric(enrollment)]},
            landed=lambda: True if user not in self.lms._enrolled_in(course) else None)


def _uploads(items: list[dict[str, Any]]) -> dict[tuple[str, ...], list[int]]:
    """The bulk uploads of a batch, as the courses each enrolls -> the users in it: one per
    set of enrollments, its `selectedCourses` enrolling them; or one upload of every user,
    enrolled after it with one call per course (`together`), where that makes fewer calls:
    an upload costs at least two (itself, and a page of the newest users to learn the ids),
    an enrollment one per course."""
    together: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, attrs in enumerate(items):
        together[tuple(sorted(attrs.get("enrollments") or []))].append(index)
    courses = {course for chosen in together for course in chosen}
    if 2 + len(courses) < 2 * len(together):
        return {(): list(range(len(items)))}
    return together


class Courses(Handler["AomlmsSchool"]):
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


class Coupons(Handler["AomlmsSchool"]):
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
