"""A simulator of the LearnWorlds API v2, in memory, over a real socket.

Written from the vendor's OpenAPI 3.1 description alone (LearnWorlds' own, published on
Stoplight): its overview (headers, rate limit, status codes, error examples, number and date
formats) and the operations below, with their parameters, request bodies, response schemas and
examples. It implements users (list, create, read, update, tags, suspend, unsuspend, courses,
products, enrollment in and out, user groups, user role), user roles (list), courses (list,
create, read, update, enrolled users), user groups (list, create, read, update, members, add and
remove a member) and promotions with their coupons (list, create, read; coupons list, create,
bulk create). Everything else in the document (bundles, subscriptions, payments, seats, course
contents, analytics, community...) answers 404, as does every path outside these.

Protocol (from the document, and as the project pins it):
- a school's API URL is `<root>/admin/api`; the document's paths are served under it
  (`<root>/admin/api/v2/users`...);
- OAuth2 client credentials: `POST <root>/admin/api/oauth2/access_token` with `grant_type=
  client_credentials`, `client_id` and `client_secret`, form-encoded or as a JSON object,
  answers 200 `{"tokenData": {"access_token", "token_type": "Bearer", "expires_in": <whole
  seconds>}, "success": true, "errors": []}`; a wrong client id or secret, or another grant
  type, answers 401 in the document's shape `{"errors": [{"code": "401", "context": null,
  "message": ...}], "success": false}`;
- every `/v2` request carries `Authorization: Bearer <token>` (the scheme's case ignored) with
  a token that was issued and has not expired, and `Lw-Client: <client id>` (the document's
  "Required Headers for all requests");
- errors take the shapes of the document's overview: 400 and 401 (and 403) answer
  `{"errors": [{"code": "<status>", "context": null, "message": ...}], "success": false}`;
  404 answers exactly `{"error": "Sorry the resource your trying to access does not exist."}`;
  422 answers `{"error": "<what is wrong, naming the field>"}`; 429 `{"error": "Too many
  requests"}`; 500 `{"error": "Server Error"}`; 415 (a body that is not JSON) `{"error": ...}`;
- rate limit, "30 requests / 10 sec": a sliding window over every request, the token endpoint
  included ("All API requests are subject to rate limits"); a refused request does not take a
  slot; 429 carries `Retry-After`, the whole seconds (at least 1) until the oldest request in
  the window leaves it. The framework's per-second `Faults.rate_limit` applies as well;
- statuses as documented per operation: 201 for POST /v2/users, /v2/courses, /v2/user_groups
  and /v2/promotions; 200 for a coupon create and a bulk create (as documented), for the
  enrollment POST and the group member POST (`{"success": true}`), for reads and updates; 204
  with no body for DELETE /v2/users/{id}/enrollment and DELETE /v2/user_groups/{id}/users/{uid};
- lists answer `{"data": [...], "meta": {"page", "totalItems", "totalPages", "itemsPerPage"}}`,
  `page` 1-based (default 1); "In case page number is higher than the maximum one, the results
  of last page will be returned", and `meta.page` then names that last page. Page sizes as each
  operation documents them: users 20, courses 50, a user's courses 50, a course's users 20,
  user groups 20, a group's users 20, promotions 20; `items_per_page` only where documented
  (GET /v2/users and GET /v2/courses/{id}/users);
- the "UNIX timestamp" fields (`created`, `modified`) are floats with microseconds, as the
  examples show, and, as the overview says of floats, a number with nothing after the point is
  written without it (52, not 52.0): prices, values and timestamps alike;
- a user in a path (`/v2/users/{id}/...`, `/v2/user_groups/{id}/users/{uid}`) is named by id or
  by email, percent-encoded or not ("User Id or email (encoded string)");
- user, user group and promotion ids are 24 hexadecimal digits (MongoDB ObjectIds, as in the
  examples), time-based so that no two runs hand out the same id; a course's id is its
  `titleId`, a slug;
- a new user's `role` is `{"level": "user", "name": "User"}`, or the Admin role when created
  with `is_admin: true`; `is_admin`, `is_instructor` and `is_reporter` follow the access level
  of the user's role;
- the school has these built-in roles (`custom_role: false`), listed in alphabetical order of
  title as documented: Admin (admin), Course creator (instructor, the document's id
  61bb42d5e07e202700000008 and description), Instructor (instructor), Reporter (reporter),
  Seat manager (seat_manager), User (user). The ids other than Course creator's are made up in
  the same series;
- GET /v2/users/{id} and GET /v2/users answer 404 for, respectively leave out, suspended users
  unless `include_suspended=true` (the documented default is false);
- a user group's `tags` are "assigned to the users added to the user group", so adding a member
  attaches them to the user; with `enroll_users_on_courses` the new member is enrolled in the
  group's courses ("upon joining").

Test hooks: `expire_tokens()` makes every token issued so far expire at once;
`expire_token_every=N` (CLI `--expire-token-every N`) makes every Nth `/v2` request that reaches
the credential check (one not refused first by a 429 or a simulated fault) find its token
expired: it answers 401 and that token stays dead, as a real expiry would; `seed_user(email,
...)` makes a user without HTTP; `stats()` adds `tokens_issued` and `rate_limited` (the
school's window's 429s) to the request counts. CLI: `--client-id`, `--client-secret`,
`--token-lifetime`, `--lw-rate-limit 30/10` (`off` disables the window).

Assumptions where the document is silent or contradicts itself:
- error shapes: the document shows two families, the overview's examples and a set of
  `components/responses` (`{"statusCode", "error"}`, a 422 with `errors`) that no operation
  refers to; the overview's are used. No operation lists its error answers, so the statuses
  are the overview's: 400 for a body that is not a JSON object or not valid JSON, 401 for
  credentials, 404 for unknown paths and ids, 422 for every other refused input;
- a missing or wrong `Lw-Client` answers 401 in the documented shape ("no or invalid
  authentication details"), checked after the token; a known path asked with a method it does
  not have answers 404 (the document has no 405);
- a write whose body is not `application/json` answers 415; a missing body counts as `{}`;
  fields the document does not name are ignored (JSON Schema allows them), so the legacy
  x-examples' `status`, `product_ids` and `fc_utm_landing` change nothing;
- every write is checked completely before it changes anything, so a refused write changes
  nothing; 422 names the first failing field (the overview's 422 holds one message);
- numbers (`price`, `value`, `quantity`...) may be given as numbers or as numeric text, as the
  x-examples give them ('100.23', '20'); booleans must be JSON booleans;
- tokens: each grant issues a new token and earlier ones stay valid until they expire; a token
  lives `token_lifetime` seconds (default 8000) and `expires_in` is that, rounded up; the token
  endpoint needs no `Lw-Client` and no bearer token;
- `meta.totalItems` is the number of items over all pages (the schema's description says "in
  this page"; the name and the example say otherwise); an empty list answers page 1 of 0 pages;
  `page` and `items_per_page` must be whole numbers of at least 1 (else 422);
  `items_per_page` above the schema's maximum, 200, is capped at 200;
- a course's users, a group's users and a user's courses include suspended users (those
  operations document no `include_suspended`);
- GET /v2/user_groups/{id}/users: its description says paginated, 20 a page, its schema a bare
  array; the simulator answers `{"data", "meta"}` paged by 20 like every other paginated list,
  as a bare array could not tell a client where the pages end when a page past the last repeats
  the last. GET /v2/users/{id}/user-groups follows its schema, a bare array of `{"id",
  "title"}` (its example shows one bare object), in the order the groups were created;
- PUT /v2/users/{id}/user-role documents `UserGroupResponse` as its answer, evidently a slip: it
  answers what GET /v2/users/{id}/user-role answers (`UserRoleUserResponse`): `id`, `email`,
  `username`, `role_id`, `user_role` `{"id", "access_level", "name"}` and all four
  `assigned_*` fields (empty lists and a null segment when none);
- PUT user-role: `role_id` must name a role (422); "If role_id is instructor, then assigned
  courses must be filled", while the field says it may be empty: for a role of the instructor
  level `assigned_courses` must be present (an array, possibly empty). Each assigned course
  needs a known `course_id`; `revenue_share_percentage` is a number from 0 to 100 (default 0).
  `assigned_user_group_ids` must name user groups. Seat offerings and segments are not
  simulated, so any `assigned_seat_offering_ids` or non-empty `assigned_segment_id` names
  nothing and answers 422. Every `assigned_*` field left out is emptied ("If left empty, all
  previously assigned ... will be removed");
- users: `email` (valid, unique ignoring case, stored lower-cased: the examples' email is the
  lower-cased form of their username) and `username` (non-empty, not unique) are required;
  `password` is stored and never answered; `send_registration_email` and
  `signup_validation_rules` are accepted and change nothing (no emails, no signup rules).
  `fields` takes the documented keys (text or null) and any other key as a custom field (a
  scalar); `utms` takes the documented keys (text or null). New users: `eu_customer`,
  `referrer_id`, `last_login`, `signup_approval_status`, `billing_info`, `nps_score`,
  `nps_comment` null, `is_affiliate` false. Every user answer (single or listed) carries the
  schema's full set of fields, including `is_reporter`, `role` and `billing_info`, which the
  single user's example leaves out;
- PUT /v2/users/{id} changes only the fields given; `fields` and `utms` are merged key by key
  (null clears a key); `tags` replaces the tags; `is_admin: true` gives the Admin role,
  `is_admin: false` takes an admin back to the User role and leaves other roles alone;
- tags are non-empty text, kept once each in the order given, compared exactly; attaching a
  tag the user has and detaching one the user lacks change nothing;
- the users list's filters: `tags` (comma-separated) keeps users with any of them;
  `registration_after`/`registration_before` compare `created` strictly; `role` (user, admin,
  instructor, reporter) is the role's access level; `status`: `suspended` lists the suspended
  users (whatever `include_suspended` says), `never_logged_in` and `non_paying` every user
  (nobody logs in or pays here), `paying` nobody; `cf_<name>` keeps users whose custom field
  equals the value; unknown `status` or `role` values answer 422. `include_suspended` is true
  for "true" or "1" (the enum's "flase" is false like anything else);
- suspending a suspended user, or unsuspending one who is not, changes nothing and answers 200;
- courses: `titleId`, `title` and `access` are required; `titleId` may be empty (or null), and
  the id is then the title lower-cased with runs of other characters as one hyphen, made unique
  with -2, -3...; a given `titleId` holds letters, digits, hyphens and underscores and must be
  unused (exact comparison, 422). `price` is at least 0 (default 0) and answers as
  `original_price` and `final_price`, with `discount_price` 0 (the example's discount price is
  the amount taken off: 300 - 100 = 200); `dripFeed` defaults to none; `categories` are
  non-empty texts. New courses answer `expires` null, `expiresType` "weeks" (as the x-example
  of a new course), `afterPurchase` `{"type": "course", "settings": {"page": null, "url":
  null}}`, `author` and `courseImage` null, `identifiers` the id with underscores for hyphens
  (as the example). PUT changes only the fields given and takes `enrollment_closed` too; it
  cannot change the id. There is no course delete in the API;
- the courses list's filters: `categories` (comma-separated) keeps courses in any of them;
  `access` takes one value, comma-separated values, or the JSON array text of the document's
  example (`["draft", "free"]`). The framework keeps the last of a repeated query parameter,
  so `access=draft&access=free` filters by `free` only. Unknown access values answer 422;
- enrollment: `productId`, `productType` and `price` (at least 0) are required; bundles and
  subscriptions are not simulated, so such a product names nothing and answers 422, as does an
  unknown course; `justification`, `duration_type`, `duration` and `send_enrollment_email` are
  checked and change nothing. Enrolling an enrolled user changes nothing and answers 200;
  unenrolling a user who is not enrolled answers 404. A user's courses and products list the
  most recent enrollment first; enrollments never expire (`expires` null); products are
  `{"id", "title", "type": "course"}`;
- user groups: `title` (non-empty, not unique) and `products` with its `courses` (known course
  ids) are required on create and on update (the update takes the same schema); other fields
  left out of an update keep their values. `group_managers` must name users and answer as
  `{"id", "username", "email", "role_id"}`; `max_number_of_users` is a whole number of at least
  1 or null (no limit), and may not fall below the current number of members. Adding a member
  to a full group answers 422; adding a member twice changes nothing and answers 200; removing
  a user who is not a member answers 404. Removing a member keeps the tags and enrollments
  joining gave. A group's `description` is null until given;
- promotions: `name` is required; `type` percentage or fixed (default percentage); `value` at
  least 0 (default 0) and at most 100 for a percentage; `applies_to_all` from the enum, `none`
  only alone (default `["none"]`); `products` are `{"type": "course"|"bundle", "id"}` naming
  existing courses (bundles are not simulated: 422). Promotions cannot be updated or deleted;
- coupons: `code` is required, without spaces, and unique across the school ignoring case;
  `quantity` is a whole number of at least 1, or null for no limit (the default); `expires` is
  a date as YYYY-MM-DD, or null (a UNIX timestamp, as one x-example gives it, is refused: the
  overview says dates are ISO 8601). A coupon answers `{"code", "quantity", "expires", "bulk",
  "prefix", "times_used"}` (`bulk` false, `prefix` null, `times_used` 0). A bulk create
  makes `quantity` (at most 1000) single-use coupons `<prefix>-<six capital letters>`, each
  with `quantity` 1, `bulk` true and the prefix. Coupons cannot be updated or deleted: those
  methods answer 404; nothing redeems a coupon, so `times_used` stays 0. A promotion's
  coupons are listed in the order they were made, in `coupons` and by GET .../coupons (not
  paginated, as documented);
- lists of users, courses, groups and promotions put the most recently created first, as
  documented; timestamps are the server's clock.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import secrets
import string
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import date
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

ROOT = "/admin/api"
V2 = ROOT + "/v2"
TOKEN_PATH = ROOT + "/oauth2/access_token"
NOT_FOUND = "Sorry the resource your trying to access does not exist."
DEFAULT_TOKEN_LIFETIME = 8000.0
MAX_PER_PAGE = 200
MAX_BULK = 1000

ACCESS_LEVELS = ("admin", "instructor", "reporter", "seat_manager", "user")
USER_ROLE_FILTERS = ("user", "admin", "instructor", "reporter")
USER_STATUSES = ("paying", "non_paying", "suspended", "never_logged_in")
CREATE_ACCESS = ("paid", "free", "coming_soon", "private", "draft")
COURSE_ACCESS = ("paid", "free", "coming_soon", "enrollment_closed", "private", "draft")
DRIP_FEEDS = ("days", "date", "none")
PRODUCT_TYPES = ("course", "bundle", "subscription")
DURATION_TYPES = ("months", "weeks", "days")
PROMOTION_TYPES = ("percentage", "fixed")
APPLIES_TO_ALL = ("bundles", "courses", "courses_bundles", "none")
PROMOTED_TYPES = ("course", "bundle")
TAG_ACTIONS = ("attach", "detach")

SIGNUP_FIELDS = ("bio", "location", "url", "fb", "twitter", "instagram", "linkedin", "skype",
                 "behance", "dribbble", "github", "phone", "address", "country", "birthday",
                 "company", "company_size", "university", "graduation_year")
UTM_FIELDS = tuple(f"{kind}_{name}" for kind in ("fc", "lc") for name in (
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "landing",
    "referrer", "country"))

# (id, title, description, access level): the built-in roles, custom_role false.
ROLES = (
    ("61bb42d5e07e202700000001", "Admin",
     "Full access to the school: settings, content, users and sales.", "admin"),
    ("61bb42d5e07e202700000004", "Instructor",
     "Teaches the courses assigned to them.", "instructor"),
    ("61bb42d5e07e202700000008", "Course creator",
     "Upgrade an Instructor to Course Creator and grant them special permissions to create, "
     "manage, and publish their courses.", "instructor"),
    ("61bb42d5e07e20270000000c", "Reporter", "Reads the school's reports.", "reporter"),
    ("61bb42d5e07e202700000010", "Seat manager",
     "Manages the seats of the offerings assigned to them.", "seat_manager"),
    ("61bb42d5e07e202700000018", "User", "A learner of the school.", "user"),
)
ADMIN_ROLE = ROLES[0][0]
USER_ROLE = ROLES[-1][0]

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TITLE_ID = re.compile(r"[A-Za-z0-9_-]+")
WHOLE = re.compile(r"[+-]?\d+")
NUMERIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

Record = dict[str, Any]


# values


def _num(value: float) -> int | float:
    """A number as the document writes it: without the point when nothing follows it."""
    return int(value) if float(value).is_integer() else value


def _stamp() -> int | float:
    """Now, as a UNIX timestamp with microseconds."""
    return _num(round(time.time(), 6))


def _slugify(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "course"


def _bearer(header: str) -> str | None:
    scheme, _, token = header.strip().partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _same(value: Any, text: str) -> bool:
    """Whether a stored custom field equals a query's text."""
    return value is not None and str(value) == text


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# validation


