"""A simulator of the Course Toolkit API, in memory, over a real socket.

Written from the vendor's short API page alone (it lost the URL and the action names) and
from the names the project pins where the page is silent. It implements the page's three
functions: create a user, get a user (with the course permissions), remove a user. Course
permissions cannot be set through the API (the page has no such function), so the Python test
hooks `seed_user`, `grant` and `revoke` set them up, as an account's owner would in the web
application.

Protocol (the page's words):
- a POST request carrying the required fields `api-user` (the account id, e.g. 523098),
  `api-key` (the account's API key) and `api-action` (the action name), plus the action's own
  fields;
- every answer is a JSON object (the page's "associative JSON array") with `response` (0 =
  success), `response_description` (the explanation) and the action's own values;
- removing a user requires `userid`; creating a user requires `email` and creates the user if
  no user with that email exists; getting a user requires `userid` (the user's account
  number) and answers the user's details, including the course permissions as lines
  "COURSEID PERMISSIONS", PERMISSIONS being `all` or comma-separated module ids;
- API access is enabled or disabled in the account's settings (the `api_enabled` attribute).

The project's pins (the page is silent):
- one URL: POST http://127.0.0.1:PORT/api (like the vendor's https://www.coursetoolkit.com/api);
  any other path answers HTTP 404; GET, PUT or DELETE on /api answer HTTP 405 with
  `Allow: POST`;
- the fields come as a form body (application/x-www-form-urlencoded; a repeated field counts
  once, its last value); action names default to `create-user`, `get-user` and `remove-user`
  and are configurable (constructor `actions`, CLI `--create-action` etc.).

This simulator's reading and choices (a client can rely on these and on nothing else):
- answer fields, read from the page's words: create-user answers `userid` (the account
  number, the name the page gives it where get-user and remove-user take it); get-user answers
  `userid`, `email`, any extra details a test seeded (see `seed_user`) and `permissions`, the
  line-separated text; remove-user answers only `response` and `response_description`;
- account numbers are JSON strings of decimal digits (form fields are text, and the page's
  account id example is a number), unique and never reused, even after a removal; they count
  up from the milliseconds since 2020 at the simulator's start (and past every number an
  earlier simulator in the same process handed out), so that a later run never hands out an
  earlier run's numbers (unless that run handed out more than one per millisecond);
- failures of the API itself answer HTTP 200 with a non-zero `response` (the page puts the
  status inside the answer): 1 authentication failed (`api-user` or `api-key` missing or
  wrong), 2 API access disabled, 3 unknown `api-action`, 4 a required field missing or blank
  (`api-action`, `email`, `userid`), 5 invalid email, 6 invalid userid (not a number),
  7 user not found (no such account number, or a removed one). They are checked in that order;
- failures of the transport answer their HTTP status, with `response` equal to that status
  and the same two fields: 404 unknown path, 405 another method, 415 a body that is not a form
  (a JSON body included; 400 if it is not even valid JSON), 429 rate limited (with
  Retry-After), 500 simulated server error (fault injection);
- only the form body is read: fields in the query string are ignored; an empty body is a
  request with no fields (so: 1, authentication failed); fields other than the action's own
  are ignored (create-user takes no name or password: the page names only `email`);
- `api-user` and `api-key` are compared exactly; action names are matched exactly
  (case-sensitive); `email` and `userid` are trimmed of surrounding whitespace;
- create-user with an email no user has (compared ignoring case) creates the user and answers
  "User created."; with an email a user already has, it changes nothing and answers that
  user's `userid` with "User already exists; no user was created." Both are `response` 0 with
  the same fields: only the human-readable description tells them apart. The email is stored
  as first given (its case kept);
- valid emails: ASCII, at most 254 characters; a local part of at most 64 characters of
  letters, digits and !#$%&'*+/=?^_`{|}~- in dot-separated runs; a domain of at least two
  dot-separated labels of letters, digits and inner hyphens (at most 63 each), the last not
  all digits;
- a user's details are the account number and the email (plus seeded extras); new users have
  no course permissions, so `permissions` is "" until a test grants some;
- `permissions` lists one line per course, in the order the courses were granted (granting a
  course again replaces its line in place), lines joined by "\\n" with no trailing newline;
- remove-user deletes the user and their course permissions; removing an unknown or already
  removed account answers 7;
- success descriptions: "User created.", "User already exists; no user was created.",
  "User found.", "User removed.";
- every write is checked completely before it changes anything, so a refused call changes
  nothing; the fault injection may drop or fail a write after it acted (the shared Faults);
- request counts (`counts`, GET /_simulator/stats) are kept per action under the default
  action names, whatever names are configured: "POST create-user", "POST get-user",
  "POST remove-user"; a POST to /api naming no known action counts as "POST /api".
"""

