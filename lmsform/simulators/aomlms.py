"""A simulator of the AOM LMS (Academy of Mine) REST API, in memory, over a real socket.

Written from the vendor's API reference: the users, course categories, courses, enrollments
and coupons endpoints under /api, with the documented request fields and answer shapes
("tabular lists" answering `recordsTotal`, `recordsFiltered` and `records`; snake_case in
lists, camelCase in the one-user read). Other parts of the API (classes, modules, badges,
orders...) are not simulated and answer 404.

Where the document is silent, this simulator answers as a Laravel application does, which is
the project's documented assumption (docs/providers/aomlms.md):
- a missing or wrong `Authorization: Bearer <token>`: 401 `{"message": "Unauthenticated."}`;
- invalid input: 422 `{"message": <the first error>, "errors": {field: [messages]}}`, every
  failing field listed; an unknown id: 404 `{"message": "No query results for model ..."}`;
- `page_size` defaults to 10 and is capped at 100; `page_number` counts from 1; `order_by`
  `{"colName", "direction"}` sorts by id or created_at, ascending by id otherwise;
- a course's categories in the course list are their names joined by ", ";
- ids are integers unique per table, from a time-based offset so that no two runs hand out
  the same ids;
- the delete calls answer 200 with counts, refusing users and courses that have enrollments
  and coupons that orders use, in the words of the document's examples; orders cannot be
  made through the API: tests call `add_order(coupon_id)`;
- enrolling someone enrolled already, or removing an enrollment that is gone, changes nothing
  and is not an error;
- `user/bulkUpload` refuses the whole list (422) when one entry is invalid or its email is
  taken, and enrolls every new user in `selectedCourses`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
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

ROOT = "/api"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
GRADING = {"no_grading": "No Grading",
           "avg_all_modules": "Average of all Quiz/Assignment/Discussions/Scorm",
           "avg_specific_modules": "Average of specific Quiz/Assignment/Discussions/Scorm"}
DURATION = {"unlimited": "Unlimited", "on_specific_date": "Till Specific Date",
            "x_days_after_start": "Till X day(s) after a student start the course",
            "x_days_after_enrollment": "Till X day(s) after enrollment"}
STATUSES = {"draft": "Draft", "publish": "Publish"}
COUPON_TYPES = {"fixed_amount": "Fixed cart discount", "percent_amount": "Percentage Discount"}
AVATAR = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"40\"></svg>"


class Invalid(Exception):
    """Laravel's 422, with every failing field (answered by `AomlmsSimulator._dispatch`)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        self.message = next(iter(errors.values()))[0]
        super().__init__(self.message)


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%b %d, %Y %I:%M %p")


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    return "" if value is None else str(value).strip()


def _ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise Invalid({"ids": ["The ids must be an array."]})
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        raise Invalid({"ids": ["The ids must be integers."]}) from None


