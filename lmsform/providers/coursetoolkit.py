"""`coursetoolkit`: Course Toolkit, through its one-URL API.

Every call is a form POST to one URL with the account's `api-user` and `api-key`, an
`api-action` and the action's own fields; every answer is JSON whose `response` is 0 on success
and otherwise a failure explained by `response_description`, whatever the HTTP status. The
vendor's page names three functions and lost their action names: the defaults below are the
project's assumption, kept in one place (`Actions`) and overridable in the provider block.

What the API cannot do shapes the rest:
- there is no list call, and no lookup by email without a side effect (create-user makes the
  account when none exists): users are read one by one by the account numbers in state; a
  declared user not yet in state is planned as a create, which adopts an existing account with
  that email (create-user answers it unchanged) rather than duplicating it; users lmsform does
  not manage cannot be seen, so they cannot be counted or pruned;
- nothing can be changed: not a user's email, nor course access. Course permissions are read
  (lines `COURSEID PERMISSIONS`, `all` or module ids) into `enrollments` (full access) and
  `custom.modules` (partial), so plans show drift; a change is a plan-time error;
- courses are Course Toolkit's own: lmsform cannot list or manage them, so `enrollments` name
  their course ids directly (an external kind) and declaring courses is an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lmsform.errors import ProviderError
from lmsform.providers.answers import StatusInBody
from lmsform.providers.auth import FormFields
from lmsform.providers.base import Handler
from lmsform.providers.http import HttpClient, HttpProviderSettings
from lmsform.providers.records import pick
from lmsform.providers.toolkit import CustomKey, HttpProvider, custom_rule
from lmsform.resources import LiveResource

DEFAULT_URL = "https://www.coursetoolkit.com/api"
# Where an answer holds the account number: the page calls it `userid`, the field get-user
# and remove-user take; the other spellings are read too.
USER_ID_FIELDS = ("userid", "user_id", "id", "account_number", "accountid")
# Where get-user's details hold the course permissions (the page does not name the field).
PERMISSION_FIELDS = ("permissions", "course_permissions", "courses")
# A failure that means the account is not there (the page lists no codes): read as gone.
NOT_FOUND = re.compile(r"not found|no such|does not exist|doesn't exist|unknown user|no user",
                       re.IGNORECASE)
FULL_ACCESS = "all"
# A user's one custom field: partial course access
USER_CUSTOM: dict[str, CustomKey] = {"modules": (
    lambda modules: isinstance(modules, dict) and all(isinstance(v, list)
                                                      for v in modules.values()),
    "custom.modules maps a course id to the list of module ids the user may open")}


class Actions(BaseModel):
    """The `api-action` of each function: the page lost them; these are assumed."""

    model_config = ConfigDict(extra="forbid")
    create_user: str = Field("create-user", min_length=1)
    get_user: str = Field("get-user", min_length=1)
    remove_user: str = Field("remove-user", min_length=1)


class CoursetoolkitSettings(HttpProviderSettings):
    base_url: str = DEFAULT_URL  # the one URL every call is POSTed to
    account_id: str  # sent as api-user
    api_key: SecretStr  # sent as api-key
    actions: Actions = Field(default_factory=Actions)


class Users(Handler["CoursetoolkitProvider"]):
    """Accounts, created (or adopted) by email, read by account number, removed."""

    fields = frozenset({"email", "enrollments", "custom"})
    fixed_fields = frozenset({"email", "enrollments", "custom"})
    custom_sets = custom_keys = frozenset(USER_CUSTOM)
    create_note = ("Course Toolkit answers an existing account with this email: it is "
                   "adopted, never duplicated")
    advice = ("Course Toolkit's API cannot change a user or grant course access: set it in "
              "Course Toolkit.")

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        return custom_rule("Course Toolkit", "user", attrs, USER_CUSTOM,
                           "reads custom.modules (partial course access)")

    def read(self, ids: list[str]) -> list[LiveResource]:
        """One get-user per account number, concurrently within the client's bound; an
        account Course Toolkit no longer knows is left out."""
        return self.lms._read_each(ids, self.lms._get_user, _user_attrs)

    def find(self, key: str) -> LiveResource | None:
        return None  # the only lookup by email, create-user, makes the account

    def create(self, attrs: dict[str, Any]) -> str:
        """create-user makes the account or answers the one with this email, so sending it
        again after a lost answer cannot duplicate it. The account is recorded whatever its
        course access: should it differ from the manifest's, the next plan says so, naming
        the courses (the API cannot grant access)."""
        lms = self.lms
        action = lms.settings.actions.create_user
        answer = lms._call(action, safe=True, email=str(attrs["email"]))
        userid = pick(answer, *USER_ID_FIELDS)
        if userid is None:
            raise ProviderError(f"POST {lms.path} ({action})",
                                "the answer has no account number (userid)")
        return str(userid)

    def delete(self, id: str) -> None:
        """remove-user; after a lost answer, a second remove that finds no account is the
        first one having worked, once get-user confirms it."""
        lms = self.lms

        def removed(response: httpx.Response) -> bool:
            error = lms.http.classifier.error(response) or ""
            return bool(NOT_FOUND.search(error)) and lms._get_user(id) is None

        lms._call(lms.settings.actions.remove_user, safe=True, already_done=removed, userid=id)


class CoursetoolkitProvider(HttpProvider):
    type_name = "coursetoolkit"
    description = ("Course Toolkit: users (created or adopted by email, read by account "
                   "number, removed), with their course access read")
    settings_model = CoursetoolkitSettings
    handlers = {"user": Users}
    external_kinds = frozenset({"course"})

    def __init__(self, settings: CoursetoolkitSettings, config_dir: Path,
                 transport: httpx.BaseTransport | None = None) -> None:
        parts = urlsplit(settings.base_url)
        auth = FormFields({"api-user": settings.account_id,
                           "api-key": settings.api_key.get_secret_value()},
                          secret_names=frozenset({"api-key"}))
        http = HttpClient(f"{parts.scheme}://{parts.netloc}", auth, settings,
                          classifier=StatusInBody(), transport=transport)
        super().__init__(settings, config_dir, http)
        self.settings: CoursetoolkitSettings = settings
        self.path = parts.path or "/"  # the one URL's path: every call goes there

    def identity(self) -> str:
        return f"coursetoolkit:{self.settings.base_url.rstrip('/')}#{self.settings.account_id}"

    def _call(self, action: str, *, safe: bool, already_done: Any = None,
              **fields: str) -> dict[str, Any]:
        """One action; a failure names it, since every call has the same method and URL."""
        try:
            answer = self.http.call("POST", self.path, safe=safe, already_done=already_done,
                                    form={"api-action": action, **fields})
        except ProviderError as exc:
            raise ProviderError(f"{exc.call} ({action})", exc.vendor_message,
                                status=exc.status) from None
        return answer if isinstance(answer, dict) else {}

    def _get_user(self, userid: str) -> dict[str, Any] | None:
        try:
            return self._call(self.settings.actions.get_user, safe=True, userid=userid)
        except ProviderError as exc:
            if NOT_FOUND.search(exc.vendor_message):
                return None
            raise


def _user_attrs(account: dict[str, Any]) -> dict[str, Any]:
    """A get-user answer as lmsform's user: full course access as enrollments, partial
    access (module ids) as custom.modules."""
    full: list[str] = []
    partial: dict[str, list[str]] = {}
    for course, permissions in _permission_lines(account):
        if permissions.lower() == FULL_ACCESS:
            full.append(course)
        else:
            partial[course] = sorted({m.strip() for m in permissions.split(",") if m.strip()})
    return {"email": account.get("email"), "enrollments": sorted(full),
            "custom": {"modules": partial}}


def _permission_lines(account: dict[str, Any]) -> list[tuple[str, str]]:
    """(course id, permissions) from the line-separated text (or a list of lines)."""
    text = next((account[f] for f in PERMISSION_FIELDS if account.get(f)), "")
    lines = text if isinstance(text, list) else str(text).splitlines()
    pairs = []
    for line in lines:
        course, _, permissions = str(line).strip().partition(" ")
        if course and permissions.strip():
            pairs.append((course, permissions.strip()))
    return pairs