from __future__ import annotations

import hmac
import itertools
import re
import time
from collections.abc import Callable
from typing import Any

import click

from lmsform_simulators.base import (
    Faults,
    Request,
    Response,
    Simulator,
    simulator_command,
)

API_PATH = "/api"
EPOCH = 1577836800  # 2020-01-01T00:00:00Z: account numbers count milliseconds from here
FORM = "application/x-www-form-urlencoded"
CREATE, GET, REMOVE = "create-user", "get-user", "remove-user"
ACTIONS = (CREATE, GET, REMOVE)

# response codes
OK = 0
AUTHENTICATION_FAILED = 1
API_DISABLED = 2
UNKNOWN_ACTION = 3
MISSING_FIELD = 4
INVALID_EMAIL = 5
INVALID_USERID = 6
USER_NOT_FOUND = 7

RESERVED = {"response", "response_description", "userid", "email", "permissions"}
ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
LOCAL = re.compile(rf"{ATOM}(?:\.{ATOM})*")
LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
TOKEN = re.compile(r"[^\s,]+")
NOT_A_FORM = "Send the fields as a form body (application/x-www-form-urlencoded)"

Fields = dict[str, str]
Values = dict[str, str]


class ApiError(Exception):
    """A failure of the API itself: HTTP 200 with a non-zero `response`."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def valid_email(email: str) -> bool:
    """The simulator's notion of a valid address (see the module docstring)."""
    if not email.isascii() or len(email) > 254 or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    labels = domain.split(".")
    return (len(local) <= 64 and LOCAL.fullmatch(local) is not None and len(labels) >= 2
            and all(LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit())


def _action_names(actions: dict[str, str] | None) -> dict[str, str]:
    """Default action name -> the name clients send; checked so that no two collide."""
    names = dict(zip(ACTIONS, ACTIONS, strict=True))
    unknown = sorted(set(actions or {}) - set(ACTIONS))
    if unknown:
        raise ValueError(f"unknown actions {unknown}; the actions are {list(ACTIONS)}")
    names.update(actions or {})
    if any(not name or name != name.strip() for name in names.values()):
        raise ValueError("action names must be non-empty, without surrounding whitespace")
    if len(set(names.values())) != len(names):
        raise ValueError(f"action names must differ: {names}")
    return names


def _module_ids(permissions: str | list[str]) -> str:
    """`all`, or the module ids joined with commas (duplicates dropped, order kept)."""
    if isinstance(permissions, str):
        if permissions.strip().lower() == "all":
            return "all"
        permissions = permissions.split(",")
    modules = list(dict.fromkeys(module.strip() for module in permissions))
    if not modules or any(not TOKEN.fullmatch(m) or m.lower() == "all" for m in modules):
        raise ValueError(f"permissions must be 'all' or module ids without spaces or commas, "
                         f"not {permissions!r}")
    return ",".join(modules)


class CoursetoolkitSimulator(Simulator):
    name = "coursetoolkit"
    title = "Course Toolkit"
    accepts_form_bodies = True
    issued_up_to = 0  # the highest account number any simulator in this process handed out

    def __init__(self, account_id: str = "523098", api_key: str = "sim-key",
                 faults: Faults | None = None, *,
                 actions: dict[str, str] | None = None) -> None:
        super().__init__(faults)
        if not account_id or not api_key:
            raise ValueError("the account id and the API key must not be empty")
        self.account_id = account_id
        self.api_key = api_key
        self.api_enabled = True  # the account setting "API Access"
        self.actions = _action_names(actions)
        self._by_name = {sent: action for action, sent in self.actions.items()}
        self._handlers: dict[str, Callable[[Fields], tuple[str, Values]]] = {
            CREATE: self._create_user, GET: self._get_user, REMOVE: self._remove_user}
        # Account numbers start where no earlier run would have put them, so that a state
        # file left from a previous run never points at a different, newer user.
        self.ids = itertools.count(max(int((time.time() - EPOCH) * 1000),
                                       CoursetoolkitSimulator.issued_up_to + 1))
        self.users: dict[str, dict[str, str]] = {}  # account number -> details
        self.emails: dict[str, str] = {}  # lower-cased email -> account number
        self.permissions: dict[str, dict[str, str]] = {}  # user -> course -> all | modules

    @property
    def api_url(self) -> str:
        return self.base_url + API_PATH

    # protocol

    def error_body(self, status: int, message: str) -> Any:
        if status in (400, 415):  # the base server's JSON-only wording does not apply here
            message = NOT_A_FORM
        return {"response": status, "response_description": message}

    def announcement(self, url: str) -> str:
        names = ", ".join(self.actions.values())
        return (f"{super().announcement(url)} (API URL {url}{API_PATH}, "
                f"api-user {self.account_id}, api-key {self.api_key}, actions {names})")

    def _dispatch(self, request: Request) -> Response:
        """One URL, POST only, form bodies only; then the API's own answer in a 200."""
        if request.path != API_PATH:
            return Response(404, self.error_body(404, f"No resource at {request.path}"))
        if request.method != "POST":
            return Response(405, self.error_body(
                405, f"{request.method} is not allowed; POST the form to {API_PATH}"),
                {"Allow": "POST"})
        if request.raw_body and FORM not in request.headers.get("content-type", "").lower():
            return Response(415, self.error_body(415, NOT_A_FORM))
        fields: Fields = request.body if isinstance(request.body, dict) else {}
        with self.lock:
            action = self._by_name.get(fields.get("api-action", ""))
            self.counts[f"POST {action or API_PATH}"] += 1
            try:
                description, values = self._call(fields, action)
            except ApiError as error:
                return Response(200, {"response": error.code,
                                      "response_description": error.description})
            return Response(200, {"response": OK, "response_description": description,
                                  **values})

    def _call(self, fields: Fields, action: str | None) -> tuple[str, Values]:
        user, key = fields.get("api-user", ""), fields.get("api-key", "")
        if not (hmac.compare_digest(user.encode(), self.account_id.encode())
                and hmac.compare_digest(key.encode(), self.api_key.encode())):
            raise ApiError(AUTHENTICATION_FAILED, "Authentication failed: wrong api-user or "
                                                  "api-key")
        if not self.api_enabled:
            raise ApiError(API_DISABLED, "API access is disabled for this account")
        if action is None:
            sent = fields.get("api-action", "").strip()
            if not sent:
                raise ApiError(MISSING_FIELD, "Missing required field: api-action")
            raise ApiError(UNKNOWN_ACTION, f"Unknown api-action: {sent}")
        return self._handlers[action](fields)

    # fields

    @staticmethod
    def _required(fields: Fields, name: str) -> str:
        value = fields.get(name, "").strip()
        if not value:
            raise ApiError(MISSING_FIELD, f"Missing required field: {name}")
        return value

    def _email(self, fields: Fields) -> str:
        email = self._required(fields, "email")
        if not valid_email(email):
            raise ApiError(INVALID_EMAIL, f"Invalid email address: {email}")
        return email

    def _userid(self, fields: Fields) -> str:
        userid = self._required(fields, "userid")
        if not (userid.isascii() and userid.isdigit()):
            raise ApiError(INVALID_USERID, f"Invalid userid (not an account number): {userid}")
        if userid not in self.users:
            raise ApiError(USER_NOT_FOUND, f"User not found: {userid}")
        return userid

    # actions

    def _create_user(self, fields: Fields) -> tuple[str, Values]:
        email = self._email(fields)
        existing = self.emails.get(email.lower())
        if existing is not None:
            return "User already exists; no user was created.", {"userid": existing}
        return "User created.", {"userid": self._add_user(email, {})}

    def _get_user(self, fields: Fields) -> tuple[str, Values]:
        userid = self._userid(fields)
        return "User found.", {**self.users[userid], "permissions": self._permission_lines(userid)}

    def _remove_user(self, fields: Fields) -> tuple[str, Values]:
        userid = self._userid(fields)
        email = self.users.pop(userid)["email"]
        del self.emails[email.lower()]
        del self.permissions[userid]
        return "User removed.", {}

    def _add_user(self, email: str, details: dict[str, str]) -> str:
        number = next(self.ids)
        CoursetoolkitSimulator.issued_up_to = max(CoursetoolkitSimulator.issued_up_to, number)
        userid = str(number)
        self.users[userid] = {"userid": userid, "email": email, **details}
        self.emails[email.lower()] = userid
        self.permissions[userid] = {}
        return userid

    def _permission_lines(self, userid: str) -> str:
        return "\n".join(f"{course} {granted}"
                         for course, granted in self.permissions[userid].items())

    # test hooks: what the account's owner does in the web application

    def seed_user(self, email: str, **details: str) -> str:
        """A user made outside the API; answers the account number. Extra details (a name,
        say) are text and come back as given in get-user's answer."""
        email = email.strip()
        if not valid_email(email):
            raise ValueError(f"invalid email address: {email!r}")
        clash = sorted(RESERVED & set(details))
        if clash or not all(isinstance(value, str) for value in details.values()):
            raise ValueError(f"details must be text and cannot be named {sorted(RESERVED)}")
        with self.lock:
            if email.lower() in self.emails:
                raise ValueError(f"a user already has the email {email}")
            return self._add_user(email, dict(details))

    def grant(self, userid: str, course_id: str, permissions: str | list[str]) -> None:
        """Give a user `all` of a course or some of its modules (replacing what they had)."""
        if not TOKEN.fullmatch(course_id):
            raise ValueError(f"course ids have no spaces or commas: {course_id!r}")
        granted = _module_ids(permissions)
        with self.lock:
            self._known(userid)[course_id] = granted

    def revoke(self, userid: str, course_id: str) -> None:
        """Take a course away from a user; a course they do not have is no change."""
        with self.lock:
            self._known(userid).pop(course_id, None)

    def _known(self, userid: str) -> dict[str, str]:
        if userid not in self.permissions:
            raise KeyError(f"no user {userid}")
        return self.permissions[userid]


@click.option("--account-id", default="523098", show_default=True,
              help="The api-user (account id) every call must carry.")
@click.option("--api-key", default="sim-key", show_default=True,
              help="The api-key every call must carry.")
@click.option("--create-action", default=CREATE, show_default=True,
              help="The api-action name that creates a user.")
@click.option("--get-action", default=GET, show_default=True,
              help="The api-action name that answers a user's details.")
@click.option("--remove-action", default=REMOVE, show_default=True,
              help="The api-action name that removes a user.")
def coursetoolkit(faults: Faults, account_id: str, api_key: str, create_action: str,
                  get_action: str, remove_action: str) -> CoursetoolkitSimulator:
    """The Course Toolkit API, in memory."""
    actions = {CREATE: create_action, GET: get_action, REMOVE: remove_action}
    try:
        return CoursetoolkitSimulator(account_id, api_key, faults, actions=actions)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


command = simulator_command(coursetoolkit)