class AomlmsSimulator(Simulator):
    name = "aomlms"
    title = "AOM LMS"

    def __init__(self, token: str = "sim-token", faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.token = token
        start = 1000 + int(time.time() * 10) % 10**8
        self.ids = {t: itertools.count(start) for t in ("user", "course", "category",
                                                         "enrollment", "coupon")}
        self.users: dict[int, dict[str, Any]] = {}
        self.courses: dict[int, dict[str, Any]] = {}
        self.categories: dict[int, dict[str, Any]] = {}
        self.enrollments: dict[int, dict[str, Any]] = {}  # {id, course, user, created}
        self.coupons: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, int] = {}  # coupon id -> orders using it
        self._routes()

    # protocol

    def authenticate(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise HttpProblem(401, "Unauthenticated.")

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message}

    def announcement(self, url: str) -> str:
        return f"{super().announcement(url)} (base_url {url}, token {self.token})"

    def _dispatch(self, request: Request) -> Response:
        try:
            return super()._dispatch(request)
        except Invalid as problem:
            return Response(422, {"message": problem.message, "errors": problem.errors})

    def _routes(self) -> None:
        for method, path, handler in (
            ("GET", "users/tabularlist", self.list_users),
            ("GET", "users/lookup", self.user_lookup),
            ("POST", "user/create", self.create_user),
            ("POST", "user/bulkUpload", self.bulk_upload),
            ("POST", "user/delete", self.delete_users),
            ("POST", "user/quickEdit", self.quick_edit),
            ("GET", "users/enrolled-courses", self.courses_of_user),
            ("GET", "user/{uid}", self.get_user),
            ("PUT", "user/{uid}", self.put_user),
            ("GET", "categories/course/lookup", self.category_lookup),
            ("GET", "coursecategory/tabularlist", self.list_categories),
            ("POST", "category/create", self.create_category),
            ("POST", "category/delete", self.delete_categories),
            ("GET", "category/{cid}", self.get_category),
            ("PUT", "category/{cid}", self.put_category),
            ("GET", "courses/tabularlist", self.list_courses),
            ("GET", "courses/grading-rules/lookup", self.lookup(GRADING)),
            ("GET", "courses/duration-rules/lookup", self.lookup(DURATION)),
            ("GET", "courses/status/lookup", self.lookup(STATUSES)),
            ("GET", "course/enrolled-students", self.students_of_course),
            ("POST", "course/delete", self.delete_courses),
            ("POST", "course", self.create_course),
            ("PUT", "course/update-slug/{cid}", self.update_slug),
            ("POST", "course/enroll/{cid}", self.enroll),
            ("POST", "course/remove/{cid}", self.remove),
            ("GET", "course/{cid}", self.get_course),
            ("PUT", "course/{cid}", self.put_course),
            ("GET", "coupons/tabularlist", self.list_coupons),
            ("GET", "coupons/type/lookup", self.lookup(COUPON_TYPES)),
            ("POST", "coupon/create", self.create_coupon),
            ("POST", "coupon/delete", self.delete_coupons),
            ("GET", "coupon/{cid}", self.get_coupon),
            ("PUT", "coupon/{cid}", self.put_coupon),
        ):
            self.route(method, f"{ROOT}/{path}", path, handler)

    # helpers

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if request.body is None:
            return {}
        if not isinstance(request.body, dict):
            raise Invalid({"body": ["The body must be a JSON object."]})
        return request.body

    @staticmethod
    def _find(table: dict[int, dict[str, Any]], value: Any, model: str) -> dict[str, Any]:
        try:
            record = table.get(int(value))
        except (TypeError, ValueError):
            record = None
        if record is None:
            raise HttpProblem(404, f"No query results for model [App\\Models\\{model}] {value}")
        return record

    def _page(self, request: Request, records: list[dict[str, Any]],
              **extra: Any) -> Response:
        query = request.query
        try:
            size = min(100, max(1, int(query.get("page_size") or 10)))
            number = max(1, int(query.get("page_number") or 1))
        except ValueError:
            raise Invalid({"page_size": ["The page size and number must be integers."]}) \
                from None
        records = self._ordered(records, query.get("order_by"))
        start = (number - 1) * size
        return Response(200, {**extra, "recordsTotal": len(records),
                              "recordsFiltered": len(records),
                              "records": records[start:start + size]})

    @staticmethod
    def _ordered(records: list[dict[str, Any]], order_by: str | None) -> list[dict[str, Any]]:
        try:
            order = json.loads(order_by) if order_by else {}
        except ValueError:
            order = {}
        order = order if isinstance(order, dict) else {}
        reverse = str(order.get("direction", "asc")).lower() == "desc"
        # created_at follows the ids: both give creation order
        return sorted(records, key=lambda r: int(r["id"]), reverse=reverse)

    def lookup(self, values: dict[str, str]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            return Response(200, [{"db_value": k, "display_value": v}
                                  for k, v in values.items()])
        return answer

    def _enrolled(self, course: int | None = None, user: int | None = None
                  ) -> list[dict[str, Any]]:
        return [e for e in self.enrollments.values()
                if (course is None or e["course"] == course)
                and (user is None or e["user"] == user)]

    def _enroll(self, course: int, users: Iterable[int]) -> int:
        added = 0
        for user in users:
            if not self._enrolled(course, user):
                eid = next(self.ids["enrollment"])
                self.enrollments[eid] = {"id": eid, "course": course, "user": user,
                                         "created": dt.datetime.now()}
                added += 1
        return added

    # users

    def _user_row(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"id": user["id"], "first_name": user["first_name"],
                "last_name": user["last_name"], "email": user["email"], "avatar": AVATAR,
                "user_type": "general", "display_user_type": "General",
                "created_at": _when(user["created"]), "last_login": "Never"}

    def list_users(self, request: Request) -> Response:
        return self._page(request, [self._user_row(u) for u in self.users.values()])

    def user_lookup(self, request: Request) -> Response:
        return Response(200, [{"id": u["id"], "full_name":
                               f"{u['first_name']} {u['last_name']}".strip(),
                               "email": u["email"]} for u in self.users.values()])

    def _check_user(self, first: str, email: str, errors: dict[str, list[str]],
                    prefix: str = "", but: int | None = None) -> None:
        if not first:
            errors.setdefault(f"{prefix}firstName", []).append("The first name field is required.")
        if not EMAIL.match(email):
            errors.setdefault(f"{prefix}email", []).append(
                "The email must be a valid email address.")
        elif any(u["email"].lower() == email.lower() and u["id"] != but
                 for u in self.users.values()):
            errors.setdefault(f"{prefix}email", []).append("The email has already been taken.")

    def _new_user(self, first: str, last: str, email: str) -> int:
        uid = next(self.ids["user"])
        self.users[uid] = {"id": uid, "first_name": first, "last_name": last, "email": email,
                           "disabled": False, "created": dt.datetime.now()}
        return uid

    def create_user(self, request: Request) -> Response:
        body = self._body(request)
        first, email = _text(body, "firstName"), _text(body, "email")
        errors: dict[str, list[str]] = {}
        self._check_user(first, email, errors)
        password = _text(body, "password")
        if not password:
            errors["password"] = ["The password field is required."]
        elif password != _text(body, "password_confirmation"):
            errors["password"] = ["The password confirmation does not match."]
        if errors:
            raise Invalid(errors)
        uid = self._new_user(first, _text(body, "lastName"), email)
        return Response(200, {"id": uid, "message": "User created successfully"})

    def bulk_upload(self, request: Request) -> Response:
        body = self._body(request)
        entries = body.get("userList")
        if not isinstance(entries, list) or not entries:
            raise Invalid({"userList": ["The user list field is required."]})
        errors: dict[str, list[str]] = {}
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            entry = entry if isinstance(entry, dict) else {}
            email = _text(entry, "email")
            self._check_user(_text(entry, "first_name") or "-", email, errors,
                             f"userList.{i}.")
            if email.lower() in seen:
                errors.setdefault(f"userList.{i}.email", []).append(
                    "The email appears twice in the list.")
            seen.add(email.lower())
        courses = [self._find(self.courses, c, "Course")["id"]
                   for c in body.get("selectedCourses") or []]
        if errors:
            raise Invalid(errors)
        for entry in entries:
            uid = self._new_user(_text(entry, "first_name"), _text(entry, "last_name"),
                                 _text(entry, "email"))
            for course in courses:
                self._enroll(course, [uid])
        return Response(200, {"message": "User(s) uploaded successfully"})

    def get_user(self, request: Request, uid: str) -> Response:
        user = self._find(self.users, uid, "User")
        return Response(200, {"firstName": user["first_name"], "lastName": user["last_name"],
                              "email": user["email"], "lastLoggedIn": "Never",
                              "avatar": AVATAR, "disabled": user["disabled"]})

    def put_user(self, request: Request, uid: str) -> Response:
        user = self._find(self.users, uid, "User")
        body = self._body(request)
        first, email = _text(body, "firstName"), _text(body, "email")
        errors: dict[str, list[str]] = {}
        self._check_user(first, email, errors, but=user["id"])
        if not isinstance(body.get("disabled"), bool):
            errors["disabled"] = ["The disabled field must be true or false."]
        if errors:
            raise Invalid(errors)
        user.update(first_name=first, last_name=_text(body, "lastName"), email=email,
                    disabled=body["disabled"])
        return Response(200, {"message": "User updated successfully"})

    def quick_edit(self, request: Request) -> Response:
        body = self._body(request)
        users = [self._find(self.users, u, "User") for u in _ids(body.get("user_ids"))]
        if not isinstance(body.get("disabled"), bool):
            raise Invalid({"disabled": ["The disabled field must be true or false."]})
        for user in users:
            user["disabled"] = body["disabled"]
        for course in _ids(body.get("course_ids") or []):
            self._enroll(self._find(self.courses, course, "Course")["id"],
                         [u["id"] for u in users])
        return Response(200, {"message": "Users updated Successfully"})

    def delete_users(self, request: Request) -> Response:
        deleted = kept = 0
        for uid in _ids(self._body(request).get("delete_ids")):
            if uid not in self.users:
                continue
            if self._enrolled(user=uid):
                kept += 1
                continue
            del self.users[uid]
            deleted += 1
        message = f"{deleted} student(s) deleted"
        if kept:
            message = (f"{kept} student(s) not deleted as they has enrollments. Please remove "
                       "the student(s) from the course and try again.")
        return Response(200, {"message": message})

    def courses_of_user(self, request: Request) -> Response:
        user = self._find(self.users, request.query.get("user_id"), "User")
        rows = [{"id": e["id"], "courseId": e["course"], "featuredImageUrl": None,
                 "courseSlug": f"/course/{self.courses[e['course']]['slug']}",
                 "courseName": self.courses[e["course"]]["name"], "lastAccessed": "Never",
                 "status": "Not Started", "display_status": "Not Started",
                 "accessStatus": "Allowed", "percentComplete": 0,
                 "registered_on": e["created"].strftime("%b %d, %Y"), "started_on": "",
                 "completed_on": "", "expire_on": "Never", "isExpired": False}
                for e in self._enrolled(user=user["id"])]
        return self._page(request, rows)

    # categories

    def category_lookup(self, request: Request) -> Response:
        return Response(200, [{"id": c["id"], "name": c["name"]}
                              for c in self.categories.values()])

    def list_categories(self, request: Request) -> Response:
        rows = [{"id": c["id"], "name": c["name"], "author": "Aom Staff",
                 "count": sum(c["id"] in k["categories"] for k in self.courses.values()),
                 "created_at": _when(c["created"])} for c in self.categories.values()]
        return self._page(request, rows)

    def _check_category(self, name: str, but: int | None = None) -> None:
        if not name:
            raise Invalid({"category_name": ["The category name field is required."]})
        if any(c["name"] == name and c["id"] != but for c in self.categories.values()):
            raise Invalid({"category_name": ["The category name has already been taken."]})

    def create_category(self, request: Request) -> Response:
        body = self._body(request)
        name = _text(body, "category_name")
        self._check_category(name)
        if _text(body, "categoryType") not in {"course", "question", "product", "module"}:
            raise Invalid({"categoryType": ["The selected category type is invalid."]})
        cid = next(self.ids["category"])
        self.categories[cid] = {"id": cid, "name": name, "type": body["categoryType"],
                                "created": dt.datetime.now()}
        return Response(200, {"message": "Category Created Successfully"})

    def get_category(self, request: Request, cid: str) -> Response:
        c = self._find(self.categories, cid, "Category")
        stamp = c["created"].strftime("%Y-%m-%d %H:%M:%S")
        return Response(200, {"id": c["id"], "name": c["name"], "type": c["type"],
                              "created_by": 2, "updated_by": None, "deleted_by": None,
                              "created_at": stamp, "updated_at": stamp, "deleted_at": None})

    def put_category(self, request: Request, cid: str) -> Response:
        category = self._find(self.categories, cid, "Category")
        name = _text(self._body(request), "category_name")
        self._check_category(name, but=category["id"])
        category["name"] = name
        return Response(200, {"message": "Category Updated Successfully"})

    def delete_categories(self, request: Request) -> Response:
        count = 0
        for cid in _ids(self._body(request).get("delete_ids")):
            if self.categories.pop(cid, None) is not None:
                count += 1
                for course in self.courses.values():
                    course["categories"] = [c for c in course["categories"] if c != cid]
        return Response(200, {"message": f"{count} category(s) deleted "})

    # courses

    def list_courses(self, request: Request) -> Response:
        rows = [{"id": c["id"], "name": c["name"], "slug": c["slug"], "status": c["status"],
                 "categories": ", ".join(self.categories[i]["name"] for i in c["categories"]),
                 "author": "Aom Staff", "created_at": c["created"].strftime("%d %b %Y %I:%M %p")}
                for c in self.courses.values()]
        return self._page(request, rows)

    def students_of_course(self, request: Request) -> Response:
        course = self._find(self.courses, request.query.get("course_id"), "Course")
        rows = []
        for e in self._enrolled(course=course["id"]):
            user = self.users[e["user"]]
            rows.append({"id": e["id"], "user_id": user["id"],
                         "first_name": user["first_name"], "last_name": user["last_name"],
                         "email": user["email"], "avatar": AVATAR, "status": "Not Started",
                         "percentComplete": 0, "access_status": "Allowed",
                         "registered_on": e["created"].strftime("%d-%b-%Y"), "started_on": "",
                         "completed_on": "", "expire_on": "Never",
                         "last_accessed_on": "Never"})
        return self._page(request, rows, courseName=course["name"], featuredImage=None)

    def _course_fields(self, body: dict[str, Any], but: int | None = None) -> dict[str, Any]:
        """A course body, validated: Laravel's rules as the document describes them."""
        errors: dict[str, list[str]] = {}
        name, slug = _text(body, "name"), _text(body, "slug")
        if not name:
            errors["name"] = ["The name field is required."]
        if not SLUG.match(slug):
            errors["slug"] = ["The slug must be letters, digits, dashes and underscores."]
        elif any(c["slug"].lower() == slug.lower() and c["id"] != but
                 for c in self.courses.values()):
            errors["slug"] = ["The slug has already been taken."]
        for field, allowed in (("gradingRule", GRADING), ("durationRule", DURATION),
                               ("status", STATUSES)):
            if body.get(field) not in allowed:
                errors[field] = [f"The selected {field} is invalid."]
        credits = body.get("credits")
        if credits not in (None, "") and not re.fullmatch(r"\d+", str(credits)):
            errors["credits"] = ["The credits must be an integer."]
        categories = body.get("categories") or []
        if not isinstance(categories, list) or any(
                not str(c).isdigit() or int(c) not in self.categories for c in categories):
            errors["categories"] = ["The selected categories are invalid."]
        if errors:
            raise Invalid(errors)
        return {"name": name, "slug": slug, "status": body["status"],
                "gradingRule": body["gradingRule"], "durationRule": body["durationRule"],
                "credits": None if credits in (None, "") else int(credits),
                "categories": sorted({int(c) for c in categories}),
                "instructions": body.get("instructions"),
                "minPassingPercentage": body.get("minPassingPercentage")}

    def create_course(self, request: Request) -> Response:
        fields = self._course_fields(self._body(request))
        cid = next(self.ids["course"])
        self.courses[cid] = {"id": cid, **fields, "created": dt.datetime.now()}
        return Response(200, {"id": cid, "message": "Course saved successfully"})

    def get_course(self, request: Request, cid: str) -> Response:
        c = self._find(self.courses, cid, "Course")
        return Response(200, {
            "name": c["name"], "slug": c["slug"], "featuredImageUrl": None,
            "instructions": c["instructions"], "credits": c["credits"],
            "minPassingPercentage": c["minPassingPercentage"],
            "gradingRule": c["gradingRule"], "durationRule": c["durationRule"],
            "durationSpecificDate": None, "durationDays": None, "status": c["status"],
            "certificateTemplates": [], "associatedProduct": [],
            "hasAssociatedProduct": False, "modules": [], "categories": c["categories"],
            "gradeModules": []})

    def put_course(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "Course")
        course.update(self._course_fields(self._body(request), but=course["id"]))
        return Response(200, {"id": course["id"], "message": "Course updated successfully"})

    def update_slug(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "Course")
        body = {**self.get_course(request, cid).body, "slug": self._body(request).get("slug")}
        course["slug"] = self._course_fields(body, but=course["id"])["slug"]
        return Response(200, course["slug"])

    def delete_courses(self, request: Request) -> Response:
        deleted = kept = 0
        for cid in _ids(self._body(request).get("delete_ids")):
            if cid not in self.courses:
                continue
            if self._enrolled(course=cid):
                kept += 1
                continue
            del self.courses[cid]
            deleted += 1
        message = f"{deleted}  course(s) deleted"
        if kept:
            message += (f" {kept} course(s) not deleted as it has enrollments. Please remove "
                        "the students from the course and try again.")
        return Response(200, {"message": message})

    def enroll(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "Course")
        users = [self._find(self.users, u, "User")["id"]
                 for u in _ids(self._body(request).get("studentIds"))]
        added = self._enroll(course["id"], users)
        return Response(200, {"message": f"{added} student(s) enrolled successfully"})

    def remove(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "Course")
        removed = 0
        for eid in _ids(self._body(request).get("enrollmentIds")):
            enrollment = self.enrollments.get(eid)
            if enrollment is not None and enrollment["course"] == course["id"]:
                del self.enrollments[eid]
                removed += 1
        return Response(200, {"message": f"{removed} student(s) removed successfully"})

    # coupons

    def list_coupons(self, request: Request) -> Response:
        rows = [{"id": c["id"], "code": c["code"], "type": c["type"], "value": c["value"],
                 "total_limit": c["usage_limit"],
                 "expired_at": (dt.date.fromisoformat(c["expiry"]).strftime("%b %d, %Y")
                                if c["expiry"] else None)} for c in self.coupons.values()]
        return self._page(request, rows)

    def _coupon_fields(self, body: dict[str, Any], but: int | None = None) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        code = _text(body, "code")
        if not code:
            errors["code"] = ["The code field is required."]
        elif any(c["code"] == code and c["id"] != but for c in self.coupons.values()):
            errors["code"] = ["The code has already been taken."]
        if body.get("type") not in COUPON_TYPES:
            errors["type"] = ["The selected type is invalid."]
        try:
            value = float(body.get("value"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            errors["value"] = ["The value must be a number."]
            value = 0.0
        limit = body.get("usage_limit")
        if limit not in (None, "") and not re.fullmatch(r"\d+", str(limit)):
            errors["usage_limit"] = ["The usage limit must be an integer."]
        expiry = body.get("expiry")
        try:
            expiry = dt.date.fromisoformat(str(expiry)).isoformat() if expiry else None
        except ValueError:
            errors["expiry"] = ["The expiry is not a valid date."]
        if errors:
            raise Invalid(errors)
        return {"code": code, "type": body["type"], "value": value,
                "usage_limit": None if limit in (None, "") else int(limit), "expiry": expiry,
                "notes": body.get("notes"), "allowed_emails": body.get("allowed_emails")}

    def create_coupon(self, request: Request) -> Response:
        fields = self._coupon_fields(self._body(request))
        cid = next(self.ids["coupon"])
        self.coupons[cid] = {"id": cid, **fields}
        return Response(200, {"id": cid, "message": "Coupon created successfully"})

    def get_coupon(self, request: Request, cid: str) -> Response:
        c = self._find(self.coupons, cid, "Coupon")
        return Response(200, {"code": c["code"], "type": c["type"], "value": c["value"],
                              "usage_limit": c["usage_limit"], "expiry": c["expiry"],
                              "allowed_emails": c["allowed_emails"], "note_privacy": None,
                              "notes": c["notes"], "allowed_products": [],
                              "excluded_products": [], "allowed_product_categories": []})

    def put_coupon(self, request: Request, cid: str) -> Response:
        coupon = self._find(self.coupons, cid, "Coupon")
        coupon.update(self._coupon_fields(self._body(request), but=coupon["id"]))
        return Response(200, {"message": "Coupon updated successfully"})

    def delete_coupons(self, request: Request) -> Response:
        deleted = kept = 0
        for cid in _ids(self._body(request).get("delete_ids")):
            if cid not in self.coupons:
                continue
            if self.orders.get(cid):
                kept += 1
                continue
            del self.coupons[cid]
            deleted += 1
        message = f"{deleted} coupon(s) deleted"
        if kept:
            message += f" {kept} coupon(s) not deleted as they are associated with orders"
        return Response(200, {"message": message})

    def add_order(self, coupon_id: int) -> None:
        """An order that used a coupon (the API has no call for it: for tests)."""
        with self.lock:
            self._find(self.coupons, coupon_id, "Coupon")
            self.orders[coupon_id] = self.orders.get(coupon_id, 0) + 1


@click.option("--token", default="sim-token", show_default=True,
              help="The bearer token every request must carry.")
def aomlms(faults: Faults, token: str) -> AomlmsSimulator:
    """The AOM LMS API, in memory."""
    return AomlmsSimulator(token, faults)


command = simulator_command(aomlms)