class Fields:
    """One JSON object of a write, read field by field; the first failure answers 422 naming
    the field (nested fields as `products.courses` or `assigned_courses.0.course_id`)."""

    def __init__(self, body: Any, prefix: str = "") -> None:
        if not isinstance(body, dict):
            raise HttpProblem(400, "The request body must be a JSON object")
        self.data: dict[str, Any] = body
        self.prefix = prefix

    def fail(self, name: str, message: str) -> HttpProblem:
        return HttpProblem(422, message.replace("{field}", f"'{self.prefix}{name}'"))

    def has(self, name: str) -> bool:
        return name in self.data

    def _value(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if required and (value is None or (isinstance(value, str) and not value.strip())):
            raise self.fail(name, "The {field} field is required.")
        return value

    def text(self, name: str, required: bool = False, nullable: bool = True) -> str | None:
        value = self._value(name, required)
        if value is None and (nullable or name not in self.data):
            return None
        if not isinstance(value, str):
            raise self.fail(name, "The {field} field must be a string.")
        return value

    def boolean(self, name: str, nullable: bool = False) -> bool | None:
        value = self.data.get(name)
        if value is None and (nullable or name not in self.data):
            return None
        if not isinstance(value, bool):
            raise self.fail(name, "The {field} field must be true or false.")
        return value

    def number(self, name: str, required: bool = False, low: float | None = None,
               high: float | None = None) -> int | float | None:
        value = self._value(name, required)
        if value is None and name not in self.data:
            return None
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              and math.isfinite(value)) or (isinstance(value, str) and NUMERIC.fullmatch(value))
        if not ok:
            raise self.fail(name, "The {field} field must be a number.")
        number = _num(float(value))
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"at least {_num(low)}" if low is not None else ""
            if high is not None:
                bounds += (" and " if bounds else "") + f"at most {_num(high)}"
            raise self.fail(name, f"The {{field}} field must be {bounds}.")
        return number

    def whole(self, name: str, required: bool = False, low: int = 1,
              nullable: bool = False) -> int | None:
        value = self._value(name, required)
        if value is None and (nullable or name not in self.data):
            return None
        number = _whole(value)
        if number is None or number < low:
            raise self.fail(name, f"The {{field}} field must be a whole number of at least "
                                  f"{low}.")
        return number

    def choice(self, name: str, allowed: Sequence[str], required: bool = False) -> str | None:
        value = self._value(name, required)
        if value is None and name not in self.data:
            return None
        if value not in allowed:
            raise self.fail(name, f"The {{field}} field must be one of: {', '.join(allowed)}.")
        return str(value)

    def texts(self, name: str, required: bool = False) -> list[str] | None:
        """An array of non-empty texts, each kept once, in the order given."""
        value = self.data.get(name)
        if value is None and not required and name not in self.data:
            return None
        if required and value is None:
            raise self.fail(name, "The {field} field is required.")
        if not isinstance(value, list) or not all(
                isinstance(item, str) and item.strip() for item in value):
            raise self.fail(name, "The {field} field must be an array of non-empty strings.")
        return list(dict.fromkeys(value))

    def objects(self, name: str) -> list[Fields]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(name, "The {field} field must be an array.")
        return [Fields.nested(item, self, f"{name}.{index}")
                for index, item in enumerate(value)]

    def child(self, name: str, required: bool = False) -> Fields | None:
        value = self._value(name, required)
        if value is None and name not in self.data:
            return None
        return Fields.nested(value, self, name)

    @staticmethod
    def nested(value: Any, parent: Fields, name: str) -> Fields:
        if not isinstance(value, dict):
            raise parent.fail(name, "The {field} field must be an object.")
        return Fields(value, f"{parent.prefix}{name}.")

    def day(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        try:
            if isinstance(value, str) and DAY.fullmatch(value):
                return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
        raise self.fail(name, "The {field} field must be a date as YYYY-MM-DD.")


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and WHOLE.fullmatch(value.strip()):
        return int(value)
    return None


def _query_whole(request: Request, name: str) -> int | None:
    text = request.query.get(name, "").strip()
    if not text:
        return None
    number = _whole(text)
    if number is None or number < 1:
        raise HttpProblem(422, f"The '{name}' query parameter must be a whole number of at "
                               "least 1.")
    return number


def _flag(request: Request, name: str) -> bool:
    return request.query.get(name, "").strip().lower() in ("true", "1")


def _query_list(text: str) -> list[str]:
    """One value, comma-separated values, or a JSON array as text."""
    if text.strip().startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            values = None
        if isinstance(values, list):
            return [str(v).strip() for v in values if str(v).strip()]
    return _split(text)


def _paged(request: Request, items: Sequence[Record], view: Callable[[Record], Any],
           size: int, sizable: bool = False) -> Response:
    """One page of `items` (already in order) with the documented `meta` block."""
    if sizable:
        size = min(_query_whole(request, "items_per_page") or size, MAX_PER_PAGE)
    pages = math.ceil(len(items) / size)
    page = min(_query_whole(request, "page") or 1, max(pages, 1))
    chunk = items[(page - 1) * size:page * size]
    return Response(200, {"data": [view(item) for item in chunk],
                          "meta": {"page": page, "totalItems": len(items), "totalPages": pages,
                                   "itemsPerPage": size}})


def _newest_first(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=lambda record: record["seq"], reverse=True)


# the simulator


class LearnworldsSimulator(Simulator):
    name = "learnworlds"
    title = "LearnWorlds"
    accepts_form_bodies = True  # the token endpoint takes form-encoded bodies

    def __init__(self, client_id: str = "sim-client", client_secret: str = "sim-secret",
                 faults: Faults | None = None, *,
                 token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
                 rate_limit: tuple[int, float] | None = (30, 10.0),
                 expire_token_every: int = 0) -> None:
        super().__init__(faults)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.rate_limit = rate_limit
        self.expire_token_every = expire_token_every
        self.tokens: dict[str, float] = {}  # token -> expiry, on self.clock
        self.tokens_issued = 0
        self.rate_limited = 0
        self._window: deque[float] = deque()
        self._v2_requests = 0
        self._machine = secrets.token_hex(5)
        self._counter = itertools.count(secrets.randbelow(1 << 20))
        self._seq = itertools.count(1)
        self.roles: dict[str, Record] = {
            rid: {"id": rid, "title": title, "description": text, "access_level": level,
                  "custom_role": False} for rid, title, text, level in ROLES}
        self.users: dict[str, Record] = {}
        self.courses: dict[str, Record] = {}
        self.enrollments: dict[tuple[str, str], int | float] = {}  # (user, course) -> created
        self.groups: dict[str, Record] = {}
        self.promotions: dict[str, Record] = {}
        self.coupons: dict[str, Record] = {}  # lower-cased code -> coupon
        self._routes()

    @property
    def api_url(self) -> str:
        """The school's API URL, as a client is configured with it."""
        return self.base_url + ROOT

    # protocol

    def authenticate(self, request: Request) -> None:
        if not request.path.lower().startswith(V2.lower() + "/"):
            return
        token = _bearer(request.headers.get("authorization", "")) or ""
        with self.lock:
            self._v2_requests += 1
            if token not in self.tokens:
                raise HttpProblem(401, "The access token is missing or not valid.")
            every = self.expire_token_every
            if every and self._v2_requests % every == 0:
                self.tokens[token] = float("-inf")  # dead for good, as a real expiry
            if self.tokens[token] <= self.clock():
                raise HttpProblem(401, "The access token has expired.")
        client = request.headers.get("lw-client", "").strip()
        if not client:
            raise HttpProblem(401, "The Lw-Client header is required.")
        if client != self.client_id:
            raise HttpProblem(401, "The Lw-Client header does not name this school's client.")

    def error_body(self, status: int, message: str) -> Any:
        if status in (400, 401, 403):
            return {"errors": [{"code": str(status), "context": None, "message": message}],
                    "success": False}
        return {"error": {404: NOT_FOUND, 429: "Too many requests",
                          500: "Server Error"}.get(status, message)}

    def announcement(self, url: str) -> str:
        return (f"{super().announcement(url)}; API URL {url}{ROOT} "
                f"(client id {self.client_id}, client secret {self.client_secret})")

    def handle(self, request: Request) -> Response | None:
        """The school's own sliding-window rate limit comes first."""
        if not request.path.startswith("/_simulator/"):
            wait = self._throttle()
            if wait is not None:
                return Response(429, self.error_body(429, "Too many requests"),
                                {"Retry-After": str(wait)})
        return super().handle(request)

    def _throttle(self) -> int | None:
        """None when the request takes a slot in the window, else the seconds to wait."""
        if self.rate_limit is None:
            return None
        limit, span = self.rate_limit
        with self.lock:
            now = self.clock()
            while self._window and now - self._window[0] >= span:
                self._window.popleft()
            if len(self._window) >= limit:
                self.rate_limited += 1
                return max(1, math.ceil(span - (now - self._window[0])))
            self._window.append(now)
            return None

    def stats(self) -> dict[str, Any]:
        stats = super().stats()
        with self.lock:
            stats.update(tokens_issued=self.tokens_issued, rate_limited=self.rate_limited)
        return stats

    def _routes(self) -> None:
        self.route("POST", TOKEN_PATH, "access token", self.grant)
        for method, path, name, handler in (
            ("GET", "/users", "users list", self.list_users),
            ("POST", "/users", "user create", self.create_user),
            ("GET", "/users/{uid}", "user get", self.get_user),
            ("PUT", "/users/{uid}", "user update", self.update_user),
            ("PUT", "/users/{uid}/tags", "user tags", self.tag_user),
            ("PUT", "/users/{uid}/suspend", "user suspend", self.suspend),
            ("PUT", "/users/{uid}/unsuspend", "user unsuspend", self.unsuspend),
            ("GET", "/users/{uid}/courses", "user courses", self.user_courses),
            ("GET", "/users/{uid}/products", "user products", self.user_products),
            ("POST", "/users/{uid}/enrollment", "user enroll", self.enroll),
            ("DELETE", "/users/{uid}/enrollment", "user unenroll", self.unenroll),
            ("GET", "/users/{uid}/user-groups", "user groups", self.user_groups),
            ("GET", "/users/{uid}/user-role", "user role get", self.get_user_role),
            ("PUT", "/users/{uid}/user-role", "user role update", self.put_user_role),
            ("GET", "/user-roles", "roles list", self.list_roles),
            ("GET", "/courses", "courses list", self.list_courses),
            ("POST", "/courses", "course create", self.create_course),
            ("GET", "/courses/{cid}", "course get", self.get_course),
            ("PUT", "/courses/{cid}", "course update", self.update_course),
            ("GET", "/courses/{cid}/users", "course users", self.course_users),
            ("GET", "/user_groups", "groups list", self.list_groups),
            ("POST", "/user_groups", "group create", self.create_group),
            ("GET", "/user_groups/{gid}", "group get", self.get_group),
            ("PUT", "/user_groups/{gid}", "group update", self.update_group),
            ("GET", "/user_groups/{gid}/users", "group users", self.group_users),
            ("POST", "/user_groups/{gid}/users/{uid}", "group add", self.add_member),
            ("DELETE", "/user_groups/{gid}/users/{uid}", "group remove", self.remove_member),
            ("GET", "/promotions", "promotions list", self.list_promotions),
            ("POST", "/promotions", "promotion create", self.create_promotion),
            ("GET", "/promotions/{pid}", "promotion get", self.get_promotion),
            ("GET", "/promotions/{pid}/coupons", "coupons list", self.list_coupons),
            ("POST", "/promotions/{pid}/coupons", "coupon create", self.create_coupon),
            ("POST", "/promotions/{pid}/coupons-bulk", "coupons bulk", self.bulk_coupons),
        ):
            self.route(method, V2 + path, name, handler)

    # the token endpoint and test hooks

    def grant(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("grant_type") != "client_credentials":
            raise HttpProblem(401, "The authorization grant type is not supported by the "
                                   "authorization server.")
        if (body.get("client_id"), body.get("client_secret")) != (self.client_id,
                                                                  self.client_secret):
            raise HttpProblem(401, "Client authentication failed.")
        token = secrets.token_hex(20)
        self.tokens[token] = self.clock() + self.token_lifetime
        self.tokens_issued += 1
        return Response(200, {"tokenData": {"access_token": token, "token_type": "Bearer",
                                            "expires_in": math.ceil(self.token_lifetime)},
                              "success": True, "errors": []})

    def expire_tokens(self) -> None:
        """Every token issued so far stops working at once, as if it had expired."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = float("-inf")

    def seed_user(self, email: str, username: str | None = None, *, is_admin: bool = False,
                  tags: Iterable[str] = (), suspended: bool = False) -> str:
        """A user made without HTTP (for tests); returns the id."""
        with self.lock:
            if self._by_email(email) is not None:
                raise ValueError(f"a user with email {email} exists")
            user = self._new_user(email, username or email, ADMIN_ROLE if is_admin
                                  else USER_ROLE, tags=list(dict.fromkeys(tags)))
            user["is_suspended"] = suspended
            return str(user["id"])

    # helpers

    def _new_id(self) -> str:
        return f"{int(time.time()):08x}{self._machine}{next(self._counter) & 0xFFFFFF:06x}"

    @staticmethod
    def _input(request: Request) -> Fields:
        content_type = request.headers.get("content-type", "").lower()
        if request.raw_body and "application/json" not in content_type:
            raise HttpProblem(415, "Send the body as application/json.")
        return Fields({} if request.body is None else request.body)

    def _by_email(self, email: str) -> Record | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u["email"] == wanted), None)

    def _user(self, raw: str, include_suspended: bool = True) -> Record:
        key = unquote(raw)
        user = self.users.get(key) or self._by_email(key)
        if user is None or (user["is_suspended"] and not include_suspended):
            raise HttpProblem(404, NOT_FOUND)
        return user

    @staticmethod
    def _find(table: dict[str, Record], raw: str) -> Record:
        record = table.get(unquote(raw))
        if record is None:
            raise HttpProblem(404, NOT_FOUND)
        return record

    def _known_course(self, fields: Fields, name: str, course_id: str) -> str:
        if course_id not in self.courses:
            raise fields.fail(name, f"The {{field}} field names no course: '{course_id}'.")
        return course_id

    # users

    def _new_user(self, email: str, username: str, role_id: str, **extra: Any) -> Record:
        now = _stamp()
        user: Record = {"id": self._new_id(), "seq": next(self._seq), "email": email.lower(),
                        "username": username, "password": None, "subscribed": None,
                        "role_id": role_id, "is_suspended": False, "fields": {}, "tags": [],
                        "utms": {}, "created": now, "modified": now, "assigned_courses": [],
                        "assigned_groups": [], **extra}
        self.users[user["id"]] = user
        return user

    def _user_view(self, user: Record) -> Record:
        role = self.roles[user["role_id"]]
        level = role["access_level"]
        return {"id": user["id"], "email": user["email"], "username": user["username"],
                "subscribed_for_marketing_emails": user["subscribed"], "eu_customer": None,
                "is_admin": level == "admin", "is_instructor": level == "instructor",
                "is_suspended": user["is_suspended"], "is_reporter": level == "reporter",
                "role": {"level": level, "name": role["title"]}, "is_affiliate": False,
                "referrer_id": None, "created": user["created"], "last_login": None,
                "signup_approval_status": None,
                "fields": {**dict.fromkeys(SIGNUP_FIELDS), **user["fields"]},
                "tags": list(user["tags"]),
                "utms": {**dict.fromkeys(UTM_FIELDS), **user["utms"]},
                "billing_info": None, "nps_score": None, "nps_comment": None}

    def _email(self, fields: Fields, user_id: str | None) -> str:
        email = (fields.text("email", required=True) or "").strip()
        if not EMAIL.fullmatch(email):
            raise fields.fail("email", "The {field} field must be a valid email address.")
        other = self._by_email(email)
        if other is not None and other["id"] != user_id:
            raise fields.fail("email", f"The {{field}} '{email}' is already taken by another "
                                       "user.")
        return email.lower()

    @staticmethod
    def _signup_fields(fields: Fields) -> dict[str, Any]:
        given = fields.child("fields")
        if given is None:
            return {}
        for key, value in given.data.items():
            if key in SIGNUP_FIELDS:
                given.text(key)
            elif isinstance(value, dict | list):
                raise given.fail(key, "The custom field {field} must be a single value.")
        return dict(given.data)

    @staticmethod
    def _utms(fields: Fields) -> dict[str, Any]:
        given = fields.child("utms")
        if given is None:
            return {}
        return {key: given.text(key) for key in UTM_FIELDS if given.has(key)}

    def create_user(self, request: Request) -> Response:
        fields = self._input(request)
        email = self._email(fields, None)
        username = fields.text("username", required=True)
        password = fields.text("password")
        subscribed = fields.boolean("subscribed_for_marketing_emails", nullable=True)
        fields.boolean("send_registration_email", nullable=True)
        is_admin = fields.boolean("is_admin")
        fields.boolean("signup_validation_rules")
        signup, utms = self._signup_fields(fields), self._utms(fields)
        tags = fields.texts("tags") or []
        assert username is not None
        user = self._new_user(email, username, ADMIN_ROLE if is_admin else USER_ROLE,
                              password=password, subscribed=subscribed, fields=signup,
                              utms=utms, tags=tags)
        return Response(201, self._user_view(user))

    def get_user(self, request: Request, uid: str) -> Response:
        user = self._user(uid, include_suspended=_flag(request, "include_suspended"))
        return Response(200, self._user_view(user))

    def update_user(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        fields = self._input(request)
        changes: Record = {}
        if fields.has("email"):
            changes["email"] = self._email(fields, user["id"])
        if fields.has("username"):
            changes["username"] = fields.text("username", required=True)
        if fields.has("subscribed_for_marketing_emails"):
            changes["subscribed"] = fields.boolean("subscribed_for_marketing_emails", True)
        is_admin = fields.boolean("is_admin")
        if is_admin is not None:
            level = self.roles[user["role_id"]]["access_level"]
            changes["role_id"] = ADMIN_ROLE if is_admin else (
                USER_ROLE if level == "admin" else user["role_id"])
        fields.boolean("signup_validation_rules")
        if fields.has("fields"):
            changes["fields"] = {**user["fields"], **self._signup_fields(fields)}
        if fields.has("utms"):
            changes["utms"] = {**user["utms"], **self._utms(fields)}
        if fields.has("tags"):
            changes["tags"] = fields.texts("tags") or []
        user.update(changes, modified=_stamp())
        return Response(200, self._user_view(user))

    def tag_user(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        fields = self._input(request)
        tags = fields.texts("tags", required=True) or []
        action = fields.choice("action", TAG_ACTIONS, required=True)
        if action == "attach":
            user["tags"] = list(dict.fromkeys([*user["tags"], *tags]))
        else:
            user["tags"] = [tag for tag in user["tags"] if tag not in tags]
        return Response(200, self._user_view(user))

    def suspend(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        user["is_suspended"] = True
        return Response(200, self._user_view(user))

    def unsuspend(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        user["is_suspended"] = False
        return Response(200, self._user_view(user))

    def _user_filter(self, request: Request) -> Callable[[Record], bool]:
        """The users list's query filters, all applied (AND)."""
        query = request.query
        status = query.get("status") or None
        role = query.get("role") or None
        if status is not None and status not in USER_STATUSES:
            raise HttpProblem(422, "The 'status' query parameter must be one of: "
                                   + ", ".join(USER_STATUSES) + ".")
        if role is not None and role not in USER_ROLE_FILTERS:
            raise HttpProblem(422, "The 'role' query parameter must be one of: "
                                   + ", ".join(USER_ROLE_FILTERS) + ".")
        after, before = (self._query_time(request, name)
                         for name in ("registration_after", "registration_before"))
        tags = set(_split(query.get("tags", "")))
        custom = {k: v for k, v in query.items() if k.startswith("cf_")}
        hidden = not _flag(request, "include_suspended") and status != "suspended"

        def keep(user: Record) -> bool:
            return not ((hidden and user["is_suspended"])
                        or (status == "suspended" and not user["is_suspended"])
                        or status == "paying"
                        or (role and self.roles[user["role_id"]]["access_level"] != role)
                        or (after is not None and not user["created"] > after)
                        or (before is not None and not user["created"] < before)
                        or (tags and not tags & set(user["tags"]))
                        or any(not _same(user["fields"].get(k), v)
                               for k, v in custom.items()))

        return keep

    @staticmethod
    def _query_time(request: Request, name: str) -> float | None:
        text = request.query.get(name, "").strip()
        if not text:
            return None
        if not NUMERIC.fullmatch(text):
            raise HttpProblem(422, f"The '{name}' query parameter must be a UNIX timestamp.")
        return float(text)

    def list_users(self, request: Request) -> Response:
        keep = self._user_filter(request)
        found = _newest_first(u for u in self.users.values() if keep(u))
        return _paged(request, found, self._user_view, 20, sizable=True)

    # enrollments

    def _course_product(self, fields: Fields) -> str:
        """The course a product names; bundles and subscriptions are not simulated."""
        product_id = fields.text("productId", required=True) or ""
        kind = fields.choice("productType", PRODUCT_TYPES, required=True)
        if kind != "course":
            raise fields.fail("productId", f"The {{field}} field names no {kind}: "
                                           f"'{product_id}'.")
        return self._known_course(fields, "productId", product_id)

    def enroll(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        fields = self._input(request)
        course_id = self._course_product(fields)
        fields.number("price", required=True, low=0)
        fields.text("justification")
        fields.choice("duration_type", DURATION_TYPES)
        fields.whole("duration")
        fields.boolean("send_enrollment_email", nullable=True)
        self.enrollments.setdefault((user["id"], course_id), _stamp())
        return Response(200, {"success": True})

    def unenroll(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        course_id = self._course_product(self._input(request))
        if self.enrollments.pop((user["id"], course_id), None) is None:
            raise HttpProblem(404, NOT_FOUND)
        return Response(204)

    def _enrolled(self, user_id: str) -> list[tuple[str, int | float]]:
        """(course, created) of a user's enrollments, the most recent first."""
        return [(course, created) for (user, course), created
                in reversed(self.enrollments.items()) if user == user_id]

    def user_courses(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        rows = [{"course": course, "created": created}
                for course, created in self._enrolled(user["id"])]
        return _paged(request, rows, lambda row: {
            "created": row["created"], "expires": None,
            "course": self._course_view(self.courses[row["course"]])}, 50)

    def user_products(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        return Response(200, {"data": [
            {"id": course, "title": self.courses[course]["title"], "type": "course"}
            for course, _ in self._enrolled(user["id"])]})

    # roles

    def list_roles(self, request: Request) -> Response:
        levels = _split(request.query.get("access_level", ""))
        unknown = [level for level in levels if level not in ACCESS_LEVELS]
        if unknown:
            raise HttpProblem(422, "The 'access_level' query parameter must be one of: "
                                   + ", ".join(ACCESS_LEVELS) + ".")
        wanted = request.query.get("role_id", "").strip()
        found = [dict(role) for role in sorted(self.roles.values(), key=lambda r: r["title"])
                 if (not levels or role["access_level"] in levels)
                 and (not wanted or role["id"] == wanted)]
        return Response(200, {"data": found})

    def _role_view(self, user: Record) -> Record:
        role = self.roles[user["role_id"]]
        return {"id": user["id"], "email": user["email"], "username": user["username"],
                "role_id": role["id"],
                "user_role": {"id": role["id"], "access_level": role["access_level"],
                              "name": role["title"]},
                "assigned_courses": [dict(c) for c in user["assigned_courses"]],
                "assigned_seat_offering_ids": [],
                "assigned_user_group_ids": list(user["assigned_groups"]),
                "assigned_segment_id": None}

    def get_user_role(self, request: Request, uid: str) -> Response:
        return Response(200, self._role_view(self._user(uid)))

    def _assigned_courses(self, fields: Fields, required: bool) -> list[Record]:
        if required and fields.data.get("assigned_courses") is None:
            raise fields.fail("assigned_courses", "The {field} field is required for a role "
                                                  "of the instructor level.")
        assigned: dict[str, Record] = {}
        for item in fields.objects("assigned_courses"):
            course = self._known_course(item, "course_id",
                                        item.text("course_id", required=True) or "")
            share = item.number("revenue_share_percentage", low=0, high=100) or 0
            assigned[course] = {"course_id": course, "revenue_share_percentage": share}
        return list(assigned.values())

    def put_user_role(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        fields = self._input(request)
        role_id = fields.text("role_id", required=True) or ""
        if role_id not in self.roles:
            raise fields.fail("role_id", f"The {{field}} field names no role: '{role_id}'.")
        level = self.roles[role_id]["access_level"]
        courses = self._assigned_courses(fields, required=level == "instructor")
        groups = fields.texts("assigned_user_group_ids") or []
        for gid in groups:
            if gid not in self.groups:
                raise fields.fail("assigned_user_group_ids",
                                  f"The {{field}} field names no user group: '{gid}'.")
        seats = fields.texts("assigned_seat_offering_ids") or []
        if seats:
            raise fields.fail("assigned_seat_offering_ids",
                              f"The {{field}} field names no seat offering: '{seats[0]}'.")
        if fields.text("assigned_segment_id"):
            raise fields.fail("assigned_segment_id", "The {field} field names no segment.")
        user.update(role_id=role_id, assigned_courses=courses, assigned_groups=groups,
                    modified=_stamp())
        return Response(200, self._role_view(user))

    # courses

    def _course_view(self, course: Record) -> Record:
        store_id = course["id"].replace("-", "_")
        return {"id": course["id"], "title": course["title"], "expires": None,
                "expiresType": "weeks",
                "afterPurchase": {"type": "course", "settings": {"page": None, "url": None}},
                "categories": list(course["categories"]), "description": course["description"],
                "label": course["label"], "author": None, "courseImage": None,
                "original_price": course["price"], "discount_price": 0,
                "final_price": course["price"], "dripFeed": course["dripFeed"],
                "identifiers": {"google_store_id": store_id, "apple_store_id": store_id},
                "access": course["access"], "created": course["created"],
                "modified": course["modified"]}

    def _title_id(self, fields: Fields, title: str) -> str:
        if not fields.has("titleId"):
            raise fields.fail("titleId", "The {field} field is required (it may be empty).")
        given = fields.text("titleId")
        if not given:
            base = _slugify(title)
            return next(candidate for candidate in itertools.chain(
                [base], (f"{base}-{n}" for n in itertools.count(2)))
                if candidate not in self.courses)
        if not TITLE_ID.fullmatch(given):
            raise fields.fail("titleId", "The {field} field may hold only letters, digits, "
                                         "hyphens and underscores.")
        if given in self.courses:
            raise fields.fail("titleId", f"The {{field}} '{given}' is already taken by "
                                         "another course.")
        return given

    @staticmethod
    def _course_fields(fields: Fields, access: Sequence[str]) -> Record:
        """The optional fields of a create or update that were given, checked."""
        checks: dict[str, Callable[[str], Any]] = {
            "description": fields.text, "label": fields.text,
            "price": lambda name: fields.number(name, low=0),
            "dripFeed": lambda name: fields.choice(name, DRIP_FEEDS),
            "access": lambda name: fields.choice(name, access),
            "categories": lambda name: fields.texts(name) or []}
        return {name: check(name) for name, check in checks.items() if fields.has(name)}

    def create_course(self, request: Request) -> Response:
        fields = self._input(request)
        title = fields.text("title", required=True) or ""
        fields.choice("access", CREATE_ACCESS, required=True)
        course_id = self._title_id(fields, title)
        given = self._course_fields(fields, CREATE_ACCESS)
        now = _stamp()
        course: Record = {"description": None, "label": None, "price": 0, "dripFeed": "none",
                          "categories": [], **{k: v for k, v in given.items() if v is not None},
                          "id": course_id, "title": title, "seq": next(self._seq),
                          "created": now, "modified": now}
        self.courses[course_id] = course
        return Response(201, self._course_view(course))

    def get_course(self, request: Request, cid: str) -> Response:
        return Response(200, self._course_view(self._find(self.courses, cid)))

    def update_course(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid)
        fields = self._input(request)
        changes = self._course_fields(fields, COURSE_ACCESS)
        if fields.has("title"):
            changes["title"] = fields.text("title", required=True)
        course.update(changes, modified=_stamp())
        return Response(200, self._course_view(course))

    def list_courses(self, request: Request) -> Response:
        categories = set(_split(request.query.get("categories", "")))
        access = _query_list(request.query.get("access", ""))
        unknown = [value for value in access if value not in COURSE_ACCESS]
        if unknown:
            raise HttpProblem(422, "The 'access' query parameter must hold values among: "
                                   + ", ".join(COURSE_ACCESS) + ".")
        found = _newest_first(
            c for c in self.courses.values()
            if (not categories or categories & set(c["categories"]))
            and (not access or c["access"] in access))
        return _paged(request, found, self._course_view, 50)

    def course_users(self, request: Request, cid: str) -> Response:
        course = self._find(self.courses, cid)
        found = _newest_first(self.users[user] for user, c in self.enrollments
                              if c == course["id"])
        return _paged(request, found, self._user_view, 20, sizable=True)

    # user groups

    def _group_view(self, group: Record) -> Record:
        managers = [self.users[uid] for uid in group["managers"]]
        return {"id": group["id"], "title": group["title"],
                "description": group["description"],
                "products": {"courses": list(group["courses"])},
                "max_number_of_users": group["max_users"],
                "enroll_users_on_courses": group["enroll"],
                "group_managers": [{"id": m["id"], "username": m["username"],
                                    "email": m["email"], "role_id": m["role_id"]}
                                   for m in managers],
                "tags": list(group["tags"]), "created": group["created"],
                "modified": group["modified"]}

    def _group_fields(self, fields: Fields, members: int) -> Record:
        """A create's or update's fields, checked; optional ones only when given."""
        checked: Record = {"title": fields.text("title", required=True)}
        products = fields.child("products", required=True)
        assert products is not None
        courses = products.texts("courses", required=True) or []
        checked["courses"] = [self._known_course(products, "courses", c) for c in courses]
        if fields.has("description"):
            checked["description"] = fields.text("description")
        if fields.has("enroll_users_on_courses"):
            checked["enroll"] = bool(fields.boolean("enroll_users_on_courses"))
        if fields.has("max_number_of_users"):
            limit = checked["max_users"] = fields.whole("max_number_of_users", nullable=True)
            if limit is not None and limit < members:
                raise fields.fail("max_number_of_users", f"The {{field}} field may not be "
                                                         f"below the {members} members.")
        if fields.has("group_managers"):
            checked["managers"] = fields.texts("group_managers") or []
            for uid in checked["managers"]:
                if uid not in self.users:
                    raise fields.fail("group_managers", f"The {{field}} field names no "
                                                        f"user: '{uid}'.")
        if fields.has("tags"):
            checked["tags"] = fields.texts("tags") or []
        return checked

    def create_group(self, request: Request) -> Response:
        checked = self._group_fields(self._input(request), 0)
        now = _stamp()
        group: Record = {"description": None, "enroll": False, "max_users": None,
                         "managers": [], "tags": [], **checked, "id": self._new_id(),
                         "seq": next(self._seq), "created": now, "modified": now,
                         "members": []}
        self.groups[group["id"]] = group
        return Response(201, self._group_view(group))

    def get_group(self, request: Request, gid: str) -> Response:
        return Response(200, self._group_view(self._find(self.groups, gid)))

    def update_group(self, request: Request, gid: str) -> Response:
        group = self._find(self.groups, gid)
        group.update(self._group_fields(self._input(request), len(group["members"])),
                     modified=_stamp())
        return Response(200, self._group_view(group))

    def list_groups(self, request: Request) -> Response:
        return _paged(request, _newest_first(self.groups.values()), self._group_view, 20)

    def group_users(self, request: Request, gid: str) -> Response:
        group = self._find(self.groups, gid)
        found = _newest_first(self.users[uid] for uid in group["members"])
        return _paged(request, found, self._user_view, 20)

    def add_member(self, request: Request, gid: str, uid: str) -> Response:
        group = self._find(self.groups, gid)
        user = self._user(uid)
        if user["id"] not in group["members"]:
            limit = group["max_users"]
            if limit is not None and len(group["members"]) >= limit:
                raise HttpProblem(422, f"The user group is full: it takes at most {limit} "
                                       "users (max_number_of_users).")
            group["members"].append(user["id"])
            user["tags"] = list(dict.fromkeys([*user["tags"], *group["tags"]]))
            if group["enroll"]:
                for course_id in group["courses"]:
                    self.enrollments.setdefault((user["id"], course_id), _stamp())
        return Response(200, {"success": True})

    def remove_member(self, request: Request, gid: str, uid: str) -> Response:
        group = self._find(self.groups, gid)
        user = self._user(uid)
        if user["id"] not in group["members"]:
            raise HttpProblem(404, NOT_FOUND)
        group["members"].remove(user["id"])
        return Response(204)

    def user_groups(self, request: Request, uid: str) -> Response:
        user = self._user(uid)
        return Response(200, [{"id": g["id"], "title": g["title"]}
                              for g in self.groups.values() if user["id"] in g["members"]])

    # promotions and coupons

    def _promotion_view(self, promotion: Record) -> Record:
        return {"id": promotion["id"], "name": promotion["name"],
                "coupons": self._coupons_of(promotion["id"]),
                "applies_to_all": list(promotion["applies_to_all"]),
                "products": [dict(p) for p in promotion["products"]],
                "type": promotion["type"], "value": promotion["value"],
                "created": promotion["created"], "modified": promotion["modified"]}

    def _coupons_of(self, promotion_id: str) -> list[Record]:
        return [self._coupon_view(c) for c in self.coupons.values()
                if c["promotion"] == promotion_id]

    @staticmethod
    def _coupon_view(coupon: Record) -> Record:
        return {key: coupon[key] for key in ("code", "quantity", "expires", "bulk", "prefix",
                                             "times_used")}

    def _promoted(self, fields: Fields) -> list[Record]:
        products: dict[tuple[str, str], Record] = {}
        for item in fields.objects("products"):
            kind = item.choice("type", PROMOTED_TYPES, required=True)
            product_id = item.text("id", required=True) or ""
            if kind == "bundle":
                raise item.fail("id", f"The {{field}} field names no bundle: '{product_id}'.")
            self._known_course(item, "id", product_id)
            products[kind or "", product_id] = {"type": kind, "id": product_id}
        return list(products.values())

    def create_promotion(self, request: Request) -> Response:
        fields = self._input(request)
        name = fields.text("name", required=True)
        kind = fields.choice("type", PROMOTION_TYPES) or "percentage"
        value = fields.number("value", low=0, high=100 if kind == "percentage" else None)
        applies = fields.texts("applies_to_all") or ["none"]
        for item in applies:
            if item not in APPLIES_TO_ALL:
                raise fields.fail("applies_to_all", "The {field} field must hold values "
                                                    f"among: {', '.join(APPLIES_TO_ALL)}.")
        if "none" in applies and len(applies) > 1:
            raise fields.fail("applies_to_all", "The {field} field may hold 'none' only "
                                                "alone.")
        products = self._promoted(fields)
        now = _stamp()
        promotion: Record = {"id": self._new_id(), "seq": next(self._seq), "name": name,
                             "type": kind, "value": value or 0, "applies_to_all": applies,
                             "products": products, "created": now, "modified": now}
        self.promotions[promotion["id"]] = promotion
        return Response(201, self._promotion_view(promotion))

    def get_promotion(self, request: Request, pid: str) -> Response:
        return Response(200, self._promotion_view(self._find(self.promotions, pid)))

    def list_promotions(self, request: Request) -> Response:
        found = _newest_first(self.promotions.values())
        return _paged(request, found, self._promotion_view, 20)

    def list_coupons(self, request: Request, pid: str) -> Response:
        promotion = self._find(self.promotions, pid)
        return Response(200, {"data": self._coupons_of(promotion["id"])})

    def _add_coupon(self, promotion_id: str, code: str, quantity: int | None,
                    expires: str | None, prefix: str | None) -> Record:
        coupon = {"code": code, "quantity": quantity, "expires": expires,
                  "bulk": prefix is not None, "prefix": prefix, "times_used": 0,
                  "promotion": promotion_id}
        self.coupons[code.lower()] = coupon
        return self._coupon_view(coupon)

    def create_coupon(self, request: Request, pid: str) -> Response:
        promotion = self._find(self.promotions, pid)
        fields = self._input(request)
        code = fields.text("code", required=True) or ""
        if re.search(r"\s", code):
            raise fields.fail("code", "The {field} field may not contain spaces.")
        if code.lower() in self.coupons:
            raise fields.fail("code", f"The {{field}} '{code}' is already used by another "
                                      "coupon.")
        quantity = fields.whole("quantity", nullable=True)
        expires = fields.day("expires")
        return Response(200, self._add_coupon(promotion["id"], code, quantity, expires, None))

    def bulk_coupons(self, request: Request, pid: str) -> Response:
        promotion = self._find(self.promotions, pid)
        fields = self._input(request)
        prefix = fields.text("prefix", required=True) or ""
        if re.search(r"\s", prefix):
            raise fields.fail("prefix", "The {field} field may not contain spaces.")
        count = fields.whole("quantity", required=True) or 0
        if count > MAX_BULK:
            raise fields.fail("quantity", f"The {{field}} field may be at most {MAX_BULK}.")
        expires = fields.day("expires")
        made: list[Record] = []
        while len(made) < count:
            suffix = "".join(secrets.choice(string.ascii_uppercase) for _ in range(6))
            if f"{prefix}-{suffix}".lower() not in self.coupons:
                made.append(self._add_coupon(promotion["id"], f"{prefix}-{suffix}", 1,
                                             expires, prefix))
        return Response(200, made)


def _rate_option(ctx: click.Context, param: click.Parameter, value: str
                 ) -> tuple[int, float] | None:
    text = value.strip().lower()
    if text in ("off", "none", "0"):
        return None
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)", text)
    if not match or int(match[1]) < 1 or float(match[2]) <= 0:
        raise click.BadParameter("expected REQUESTS/SECONDS, such as 30/10, or 'off'")
    return int(match[1]), float(match[2])


@click.option("--client-id", default="sim-client", show_default=True,
              help="The school's API client id (also the Lw-Client header).")
@click.option("--client-secret", default="sim-secret", show_default=True,
              help="The school's API client secret.")
@click.option("--token-lifetime", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULT_TOKEN_LIFETIME, show_default=True,
              help="Seconds an access token lives.")
@click.option("--expire-token-every", type=click.IntRange(min=0), default=0,
              help="Every Nth /v2 request finds its token expired (401; the token stays dead).")
@click.option("--lw-rate-limit", default="30/10", show_default=True, callback=_rate_option,
              help="The school's sliding-window limit as REQUESTS/SECONDS; 'off' disables it.")
def learnworlds(faults: Faults, client_id: str, client_secret: str, token_lifetime: float,
                expire_token_every: int, lw_rate_limit: tuple[int, float] | None
                ) -> LearnworldsSimulator:
    """The LearnWorlds API v2, in memory."""
    return LearnworldsSimulator(client_id, client_secret, faults, token_lifetime=token_lifetime,
                                rate_limit=lw_rate_limit, expire_token_every=expire_token_every)


command = simulator_command(learnworlds)
