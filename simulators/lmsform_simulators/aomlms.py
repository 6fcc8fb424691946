"""A simulator of the AOM LMS (Academy of Mine) REST API, in memory, over a real socket.

Written from the vendor's API document (a Laravel application documented by Scribe) and from
the behaviour the project pins where the document is silent. It implements users (tabular
list, lookup, create, bulk upload, read, update, enrolled courses, delete, quick edit),
categories (lookups, tabular lists, create, read, update, delete), courses (tabular list, enrolled
students, read, create, update, slug update, delete, the grading, duration and status lookups,
enroll and remove) and coupons (tabular list, type lookup, create, read, update, delete).
Everything else in the document (classes, modules, certificates, reports...) answers 404.

Protocol (from the document):
- paths under /api, so a client's base URL is http://127.0.0.1:PORT and paths are
  /api/users/tabularlist etc.; JSON bodies; `Authorization: Bearer <token>`;
- lists are GET with `page_size`, `page_number` (1-based), `order_by` and `search_param` (JSON
  text) in the query and answer `{"recordsTotal", "recordsFiltered", "records"}`; each
  endpoint's records carry exactly the fields of its example (snake_case in lists, camelCase in
  the single user and course answers, `created_at` formatted as each example formats it);
- creates answer `{"id", "message"}` (users, courses, coupons), but category create answers
  only `{"message": "Category Created Successfully"}` and bulk upload only `{"message"}`, as
  documented: the ids are found by listing;
- the single-record answers of users, courses and coupons carry no id, as documented;
- PUT api/course/update-slug/{id} answers the new slug as a JSON string;
- enrolling names users (`studentIds`); removing names enrollments (`enrollmentIds`, the `id`
  of an enrolled-students record, which differs from its `user_id`);
- deleting users, courses or coupons answers 200 with the documented counting messages:
  "N student(s) not deleted as they has enrollments. Please remove the student(s) from the
  course and try again." (users with enrollments stay), "D  course(s) deleted N course(s) not
  deleted as it has enrollments. Please remove the students from the course and try again."
  (courses with enrollments stay: the document says so, where the project's pin said a deleted
  course takes its enrollments along; with the refusal there are none to take), "D coupon(s)
  deleted N coupon(s) not deleted as they are associated with orders" (coupons with orders
  stay; the document shows this refusal, so it is used rather than a 422), "D category(s)
  deleted ";
- `api/courses/status/lookup` lists the enrollment statuses its example shows (Not Started,
  In Progress, Completed); course status values are `draft` and `publish`, as the create
  request documents them.

The project's pins and assumptions (the document is silent):
- a missing or wrong bearer token answers 401 `{"message": "Unauthenticated."}`; other errors
  are `{"message": ...}`; 429 says "Too Many Attempts." and 500 "Server Error" as Laravel does;
- validation failures answer 422 `{"message": "<first error>", "errors": {field: [...]}}` with
  every failing field, in Laravel's wording ("The email has already been taken.", "The first
  name field is required.", "The selected grading rule is invalid.": Laravel's snake-cased
  labels; nested keys such as `userList.1.email` or `studentIds.0`); as Laravel's
  default middleware does, strings are trimmed (passwords excepted) and "" counts as null;
- uniqueness (emails, course slugs, coupon codes, category names per category type) ignores
  case, as MySQL's default collation does;
- an unknown id in a path, or an unknown `user_id`/`course_id` in a list's query, answers 404
  `{"message": "No query results for model [App\\Models\\<Model>] <id>"}`; an unknown path
  404; a known path with another method 405 with an `Allow` header;
- ids are integers, unique per table (users, categories, courses, enrollments, coupons), each
  starting at a time-based offset so that a rerun never reuses an id, the tables a million
  apart so that a user id, say, is never also an enrollment id;
- paging: `page_size` defaults to 10 and is capped at 100, `page_number` defaults to 1; values
  that are not positive whole numbers fall back to the defaults; `recordsTotal` counts the
  whole list (for enrollments: the user's or course's), `recordsFiltered` after search;
- order: id ascending (or newest first, when made with `newest_unasked=True`: the document
  never says what a list asked without `order_by` answers, and every example asks for
  `created_at` descending) unless `order_by` names a known column (`{"colName", "direction"}`, the
  document's stray trailing `}` tolerated, or a bare column name such as `registered_on`,
  then ascending); `created_at` and `registered_on` sort by creation time, then id; unknown
  columns and unreadable `order_by` fall back to id ascending;
- search keys: users `nameOrEmail` (the users list's documented `courseCategoryIds` and
  `courseName` are ignored, as the document's example answers every user while passing them);
  categories `categoryName`; courses `courseName`, `courseCategoryIds` and `status` (only when
  it is `draft` or `publish`; the example's "In Progress" is ignored); coupons `code`; enrolled
  students `nameOrEmail` and `status` (a list); enrolled courses `status` (a list). Text
  searches are case-insensitive substrings; unknown keys and unreadable JSON are ignored;
- `api/users/lookup` answers every user as `{"id", "full_name", "email"}`, by id ascending, in
  one unpaged answer as documented (the owner is not among them, as in the lists);
- timestamps are UTC; the API token belongs to the school's owner, "Aom Staff" (id 1, not
  listed among users), who is every category's and course's `author` and `created_by`;
- users: created users are `general`, never logged in ("Never"), not disabled; `firstName`,
  `email`, `password` and a matching `password_confirmation` are required; avatars are the
  document's SVG with the user's initials; PUT api/user/{id} requires firstName and email,
  takes lastName and disabled, ignores lastLoggedIn, avatar and customUserMetas;
- bulk upload checks every row (email required, valid, not taken and not repeated in the
  list; first_name required; last_name and password optional) and creates nothing if any row
  fails; `selectedCourses` must name courses and enrolls every new user in them; `groupId`,
  `membershipId` and `classIds` are accepted and ignored (no groups, memberships or classes);
- quick edit requires `user_ids` (known users) and `disabled` (Laravel booleans: true, false,
  1, 0, "1", "0"); `course_ids` must name courses and enrolls every user in them;
- enrolling a user who is already enrolled and removing an enrollment that is not in the
  course (or no longer exists) change nothing and still answer 200; the messages count the
  enrollments actually made or removed ("0 student(s) enrolled successfully"). Unknown
  `studentIds` answer 422. `groupId` is ignored. Enrollments are "Not Started" (0%, "Allowed",
  never expiring): no progress is simulated; `courseSlug` is the school's course URL built from
  the request's Host header;
- deleting users answers "N student(s) deleted successfully" when none had enrollments; ids
  in `delete_ids` that name nothing are ignored (not counted) by every delete;
- courses: `name`, `gradingRule`, `durationRule` and `status` are required on create and on
  update; `slug` may be omitted on create (then the name, lower-cased with hyphens, made
  unique with -1, -2...) and on update (then unchanged); a slug may hold letters, digits,
  dashes and underscores; course names need not be unique. `categories` must name course
  categories. Optional fields absent from an update keep their values (null clears them).
  The tabular list's `categories` is the category names joined with ", ". Other accepted
  fields: instructions, featuredImageUrl, completionRedirectionUrl, credits (integer),
  minPassingPercentage (number), durationSpecificDate (YYYY-MM-DD), durationDays (integer),
  certificateTemplates, modules, gradeModules (arrays, stored as given),
  certificateExpiresAfter, certificateExpiresAfterGracePeriod (integers); the single course
  answer carries only the fields of the document's example;
- coupons: `code` (unique), `value` (a number, given as a number or numeric text, answered as
  a number) and `type` (fixed_amount or percent_amount) are required on create and update;
  usage_limit (integer), expiry (YYYY-MM-DD), notes and allowed_emails (strings, stored as
  given) are optional; absent from an update they keep their values. Values are not bounded
  (the document's own percent example is 1500). Orders cannot be made through the API:
  `add_order(coupon_id)` records one, for tests;
- deleting a category removes it from its courses; `count` in the category lists is its
  number of courses; category types are course, question, product and module, each with its
  own lookup and tabular list; the document's user category lookup answers an empty list (no
  category of that type can be created);
- every write is checked completely before it changes anything, so a refused write changes
  nothing; the fault injection may drop or fail a write after it acted.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import html
import itertools
import json
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from typing import Any

import click

from lmsform_simulators.base import (
    Faults,
    Handler,
    HttpProblem,
    Request,
    Response,
    Simulator,
    simulator_command,
)

ROOT = "/api"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
OWNER_ID = 1
OWNER_NAME = "Aom Staff"

GRADING_RULES = (("no_grading", "No Grading"),
                 ("avg_all_modules", "Average of all Quiz/Assignment/Discussions/Scorm"),
                 ("avg_specific_modules",
                  "Average of specific Quiz/Assignment/Discussions/Scorm"))
DURATION_RULES = (("unlimited", "Unlimited"), ("on_specific_date", "Till Specific Date"),
                  ("x_days_after_start", "Till X day(s) after a student start the course"),
                  ("x_days_after_enrollment",
                   "Till X day(s) after a student is registered to the course"))
ENROLLMENT_STATUSES = ("Not Started", "In Progress", "Completed")
COURSE_STATUSES = ("draft", "publish")
COUPON_TYPES = (("fixed_amount", "Fixed cart discount"),
                ("percent_amount", "Percentage Discount"))
CATEGORY_TYPES = ("course", "question", "product", "module")
LOOKUP_TYPES = (*CATEGORY_TYPES, "user")

COURSE_TEXTS = ("instructions", "featuredImageUrl", "completionRedirectionUrl")
COURSE_INTEGERS = ("credits", "durationDays", "certificateExpiresAfter",
                   "certificateExpiresAfterGracePeriod")
COURSE_ARRAYS = ("certificateTemplates", "modules", "gradeModules")
COURSE_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(COURSE_TEXTS), **dict.fromkeys(COURSE_INTEGERS),
    "minPassingPercentage": None, "durationSpecificDate": None,
    **{name: [] for name in COURSE_ARRAYS}, "categories": []}
COUPON_OPTIONAL = ("usage_limit", "expiry", "notes", "allowed_emails")

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
COLOURS = ("#03A9F4", "#673AB7", "#FF5722", "#00BCD4", "#4CAF50", "#E91E63", "#FF9800")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
SLUG = re.compile(r"[\w-]+", re.ASCII)
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
WHOLE = re.compile(r"[+-]?\d+")
NUMERIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
UNTRIMMED = {"password", "password_confirmation"}

Record = dict[str, Any]


# values


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _clock(t: dt.datetime) -> str:
    return f"{t.hour % 12 or 12:02d}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


def _month_day(t: dt.date) -> str:  # Aug 06, 2020
    return f"{MONTHS[t.month - 1]} {t.day:02d}, {t.year}"


def _listed(t: dt.datetime) -> str:  # Aug 06, 2020 07:20 AM
    return f"{_month_day(t)} {_clock(t)}"


def _day_month(t: dt.datetime) -> str:  # 03 Aug 2020 09:08 AM
    return f"{t.day:02d} {MONTHS[t.month - 1]} {t.year} {_clock(t)}"


def _dashed(t: dt.datetime) -> str:  # 09-Aug-2020
    return f"{t.day:02d}-{MONTHS[t.month - 1]}-{t.year}"


def _sql(t: dt.datetime) -> str:  # 2020-08-10 12:43:12
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _as_int(value: Any) -> int | None:
    """A whole number given as a number or as numeric text (Laravel's `integer`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and WHOLE.fullmatch(value):
        return int(value)
    return None


def _as_number(value: Any) -> int | float | None:
    """A number given as a number or as numeric text (Laravel's `numeric`), whole if it is."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str) and not NUMERIC.fullmatch(value):
        return None
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return int(number) if number.is_integer() else number


def _clean(value: Any, key: str = "") -> Any:
    """Laravel's TrimStrings and ConvertEmptyStringsToNull, applied to the whole input."""
    if isinstance(value, str):
        text = value if key in UNTRIMMED else value.strip()
        return text or None
    if isinstance(value, dict):
        return {str(k): _clean(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _label(field: str) -> str:
    """How Laravel names a field in its messages: snake-cased, underscores as spaces."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", field).lower().replace("_", " ")


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "course"


def _avatar(user: Record, size: int) -> str:
    initials = html.escape((user["first_name"][:1] + (user["last_name"] or "")[:1]).upper())
    colour = COLOURS[user["id"] % len(COLOURS)]
    half, font = size // 2, 14 if size <= 40 else 40
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
            f'viewBox="0 0 {size} {size}"><circle cx="{half}" cy="{half}" r="{half}" '
            f'stroke="background" stroke-width="0" fill="{colour}" /><text x="{half}" '
            f'y="{half}" font-size="{font}" fill="#FFFFFF" alignment-baseline="middle" '
            f'text-anchor="middle" dominant-baseline="central">{initials}</text></svg>')


def _contains(needle: Any, *haystack: Any) -> bool:
    """A case-insensitive substring search; an empty or non-text needle matches everything."""
    if not isinstance(needle, str) or not needle.strip():
        return True
    wanted = needle.strip().lower()
    return any(wanted in str(text or "").lower() for text in haystack)


def _lookup(pairs: Iterable[tuple[str, str]]) -> list[Record]:
    return [{"db_value": value, "display_value": shown} for value, shown in pairs]


# validation


class Invalid(Exception):
    """Laravel's validation failure: every failing field with its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(next(iter(errors.values()))[0])
        self.errors = errors


class Rules:
    """Checks one JSON object the way Laravel's validator does: every failing field is
    collected, then `check` raises Invalid with all of them. Nested objects share the errors
    under a prefix (`userList.0.`)."""

    def __init__(self, data: Any, prefix: str = "",
                 errors: dict[str, list[str]] | None = None) -> None:
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.prefix = prefix
        self.errors: dict[str, list[str]] = {} if errors is None else errors

    def fail(self, field: str, message: str) -> None:
        key = self.prefix + field
        self.errors.setdefault(key, []).append(message.replace("{label}", _label(key)))

    def has(self, field: str) -> bool:
        return field in self.data

    def value(self, field: str, required: bool = False) -> Any:
        value = self.data.get(field)
        if required and (value is None or value == []):
            self.fail(field, "The {label} field is required.")
        return value

    def text(self, field: str, required: bool = False, limit: int | None = 255) -> str | None:
        value = self.value(field, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(field, "The {label} must be a string.")
            return None
        if limit is not None and len(value) > limit:
            self.fail(field, f"The {{label}} may not be greater than {limit} characters.")
            return None
        return value

    def email(self, field: str) -> str | None:
        value = self.text(field, required=True)
        if value is not None and not EMAIL.fullmatch(value):
            self.fail(field, "The {label} must be a valid email address.")
            return None
        return value

    def integer(self, field: str, required: bool = False) -> int | None:
        value = self.value(field, required)
        number = None if value is None else _as_int(value)
        if value is not None and number is None:
            self.fail(field, "The {label} must be an integer.")
        return number

    def number(self, field: str, required: bool = False) -> int | float | None:
        value = self.value(field, required)
        number = None if value is None else _as_number(value)
        if value is not None and number is None:
            self.fail(field, "The {label} must be a number.")
        return number

    def boolean(self, field: str, required: bool = False) -> bool | None:
        value = self.value(field, required)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if (type(value) is int and value in (0, 1)) or value in ("0", "1"):
            return str(value) == "1"
        self.fail(field, "The {label} field must be true or false.")
        return None

    def choice(self, field: str, allowed: Collection[str], required: bool = False
               ) -> str | None:
        value = self.value(field, required)
        if value is None:
            return None
        if not isinstance(value, str) or value not in allowed:
            self.fail(field, "The selected {label} is invalid.")
            return None
        return value

    def date(self, field: str) -> str | None:
        value = self.value(field)
        if value is None:
            return None
        try:
            if isinstance(value, str) and DAY.fullmatch(value):
                return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
        self.fail(field, "The {label} is not a valid date.")
        return None

    def array(self, field: str, required: bool = False) -> list[Any] | None:
        value = self.value(field, required)
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(field, "The {label} must be an array.")
            return None
        return value

    def integers(self, field: str, required: bool = False) -> list[int] | None:
        """An array of whole numbers, each once, in the order given."""
        items = self.array(field, required)
        if items is None:
            return None
        found: list[int] = []
        for index, item in enumerate(items):
            number = _as_int(item)
            if number is None:
                self.fail(f"{field}.{index}", "The {label} must be an integer.")
            elif number not in found:
                found.append(number)
        return found

    def ids(self, field: str, known: Collection[int], required: bool = False
            ) -> list[int] | None:
        """An array of ids that must all name records (Laravel's `exists`)."""
        items = self.array(field, required)
        if items is None:
            return None
        found: list[int] = []
        for index, item in enumerate(items):
            number = _as_int(item)
            if number is None or number not in known:
                self.fail(f"{field}.{index}", "The selected {label} is invalid.")
            elif number not in found:
                found.append(number)
        return found

    def unique(self, field: str, value: str | None, taken: Iterable[str]) -> None:
        if value is not None and value.lower() in {other.lower() for other in taken}:
            self.fail(field, "The {label} has already been taken.")

    def check(self) -> None:
        if self.errors:
            raise Invalid(self.errors)


def _validated(handler: Handler) -> Handler:
    """A route whose Invalid answers Laravel's 422."""

    @functools.wraps(handler)
    def run(request: Request, **groups: str) -> Response:
        try:
            return handler(request, **groups)
        except Invalid as invalid:
            return Response(422, {"message": str(invalid), "errors": invalid.errors})

    return run


# the query string of lists


def _query(request: Request) -> dict[str, Any]:
    return {key: _clean(value) for key, value in request.query.items()}


def _json_object(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _order(text: Any) -> tuple[str, bool] | None:
    """(column, descending) from `order_by`: JSON, JSON with the document's stray `}`, or a
    bare column name."""
    if not isinstance(text, str):
        return None
    if re.fullmatch(r"\w+", text):
        return text, False
    fields = _json_object(text)
    if not fields:
        column = re.search(r'"colName"\s*:\s*"(\w+)"', text)
        direction = re.search(r'"direction"\s*:\s*"(\w+)"', text)
        fields = {"colName": column and column.group(1),
                  "direction": direction and direction.group(1)}
    column_name = fields.get("colName")
    if not isinstance(column_name, str):
        return None
    return column_name, str(fields.get("direction") or "asc").lower() == "desc"


def _paging(query: dict[str, Any]) -> tuple[int, int]:
    size = _as_int(query.get("page_size"))
    number = _as_int(query.get("page_number"))
    size = DEFAULT_PAGE_SIZE if size is None or size < 1 else min(size, MAX_PAGE_SIZE)
    return size, 1 if number is None or number < 1 else number


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    return (1, value.lower() if isinstance(value, str) else value)


def _listing(request: Request, items: list[Record], total: int,
             columns: dict[str, Callable[[Record], Any]], view: Callable[[Record], Record],
             newest_unasked: bool = False, **extra: Any) -> Response:
    """One page of `items` (already searched), ordered, each shown through `view`; without
    an `order_by`, by id, ascending unless `newest_unasked`."""
    query = _query(request)
    items = sorted(items, key=lambda item: int(item["id"]), reverse=newest_unasked)
    order = _order(query.get("order_by"))
    if order is not None and order[0] in columns:
        column = columns[order[0]]
        items = sorted(items, key=lambda item: (_sort_key(column(item)), item["id"]),
                       reverse=order[1])
    size, number = _paging(query)
    page = items[(number - 1) * size:number * size]
    return Response(200, {**extra, "recordsTotal": total, "recordsFiltered": len(items),
                          "records": [view(item) for item in page]})


def _statuses(search: dict[str, Any]) -> list[str]:
    wanted = search.get("status")
    return [s for s in wanted if isinstance(s, str)] if isinstance(wanted, list) else []


# the simulator


class AomlmsSimulator(Simulator):
    name = "aomlms"
    title = "AOM LMS"

    def __init__(self, token: str = "sim-token", faults: Faults | None = None, *,
                 newest_unasked: bool = False) -> None:
        super().__init__(faults)
        self.token = token
        # The order of a list asked without order_by (the document is silent): ids ascending,
        # or newest first, as every example of the document asks, for tests that show a
        # client does not depend on it.
        self.newest_unasked = newest_unasked
        # Ids start where no earlier run would have put them, so that a state file left from
        # a previous run never points at a different, newer record; each table starts a
        # million further on, so that an id of one kind never names a record of another.
        start = 1000 + int(time.time() * 10) % 10**8
        self.ids = {table: itertools.count(start + index * 10**6) for index, table in
                    enumerate(("users", "categories", "courses", "enrollments", "coupons"))}
        self.users: dict[int, Record] = {}
        self.categories: dict[int, Record] = {}
        self.courses: dict[int, Record] = {}
        self.enrollments: dict[int, Record] = {}  # id, user_id, course_id, created
        self.coupons: dict[int, Record] = {}
        self.orders: Counter[int] = Counter()  # coupon -> orders that used it
        self._routes()

    # protocol

    def authenticate(self, request: Request) -> None:
        if request.headers.get("authorization", "").strip() != f"Bearer {self.token}":
            raise HttpProblem(401, "Unauthenticated.")

    def error_body(self, status: int, message: str) -> Any:
        return {"message": {429: "Too Many Attempts.", 500: "Server Error"}.get(status, message)}

    def announcement(self, url: str) -> str:
        return f"{super().announcement(url)} (Authorization: Bearer {self.token})"

    def _routes(self) -> None:
        for method, path, name, handler in (
            ("GET", "/users/tabularlist", "users list", self.list_users),
            ("GET", "/users/lookup", "users lookup", self.users_lookup),
            ("GET", "/users/enrolled-courses", "user courses", self.user_courses),
            ("POST", "/user/create", "user create", self.create_user),
            ("POST", "/user/bulkUpload", "user bulk upload", self.bulk_upload),
            ("POST", "/user/delete", "user delete", self.delete_users),
            ("POST", "/user/quickEdit", "user quick edit", self.quick_edit),
            ("GET", "/user/{uid}", "user get", self.get_user),
            ("PUT", "/user/{uid}", "user update", self.update_user),
            ("GET", "/categories/{kind}/lookup", "category lookup", self.category_lookup),
            ("GET", "/{kind}category/tabularlist", "categories list", self.list_categories),
            ("POST", "/category/create", "category create", self.create_category),
            ("POST", "/category/delete", "category delete", self.delete_categories),
            ("GET", "/category/{cid}", "category get", self.get_category),
            ("PUT", "/category/{cid}", "category update", self.update_category),
            ("GET", "/courses/tabularlist", "courses list", self.list_courses),
            ("GET", "/courses/grading-rules/lookup", "grading rules", self.grading_rules),
            ("GET", "/courses/duration-rules/lookup", "duration rules", self.duration_rules),
            ("GET", "/courses/status/lookup", "course statuses", self.course_statuses),
            ("GET", "/course/enrolled-students", "course students", self.course_students),
            ("POST", "/course", "course create", self.create_course),
            ("POST", "/course/delete", "course delete", self.delete_courses),
            ("PUT", "/course/update-slug/{cid}", "course slug", self.update_slug),
            ("POST", "/course/enroll/{cid}", "course enroll", self.enroll),
            ("POST", "/course/remove/{cid}", "course remove", self.remove),
            ("GET", "/course/{cid}", "course get", self.get_course),
            ("PUT", "/course/{cid}", "course update", self.update_course),
            ("GET", "/coupons/tabularlist", "coupons list", self.list_coupons),
            ("GET", "/coupons/type/lookup", "coupon types", self.coupon_types),
            ("POST", "/coupon/create", "coupon create", self.create_coupon),
            ("POST", "/coupon/delete", "coupon delete", self.delete_coupons),
            ("GET", "/coupon/{pid}", "coupon get", self.get_coupon),
            ("PUT", "/coupon/{pid}", "coupon update", self.update_coupon),
        ):
            self.route(method, ROOT + path, name, _validated(handler))

    def _dispatch(self, request: Request) -> Response:
        """Laravel's answers for a path no route knows (404) and for a known path asked with
        another method (405 with Allow), after the credentials."""
        allowed = sorted({method for method, regex, _, _ in self.routes
                          if regex.match(request.path)})
        if not allowed or request.method not in allowed:
            try:
                self.authenticate(request)
            except HttpProblem as problem:
                return Response(problem.status, self.error_body(problem.status, problem.message))
            if not allowed:
                return Response(404, {"message": f"The route {request.path.lstrip('/')} "
                                                 "could not be found."})
            return Response(405, {"message": f"The {request.method} method is not supported "
                                             f"for this route. Supported methods: "
                                             f"{', '.join(allowed)}."},
                            {"Allow": ", ".join(allowed)})
        return super()._dispatch(request)

    # test hooks

    def add_order(self, coupon_id: int) -> None:
        """Record an order that used the coupon (orders cannot be made through the API)."""
        with self.lock:
            if coupon_id not in self.coupons:
                raise KeyError(f"no coupon with id {coupon_id}")
            self.orders[coupon_id] += 1

    # helpers

    @staticmethod
    def _input(request: Request) -> dict[str, Any]:
        body = _clean(request.body)
        return body if isinstance(body, dict) else {}

    @staticmethod
    def _find(table: dict[int, Record], raw: Any, model: str) -> Record:
        number = _as_int(raw)
        record = None if number is None else table.get(number)
        if record is None:
            raise HttpProblem(404, f"No query results for model [App\\Models\\{model}] {raw}")
        return record

    def _query_record(self, request: Request, field: str, table: dict[int, Record],
                      model: str) -> Record:
        """A list's record named in the query (user_id, course_id): 422 absent, 404 unknown."""
        rules = Rules(_query(request))
        rules.value(field, required=True)
        rules.check()
        return self._find(table, rules.data[field], model)

    def _enroll(self, user_id: int, course_id: int) -> bool:
        """Enroll once; False if the user already was."""
        if any(e["user_id"] == user_id and e["course_id"] == course_id
               for e in self.enrollments.values()):
            return False
        eid = next(self.ids["enrollments"])
        self.enrollments[eid] = {"id": eid, "user_id": user_id, "course_id": course_id,
                                 "created": _now()}
        return True

    def _enrolled(self, *, user_id: int | None = None, course_id: int | None = None
                  ) -> list[Record]:
        return [e for e in self.enrollments.values()
                if user_id in (None, e["user_id"]) and course_id in (None, e["course_id"])]

    def _delete_ids(self, request: Request) -> list[int]:
        rules = Rules(self._input(request))
        ids = rules.integers("delete_ids", required=True)
        rules.check()
        return ids or []

    # users

    @staticmethod
    def _user_row(user: Record) -> Record:
        return {"id": user["id"], "first_name": user["first_name"],
                "last_name": user["last_name"], "email": user["email"],
                "avatar": _avatar(user, 40), "user_type": user["user_type"],
                "display_user_type": user["user_type"].replace("_", " ").title(),
                "created_at": _listed(user["created"]), "last_login": "Never"}

    def list_users(self, request: Request) -> Response:
        search = _json_object(_query(request).get("search_param"))
        found = [u for u in self.users.values()
                 if _contains(search.get("nameOrEmail"), u["email"], self._full_name(u))]
        columns: dict[str, Callable[[Record], Any]] = {
            "id": lambda u: u["id"], "created_at": lambda u: u["created"],
            "first_name": lambda u: u["first_name"], "last_name": lambda u: u["last_name"],
            "email": lambda u: u["email"], "user_type": lambda u: u["user_type"]}
        return _listing(request, found, len(self.users), columns, self._user_row,
                        self.newest_unasked)

    def users_lookup(self, request: Request) -> Response:
        return Response(200, [{"id": u["id"], "full_name": self._full_name(u),
                               "email": u["email"]}
                              for u in sorted(self.users.values(), key=lambda u: u["id"])])

    def _new_user(self, first: str, last: str | None, email: str, password: str | None
                  ) -> int:
        uid = next(self.ids["users"])
        self.users[uid] = {"id": uid, "first_name": first, "last_name": last, "email": email,
                           "password": password, "disabled": False, "user_type": "general",
                           "created": _now()}
        return uid

    def create_user(self, request: Request) -> Response:
        rules = Rules(self._input(request))
        first = rules.text("firstName", required=True)
        last = rules.text("lastName")
        email = rules.email("email")
        rules.unique("email", email, (u["email"] for u in self.users.values()))
        password = rules.text("password", required=True, limit=None)
        if password is not None and rules.value("password_confirmation") != password:
            rules.fail("password", "The {label} confirmation does not match.")
        rules.check()
        assert first is not None and email is not None
        uid = self._new_user(first, last, email, password)
        return Response(200, {"id": uid, "message": "User created successfully"})

    def _bulk_rows(self, rules: Rules, rows: list[Any]) -> list[tuple[str, str | None, str,
                                                                      str | None]]:
        """Every row checked; (first name, last name, email, password) for each."""
        checked = []
        seen: set[str] = set()
        taken = [u["email"] for u in self.users.values()]
        for index, item in enumerate(rows):
            row = Rules(item, f"userList.{index}.", rules.errors)
            if not isinstance(item, dict):
                rules.fail(f"userList.{index}", "The {label} must be an array.")
                continue
            email = row.email("email")
            row.unique("email", email, taken)
            if email is not None and email.lower() in seen:
                row.fail("email", "The {label} field has a duplicate value.")
            first = row.text("first_name", required=True)
            last = row.text("last_name")
            password = row.text("password", limit=None)
            if email is not None and first is not None:
                seen.add(email.lower())
                checked.append((first, last, email, password))
        return checked

    def bulk_upload(self, request: Request) -> Response:
        rules = Rules(self._input(request))
        rows = rules.array("userList", required=True) or []
        checked = self._bulk_rows(rules, rows)
        rules.integer("groupId")
        rules.integer("membershipId")
        rules.array("classIds")
        courses = rules.ids("selectedCourses", self.courses) or []
        rules.check()
        for first, last, email, password in checked:
            uid = self._new_user(first, last, email, password)
            for course_id in courses:
                self._enroll(uid, course_id)
        return Response(200, {"message": "User(s) uploaded successfully"})

    def get_user(self, request: Request, uid: str) -> Response:
        user = self._find(self.users, uid, "User")
        return Response(200, {"firstName": user["first_name"], "lastName": user["last_name"],
                              "email": user["email"], "lastLoggedIn": "Never",
                              "avatar": _avatar(user, 100), "disabled": user["disabled"]})

    def update_user(self, request: Request, uid: str) -> Response:
        user = self._find(self.users, uid, "User")
        rules = Rules(self._input(request))
        changes: Record = {"first_name": rules.text("firstName", required=True),
                           "email": rules.email("email")}
        rules.unique("email", changes["email"],
                     (u["email"] for u in self.users.values() if u["id"] != user["id"]))
        if rules.has("lastName"):
            changes["last_name"] = rules.text("lastName")
        if rules.has("disabled"):
            changes["disabled"] = bool(rules.boolean("disabled", required=True))
        rules.check()
        user.update(changes)
        return Response(200, {"message": "User updated successfully"})

    def user_courses(self, request: Request) -> Response:
        user = self._query_record(request, "user_id", self.users, "User")
        search = _json_object(_query(request).get("search_param"))
        host = request.headers.get("host", "127.0.0.1")
        mine = self._enrolled(user_id=user["id"])
        statuses = _statuses(search)
        found = [e for e in mine if not statuses or "Not Started" in statuses]
        columns: dict[str, Callable[[Record], Any]] = {
            "id": lambda e: e["id"], "registered_on": lambda e: e["created"],
            "courseName": lambda e: self.courses[e["course_id"]]["name"]}

        def row(enrollment: Record) -> Record:
            course = self.courses[enrollment["course_id"]]
            return {"id": enrollment["id"], "courseId": course["id"],
                    "featuredImageUrl": course["featuredImageUrl"],
                    "courseSlug": f"http://{host}/course/{course['slug']}",
                    "courseName": course["name"], "lastAccessed": "Never",
                    "status": "Not Started", "display_status": "Not Started",
                    "accessStatus": "Allowed", "percentComplete": 0,
                    "registered_on": _month_day(enrollment["created"]), "started_on": "",
                    "completed_on": "", "expire_on": "Never", "isExpired": False}

        return _listing(request, found, len(mine), columns, row, self.newest_unasked)

    def delete_users(self, request: Request) -> Response:
        ids = [i for i in self._delete_ids(request) if i in self.users]
        kept = [i for i in ids if self._enrolled(user_id=i)]
        for uid in ids:
            if uid not in kept:
                del self.users[uid]
        if kept:
            return Response(200, {"message": f"{len(kept)} student(s) not deleted as they has "
                                             "enrollments. Please remove the student(s) from "
                                             "the course and try again."})
        return Response(200, {"message": f"{len(ids)} student(s) deleted successfully"})

    def quick_edit(self, request: Request) -> Response:
        rules = Rules(self._input(request))
        users = rules.ids("user_ids", self.users, required=True) or []
        disabled = rules.boolean("disabled", required=True)
        courses = rules.ids("course_ids", self.courses) or []
        rules.check()
        for uid in users:
            self.users[uid]["disabled"] = bool(disabled)
            for course_id in courses:
                self._enroll(uid, course_id)
        return Response(200, {"message": "Users updated Successfully"})

    # categories

    @staticmethod
    def _kind(kind: str, known: tuple[str, ...] = CATEGORY_TYPES) -> str:
        if kind.lower() not in known:
            raise HttpProblem(404, f"The route {ROOT.lstrip('/')}/{kind} could not be found.")
        return kind.lower()

    def _course_count(self, category_id: int) -> int:
        return sum(category_id in c["categories"] for c in self.courses.values())

    def category_lookup(self, request: Request, kind: str) -> Response:
        wanted = self._kind(kind, LOOKUP_TYPES)
        return Response(200, [{"id": c["id"], "name": c["name"]}
                              for c in sorted(self.categories.values(), key=lambda c: c["id"])
                              if c["type"] == wanted])

    def list_categories(self, request: Request, kind: str) -> Response:
        wanted = self._kind(kind)
        search = _json_object(_query(request).get("search_param"))
        mine = [c for c in self.categories.values() if c["type"] == wanted]
        found = [c for c in mine if _contains(search.get("categoryName"), c["name"])]
        columns: dict[str, Callable[[Record], Any]] = {
            "id": lambda c: c["id"], "created_at": lambda c: c["created"],
            "name": lambda c: c["name"], "count": lambda c: self._course_count(c["id"])}

        def row(category: Record) -> Record:
            return {"id": category["id"], "name": category["name"], "author": OWNER_NAME,
                    "count": self._course_count(category["id"]),
                    "created_at": _listed(category["created"])}

        return _listing(request, found, len(mine), columns, row, self.newest_unasked)

    def create_category(self, request: Request) -> Response:
        rules = Rules(self._input(request))
        name = rules.text("category_name", required=True)
        kind = rules.choice("categoryType", CATEGORY_TYPES, required=True)
        rules.unique("category_name", name, (c["name"] for c in self.categories.values()
                                             if c["type"] == kind))
        rules.check()
        cid, now = next(self.ids["categories"]), _now()
        self.categories[cid] = {"id": cid, "name": name, "type": kind, "created": now,
                                "updated": now, "updated_by": None}
        return Response(200, {"message": "Category Created Successfully"})

    def get_category(self, request: Request, cid: str) -> Response:
        category = self._find(self.categories, cid, "Category")
        return Response(200, {"id": category["id"], "name": category["name"],
                              "type": category["type"], "created_by": OWNER_ID,
                              "updated_by": category["updated_by"], "deleted_by": None,
                              "created_at": _sql(category["created"]),
                              "updated_at": _sql(category["updated"]), "deleted_at": None})

    def update_category(self, request: Request, cid: str) -> Response:
        category = self._find(self.categories, cid, "Category")
        rules = Rules(self._input(request))
        name = rules.text("category_name", required=True)
        rules.unique("category_name", name, (
            c["name"] for c in self.categories.values()
            if c["type"] == category["type"] and c["id"] != category["id"]))
        rules.check()
        category.update(name=name, updated=_now(), updated_by=OWNER_ID)
        return Response(200, {"message": "Category Updated Successfully"})

    def delete_categories(self, request: Request) -> Response:
        ids = [i for i in self._delete_ids(request) if i in self.categories]
        for cid in ids:
            del self.categories[cid]
        for course in self.courses.values():
            course["categories"] = [c for c in course["categories"] if c not in ids]
        return Response(200, {"message": f"{len(ids)} category(s) deleted "})

    # courses

    def _course_row(self, course: Record) -> Record:
        names = [self.categories[c]["name"] for c in course["categories"]]
        return {"id": course["id"], "name": course["name"], "slug": course["slug"],
                "status": course["status"], "categories": ", ".join(names),
                "author": OWNER_NAME, "created_at": _day_month(course["created"])}

    def list_courses(self, request: Request) -> Response:
        search = _json_object(_query(request).get("search_param"))
        wanted = search.get("courseCategoryIds")
        in_categories = {_as_int(c) for c in wanted} if isinstance(wanted, list) else set()
        status = search.get("status")
        found = [c for c in self.courses.values()
                 if _contains(search.get("courseName"), c["name"])
                 and (not in_categories or in_categories & set(c["categories"]))
                 and (status not in COURSE_STATUSES or c["status"] == status)]
        columns: dict[str, Callable[[Record], Any]] = {
            "id": lambda c: c["id"], "created_at": lambda c: c["created"],
            "name": lambda c: c["name"], "slug": lambda c: c["slug"],
            "status": lambda c: c["status"]}
        return _listing(request, found, len(self.courses), columns, self._course_row,
                        self.newest_unasked)

    def course_students(self, request: Request) -> Response:
        course = self._query_record(request, "course_id", self.courses, "Course")
        search = _json_object(_query(request).get("search_param"))
        everyone = self._enrolled(course_id=course["id"])
        statuses = _statuses(search)
        found = [e for e in everyone
                 if (not statuses or "Not Started" in statuses)
                 and _contains(search.get("nameOrEmail"), self.users[e["user_id"]]["email"],
                               self._full_name(self.users[e["user_id"]]))]
        columns: dict[str, Callable[[Record], Any]] = {
            "id": lambda e: e["id"], "registered_on": lambda e: e["created"],
            "user_id": lambda e: e["user_id"],
            **{name: self._user_field(name) for name in ("first_name", "last_name", "email")}}
        return _listing(request, found, len(everyone), columns, self._student_row,
                        self.newest_unasked, courseName=course["name"],
                        featuredImage=course["featuredImageUrl"],
                        totalNotStarted=len(everyone), totalInProgress=0, totalCompleted=0)

    def _user_field(self, name: str) -> Callable[[Record], Any]:
        """An order column of an enrollment that is its user's field."""
        return lambda enrollment: self.users[enrollment["user_id"]][name]

    @staticmethod
    def _full_name(user: Record) -> str:
        return f"{user['first_name']} {user['last_name'] or ''}".strip()

    def _student_row(self, enrollment: Record) -> Record:
        user = self.users[enrollment["user_id"]]
        return {"id": enrollment["id"], "user_id": user["id"],
                "first_name": user["first_name"], "last_name": user["last_name"],
                "email": user["email"], "avatar": _avatar(user, 40), "status": "Not Started",
                "percentComplete": 0, "access_status": "Allowed",
                "registered_on": _dashed(enrollment["created"]), "started_on": "",
                "completed_on": "", "expire_on": "Never", "last_accessed_on": "Never"}

    def get_course(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "Course")
        shown = ("name", "slug", "featuredImageUrl", "instructions", "credits",
                 "minPassingPercentage", "gradingRule", "durationRule", "durationSpecificDate",
                 "durationDays", "status", "certificateTemplates")
        answer = {name: copy.deepcopy(course[name]) for name in shown}
        answer.update(associatedProduct=[], hasAssociatedProduct=False,
                      modules=copy.deepcopy(course["modules"]),
                      categories=list(course["categories"]),
                      gradeModules=copy.deepcopy(course["gradeModules"]))
        return Response(200, answer)

    def _slug(self, rules: Rules, course_id: int | None) -> str | None:
        """The given slug, checked: allowed characters, not used by another course."""
        slug = rules.text("slug")
        if slug is not None and not SLUG.fullmatch(slug):
            rules.fail("slug", "The {label} may only contain letters, numbers, dashes and "
                               "underscores.")
            return None
        rules.unique("slug", slug, (c["slug"] for c in self.courses.values()
                                    if c["id"] != course_id))
        return slug

    def _free_slug(self, name: str) -> str:
        base = _slugify(name)
        taken = {c["slug"].lower() for c in self.courses.values()}
        candidate, suffix = base, itertools.count(1)
        while candidate in taken:
            candidate = f"{base}-{next(suffix)}"
        return candidate

    def _course_fields(self, rules: Rules, course_id: int | None) -> Record:
        """The checked fields of a create or update; absent optional fields are left out."""
        fields: Record = {
            "name": rules.text("name", required=True),
            "gradingRule": rules.choice("gradingRule", [v for v, _ in GRADING_RULES], True),
            "durationRule": rules.choice("durationRule", [v for v, _ in DURATION_RULES], True),
            "status": rules.choice("status", COURSE_STATUSES, required=True)}
        slug = self._slug(rules, course_id)
        if slug is not None:
            fields["slug"] = slug
        present = [name for name in COURSE_DEFAULTS if rules.has(name)]
        for name in present:
            if name in COURSE_TEXTS:
                fields[name] = rules.text(name, limit=None)
            elif name in COURSE_INTEGERS:
                fields[name] = rules.integer(name)
            elif name in COURSE_ARRAYS:
                fields[name] = rules.array(name) or []
        if "minPassingPercentage" in present:
            fields["minPassingPercentage"] = rules.number("minPassingPercentage")
        if "durationSpecificDate" in present:
            fields["durationSpecificDate"] = rules.date("durationSpecificDate")
        if "categories" in present:
            known = {c["id"] for c in self.categories.values() if c["type"] == "course"}
            fields["categories"] = rules.ids("categories", known) or []
        rules.check()
        return fields

    def create_course(self, request: Request) -> Response:
        fields = self._course_fields(Rules(self._input(request)), None)
        cid = next(self.ids["courses"])
        self.courses[cid] = {**copy.deepcopy(COURSE_DEFAULTS), **fields, "id": cid,
                             "slug": fields.get("slug") or self._free_slug(fields["name"]),
                             "created": _now()}
        return Response(200, {"id": cid, "message": "Course saved successfully"})

    def update_course(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "Course")
        course.update(self._course_fields(Rules(self._input(request)), course["id"]))
        return Response(200, {"id": course["id"], "message": "Course updated successfully"})

    def update_slug(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "Course")
        rules = Rules(self._input(request))
        rules.value("slug", required=True)
        slug = self._slug(rules, course["id"])
        rules.check()
        course["slug"] = slug
        return Response(200, slug)

    def delete_courses(self, request: Request) -> Response:
        ids = [i for i in self._delete_ids(request) if i in self.courses]
        kept = [i for i in ids if self._enrolled(course_id=i)]
        for cid in ids:
            if cid not in kept:
                del self.courses[cid]
                for eid in [e["id"] for e in self._enrolled(course_id=cid)]:
                    del self.enrollments[eid]
        message = f"{len(ids) - len(kept)}  course(s) deleted "
        if kept:
            message += (f"{len(kept)} course(s) not deleted as it has enrollments. Please "
                        "remove the students from the course and try again.")
        return Response(200, {"message": message})

    def grading_rules(self, request: Request) -> Response:
        return Response(200, _lookup(GRADING_RULES))

    def duration_rules(self, request: Request) -> Response:
        return Response(200, _lookup(DURATION_RULES))

    def course_statuses(self, request: Request) -> Response:
        return Response(200, _lookup((status, status) for status in ENROLLMENT_STATUSES))

    def enroll(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "Course")
        rules = Rules(self._input(request))
        users = rules.ids("studentIds", self.users, required=True) or []
        rules.integer("groupId")
        rules.check()
        made = sum(self._enroll(uid, course["id"]) for uid in users)
        return Response(200, {"message": f"{made} student(s) enrolled successfully"})

    def remove(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid, "Course")
        rules = Rules(self._input(request))
        ids = rules.integers("enrollmentIds", required=True) or []
        rules.integer("groupId")
        rules.check()
        gone = [i for i in ids if self.enrollments.get(i, {}).get("course_id") == course["id"]]
        for eid in gone:
            del self.enrollments[eid]
        return Response(200, {"message": f"{len(gone)} student(s) removed successfully"})

    # coupons

    def list_coupons(self, request: Request) -> Response:
        search = _json_object(_query(request).get("search_param"))
        found = [c for c in self.coupons.values() if _contains(search.get("code"), c["code"])]
        columns: dict[str, Callable[[Record], Any]] = {
            "id": lambda c: c["id"], "created_at": lambda c: c["created"],
            "code": lambda c: c["code"], "type": lambda c: c["type"],
            "value": lambda c: c["value"], "total_limit": lambda c: c["usage_limit"],
            "expired_at": lambda c: c["expiry"]}

        def row(coupon: Record) -> Record:
            expiry = coupon["expiry"]
            return {"id": coupon["id"], "code": coupon["code"], "type": coupon["type"],
                    "value": coupon["value"], "total_limit": coupon["usage_limit"],
                    "expired_at": expiry and _month_day(dt.date.fromisoformat(expiry))}

        return _listing(request, found, len(self.coupons), columns, row, self.newest_unasked)

    def coupon_types(self, request: Request) -> Response:
        return Response(200, _lookup(COUPON_TYPES))

    def _coupon_fields(self, rules: Rules, coupon_id: int | None) -> Record:
        """The checked fields of a create or update; absent optional fields are left out."""
        fields: Record = {"code": rules.text("code", required=True),
                          "value": rules.number("value", required=True),
                          "type": rules.choice("type", [v for v, _ in COUPON_TYPES], True)}
        rules.unique("code", fields["code"], (c["code"] for c in self.coupons.values()
                                              if c["id"] != coupon_id))
        checks: dict[str, Callable[[str], Any]] = {
            "usage_limit": rules.integer, "expiry": rules.date,
            "notes": lambda name: rules.text(name, limit=None), "allowed_emails": rules.text}
        for name in COUPON_OPTIONAL:
            if rules.has(name):
                fields[name] = checks[name](name)
        rules.check()
        return fields

    def create_coupon(self, request: Request) -> Response:
        fields = self._coupon_fields(Rules(self._input(request)), None)
        pid = next(self.ids["coupons"])
        self.coupons[pid] = {**dict.fromkeys(COUPON_OPTIONAL), **fields, "id": pid,
                             "created": _now()}
        return Response(200, {"id": pid, "message": "Coupon created successfully"})

    def get_coupon(self, request: Request, pid: str) -> Response:
        coupon = self._find(self.coupons, pid, "Coupon")
        return Response(200, {"code": coupon["code"], "type": coupon["type"],
                              "value": coupon["value"], "usage_limit": coupon["usage_limit"],
                              "expiry": coupon["expiry"],
                              "allowed_emails": coupon["allowed_emails"],
                              "note_privacy": None, "notes": coupon["notes"],
                              "allowed_products": [], "excluded_products": [],
                              "allowed_product_categories": []})

    def update_coupon(self, request: Request, pid: str) -> Response:
        coupon = self._find(self.coupons, pid, "Coupon")
        coupon.update(self._coupon_fields(Rules(self._input(request)), coupon["id"]))
        return Response(200, {"message": "Coupon updated successfully"})

    def delete_coupons(self, request: Request) -> Response:
        ids = [i for i in self._delete_ids(request) if i in self.coupons]
        kept = [i for i in ids if self.orders[i]]
        for pid in ids:
            if pid not in kept:
                del self.coupons[pid]
        message = f"{len(ids) - len(kept)} coupon(s) deleted "
        if kept:
            message += f"{len(kept)} coupon(s) not deleted as they are associated with orders"
        return Response(200, {"message": message})


@click.option("--token", default="sim-token", show_default=True,
              help="The bearer token every request must carry.")
def aomlms(faults: Faults, token: str) -> AomlmsSimulator:
    """The AOM LMS (Academy of Mine) API, in memory."""
    return AomlmsSimulator(token, faults)


command = simulator_command(aomlms)
