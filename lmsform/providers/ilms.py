"""`ilms`: iLMS (Inspired LMS), through its REST API.

Users are profiles of field codes (F001 first name ... F034), placed in a
region/division/department hierarchy that the API manages fully. Groups and courses cannot be
created or deleted through the API: lmsform matches them to what exists (courses by title, or
by `custom: {ilms_id: ...}`) and manages group courses, memberships, enrollments, a course's
active status and its default due date. Pricing and coupons do not exist in iLMS.

Reading is done with list calls only: the hierarchy level by level, users in pages, and group
members, group courses and course enrollments in pages per group or course. None of the
documented sorts is by id or creation time: the shared pager knows records by their `ID` and
reads a listing again when it moved while read. A create answered "already exists" (a taken
email, a hierarchy name) is adopted once the read that confirms a lost create finds it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from lmsform.errors import LmsformError
from lmsform.providers.answers import Classifier
from lmsform.providers.auth import StaticHeaders
from lmsform.providers.base import Handler
from lmsform.providers.http import HttpClient, HttpProviderSettings
from lmsform.providers.paging import Pages
from lmsform.providers.records import FieldMap
from lmsform.providers.toolkit import Call, HttpProvider, field_rule, gone
from lmsform.providers.urls import segment
from lmsform.resources import LiveResource

DEFAULT_BASE_URL = "https://api.inspiredlms.com"

# Canonical user fields -> iLMS profile field codes.
PROFILE = FieldMap({"first_name": "F001", "last_name": "F003", "employee_id": "F004",
                    "job_title": "F007", "email": "F015"})
# The other profile fields, by the names `custom:` takes.
CUSTOM_PROFILE = FieldMap({
    "middle_name": "F002", "hire_date": "F005", "language": "F006", "address_1": "F008",
    "address_2": "F009", "city": "F010", "country": "F011", "state": "F012", "province": "F013",
    "postal_code": "F014", "phone": "F017", "fax": "F018", "company": "F022",
    "time_zone": "F023", "custom_field_1": "F024", "custom_field_2": "F025",
    "custom_field_3": "F026", "custom_field_4": "F027", "supervisor_name": "F033",
    "supervisor_email": "F034",
})
# Field rules from the API documentation: (max length, restricted characters, required).
PROFILE_RESTRICTED = '<>"%;+'
NAME_RESTRICTED = '%\\+;"<>:?'
RULES: dict[str, tuple[int, str, bool]] = {
    "F001": (200, PROFILE_RESTRICTED, True), "F003": (200, PROFILE_RESTRICTED, True),
    "F004": (100, PROFILE_RESTRICTED, False), "F007": (50, PROFILE_RESTRICTED, False),
    "F015": (200, PROFILE_RESTRICTED, False), "F002": (100, PROFILE_RESTRICTED, False),
    "F006": (100, NAME_RESTRICTED, False), "F023": (100, "", False),
    "F033": (500, PROFILE_RESTRICTED, False), "F034": (500, PROFILE_RESTRICTED, False),
}
COURSE_CUSTOM = {"ilms_id", "default_due_date", "days_after_enrollment"}


class IlmsAnswers(Classifier):
    """iLMS's failures; a duplicate is a 400 "A user with Email ID '...' already exists" (or
    "'<name>' already exists" for a region, division or department)."""

    taken_statuses = (400,)
    taken_words = ("already exists",)


class IlmsSettings(HttpProviderSettings):
    org_id: str = Field(min_length=1)
    api_login_id: SecretStr
    transaction_key: SecretStr
    send_registration_mail: bool = False
    change_password_at_next_login: bool = True
    per_page: int = Field(100, ge=1, le=1000)


# The hierarchy: three levels, each named under the one above, at nested URLs.


class Node(Handler["IlmsProvider"]):
    """A level of the hierarchy (region, division, department), under the level `parent`
    (also the field holding the parent's id), at `/<collection>/<id>` below the parent's URL.
    The API manages it fully."""

    collection: ClassVar[str]
    parent: ClassVar[str | None] = None

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        return _rule("name", attrs.get("name"), 100, NAME_RESTRICTED)

    def list_all(self) -> list[LiveResource]:  # copies: the caller owns them
        return [LiveResource(r.id, dict(r.attrs)) for r in self.lms._hierarchy()[self.kind]]

    def path(self, id: str) -> str:
        """The node's URL below the organisation's."""
        if self.parent is None:
            return f"/{self.collection}/{segment(id)}"
        _, parent = self.lms._known(self.kind, id)
        return f"{self.lms._node(self.parent).path(parent)}/{self.collection}/{segment(id)}"

    def create(self, attrs: dict[str, Any]) -> str:
        parent = "" if self.parent is None else str(attrs[self.parent])
        path = (f"/{self.collection}" if self.parent is None else
                f"{self.lms._node(self.parent).path(parent)}/{self.collection}")
        name = attrs["name"]

        def find() -> str | None:
            for node in self.lms._pages(path):
                if node["Name"].lower() == name.lower():
                    return str(node["ID"])
            return None

        new = self.lms._create("POST", f"{self.lms.root}{path}", json={"name": name},
                               find=find)
        with self.lms._lock:
            self.lms.nodes[self.kind][new] = (name, parent)
        return new

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        self.lms.http.request("PUT", f"{self.lms.root}{self.path(id)}", safe=True,
                              json={"name": changes["name"]})
        with self.lms._lock:
            table = self.lms.nodes[self.kind]
            table[id] = (changes["name"], table.get(id, ("", ""))[1])

    def delete(self, id: str) -> None:
        self.lms.http.request("DELETE", f"{self.lms.root}{self.path(id)}", safe=True,
                              already_done=gone)


class Regions(Node):
    fields = frozenset({"name"})
    collection = "regions"


class Divisions(Node):
    fields = frozenset({"name", "region"})
    replace_fields = frozenset({"region"})
    collection = "divisions"
    parent = "region"


class Departments(Node):
    fields = frozenset({"name", "division"})
    replace_fields = frozenset({"division"})
    collection = "departments"
    parent = "division"


class Courses(Handler["IlmsProvider"]):
    """Matched to what exists; lmsform manages a course's active status and due date."""

    fields = frozenset({"title", "published", "custom"})
    replace_fields = frozenset({"title"})
    custom_keys = frozenset(COURSE_CUSTOM)
    advice = ("iLMS courses are created in the iLMS admin UI; declare an existing one by its "
              "title, or by custom: {ilms_id: ...}.")

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        unknown = sorted(set(attrs.get("custom") or {}) - COURSE_CUSTOM)
        if unknown:
            problems.append(("custom", f"iLMS courses take custom keys "
                             f"{', '.join(sorted(COURSE_CUSTOM))}; not {', '.join(unknown)}"))
        days = (attrs.get("custom") or {}).get("days_after_enrollment")
        if days is not None and (not isinstance(days, int) or not 1 <= days <= 999):
            problems.append(("custom", "days_after_enrollment must be a whole number from "
                             "1 to 999"))
        return problems

    def match_keys(self, attrs: dict[str, Any]) -> list[str]:
        ilms_id = (attrs.get("custom") or {}).get("ilms_id")
        return [f"ilms_id:{ilms_id}"] if ilms_id else []

    def list_all(self) -> list[LiveResource]:
        return [LiveResource(str(c["ID"]), _course_attrs(c)) for c in self.lms._courses()]

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        if "published" in changes:
            method = "PUT" if changes["published"] else "DELETE"
            self.lms.http.request(method, f"{self.lms.root}/courses/{segment(id)}/Activate",
                                  safe=True)
        custom = changes.get("custom")
        if custom is not None and ({"default_due_date", "days_after_enrollment"} & set(custom)):
            due = custom.get("default_due_date")
            self.lms.http.request(
                "PUT", f"{self.lms.root}/courses/{segment(id)}/DueDate", safe=True, json={
                "DefaultDueDate": _due_date(due),
                "DaysAfterEnrollment": custom.get("days_after_enrollment"),
            })


class Groups(Handler["IlmsProvider"]):
    """Matched to what exists; lmsform manages their courses (members through users). A
    group's courses are assigned to its members (with the group's due date and requirement
    type) while they are members: access through the group."""

    fields = frozenset({"name", "description", "courses"})
    member_access = frozenset({"courses"})
    replace_fields = frozenset({"name", "description"})
    advice = ("iLMS groups are created, renamed and deleted in the iLMS admin UI (Groups); "
              "lmsform manages their courses, and members through users' groups.")

    def list_all(self) -> list[LiveResource]:
        lms = self.lms
        groups = lms._groups()
        courses = lms._each(groups, lambda g: [
            str(c["ID"]) for c in lms._pages(f"/groups/{segment(g['ID'])}/groupcourses")])
        return [LiveResource(str(g["ID"]), {"name": g["Name"],
                                            "description": g.get("Description") or "",
                                            "courses": ids})
                for g, ids in zip(groups, courses, strict=True)]

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        self.lms._links(changes.get("courses") or [], before.get("courses") or [],
                        add=lambda c: (f"/groups/{segment(id)}/groupcourses", {"courseid": c}),
                        remove=lambda c: (f"/groups/{segment(id)}/groupcourses/{segment(c)}",
                                          None),
                        present=lambda c: c in self.lms._courses_of(id))


class Users(Handler["IlmsProvider"]):
    """Profiles of field codes, placed in a department; their groups and enrollments are
    links, one call each."""

    fields = frozenset({"email", "first_name", "last_name", "employee_id", "job_title",
                        "department", "groups", "enrollments", "active", "password",
                        "custom"})
    custom_keys = frozenset(CUSTOM_PROFILE.names)
    required_on_create = frozenset({"first_name", "last_name", "department"})

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for name, user_code in PROFILE.names.items():
            if name in attrs:
                limit, restricted, _ = RULES[user_code]
                problems += _rule(name, attrs[name], limit, restricted)
        for key, value in (attrs.get("custom") or {}).items():
            code = CUSTOM_PROFILE.names.get(key)
            if code is None:
                problems.append(("custom", f"'{key}' is not an iLMS profile field; use one "
                                 f"of {', '.join(sorted(CUSTOM_PROFILE.names))}"))
                continue
            if value is not None and not isinstance(value, str):
                problems.append(("custom", f"{key}: iLMS profile fields are text; write "
                                 f"'{value}' in quotes"))
                continue
            limit, restricted, _ = RULES.get(code, (100, PROFILE_RESTRICTED, False))
            problems += _rule("custom", value, limit, restricted, label=key)
        if "password" in attrs:
            problems += _rule("password", attrs["password"], 10_000, PROFILE_RESTRICTED,
                              show_value=False)
        return problems

    def list_all(self) -> list[LiveResource]:
        lms = self.lms
        memberships, enrollments = lms._memberships(), lms._enrollments()
        return [
            LiveResource(str(u["ID"]), {
                **_user_attrs(u, lms._department_id),
                "groups": memberships.get(str(u["ID"]), []),
                "enrollments": enrollments.get(str(u["ID"]), []),
            })
            for u in lms._pages("/users", userstatus="active,inactive")
        ]

    def create(self, attrs: dict[str, Any]) -> str:
        lms = self.lms
        profile = self._profile(attrs)
        if attrs.get("password"):
            profile["F016"] = attrs["password"]
        email = attrs.get("email")

        def find() -> str | None:
            if not email:
                return None
            # The documented "contains" search, then an exact match here: a server that
            # searches differently (or not at all) can only make this slower, never wrong.
            for user in lms._pages("/users", userstatus="active,inactive", F015=email):
                if str(user["Profile"].get("F015") or "").lower() == email.lower():
                    return str(user["ID"])
            return None

        body = {"userProfileData": [{"Key": k, "Value": v} for k, v in profile.items()],
                "sendRegistrationMail": lms.settings.send_registration_mail,
                "changePasswordAtNextLogin": lms.settings.change_password_at_next_login}
        user_id = lms._create("POST", f"{self.lms.root}/users", json=body, find=find)
        self._set_memberships(user_id, attrs.get("groups") or [], [])
        self._set_enrollments(user_id, attrs.get("enrollments") or [], [])
        if attrs.get("active") is False:
            self.deactivate(user_id)
        return user_id

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        profile = self._profile(changes)
        if profile:
            self.lms.http.request("PUT", f"{self.lms.root}/users/{segment(id)}", safe=True,
                                  json=[{"Key": k, "Value": v} for k, v in profile.items()])
        if "groups" in changes:
            self._set_memberships(id, changes["groups"] or [], before.get("groups") or [])
        if "enrollments" in changes:
            self._set_enrollments(id, changes["enrollments"] or [],
                                  before.get("enrollments") or [])
        if "active" in changes:
            if changes["active"] is False:
                self.deactivate(id)
            else:
                self.lms.http.request("PUT", f"{self.lms.root}/users/{segment(id)}/Activate",
                                      safe=True)

    def delete(self, id: str) -> None:
        self.lms.http.request("DELETE", f"{self.lms.root}/users/{segment(id)}", safe=True,
                              already_done=gone)

    def deactivate(self, id: str) -> None:
        self.lms.http.request("DELETE", f"{self.lms.root}/users/{segment(id)}/Activate",
                              safe=True)

    def _set_memberships(self, user: str, after: list[str], before: list[str]) -> None:
        self.lms._links(after, before,
                        add=lambda g: (f"/groups/{segment(g)}/members", {"userid": user}),
                        remove=lambda g: (f"/groups/{segment(g)}/members/{segment(user)}", None),
                        present=lambda g: user in self.lms._members_of(g))

    def _set_enrollments(self, user: str, after: list[str], before: list[str]) -> None:
        self.lms._links(after, before,
                        add=lambda c: (f"/courses/{segment(c)}/enrollments", {"userid": user}),
                        remove=lambda c: (f"/courses/{segment(c)}/enrollments",
                                          {"userid": user}),
                        present=lambda c: user in self.lms._enrolled_in(c))

    def _profile(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Canonical user fields -> profile codes; the department as F019, F020 and F021."""
        profile = PROFILE.to_vendor(attrs)
        if attrs.get("department") is not None:
            department, division = self.lms._known("department", str(attrs["department"]))
            division_name, region = self.lms._known("division", division)
            region_name, _ = self.lms._known("region", region)
            profile.update({"F019": region_name, "F020": division_name, "F021": department})
        profile.update(CUSTOM_PROFILE.to_vendor(attrs.get("custom") or {}))
        return profile


class IlmsProvider(HttpProvider):
    type_name = "ilms"
    description = "iLMS (Inspired LMS) REST API"
    settings_model = IlmsSettings
    handlers = {"region": Regions, "division": Divisions, "department": Departments,
                "course": Courses, "group": Groups, "user": Users}

    def __init__(self, settings: IlmsSettings, config_dir: Path,
                 transport: httpx.BaseTransport | None = None) -> None:
        auth = StaticHeaders(
            {"APILoginID": settings.api_login_id.get_secret_value(),
             "TransactionKey": settings.transaction_key.get_secret_value(),
             "OrgID": settings.org_id,
             "Content-Type": "application/json"},  # on every request, as the docs show
            secret_names=frozenset({"APILoginID", "TransactionKey"}),
        )
        http = HttpClient(settings.base_url or DEFAULT_BASE_URL, auth, settings,
                          classifier=IlmsAnswers(), transport=transport)
        # X-Total-Count, Link and `next` headers, or a short last page: iLMS implementations
        # differ in which they send, and Pages' defaults read them all. Records are known by
        # their `ID`. The documented sorts (names, profile fields) are none by id or creation:
        # a listing that moved while it was read is read again by the shared pager.
        super().__init__(settings, config_dir, http,
                         Pages(size=settings.per_page, id_field="ID"))
        self.settings: IlmsSettings = settings
        self.root = f"/organizations/{segment(settings.org_id)}"
        # Where each hierarchy node sits, for the nested URLs: kind -> id -> (name, parent
        # id; "" for a region)
        self.nodes: dict[str, dict[str, tuple[str, str]]] = {
            "region": {}, "division": {}, "department": {}}

    def identity(self) -> str:
        return f"ilms:{self.http.base_url}/organizations/{self.settings.org_id}"

    # reading, shared by the kinds

    def _pages(self, path: str, id_field: str | None = None, **params: Any
               ) -> list[dict[str, Any]]:
        return self._listing(f"{self.root}{path}", params=params, id_field=id_field)

    def _hierarchy(self) -> dict[str, list[LiveResource]]:
        def load() -> dict[str, list[LiveResource]]:
            regions = self._pages("/regions")
            divisions_of = self._each(regions, lambda r: self._pages(
                f"/regions/{segment(r['ID'])}/divisions"))
            pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [
                (r, d) for r, ds in zip(regions, divisions_of, strict=True) for d in ds]
            departments_of = self._each(pairs, lambda p: self._pages(
                f"/regions/{segment(p[0]['ID'])}/divisions/{segment(p[1]['ID'])}/departments"))
            out: dict[str, list[LiveResource]] = {"region": [], "division": [],
                                                  "department": []}
            with self._lock:
                for r in regions:
                    self.nodes["region"][str(r["ID"])] = (r["Name"], "")
                    out["region"].append(LiveResource(str(r["ID"]), {"name": r["Name"]}))
                for (r, d), departments in zip(pairs, departments_of, strict=True):
                    self.nodes["division"][str(d["ID"])] = (d["Name"], str(r["ID"]))
                    out["division"].append(LiveResource(
                        str(d["ID"]), {"name": d["Name"], "region": str(r["ID"])}))
                    for p in departments:
                        self.nodes["department"][str(p["ID"])] = (p["Name"], str(d["ID"]))
                        out["department"].append(LiveResource(
                            str(p["ID"]), {"name": p["Name"], "division": str(d["ID"])}))
            return out

        return self._cached("hierarchy", load)

    def _groups(self) -> list[dict[str, Any]]:
        return self._cached("groups", lambda: self._pages("/groups"))

    def _courses(self) -> list[dict[str, Any]]:
        return self._cached("courses", lambda: self._pages("/courses"))

    def _memberships(self) -> dict[str, list[str]]:
        """user id -> group ids."""
        return self._cached("memberships", lambda: self._by_member(
            [str(g["ID"]) for g in self._groups()], self._members_of))

    def _enrollments(self) -> dict[str, list[str]]:
        """user id -> course ids."""
        return self._cached("enrollments", lambda: self._by_member(
            [str(c["ID"]) for c in self._courses()], self._enrolled_in))

    def _members_of(self, group: str) -> set[str]:
        return {str(u["ID"]) for u in self._pages(f"/groups/{segment(group)}/members")}

    def _enrolled_in(self, course: str) -> set[str]:
        return {str(e["User"]["ID"]) for e in self._pages(
            f"/courses/{segment(course)}/enrollments", "User.ID", includeInactiveUsers="true")}

    def _courses_of(self, group: str) -> set[str]:
        return {str(c["ID"]) for c in self._pages(f"/groups/{segment(group)}/groupcourses")}

    # links

    def _links(self, after: list[str], before: list[str], *,
               add: Callable[[str], tuple[str, dict[str, str]]],
               remove: Callable[[str], tuple[str, dict[str, str] | None]],
               present: Callable[[str], bool]) -> None:
        """Links (members, enrollments, group courses), one call per change, as the API has
        no bulk form: `add` and `remove` give a link's path below the organisation and the
        body. An add is a POST (unsafe: after a lost answer a read decides); a removal is a
        DELETE, which iLMS makes idempotent (a 404 the second time, confirmed by a read)."""
        def call(method: str, where: tuple[str, dict[str, str] | None], safe: bool) -> Call:
            path, body = where
            return Call(method, f"{self.root}{path}", json=body, safe=safe)

        self._sync(after, before, add=lambda item: call("POST", add(item), False),
                   remove=lambda item: call("DELETE", remove(item), True), present=present)

    # the hierarchy's nodes

    def _node(self, kind: str) -> Node:
        node = self.handler(kind)
        assert isinstance(node, Node)
        return node

    def _known(self, kind: str, id: str) -> tuple[str, str]:
        """A node's name and parent id, read again when it is not known yet (created since
        it was listed, e.g. by another process)."""
        table = self.nodes[kind]
        with self._lock:
            if id in table:
                return table[id]
        self._forget("hierarchy")
        self._hierarchy()
        with self._lock:
            if id not in table:
                raise LmsformError(f"no region, division or department with id {id} in iLMS")
            return table[id]

    def _department_id(self, region: Any, division: Any, department: Any) -> str | None:
        """A department's id from its names, for profiles that leave out F021_ID."""
        if not department:
            return None
        self._hierarchy()
        wanted = (str(region).lower(), str(division).lower(), str(department).lower())
        with self._lock:
            for dept_id, (name, division_id) in self.nodes["department"].items():
                division_name, region_id = self.nodes["division"][division_id]
                region_name, _ = self.nodes["region"][region_id]
                if (region_name.lower(), division_name.lower(), name.lower()) == wanted:
                    return dept_id
        return None


def _user_attrs(user: dict[str, Any],
                department_id: Callable[[Any, Any, Any], str | None]) -> dict[str, Any]:
    profile = user["Profile"]
    attrs: dict[str, Any] = PROFILE.from_vendor(profile)
    attrs["department"] = (str(profile["F021_ID"]) if profile.get("F021_ID")
                           else department_id(profile.get("F019"), profile.get("F020"),
                                              profile.get("F021")))
    attrs["active"] = str(user.get("UserStatus", "")).lower() == "active"
    attrs["custom"] = CUSTOM_PROFILE.from_vendor(profile)
    return attrs


def _course_attrs(course: dict[str, Any]) -> dict[str, Any]:
    due = course.get("DefaultDueDateSettings") or {}
    return {
        "title": course["Name"],
        "published": str(course.get("Status", "")).lower() == "active",
        "custom": {"ilms_id": str(course["ID"]),
                   "default_due_date": (due.get("DefaultDueDate") or "")[:10] or None,
                   "days_after_enrollment": due.get("DaysAfterEnrollment")},
    }


def _due_date(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    return text if "T" in text else f"{text[:10]}T00:00:00"


def _rule(field: str, value: Any, limit: int, restricted: str, *, label: str | None = None,
          show_value: bool = True) -> list[tuple[str, str]]:
    return field_rule("iLMS", field, value, limit, restricted, label=label,
                      show_value=show_value)
