"""A simulator of the BrainCert LMS API v1, from the vendor's document and the project's
pinned names for what it leaves open.

It serves the documented paths under /api/v1, checks the `Authorization: <key>` and
`x-domain-id` headers (401), wraps every answer as {"message", "data"} (lists add `total`,
`page`, `limit`; at most 100 a page, asked in the JSON body or the query) and every error as
{"message", "error": {"code", "details"}}. A user create answers {"message", "id"} as the
document's example shows.

Records, as this simulator answers them (the document shows none of these; they are the
project's assumption, see docs/providers/braincert.md):
user {id, username, email, first_name, last_name, created_at}; group {id, name, description};
course {id, name, description, status: published|unpublished, created_at}; pricing plan
{pricing_id, course_id, plan_name, price, type, currency, interval}; discount {id, code,
discount_type, value, course_id, usage_limit, expiry}.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from typing import Any

import click

from lmsform.simulators.base import (
    Faults,
    HttpProblem,
    Request,
    Response,
    Simulator,
    simulator_command,
)

ROOT = "/api/v1"
MAX_LIMIT = 100
PHRASES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 415: "Not Acceptable",
           429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}
STATUSES = {"published", "unpublished"}
PLAN_TYPES = {"one_time", "subscription"}
INTERVALS = {"month", "year"}
DISCOUNT_TYPES = {"percent", "fixed"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class BraincertSimulator(Simulator):
    name = "braincert"
    title = "BrainCert"

    def __init__(self, api_key: str = "sim-key", domain_id: str = "sim-domain",
                 faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.credentials = (api_key, domain_id)
        self.ids = itertools.count(1000 + int(time.time() * 10) % 10**8)
        self.users: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.members: dict[int, set[int]] = {}
        self.courses: dict[int, dict[str, Any]] = {}
        self.enrolled: dict[int, set[int]] = {}
        self.pricing: dict[int, dict[str, Any]] = {}
        self.discounts: dict[int, dict[str, Any]] = {}
        self._routes()

    # protocol

    def authenticate(self, request: Request) -> None:
        key, domain = self.credentials
        if (request.headers.get("authorization") != key
                or request.headers.get("x-domain-id") != domain):
            raise HttpProblem(401, "Your API key or Domain ID is incorrect")

    def error_body(self, status: int, message: str) -> Any:
        return {"message": PHRASES.get(status, "Error"),
                "error": {"code": status, "details": message}}

    def _routes(self) -> None:
        r = self.route
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
            r(method, ROOT + path, name, handler)

    def _dispatch(self, request: Request) -> Response:
        response = super()._dispatch(request)
        if response.status == 404 and self._known_path_other_method(request):
            return Response(405, self.error_body(405, f"{request.method} is not allowed here"))
        return response

    def _known_path_other_method(self, request: Request) -> bool:
        return any(regex.match(request.path) and method != request.method
                   for method, regex, _, _ in self.routes)

    # helpers

    @staticmethod
    def _ok(data: Any, message: str = "Success", status: int = 200) -> Response:
        return Response(status, {"message": message, "data": data})

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        body = request.body if isinstance(request.body, dict) else {}
        return {**request.query, **body}

    @staticmethod
    def _required(body: dict[str, Any], *names: str) -> None:
        for name in names:
            if body.get(name) in (None, ""):
                raise HttpProblem(400, f"{name} is required")

    @staticmethod
    def _id(value: Any, what: str) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise HttpProblem(400, f"{what} must be a number") from None

    def _get(self, table: dict[int, dict[str, Any]], value: Any, what: str) -> dict[str, Any]:
        record = table.get(self._id(value, what))
        if record is None:
            raise HttpProblem(404, f"{what} {value} not found")
        return record

    def _page(self, request: Request, items: list[Any]) -> Response:
        body = self._body(request)
        try:
            page = max(1, int(body.get("page") or 1))
            limit = min(MAX_LIMIT, max(1, int(body.get("limit") or MAX_LIMIT)))
        except (TypeError, ValueError):
            raise HttpProblem(400, "page and limit must be numbers") from None
        start = (page - 1) * limit
        return Response(200, {"message": "Success", "data": items[start:start + limit],
                              "total": len(items), "page": page, "limit": limit})

    # users

    def create_user(self, request: Request) -> Response:
        body = self._body(request)
        self._required(body, "email")
        email = str(body["email"])
        if any(u["email"].lower() == email.lower() for u in self.users.values()):
            raise HttpProblem(400, "a user with this email already exists")
        username = str(body.get("username") or email)
        if any(u["username"] == username for u in self.users.values()):
            raise HttpProblem(400, "a user with this username already exists")
        uid = next(self.ids)
        self.users[uid] = {"id": uid, "username": username, "email": email,
                           "first_name": body.get("first_name") or "",
                           "last_name": body.get("last_name") or "", "created_at": _now()}
        return Response(200, {"message": "User successfully created", "id": uid})

    def delete_user(self, request: Request) -> Response:
        user = self._get(self.users, self._body(request).get("user_id"), "user")
        del self.users[user["id"]]
        for users in (*self.members.values(), *self.enrolled.values()):
            users.discard(user["id"])
        return self._ok(None, "User deleted")

    def list_users(self, request: Request) -> Response:
        search = str(self._body(request).get("search") or "").lower()
        found = [u for u in self.users.values() if not search or any(
            search in str(u[k]).lower() for k in ("email", "username", "first_name",
                                                   "last_name"))]
        return self._page(request, found)

    def get_user(self, request: Request) -> Response:
        return self._ok(self._get(self.users, self._body(request).get("user_id"), "user"))

    def user_by_email(self, request: Request, email: str) -> Response:
        for user in self.users.values():
            if user["email"].lower() == email.lower():
                return self._ok(user)
        raise HttpProblem(404, f"no user with email {email}")

    def enrolled_users(self, request: Request) -> Response:
        course = self._get(self.courses, self._body(request).get("course_id"), "course")
        ids = sorted(self.enrolled.get(course["id"], set()))
        return self._page(request, [self.users[i] for i in ids])

    # groups

    def create_group(self, request: Request) -> Response:
        body = self._body(request)
        self._required(body, "name")
        gid = next(self.ids)
        self.groups[gid] = {"id": gid, "name": body["name"],
                            "description": body.get("description") or ""}
        self.members[gid] = set()
        return self._ok({"id": gid}, "Group created")

    def add_member(self, request: Request) -> Response:
        body = self._body(request)
        group = self._get(self.groups, body.get("group_id"), "group")
        user = self._get(self.users, body.get("user_id"), "user")
        if user["id"] in self.members[group["id"]]:
            raise HttpProblem(400, "user is already a member of the group")
        self.members[group["id"]].add(user["id"])
        return self._ok(None, "User added to group")

    def list_groups(self, request: Request) -> Response:
        return self._page(request, list(self.groups.values()))

    def list_members(self, request: Request) -> Response:
        group = self._get(self.groups, self._body(request).get("group_id"), "group")
        return self._page(request, [self.users[i] for i in sorted(self.members[group["id"]])])

    # courses

    def create_course(self, request: Request) -> Response:
        body = self._body(request)
        self._required(body, "name")
        status = body.get("status") or "unpublished"
        if status not in STATUSES:
            raise HttpProblem(400, "status must be published or unpublished")
        cid = next(self.ids)
        self.courses[cid] = {"id": cid, "name": body["name"],
                             "description": body.get("description") or "", "status": status,
                             "created_at": _now()}
        self.enrolled[cid] = set()
        return self._ok({"id": cid}, "Course created")

    def update_course(self, request: Request) -> Response:
        body = self._body(request)
        course = self._get(self.courses, body.get("course_id"), "course")
        if "status" in body and body["status"] not in STATUSES:
            raise HttpProblem(400, "status must be published or unpublished")
        for key in ("name", "description", "status"):
            if key in body:
                course[key] = body[key]
        return self._ok(course, "Course updated")

    def delete_course(self, request: Request, cid: str) -> Response:
        course = self._get(self.courses, cid, "course")
        del self.courses[course["id"]], self.enrolled[course["id"]]
        for table in (self.pricing, self.discounts):
            for key in [k for k, v in table.items() if v.get("course_id") == course["id"]]:
                del table[key]
        return self._ok(None, "Course deleted")

    def list_courses(self, request: Request) -> Response:
        return self._page(request, list(self.courses.values()))

    def get_course(self, request: Request, cid: str) -> Response:
        return self._ok(self._get(self.courses, cid, "course"))

    def publish(self, request: Request, cid: str) -> Response:
        self._get(self.courses, cid, "course")["status"] = "published"
        return self._ok(None, "Course published")

    def unpublish(self, request: Request, cid: str) -> Response:
        self._get(self.courses, cid, "course")["status"] = "unpublished"
        return self._ok(None, "Course unpublished")

    def _enrollment(self, request: Request) -> tuple[int, int]:
        body = self._body(request)
        course = self._get(self.courses, body.get("course_id"), "course")
        user = self._get(self.users, body.get("user_id"), "user")
        return course["id"], user["id"]

    def enroll(self, request: Request) -> Response:
        course, user = self._enrollment(request)
        if user in self.enrolled[course]:
            raise HttpProblem(400, "user is already enrolled in this course")
        self.enrolled[course].add(user)
        return self._ok(None, "User enrolled")

    def unenroll(self, request: Request) -> Response:
        course, user = self._enrollment(request)
        if user not in self.enrolled[course]:
            raise HttpProblem(404, "user is not enrolled in this course")
        self.enrolled[course].discard(user)
        return self._ok(None, "User unenrolled")

    # pricing and discounts

    def add_pricing(self, request: Request) -> Response:
        body = self._body(request)
        self._required(body, "course_id", "plan_name", "price", "type", "currency")
        course = self._get(self.courses, body["course_id"], "course")
        if body["type"] not in PLAN_TYPES:
            raise HttpProblem(400, "type must be one_time or subscription")
        interval = body.get("interval")
        if body["type"] == "subscription" and interval not in INTERVALS:
            raise HttpProblem(400, "interval must be month or year for a subscription")
        if any(p["course_id"] == course["id"] and p["plan_name"] == body["plan_name"]
               for p in self.pricing.values()):
            raise HttpProblem(400, "this course already has a plan with that name")
        pid = next(self.ids)
        self.pricing[pid] = {"pricing_id": pid, "course_id": course["id"],
                             "plan_name": body["plan_name"], "price": float(body["price"]),
                             "type": body["type"], "currency": str(body["currency"]).upper(),
                             "interval": interval if body["type"] == "subscription" else None}
        return self._ok({"pricing_id": pid}, "Pricing added")

    def list_pricing(self, request: Request, cid: str) -> Response:
        course = self._get(self.courses, cid, "course")
        return self._ok([p for p in self.pricing.values() if p["course_id"] == course["id"]])

    def delete_pricing(self, request: Request) -> Response:
        plan = self._get(self.pricing, self._body(request).get("pricing_id"), "pricing")
        del self.pricing[plan["pricing_id"]]
        return self._ok(None, "Pricing removed")

    def add_discount(self, request: Request) -> Response:
        body = self._body(request)
        self._required(body, "code", "discount_type", "value")
        if body["discount_type"] not in DISCOUNT_TYPES:
            raise HttpProblem(400, "discount_type must be percent or fixed")
        course = body.get("course_id")
        course_id = None if course is None else self._get(self.courses, course, "course")["id"]
        if any(d["code"] == body["code"] and d["course_id"] == course_id
               for d in self.discounts.values()):
            raise HttpProblem(400, "a discount with this code already exists here")
        did = next(self.ids)
        self.discounts[did] = {"id": did, "code": body["code"],
                               "discount_type": body["discount_type"],
                               "value": float(body["value"]), "course_id": course_id,
                               "usage_limit": body.get("usage_limit"),
                               "expiry": body.get("expiry")}
        return self._ok({"id": did}, "Discount added")

    def global_discounts(self, request: Request) -> Response:
        return self._ok([d for d in self.discounts.values() if d["course_id"] is None])

    def course_discounts(self, request: Request, cid: str) -> Response:
        course = self._get(self.courses, cid, "course")
        return self._ok([d for d in self.discounts.values() if d["course_id"] == course["id"]])

    def remove_discount(self, request: Request, did: str) -> Response:
        discount = self._get(self.discounts, did, "discount")
        del self.discounts[discount["id"]]
        return self._ok(None, "Discount removed")


@click.option("--api-key", default="sim-key", show_default=True)
@click.option("--domain-id", default="sim-domain", show_default=True)
def braincert(faults: Faults, api_key: str, domain_id: str) -> BraincertSimulator:
    """The BrainCert API, in memory."""
    return BraincertSimulator(api_key, domain_id, faults)


command = simulator_command(braincert)
