"""A simulator of the iLMS API, written from the vendor's documentation.

It serves the documented paths under /organizations/{orgID}/..., checks the APILoginID,
TransactionKey and OrgID headers (401), takes JSON only (415), answers with the documented
status codes (201 with Location and the new id, 204) and response shapes, pages listings with
page/per_page, X-Total-Count and first/prev/next/last links, and rejects invalid values with a
400 and a reason. Groups and courses cannot be created through the API, so they come from a
seed file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click

from lmsform_simulators.base import (
    Faults,
    HttpProblem,
    Request,
    Response,
    Simulator,
    simulator_command,
)

ORG = "/organizations/{org}"
NAME_RESTRICTED = set('%\\+;"<>:?')
PROFILE_RESTRICTED = set('<>"%;+')
PROFILE_CODES = [f"F{i:03d}" for i in (*range(1, 28), 31, 32, 33, 34)]
READ_ONLY_CODES = {"F031", "F032"}
REQUIRED_CODES = {"F001", "F003", "F019", "F020", "F021"}
MAX_LENGTHS = {"F001": 200, "F003": 200, "F015": 200, "F002": 100, "F004": 100, "F007": 50,
               "F033": 500, "F034": 500}
LANGUAGES = {"Brazilian Portuguese", "Chinese", "Czech", "Dutch", "English", "English (UK)",
             "French", "French Canadian", "German", "Greek", "Italian", "Japanese", "Korean",
             "Latin American Spanish", "Malay", "Portuguese", "Russian", "Slovakian", "Spanish",
             "Thai", "Traditional Chinese", "Turkish"}
DEFAULT_SEED = Path(__file__).with_name("ilms_seed.json")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]


class IlmsSimulator(Simulator):
    name = "ilms"
    title = "iLMS"

    def __init__(self, org_id: str = "99999", api_login_id: str = "sim-login",
                 transaction_key: str = "sim-key", seed: Path | None = DEFAULT_SEED,
                 faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.org_id = org_id
        self.credentials = (api_login_id, transaction_key)
        # Ids start where no earlier run of the simulator would have put them, so that a state
        # file left from a previous run never points at a different, newer resource.
        self.ids = itertools.count(1000 + int(time.time() * 10) % 10**8)
        self.regions: dict[int, dict[str, Any]] = {}
        self.divisions: dict[int, dict[str, Any]] = {}  # + "_region"
        self.departments: dict[int, dict[str, Any]] = {}  # + "_division"
        self.users: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.members: dict[int, set[int]] = {}
        self.group_courses: dict[int, dict[str, dict[str, Any]]] = {}
        self.courses: dict[str, dict[str, Any]] = {}
        self.enrollments: dict[str, dict[int, str]] = {}  # course -> user -> enrolled at
        if seed is not None:
            self.load_seed(json.loads(Path(seed).read_text()))
        self._routes()

    def load_seed(self, seed: dict[str, Any]) -> None:
        """Groups and courses exist before any API call, as in a real organisation."""
        for group in seed.get("groups", []):
            gid = int(group.get("ID") or next(self.ids))
            self.groups[gid] = {"ID": gid, "Name": group["Name"],
                                "Description": group.get("Description", "")}
            self.members[gid] = set()
            self.group_courses[gid] = {}
        for course in seed.get("courses", []):
            cid = str(course["ID"])
            self.courses[cid] = {
                "ID": cid, "Name": course["Name"], "Type": course.get("Type", "SCORM"),
                "DeliveryType": course.get("DeliveryType", "Web-based"),
                "DefaultRequirementType": course.get("DefaultRequirementType", "Mandatory"),
                "Credits": str(course.get("Credits", "0")), "Hours": str(course.get("Hours", "0")),
                "Status": course.get("Status", "Active"),
                "DefaultDueDateSettings": course.get("DefaultDueDateSettings") or {
                    "DefaultDueDate": None, "DaysAfterEnrollment": None},
            }
            self.enrollments[cid] = {}

    # protocol

    def authenticate(self, request: Request) -> None:
        login, key = self.credentials
        headers = request.headers
        if (headers.get("apiloginid") != login or headers.get("transactionkey") != key
                or headers.get("orgid") != self.org_id):
            raise HttpProblem(401, "Authorization has been denied for this request.")
        parts = request.path.strip("/").split("/")
        if len(parts) < 2 or parts[0].lower() != "organizations" or parts[1] != self.org_id:
            raise HttpProblem(401, "Authorization has been denied for this request.")

    def error_body(self, status: int, message: str) -> Any:
        return {"Message": message}

    def announcement(self, url: str) -> str:
        return f"{super().announcement(url)} (org {self.org_id})"

    def _page(self, request: Request, items: list[Any]) -> Response:
        try:
            per_page = int(request.query.get("per_page", 100))
            page = int(request.query.get("page", 1))
        except ValueError:
            raise HttpProblem(400, "page and per_page must be numbers") from None
        if per_page < 1 or page < 1:
            raise HttpProblem(400, "page and per_page must be positive")
        total = len(items)
        last = max(1, -(-total // per_page))
        headers = {"X-Total-Count": str(total)}
        base = f"{self.base_url}{request.path}"
        other = {k: v for k, v in request.query.items() if k not in {"page", "per_page"}}

        def link(n: int) -> str:
            return f"{base}?{urlencode({**other, 'per_page': per_page, 'page': n})}"

        links = {}
        if page > 1:
            links["first"], links["prev"] = link(1), link(page - 1)
        if page < last:
            links["next"], links["last"] = link(page + 1), link(last)
        headers.update(links)
        if links:
            headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
        start = (page - 1) * per_page
        return Response(200, items[start:start + per_page], headers)

    def _created(self, path: str, new_id: Any) -> Response:
        return Response(201, new_id, {"Location": f"{self.base_url}{path}/{new_id}"})

    def _routes(self) -> None:
        r = self.route
        r("GET", ORG + "/users", "users", self.list_users)
        r("POST", ORG + "/users", "users", self.create_user)
        r("GET", ORG + "/users/{uid}", "user", self.get_user)
        r("PUT", ORG + "/users/{uid}", "user", self.update_user)
        r("DELETE", ORG + "/users/{uid}", "user", self.delete_user)
        r("PUT", ORG + "/users/{uid}/activate", "user activate", self.activate_user)
        r("DELETE", ORG + "/users/{uid}/activate", "user activate", self.inactivate_user)
        r("DELETE", ORG + "/users/{uid}/purge", "user purge", self.purge_user)
        r("PUT", ORG + "/users/{uid}/password", "user password", self.set_password)
        r("GET", ORG + "/groups", "groups", self.list_groups)
        r("GET", ORG + "/groups/{gid}", "group", self.get_group)
        r("GET", ORG + "/groups/{gid}/members", "group members", self.list_members)
        r("POST", ORG + "/groups/{gid}/members", "group members", self.add_member)
        r("DELETE", ORG + "/groups/{gid}/members/{uid}", "group member", self.remove_member)
        r("GET", ORG + "/groups/{gid}/groupcourses", "group courses", self.list_group_courses)
        r("POST", ORG + "/groups/{gid}/groupcourses", "group courses", self.add_group_course)
        r("DELETE", ORG + "/groups/{gid}/groupcourses/{cid}", "group course",
          self.remove_group_course)
        r("PUT", ORG + "/groups/{gid}/refresh", "group refresh", self.refresh_group)
        r("GET", ORG + "/regions", "regions", self.list_regions)
        r("POST", ORG + "/regions", "regions", self.create_region)
        r("PUT", ORG + "/regions/{rid}", "region", self.rename_region)
        r("DELETE", ORG + "/regions/{rid}", "region", self.delete_region)
        r("GET", ORG + "/regions/{rid}/divisions", "divisions", self.list_divisions)
        r("POST", ORG + "/regions/{rid}/divisions", "divisions", self.create_division)
        r("PUT", ORG + "/regions/{rid}/divisions/{did}", "division", self.rename_division)
        r("DELETE", ORG + "/regions/{rid}/divisions/{did}", "division", self.delete_division)
        dept = ORG + "/regions/{rid}/divisions/{did}/departments"
        r("GET", dept, "departments", self.list_departments)
        r("POST", dept, "departments", self.create_department)
        r("PUT", dept + "/{pid}", "department", self.rename_department)
        r("DELETE", dept + "/{pid}", "department", self.delete_department)
        r("GET", ORG + "/courses", "courses", self.list_courses)
        r("GET", ORG + "/courses/{cid}", "course", self.get_course)
        r("GET", ORG + "/courses/{cid}/duedate", "course due date", self.get_due_date)
        r("PUT", ORG + "/courses/{cid}/duedate", "course due date", self.set_due_date)
        r("PUT", ORG + "/courses/{cid}/activate", "course activate", self.activate_course)
        r("DELETE", ORG + "/courses/{cid}/activate", "course activate", self.inactivate_course)
        r("GET", ORG + "/courses/{cid}/enrollments", "enrollments", self.list_enrollments)
        r("POST", ORG + "/courses/{cid}/enrollments", "enrollments", self.enroll)
        r("DELETE", ORG + "/courses/{cid}/enrollments", "enrollments", self.unenroll)

    # validation

    @staticmethod
    def _check_name(value: Any, what: str = "name") -> str:
        if not isinstance(value, str) or not value.strip():
            raise HttpProblem(400, f"{what} is required")
        if len(value) > 100:
            raise HttpProblem(400, f"{what} must be at most 100 characters")
        bad = sorted(NAME_RESTRICTED & set(value))
        if bad:
            raise HttpProblem(400, f"{what} contains restricted characters: {' '.join(bad)}")
        return value

    def _find(self, table: dict[Any, dict[str, Any]], key: Any, what: str) -> dict[str, Any]:
        try:
            return table[int(key) if not isinstance(next(iter(table), ""), str) else key]
        except (KeyError, ValueError, StopIteration):
            raise HttpProblem(404, f"{what} {key} not found") from None

    def _user(self, uid: Any) -> dict[str, Any]:
        user = self._find(self.users, uid, "User")
        if user["UserStatus"] == "Deleted":
            raise HttpProblem(404, f"User {uid} not found")
        return user

    def _profile_values(self, pairs: Any) -> dict[str, Any]:
        if isinstance(pairs, list):  # JSON names are case-insensitive for iLMS's API
            pairs = [{k.lower(): v for k, v in p.items()} if isinstance(p, dict) else p
                     for p in pairs]
        if not isinstance(pairs, list) or not all(
            isinstance(p, dict) and "key" in p and "value" in p for p in pairs
        ):
            raise HttpProblem(400, 'profile data must be a list of {"Key": ..., "Value": ...}')
        values: dict[str, Any] = {}
        for pair in ({"Key": p["key"], "Value": p["value"]} for p in pairs):
            code = str(pair["Key"]).upper()
            value = pair["Value"]
            if code not in PROFILE_CODES or code == "F016":
                if code == "F016":
                    values[code] = value
                    continue
                raise HttpProblem(400, f"{pair['Key']} is not a user profile field")
            if code in READ_ONLY_CODES:
                raise HttpProblem(400, f"{code} is read only")
            if value is not None and not isinstance(value, str):
                value = str(value)
            if value:
                restricted = NAME_RESTRICTED if code in {"F006", "F019", "F020", "F021"} \
                    else PROFILE_RESTRICTED
                bad = sorted(restricted & set(value))
                if bad and code != "F023":
                    raise HttpProblem(400, f"{code} contains restricted characters: "
                                           f"{' '.join(bad)}")
                if len(value) > MAX_LENGTHS.get(code, 100):
                    raise HttpProblem(400, f"{code} must be at most "
                                           f"{MAX_LENGTHS.get(code, 100)} characters")
            if code == "F006" and value and value not in LANGUAGES:
                raise HttpProblem(400, f"F006: '{value}' is not a language of this organisation")
            values[code] = value
        return values

    def _department_path(self, values: dict[str, Any]) -> tuple[int, int, int]:
        """F019/F020/F021 names -> ids; they only ever come together."""
        given = [c for c in ("F019", "F020", "F021") if c in values]
        if given and len(given) != 3:
            raise HttpProblem(400, "Region (F019), Division (F020) and Department (F021) must "
                                   "be passed together")
        region = next((r for r in self.regions.values()
                       if r["Name"].lower() == str(values["F019"]).lower()), None)
        if region is None:
            raise HttpProblem(400, f"Region '{values['F019']}' does not exist")
        division = next((d for d in self.divisions.values() if d["_region"] == region["ID"]
                         and d["Name"].lower() == str(values["F020"]).lower()), None)
        if division is None:
            raise HttpProblem(400, f"Division '{values['F020']}' does not exist in region "
                                   f"'{region['Name']}'")
        department = next((p for p in self.departments.values()
                           if p["_division"] == division["ID"]
                           and p["Name"].lower() == str(values["F021"]).lower()), None)
        if department is None:
            raise HttpProblem(400, f"Department '{values['F021']}' does not exist in division "
                                   f"'{division['Name']}'")
        return region["ID"], division["ID"], department["ID"]

    def _set_path(self, profile: dict[str, Any], ids: tuple[int, int, int]) -> None:
        region, division, department = (self.regions[ids[0]], self.divisions[ids[1]],
                                        self.departments[ids[2]])
        profile.update({"F019": region["Name"], "F019_ID": region["ID"],
                        "F020": division["Name"], "F020_ID": division["ID"],
                        "F021": department["Name"], "F021_ID": department["ID"]})

    def _email_taken(self, email: str, but: int | None = None) -> bool:
        return any(u["Profile"]["F015"].lower() == email.lower() and u["ID"] != but
                   and u["UserStatus"] != "Deleted" for u in self.users.values())

    # users

    def _public(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"ID": user["ID"], "UserStatus": user["UserStatus"],
                "Profile": {**user["Profile"], "F016": None}}

    def list_users(self, request: Request, org: str) -> Response:
        statuses = {s.strip().lower() for s in
                    request.query.get("userstatus", "active").split(",") if s.strip()}
        if not statuses <= {"active", "inactive", "deleted"}:
            raise HttpProblem(400, "userstatus takes active, inactive and/or deleted")
        users = [u for u in self.users.values() if u["UserStatus"].lower() in statuses]
        if "groupids" in request.query:
            try:
                wanted = {int(g) for g in request.query["groupids"].split(",") if g}
            except ValueError:
                raise HttpProblem(400, "groupids must be numeric group IDs") from None
            members = set().union(*(self.members.get(g, set()) for g in wanted))
            users = [u for u in users if u["ID"] in members]
        for code, pattern in request.query.items():
            if code.upper() in PROFILE_CODES:
                users = [u for u in users if _matches(u["Profile"].get(code.upper()), pattern)]
        sort = request.query.get("sort", "F003")
        descending = sort.startswith("-")
        key = sort.lstrip("-").upper()
        users.sort(key=lambda u: (str(u["Profile"].get(key) or "").lower(), u["ID"]),
                   reverse=descending)
        return self._page(request, [self._public(u) for u in users])

    def get_user(self, request: Request, org: str, uid: str) -> Response:
        return Response(200, self._public(self._user(uid)))

    def create_user(self, request: Request, org: str) -> Response:
        body = {k.lower(): v for k, v in request.body.items()} \
            if isinstance(request.body, dict) else {}
        if "userprofiledata" not in body:
            raise HttpProblem(400, "userProfileData is required")
        values = self._profile_values(body["userprofiledata"])
        missing = sorted(c for c in REQUIRED_CODES if not values.get(c))
        if missing:
            raise HttpProblem(400, f"required profile fields missing: {', '.join(missing)}")
        email = values.get("F015") or ""
        if email and self._email_taken(email):
            raise HttpProblem(400, f"A user with Email ID '{email}' already exists")
        ids = self._department_path(values)
        uid = next(self.ids)
        profile: dict[str, Any] = {code: "" for code in PROFILE_CODES}
        profile.update({"F005": None, "F016": None, "F031": "API", "F032": _now()})
        profile.update({c: v for c, v in values.items() if c != "F016"})
        self._set_path(profile, ids)
        self.users[uid] = {"ID": uid, "UserStatus": "Active", "Profile": profile,
                           "_password": values.get("F016")}
        return self._created(request.path, uid)

    def update_user(self, request: Request, org: str, uid: str) -> Response:
        user = self._user(uid)
        values = self._profile_values(request.body)
        if values.get("F015") and self._email_taken(values["F015"], but=user["ID"]):
            raise HttpProblem(400, f"A user with Email ID '{values['F015']}' already exists")
        for code in REQUIRED_CODES - {"F019", "F020", "F021"}:
            if code in values and not values[code]:
                raise HttpProblem(400, f"{code} is required")
        if any(c in values for c in ("F019", "F020", "F021")):
            self._set_path(user["Profile"], self._department_path(values))
        user["Profile"].update({c: v for c, v in values.items()
                                if c not in {"F016", "F019", "F020", "F021"}})
        return Response(204)

    def activate_user(self, request: Request, org: str, uid: str) -> Response:
        self._user(uid)["UserStatus"] = "Active"
        return Response(204)

    def inactivate_user(self, request: Request, org: str, uid: str) -> Response:
        self._user(uid)["UserStatus"] = "Inactive"
        return Response(204)

    def delete_user(self, request: Request, org: str, uid: str) -> Response:
        user = self._user(uid)
        user["UserStatus"] = "Deleted"
        for members in self.members.values():
            members.discard(user["ID"])
        return Response(204)

    def purge_user(self, request: Request, org: str, uid: str) -> Response:
        user = self._find(self.users, uid, "User")
        del self.users[user["ID"]]
        for members in self.members.values():
            members.discard(user["ID"])
        for enrolled in self.enrollments.values():
            enrolled.pop(user["ID"], None)
        return Response(204)

    def set_password(self, request: Request, org: str, uid: str) -> Response:
        user = self._user(uid)
        body = request.body if isinstance(request.body, dict) else {}
        password = {k.lower(): v for k, v in body.items()}.get("newpassword")
        if not password:
            raise HttpProblem(400, "newPassword is required")
        user["_password"] = password
        return Response(204)

    # groups

    def _group(self, gid: str) -> dict[str, Any]:
        return self._find(self.groups, gid, "Group")

    def _group_view(self, group: dict[str, Any]) -> dict[str, Any]:
        return {**group, "NumberOfCourses": len(self.group_courses[group["ID"]]),
                "NumberOfUsers": len(self.members[group["ID"]])}

    def list_groups(self, request: Request, org: str) -> Response:
        groups = sorted(self.groups.values(), key=lambda g: g["Name"].lower(),
                        reverse=request.query.get("sort") == "-name")
        return self._page(request, [self._group_view(g) for g in groups])

    def get_group(self, request: Request, org: str, gid: str) -> Response:
        return Response(200, self._group_view(self._group(gid)))

    def list_members(self, request: Request, org: str, gid: str) -> Response:
        group = self._group(gid)
        users = [self.users[u] for u in sorted(self.members[group["ID"]])]
        users.sort(key=lambda u: (str(u["Profile"].get("F003") or "").lower(), u["ID"]))
        return self._page(request, [self._public(u) for u in users])

    def _user_id_in(self, body: Any) -> int:
        value = {k.lower(): v for k, v in (body or {}).items()}.get("userid") \
            if isinstance(body, dict) else None
        try:
            return int(value)  # type: ignore[arg-type]  # None and junk are caught below
        except (TypeError, ValueError):
            raise HttpProblem(400, "userid is required") from None

    def add_member(self, request: Request, org: str, gid: str) -> Response:
        group = self._group(gid)
        uid = self._user_id_in(request.body)
        self._user(uid)
        if uid in self.members[group["ID"]]:
            raise HttpProblem(400, "User is already a member of the group")
        self.members[group["ID"]].add(uid)
        return self._created(request.path, uid)

    def remove_member(self, request: Request, org: str, gid: str, uid: str) -> Response:
        group = self._group(gid)
        if not uid.isdigit() or int(uid) not in self.members[group["ID"]]:
            raise HttpProblem(404, f"User {uid} is not a member of the group")
        self.members[group["ID"]].discard(int(uid))
        return Response(204)

    def list_group_courses(self, request: Request, org: str, gid: str) -> Response:
        group = self._group(gid)
        entries = [{"ID": cid, "Name": self.courses[cid]["Name"], **settings}
                   for cid, settings in self.group_courses[group["ID"]].items()]
        entries.sort(key=lambda c: c["Name"].lower(),
                     reverse=request.query.get("sort") == "-coursename")
        return self._page(request, entries)

    def add_group_course(self, request: Request, org: str, gid: str) -> Response:
        group = self._group(gid)
        body = {k.lower(): v for k, v in request.body.items()} \
            if isinstance(request.body, dict) else {}
        cid = str(body.get("courseid") or "")
        course = self._find(self.courses, cid, "Course")
        if cid in self.group_courses[group["ID"]]:
            raise HttpProblem(400, "Course is already part of the group")
        self.group_courses[group["ID"]][cid] = {
            "DefaultRequirementType": course["DefaultRequirementType"],
            "DefaultDueDateSettings": dict(course["DefaultDueDateSettings"]),
        }
        return self._created(request.path, cid)

    def remove_group_course(self, request: Request, org: str, gid: str, cid: str) -> Response:
        group = self._group(gid)
        if cid not in self.group_courses[group["ID"]]:
            raise HttpProblem(404, f"Course {cid} is not part of the group")
        del self.group_courses[group["ID"]][cid]
        return Response(204)

    def refresh_group(self, request: Request, org: str, gid: str) -> Response:
        self._group(gid)
        return Response(204)

    # hierarchy

    def _listing(self, rows: list[dict[str, Any]], request: Request,
                 count: Any) -> Response:
        items = [{"ID": row["ID"], "Name": row["Name"], "NumberOfUsers": count(row["ID"])}
                 for row in sorted(rows, key=lambda row: row["Name"].lower())]
        return self._page(request, items)

    def _users_in(self, code: str, ident: int) -> int:
        return sum(1 for u in self.users.values()
                   if u["UserStatus"] != "Deleted" and u["Profile"].get(code) == ident)

    def _unique(self, rows: list[dict[str, Any]], name: str, but: int | None = None) -> None:
        if any(r["Name"].lower() == name.lower() and r["ID"] != but for r in rows):
            raise HttpProblem(400, f"'{name}' already exists")

    def _region(self, rid: str) -> dict[str, Any]:
        return self._find(self.regions, rid, "Region")

    def _division(self, rid: str, did: str) -> dict[str, Any]:
        division = self._find(self.divisions, did, "Division")
        if division["_region"] != self._region(rid)["ID"]:
            raise HttpProblem(404, f"Division {did} not found in region {rid}")
        return division

    def _department(self, rid: str, did: str, pid: str) -> dict[str, Any]:
        department = self._find(self.departments, pid, "Department")
        if department["_division"] != self._division(rid, did)["ID"]:
            raise HttpProblem(404, f"Department {pid} not found in division {did}")
        return department

    def _name(self, request: Request) -> str:
        body = {k.lower(): v for k, v in request.body.items()} \
            if isinstance(request.body, dict) else {}
        return self._check_name(body.get("name"))

    def list_regions(self, request: Request, org: str) -> Response:
        return self._listing(list(self.regions.values()), request,
                             lambda i: self._users_in("F019_ID", i))

    def create_region(self, request: Request, org: str) -> Response:
        name = self._name(request)
        self._unique(list(self.regions.values()), name)
        rid = next(self.ids)
        self.regions[rid] = {"ID": rid, "Name": name}
        return self._created(request.path, rid)

    def rename_region(self, request: Request, org: str, rid: str) -> Response:
        region = self._region(rid)
        name = self._name(request)
        self._unique(list(self.regions.values()), name, but=region["ID"])
        region["Name"] = name
        self._rename_in_profiles("F019", region["ID"], name)
        return Response(204)

    def delete_region(self, request: Request, org: str, rid: str) -> Response:
        region = self._region(rid)
        if any(d["_region"] == region["ID"] for d in self.divisions.values()):
            raise HttpProblem(400, "The region has divisions; delete them first")
        del self.regions[region["ID"]]
        return Response(204)

    def list_divisions(self, request: Request, org: str, rid: str) -> Response:
        region = self._region(rid)
        rows = [d for d in self.divisions.values() if d["_region"] == region["ID"]]
        return self._listing(rows, request, lambda i: self._users_in("F020_ID", i))

    def create_division(self, request: Request, org: str, rid: str) -> Response:
        region = self._region(rid)
        name = self._name(request)
        self._unique([d for d in self.divisions.values() if d["_region"] == region["ID"]], name)
        did = next(self.ids)
        self.divisions[did] = {"ID": did, "Name": name, "_region": region["ID"]}
        return self._created(request.path, did)

    def rename_division(self, request: Request, org: str, rid: str, did: str) -> Response:
        division = self._division(rid, did)
        name = self._name(request)
        self._unique([d for d in self.divisions.values()
                      if d["_region"] == division["_region"]], name, but=division["ID"])
        division["Name"] = name
        self._rename_in_profiles("F020", division["ID"], name)
        return Response(204)

    def delete_division(self, request: Request, org: str, rid: str, did: str) -> Response:
        division = self._division(rid, did)
        if any(p["_division"] == division["ID"] for p in self.departments.values()):
            raise HttpProblem(400, "The division has departments; delete them first")
        del self.divisions[division["ID"]]
        return Response(204)

    def list_departments(self, request: Request, org: str, rid: str, did: str) -> Response:
        division = self._division(rid, did)
        rows = [p for p in self.departments.values() if p["_division"] == division["ID"]]
        return self._listing(rows, request, lambda i: self._users_in("F021_ID", i))

    def create_department(self, request: Request, org: str, rid: str, did: str) -> Response:
        division = self._division(rid, did)
        name = self._name(request)
        self._unique([p for p in self.departments.values()
                      if p["_division"] == division["ID"]], name)
        pid = next(self.ids)
        self.departments[pid] = {"ID": pid, "Name": name, "_division": division["ID"]}
        return self._created(request.path, pid)

    def rename_department(self, request: Request, org: str, rid: str, did: str,
                          pid: str) -> Response:
        department = self._department(rid, did, pid)
        name = self._name(request)
        self._unique([p for p in self.departments.values()
                      if p["_division"] == department["_division"]], name,
                     but=department["ID"])
        department["Name"] = name
        self._rename_in_profiles("F021", department["ID"], name)
        return Response(204)

    def delete_department(self, request: Request, org: str, rid: str, did: str,
                          pid: str) -> Response:
        department = self._department(rid, did, pid)
        if self._users_in("F021_ID", department["ID"]):
            raise HttpProblem(400, "The department has users; move them first")
        del self.departments[department["ID"]]
        return Response(204)

    def _rename_in_profiles(self, code: str, ident: int, name: str) -> None:
        for user in self.users.values():
            if user["Profile"].get(f"{code}_ID") == ident:
                user["Profile"][code] = name

    # courses and enrollments

    def _course(self, cid: str) -> dict[str, Any]:
        return self._find(self.courses, cid, "Course")

    def list_courses(self, request: Request, org: str) -> Response:
        courses = sorted(self.courses.values(), key=lambda c: c["Name"].lower(),
                         reverse=request.query.get("sort") == "-name")
        return self._page(request, courses)

    def get_course(self, request: Request, org: str, cid: str) -> Response:
        return Response(200, self._course(cid))

    def get_due_date(self, request: Request, org: str, cid: str) -> Response:
        return Response(200, self._course(cid)["DefaultDueDateSettings"])

    def set_due_date(self, request: Request, org: str, cid: str) -> Response:
        course = self._course(cid)
        body = request.body if isinstance(request.body, dict) else None
        if body is None or "DefaultDueDate" not in body or "DaysAfterEnrollment" not in body:
            raise HttpProblem(400, "DefaultDueDate and DaysAfterEnrollment are required")
        days = body["DaysAfterEnrollment"]
        if days is not None and (not isinstance(days, int) or not 1 <= days <= 999):
            raise HttpProblem(400, "DaysAfterEnrollment must be an integer from 1 to 999")
        due = body["DefaultDueDate"]
        if due is not None:
            try:
                dt.datetime.strptime(due, "%Y-%m-%dT%H:%M:%S")
            except (TypeError, ValueError):
                raise HttpProblem(400, "DefaultDueDate must be yyyy-MM-ddTHH:mm:ss") from None
        course["DefaultDueDateSettings"] = {"DefaultDueDate": due, "DaysAfterEnrollment": days}
        return Response(204)

    def activate_course(self, request: Request, org: str, cid: str) -> Response:
        self._course(cid)["Status"] = "Active"
        return Response(204)

    def inactivate_course(self, request: Request, org: str, cid: str) -> Response:
        self._course(cid)["Status"] = "Inactive"
        return Response(204)

    def list_enrollments(self, request: Request, org: str, cid: str) -> Response:
        course = self._course(cid)
        include_inactive = request.query.get("includeInactiveUsers", "").lower() == "true"
        rows = []
        for uid, enrolled in self.enrollments[course["ID"]].items():
            user = self.users[uid]
            if user["UserStatus"] == "Deleted" or (
                    user["UserStatus"] == "Inactive" and not include_inactive):
                continue
            basic = {c: user["Profile"].get(c) for c in
                     ("F001", "F003", "F004", "F015", "F006", "F019", "F019_ID", "F020",
                      "F020_ID", "F021", "F021_ID")}
            rows.append({
                "User": {"ID": uid, "UserStatus": user["UserStatus"], "Profile_Basic": basic},
                "CourseName": course["Name"], "CourseID": course["ID"], "SessionName": "",
                "SessionID": None, "RequirementType": course["DefaultRequirementType"],
                "DueDate": None, "StartDate": None, "CompletionDate": None, "Score": None,
                "CourseStatus": "Not Started", "EnrollmentDate": enrolled, "TimeSpent": 0,
            })
        rows.sort(key=lambda e: (str(e["User"]["Profile_Basic"]["F003"] or "").lower(),
                                 e["User"]["ID"]))
        return self._page(request, rows)

    def enroll(self, request: Request, org: str, cid: str) -> Response:
        course = self._course(cid)
        uid = self._user_id_in(request.body)
        self._user(uid)
        if uid in self.enrollments[course["ID"]]:
            raise HttpProblem(400, "User is already enrolled in the course")
        self.enrollments[course["ID"]][uid] = _now()
        return Response(204)

    def unenroll(self, request: Request, org: str, cid: str) -> Response:
        course = self._course(cid)
        uid = self._user_id_in(request.body)
        if uid not in self.enrollments[course["ID"]]:
            raise HttpProblem(404, "User is not enrolled in the course")
        del self.enrollments[course["ID"]][uid]
        return Response(204)


def _matches(value: Any, pattern: str) -> bool:
    """iLMS search: "exact" in quotes, x* starts with, *x ends with, else contains."""
    text = str(value or "").lower()
    pattern = pattern.lower()
    if len(pattern) >= 2 and pattern.startswith('"') and pattern.endswith('"'):
        return text == pattern[1:-1]
    if pattern.endswith("*") and not pattern.startswith("*"):
        return text.startswith(pattern[:-1])
    if pattern.startswith("*") and not pattern.endswith("*"):
        return text.endswith(pattern[1:])
    return pattern.strip("*") in text


@click.option("--seed", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="JSON file of the groups and courses that exist (the API cannot create "
                   "them). Default: a small built-in set.")
@click.option("--org-id", default="99999", show_default=True)
@click.option("--api-login-id", default="sim-login", show_default=True)
@click.option("--transaction-key", default="sim-key", show_default=True)
def ilms(faults: Faults, seed: Path | None, org_id: str, api_login_id: str,
         transaction_key: str) -> IlmsSimulator:
    """The iLMS API, in memory."""
    return IlmsSimulator(org_id, api_login_id, transaction_key, seed or DEFAULT_SEED, faults)


command = simulator_command(ilms)
