"""A simulator of the BrainCert LMS API v1, in memory, over a real socket.

Written from the vendor's developer guide (the endpoint tables, the two auth headers, the
`{"message", "data"}` envelope, the error table and its example body, the users/create example)
and from the names the project pins where the guide is silent. It implements the users, groups,
courses, course pricing and course discount endpoints; live classes, bundles, tests, products
and gamification are not simulated (they answer 404).

Protocol (from the document):
- paths under /api/v1, so a provider's base_url is http://127.0.0.1:PORT/api/v1;
- every request carries `Authorization: <API_KEY>` (no scheme) and `x-domain-id: <DOMAIN_ID>`;
  wrong or missing: 401;
- answers are `{"message": str, "data": ...}`; errors `{"message": "<status phrase>",
  "error": {"code": <status>, "details": "<reason>"}}` with the statuses of the error table:
  400 invalid request, 401 credentials, 404 unknown id or path, 405 a known path with another
  method (with an `Allow` header), 406 an `Accept` header that refuses JSON, 415 a body that is
  not `application/json`, 400 malformed JSON, 429/500/503 from the fault injection;
- POST /users/create answers `{"message": "User successfully created", "id": <int>}` with the
  id at the top level, exactly as the document's example.

The project's assumptions (the document shows no request or answer bodies):
- list answers add `total`, `page`, `limit` beside `data`; `page` is 1-based, `limit` defaults
  to and is capped at 100; both are read from the JSON body or the query string, the body
  winning. The GET lists (pricing, discounts) are paged the same way from the query;
- ids are integers, unique across every kind of record, starting from a time-based offset so
  that no two runs hand out the same id; ids are accepted as numbers or numeric strings;
- field names, as the constants below name them (answers carry exactly these keys):
  user `USER_FIELDS`, group `GROUP_FIELDS`, course `COURSE_FIELDS` (status is published or
  unpublished, new courses are unpublished), pricing plan `PRICING_FIELDS` (`id` and
  `pricing_id` are the same number; `price` a float; `currency` stored upper-cased; `interval`
  null unless type is subscription), discount `DISCOUNT_FIELDS` (`course_id` null for a global
  discount; `value` a float; `expiry` YYYY-MM-DD or null);
- creates other than users/create, updates, publish/unpublish answer the record in `data`;
  deletes, addUser, enroll and unenroll answer `data: null`;
- emails are unique case-insensitively, usernames exactly; a username defaults to the email;
  the password is accepted and never answered; a plan_name is unique per course; a discount
  code once per course and once globally (exact match). Duplicates answer 400;
- adding a group member twice: 400 "user is already a member of the group"; enrolling twice:
  400 "user is already enrolled in this course"; unenrolling someone not enrolled: 404;
- deleting a user removes their memberships and enrollments; deleting a course removes its
  enrollments, pricing plans and discounts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import click

from lmsform_simulators.base import (
    Faults,
    HttpProblem,
    Request,
    Response,
    Simulator,
    simulator_command,
)

ROOT = "/api/v1"
MAX_LIMIT = 100

USER_FIELDS = ("id", "username", "email", "first_name", "last_name", "created_at")
GROUP_FIELDS = ("id", "name", "description")
COURSE_FIELDS = ("id", "name", "description", "status", "created_at")
PRICING_FIELDS = ("id", "pricing_id", "course_id", "plan_name", "price", "type", "currency",
                  "interval")
DISCOUNT_FIELDS = ("id", "code", "discount_type", "value", "course_id", "usage_limit",
                   "expiry")

STATUSES = ("published", "unpublished")
PLAN_TYPES = ("one_time", "subscription")
INTERVALS = ("month", "year")
DISCOUNT_TYPES = ("percent", "fixed")

PHRASES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 415: "Unsupported Media Type",
           429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}
JSON_RANGES = {"*/*", "application/*", "application/json"}
WHOLE = re.compile(r"^\s*[+-]?\d+\s*$")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _view(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A copy of a record with exactly the answered fields (answers are serialised later,
    outside the lock)."""
    return {name: record[name] for name in fields}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _whole(value: Any, field: str) -> int:
    """An id or count: a whole number, given as a number or as numeric text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and WHOLE.match(value):
        return int(value)
    raise HttpProblem(400, f"{field} must be a whole number")


def _number(value: Any, field: str) -> float:
    """A price or amount: a finite number, given as a number or as numeric text."""
    if isinstance(value, bool):
        raise HttpProblem(400, f"{field} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HttpProblem(400, f"{field} must be a number") from None
    if not math.isfinite(number):
        raise HttpProblem(400, f"{field} must be a number")
    return number


def _choice(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise HttpProblem(400, f"{field} must be one of {', '.join(allowed)}")
    return str(value)


def _date(value: Any, field: str) -> str | None:
    if _missing(value):
        return None
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise HttpProblem(400, f"{field} must be a date as YYYY-MM-DD") from None


class BraincertSimulator(Simulator):
    name = "braincert"
    title = "BrainCert"

    def __init__(self, api_key: str = "sim-key", domain_id: str = "sim-domain",
                 faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.credentials = (api_key, domain_id)
        # Ids start where no earlier run would have put them, so that a state file left from
        # a previous run never points at a different, newer record.
        self.ids = itertools.count(1000 + int(time.time() * 10) % 10**8)
        self.users: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.members: dict[int, set[int]] = {}  # group -> users
        self.courses: dict[int, dict[str, Any]] = {}
        self.enrolled: dict[int, set[int]] = {}  # course -> users
        self.pricing: dict[int, dict[str, Any]] = {}
        self.discounts: dict[int, dict[str, Any]] = {}
        self._routes()

    # protocol

    def authenticate(self, request: Request) -> None:
        """The two headers of every request, then whether the client accepts JSON."""
        key, domain = self.credentials
        if (request.headers.get("authorization") != key
                or request.headers.get("x-domain-id") != domain):
            raise HttpProblem(401, "Your API key or Domain ID is incorrect")
        accept = request.headers.get("accept", "").strip()
        ranges = {part.split(";")[0].strip().lower() for part in accept.split(",")}
        if accept and not ranges & JSON_RANGES:
            raise HttpProblem(406, "Only application/json answers are available")

    def error_body(self, status: int, message: str) -> Any:
        return {"message": PHRASES.get(status, "Error"),
                "error": {"code": status, "details": message}}

    def announcement(self, url: str) -> str:
        key, domain = self.credentials
        return (f"{super().announcement(url)} (base_url {url}{ROOT}, "
                f"Authorization: {key}, x-domain-id: {domain})")

    def _routes(self) -> None:
        for method, path, name, handler in (
            ("POST", "/users/create", "users create", self.create_user),
            ("DELETE", "/users/delete", "users delete", self.delete_user),
            ("POST", "/users/list", "users list", self.list_users),
            ("POST", "/users/getuser", "users getuser", self.get_user),
            ("GET", "/users/getuserbyEmail/{email}", "users by email", self.user_by_email),
            ("POST", "/users/listUsersenrolledincourse", "users enrolled", self.enrolled_users),
            ("POST", "/groups/create", "groups create", self.create_group),
            ("POST", "/groups/addUser", "groups adduser", self.add_member),
            ("POST", "/groups/list", "groups list", self.list_groups),
            ("POST", "/groups/listallusers", "groups members", self.list_members),
            ("POST", "/courses/create", "courses create", self.create_course),
            ("PUT", "/courses/update", "courses update", self.update_course),
            ("DELETE", "/courses/delete/{cid}", "courses delete", self.delete_course),
            ("POST", "/courses/list", "courses list", self.list_courses),
            ("GET", "/courses/get/{cid}", "courses get", self.get_course),
            ("POST", "/courses/publish/{cid}", "courses publish", self.publish),
            ("POST", "/courses/unpublish/{cid}", "courses unpublish", self.unpublish),
            ("POST", "/courses/enroll", "courses enroll", self.enroll),
            ("POST", "/courses/unenroll", "courses unenroll", self.unenroll),
            ("POST", "/shoppingCart/courses/addpricing", "pricing add", self.add_pricing),
            ("GET", "/shoppingCart/courses/pricing/{cid}", "pricing list", self.list_pricing),
            ("DELETE", "/shoppingCart/courses/deletepricing", "pricing delete",
             self.delete_pricing),
            ("POST", "/discounts/addCourseDiscount", "discounts add", self.add_discount),
            ("GET", "/discounts/globaldiscounts/list", "discounts global",
             self.global_discounts),
            ("GET", "/discounts/courses/{cid}", "discounts course", self.course_discounts),
            ("DELETE", "/discounts/removeCourseDiscount/{did}", "discounts remove",
             self.remove_discount),
        ):
            self.route(method, ROOT + path, name, handler)

    def _dispatch(self, request: Request) -> Response:
        """A known path asked with another method answers 405 (after the credentials)."""
        allowed = sorted({method for method, regex, _, _ in self.routes
                          if regex.match(request.path)})
        if allowed and request.method not in allowed:
            try:
                self.authenticate(request)
            except HttpProblem as problem:
                return Response(problem.status, self.error_body(problem.status, problem.message))
            return Response(405, self.error_body(
                405, f"{request.method} is not allowed here; use {', '.join(allowed)}"),
                {"Allow": ", ".join(allowed)})
        return super()._dispatch(request)

    # helpers

    @staticmethod
    def _ok(data: Any, message: str = "Success", status: int = 200) -> Response:
        return Response(status, {"message": message, "data": data})

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        """The query string and the JSON body as one mapping, the body winning."""
        if request.body is not None and not isinstance(request.body, dict):
            raise HttpProblem(400, "The body must be a JSON object")
        return {**request.query, **(request.body or {})}

    @staticmethod
    def _required(body: dict[str, Any], *names: str) -> None:
        for name in names:
            if _missing(body.get(name)):
                raise HttpProblem(400, f"{name} is required")

    @staticmethod
    def _find(table: dict[int, dict[str, Any]], value: Any, field: str,
              what: str) -> dict[str, Any]:
        if _missing(value):
            raise HttpProblem(400, f"{field} is required")
        record = table.get(_whole(value, field))
        if record is None:
            raise HttpProblem(404, f"No {what} with id {value}")
        return record

    def _page(self, request: Request, items: list[Any]) -> Response:
        body = self._body(request)
        page = 1 if _missing(body.get("page")) else _whole(body["page"], "page")
        limit = MAX_LIMIT if _missing(body.get("limit")) else _whole(body["limit"], "limit")
        page, limit = max(1, page), min(MAX_LIMIT, max(1, limit))
        start = (page - 1) * limit
        return Response(200, {"message": "Success", "data": items[start:start + limit],
                              "total": len(items), "page": page, "limit": limit})

    def _users(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        return [_view(self.users[i], USER_FIELDS) for i in sorted(ids)]

    # users

    def create_user(self, request: Request) -> Response:
        body = self._body(request)
        self._required(body, "email")
        email = str(body["email"]).strip()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            raise HttpProblem(400, "email must be an email address")
        if any(u["email"].lower() == email.lower() for u in self.users.values()):
            raise HttpProblem(400, f"A user with email {email} already exists")
        username = email if _missing(body.get("username")) else str(body["username"]).strip()
        if any(u["username"] == username for u in self.users.values()):
            raise HttpProblem(400, f"A user with username {username} already exists")
        uid = next(self.ids)
        self.users[uid] = {"id": uid, "username": username, "email": email,
                           "first_name": str(body.get("first_name") or ""),
                           "last_name": str(body.get("last_name") or ""),
                           "created_at": _now()}
        return Response(200, {"message": "User successfully created", "id": uid})

    def delete_user(self, request: Request) -> Response:
        user = self._find(self.users, self._body(request).get("user_id"), "user_id", "user")
        del self.users[user["id"]]
        for users in (*self.members.values(), *self.enrolled.values()):
            users.discard(user["id"])
        return self._ok(None, "User successfully deleted")

    def list_users(self, request: Request) -> Response:
        search = str(self._body(request).get("search") or "").strip().lower()
        fields = ("email", "username", "first_name", "last_name")
        found = [uid for uid, user in self.users.items()
                 if any(search in user[field].lower() for field in fields)]
        return self._page(request, self._users(found))

    def get_user(self, request: Request) -> Response:
        user = self._find(self.users, self._body(request).get("user_id"), "user_id", "user")
        return self._ok(_view(user, USER_FIELDS))

    def user_by_email(self, request: Request, email: str) -> Response:
        wanted = unquote(email).strip().lower()
        for user in self.users.values():
            if user["email"].lower() == wanted:
                return self._ok(_view(user, USER_FIELDS))
        raise HttpProblem(404, f"No user with email {unquote(email)}")

    def enrolled_users(self, request: Request) -> Response:
        course = self._find(self.courses, self._body(request).get("course_id"), "course_id",
                            "course")
        return self._page(request, self._users(self.enrolled[course["id"]]))

    # groups

    def create_group(self, request: Request) -> Response:
        body = self._body(request)
        self._required(body, "name")
        gid = next(self.ids)
        self.groups[gid] = {"id": gid, "name": str(body["name"]),
                            "description": str(body.get("description") or "")}
        self.members[gid] = set()
        return self._ok(_view(self.groups[gid], GROUP_FIELDS), "Group successfully created")

    def add_member(self, request: Request) -> Response:
        body = self._body(request)
        group = self._find(self.groups, body.get("group_id"), "group_id", "group")
        user = self._find(self.users, body.get("user_id"), "user_id", "user")
        if user["id"] in self.members[group["id"]]:
            raise HttpProblem(400, "user is already a member of the group")
        self.members[group["id"]].add(user["id"])
        return self._ok(None, "User successfully added to group")

    def list_groups(self, request: Request) -> Response:
        return self._page(request, [_view(g, GROUP_FIELDS) for g in self.groups.values()])

    def list_members(self, request: Request) -> Response:
        group = self._find(self.groups, self._body(request).get("group_id"), "group_id",
                           "group")
        return self._page(request, self._users(self.members[group["id"]]))

    # courses

    def create_course(self, request: Request) -> Response:
        body = self._body(request)
        self._required(body, "name")
        status = "unpublished" if _missing(body.get("status")) else _choice(
            body["status"], "status", STATUSES)
        cid = next(self.ids)
        self.courses[cid] = {"id": cid, "name": str(body["name"]),
                             "description": str(body.get("description") or ""),
                             "status": status, "created_at": _now()}
        self.enrolled[cid] = set()
        return self._ok(_view(self.courses[cid], COURSE_FIELDS), "Course successfully created")

    def update_course(self, request: Request) -> Response:
        body = self._body(request)
        course = self._find(self.courses, body.get("course_id"), "course_id", "course")
        changes: dict[str, Any] = {}
        if "name" in body:
            self._required(body, "name")
            changes["name"] = str(body["name"])
        if "description" in body:
            changes["description"] = str(body["description"] or "")
        if "status" in body:
            changes["status"] = _choice(body["status"], "status", STATUSES)
        course.update(changes)  # all or nothing: checked before any change
        return self._ok(_view(course, COURSE_FIELDS), "Course successfully updated")

    def delete_course(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "courseId", "course")
        del self.courses[course["id"]], self.enrolled[course["id"]]
        for table in (self.pricing, self.discounts):
            for key in [k for k, v in table.items() if v["course_id"] == course["id"]]:
                del table[key]
        return self._ok(None, "Course successfully deleted")

    def list_courses(self, request: Request) -> Response:
        return self._page(request, [_view(c, COURSE_FIELDS) for c in self.courses.values()])

    def get_course(self, request: Request, cid: str) -> Response:
        return self._ok(_view(self._find(self.courses, cid, "courseId", "course"),
                              COURSE_FIELDS))

    def _set_status(self, cid: str, status: str) -> Response:
        course = self._find(self.courses, cid, "courseId", "course")
        course["status"] = status
        return self._ok(_view(course, COURSE_FIELDS), f"Course successfully {status}")

    def publish(self, request: Request, cid: str) -> Response:
        return self._set_status(cid, "published")

    def unpublish(self, request: Request, cid: str) -> Response:
        return self._set_status(cid, "unpublished")

    def _enrollment(self, request: Request) -> tuple[int, int]:
        body = self._body(request)
        course = self._find(self.courses, body.get("course_id"), "course_id", "course")
        user = self._find(self.users, body.get("user_id"), "user_id", "user")
        return course["id"], user["id"]

    def enroll(self, request: Request) -> Response:
        course, user = self._enrollment(request)
        if user in self.enrolled[course]:
            raise HttpProblem(400, "user is already enrolled in this course")
        self.enrolled[course].add(user)
        return self._ok(None, "User successfully enrolled")

    def unenroll(self, request: Request) -> Response:
        course, user = self._enrollment(request)
        if user not in self.enrolled[course]:
            raise HttpProblem(404, "user is not enrolled in this course")
        self.enrolled[course].discard(user)
        return self._ok(None, "User successfully unenrolled")

    # pricing

    def add_pricing(self, request: Request) -> Response:
        body = self._body(request)
        self._required(body, "course_id", "plan_name", "price", "type", "currency")
        course = self._find(self.courses, body["course_id"], "course_id", "course")
        kind = _choice(body["type"], "type", PLAN_TYPES)
        interval = (_choice(body.get("interval"), "interval", INTERVALS)
                    if kind == "subscription" else None)
        price = _number(body["price"], "price")
        if price < 0:
            raise HttpProblem(400, "price must not be negative")
        currency = str(body["currency"]).strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise HttpProblem(400, "currency must be a three-letter code")
        name = str(body["plan_name"])
        if any(p["course_id"] == course["id"] and p["plan_name"] == name
               for p in self.pricing.values()):
            raise HttpProblem(400, f"The course already has a plan named {name}")
        pid = next(self.ids)
        self.pricing[pid] = {"id": pid, "pricing_id": pid, "course_id": course["id"],
                             "plan_name": name, "price": price, "type": kind,
                             "currency": currency, "interval": interval}
        return self._ok(_view(self.pricing[pid], PRICING_FIELDS), "Pricing successfully added")

    def list_pricing(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "courseId", "course")
        return self._page(request, [_view(p, PRICING_FIELDS) for p in self.pricing.values()
                                    if p["course_id"] == course["id"]])

    def delete_pricing(self, request: Request) -> Response:
        plan = self._find(self.pricing, self._body(request).get("pricing_id"), "pricing_id",
                          "pricing plan")
        del self.pricing[plan["id"]]
        return self._ok(None, "Pricing successfully removed")

    # discounts

    def _discount_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        """The checked fields of a new discount, course_id None for a global one."""
        self._required(body, "code", "discount_type", "value")
        kind = _choice(body["discount_type"], "discount_type", DISCOUNT_TYPES)
        value = _number(body["value"], "value")
        if value <= 0 or (kind == "percent" and value > 100):
            raise HttpProblem(400, "value must be above 0 (and at most 100 for percent)")
        limit = body.get("usage_limit")
        usage_limit = None if _missing(limit) else _whole(limit, "usage_limit")
        if usage_limit is not None and usage_limit < 0:
            raise HttpProblem(400, "usage_limit must not be negative")
        course = body.get("course_id")
        course_id = (None if _missing(course)
                     else self._find(self.courses, course, "course_id", "course")["id"])
        return {"code": str(body["code"]), "discount_type": kind, "value": value,
                "course_id": course_id, "usage_limit": usage_limit,
                "expiry": _date(body.get("expiry"), "expiry")}

    def add_discount(self, request: Request) -> Response:
        fields = self._discount_fields(self._body(request))
        if any(d["code"] == fields["code"] and d["course_id"] == fields["course_id"]
               for d in self.discounts.values()):
            scope = "globally" if fields["course_id"] is None else "for this course"
            raise HttpProblem(400, f"A discount with code {fields['code']} already exists "
                                   f"{scope}")
        did = next(self.ids)
        self.discounts[did] = {"id": did, **fields}
        return self._ok(_view(self.discounts[did], DISCOUNT_FIELDS),
                        "Discount successfully added")

    def _discounts(self, request: Request, course_id: int | None) -> Response:
        return self._page(request, [_view(d, DISCOUNT_FIELDS) for d in self.discounts.values()
                                    if d["course_id"] == course_id])

    def global_discounts(self, request: Request) -> Response:
        return self._discounts(request, None)

    def course_discounts(self, request: Request, cid: str) -> Response:
        return self._discounts(request, self._find(self.courses, cid, "courseId",
                                                   "course")["id"])

    def remove_discount(self, request: Request, did: str) -> Response:
        discount = self._find(self.discounts, did, "id", "discount")
        del self.discounts[discount["id"]]
        return self._ok(None, "Discount successfully removed")


@click.option("--api-key", default="sim-key", show_default=True,
              help="The Authorization header every request must carry.")
@click.option("--domain-id", default="sim-domain", show_default=True,
              help="The x-domain-id header every request must carry.")
def braincert(faults: Faults, api_key: str, domain_id: str) -> BraincertSimulator:
    """The BrainCert API, in memory."""
    return BraincertSimulator(api_key, domain_id, faults)


command = simulator_command(braincert)
