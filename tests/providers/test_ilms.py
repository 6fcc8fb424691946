"""The ilms provider against the iLMS simulator, over real sockets."""

from __future__ import annotations

import json
import math
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from lmsform import backends
from lmsform.providers.ilms import IlmsProvider, IlmsSettings
from lmsform_simulators.base import Faults, Request
from lmsform_simulators.ilms import IlmsSimulator
from tests.providers.hostile import add_hostile
from tests.providers.listed import emails_listed
from tests.support import ConfigDir, Simulators, assert_export_round_trips, lmsform, recorded

KEY = "sim-key-0f9e8d7c"
HEADERS = {"APILoginID": "sim-login", "TransactionKey": KEY, "OrgID": "99999"}
ORG = """\
hierarchy:
  - region: Americas
    divisions:
      - division: Sales
        departments: [Inside Sales, Field Sales]
  - region: EMEA
    divisions:
      - division: Operations
        departments: [Finance]
courses:
  - key: security
    title: Security Awareness
    published: true
    custom: {days_after_enrollment: 30}
  - key: privacy
    title: Data Privacy Basics
    published: true
groups:
  - name: Managers
    courses: [security]
  - name: Sales Team
    courses: [privacy]
users:
  - email: ada@example.com
    first_name: Ada
    last_name: Lovelace
    job_title: Engineer
    department: Americas/Sales/Inside Sales
    groups: [Managers]
    enrollments: [security]
    password: ${env:ADA_PASSWORD:-Initial-Pass-1}
    custom: {language: English, city: London}
  - email: bob@example.com
    first_name: Bob
    last_name: Builder
    department: Americas/Sales/Field Sales
    groups: [Sales Team]
    enrollments: [privacy]
  - email: carol@example.com
    first_name: Carol
    last_name: Danvers
    department: EMEA/Operations/Finance
    groups: []
    enrollments: [security, privacy]
  - email: dan@example.com
    first_name: Dan
    last_name: Brown
    department: EMEA/Operations/Finance
"""


class IlmsOrg(ConfigDir):
    """ORG in a config directory, on an iLMS simulator served for the test (`sim`, or one
    with `faults`); `api` is the test's own client of it."""

    def __init__(self, root: Path, simulators: Simulators, faults: Faults | None = None,
                 sim: IlmsSimulator | None = None, **provider: object) -> None:
        self.sim = simulators.start(sim or IlmsSimulator(transaction_key=KEY, faults=faults))
        self.api = simulators.http(self.sim)
        self.api.headers.update(HEADERS)
        super().__init__(root / "ilms")
        self.dir.mkdir()
        options = "".join(f"  {k}: {v}\n" for k, v in provider.items())
        (self.dir / "main.yaml").write_text(
            "provider:\n  type: ilms\n"
            f"  base_url: {self.sim.base_url}\n  org_id: '99999'\n"
            f"  api_login_id: sim-login\n  transaction_key: ${{env:ILMS_KEY}}\n{options}"
            "state:\n  path: state.json\n")
        (self.dir / "org.yaml").write_text(ORG)

    def user(self, email: str) -> dict:
        (user,) = [u for u in self.sim.users.values() if u["Profile"]["F015"] == email]
        return user

    def groups_of(self, email: str) -> set[str]:
        uid = self.user(email)["ID"]
        return {self.sim.groups[g]["Name"] for g, m in self.sim.members.items() if uid in m}

    def courses_of(self, email: str) -> set[str]:
        uid = self.user(email)["ID"]
        return {self.sim.courses[c]["Name"] for c, e in self.sim.enrollments.items() if uid in e}

    def assert_state_matches_server(self) -> None:
        state = recorded(self.dir / "state.json")
        users = {a: e["id"] for a, e in state.items() if a.startswith("user.")}
        emails = Counter(u["Profile"]["F015"] for u in self.sim.users.values())
        assert all(n == 1 for n in emails.values()), f"duplicate users: {emails}"
        for address, user_id in users.items():
            assert self.sim.users[int(user_id)]["Profile"]["F015"] == address[5:]
        departments = {a: e["id"] for a, e in state.items() if a.startswith("department.")}
        for address, dept_id in departments.items():
            assert self.sim.departments[int(dept_id)]["Name"] == address.rsplit("/", 1)[1]


@pytest.fixture
def new_org(tmp_path: Path, simulators: Simulators,
            monkeypatch: pytest.MonkeyPatch) -> Callable[..., IlmsOrg]:
    """IlmsOrg(tmp_path, simulators, ...), its transaction key in ILMS_KEY."""
    monkeypatch.setenv("LMSFORM_NO_CACHE", "1")
    monkeypatch.setenv("ILMS_KEY", KEY)
    return lambda *args, **options: IlmsOrg(tmp_path, simulators, *args, **options)


@pytest.fixture
def ilms(new_org: Callable[..., IlmsOrg]) -> IlmsOrg:
    return new_org(requests_per_second=100)


EDITS = [
    # move Bob to Inside Sales, and rename Field Sales through a moved: entry
    ("    department: Americas/Sales/Field Sales\n",
     "    department: Americas/Sales/Inside Sales\n"),
    ("departments: [Inside Sales, Field Sales]", "departments: [Inside Sales, Field Ops]"),
    # Dan leaves (deactivated), Carol joins a group and a course, Ada a course
    ("  - email: dan@example.com\n    first_name: Dan\n    last_name: Brown\n"
     "    department: EMEA/Operations/Finance\n", ""),
    ("    groups: []\n    enrollments: [security, privacy]",
     "    groups: [Managers]\n    enrollments: [security, privacy]"),
    ("    enrollments: [security]\n", "    enrollments: [security, privacy]\n"),
    # the privacy course is switched off
    ("    title: Data Privacy Basics\n    published: true",
     "    title: Data Privacy Basics\n    published: false"),
]


def edit_scenario(org: IlmsOrg) -> None:
    for old, new in EDITS:
        org.edit("org.yaml", old, new)
    (org.dir / "moved.yaml").write_text(textwrap.dedent("""\
        moved:
          - from: department.Americas/Sales/Field Sales
            to: department.Americas/Sales/Field Ops
        """))


def check_scenario_result(org: IlmsOrg, field_sales_id: int) -> None:
    assert org.sim.departments[field_sales_id]["Name"] == "Field Ops"  # renamed in place
    assert org.user("bob@example.com")["Profile"]["F021"] == "Inside Sales"
    assert org.user("dan@example.com")["UserStatus"] == "Inactive"
    assert org.groups_of("carol@example.com") == {"Managers"}
    assert org.courses_of("ada@example.com") == {"Security Awareness", "Data Privacy Basics"}
    privacy = next(c for c in org.sim.courses.values() if c["Name"] == "Data Privacy Basics")
    assert privacy["Status"] == "Inactive"


def field_sales(org: IlmsOrg) -> int:
    return next(i for i, d in org.sim.departments.items() if d["Name"] == "Field Sales")


def test_apply_converges_then_edits_converge(ilms: IlmsOrg) -> None:
    first = ilms.apply()
    assert "Apply complete" in first.output
    assert ilms.run("plan", "--detailed-exitcode").exit_code == 0
    ada = ilms.user("ada@example.com")
    assert ada["Profile"]["F006"] == "English" and ada["Profile"]["F010"] == "London"
    assert ada["_password"] == "Initial-Pass-1"
    assert ilms.groups_of("ada@example.com") == {"Managers"}
    assert ilms.courses_of("carol@example.com") == {"Security Awareness", "Data Privacy Basics"}
    security = next(c for c in ilms.sim.courses.values() if c["Name"] == "Security Awareness")
    assert security["DefaultDueDateSettings"]["DaysAfterEnrollment"] == 30
    managers = next(g for g in ilms.sim.groups.values() if g["Name"] == "Managers")
    assert set(ilms.sim.group_courses[managers["ID"]]) == {security["ID"]}

    field_sales_id = field_sales(ilms)
    edit_scenario(ilms)
    plan = ilms.run("plan").output
    assert "~ department.Americas/Sales/Field Ops (moved from" in plan
    assert "- user.dan@example.com (deactivate" in plan
    ilms.apply()
    assert ilms.run("plan", "--detailed-exitcode").exit_code == 0
    check_scenario_result(ilms, field_sales_id)
    ilms.assert_state_matches_server()


def test_the_scenario_converges_under_faults(new_org: Callable[..., IlmsOrg]) -> None:
    faults = Faults(latency_ms=50, fail_every=5, drop_every=17, rate_limit=40)
    org = new_org(faults, requests_per_second=200, max_retries=8)
    org.apply()
    assert org.run("plan", "--detailed-exitcode").exit_code == 0
    org.assert_state_matches_server()
    field_sales_id = field_sales(org)
    edit_scenario(org)
    org.apply()
    assert org.run("plan", "--detailed-exitcode").exit_code == 0
    check_scenario_result(org, field_sales_id)
    org.assert_state_matches_server()
    assert len(org.sim.users) == 4


def test_listing_users_takes_one_request_per_page(new_org: Callable[..., IlmsOrg]) -> None:
    org = new_org(per_page=50, requests_per_second=100)
    org.apply()
    for i in range(246):
        profile = {"F001": "U", "F003": f"N{i}", "F015": f"u{i}@example.com",
                   "F019": "EMEA", "F020": "Operations", "F021": "Finance"}
        assert org.api.post("/organizations/99999/users", json={"userProfileData": [
            {"Key": k, "Value": v} for k, v in profile.items()]}).status_code == 201
    org.sim.reset_counts()
    result = org.run("plan")
    assert "246 users" in result.output  # unmanaged, counted
    counts = org.sim.stats()["by_route"]
    assert counts["GET users"] == math.ceil(250 / 50)
    assert "GET user" not in counts  # never one request per user
    # members and enrollments: one listing per group and per course, not per user
    assert counts["GET group members"] == len(org.sim.groups)
    assert counts["GET enrollments"] == len(org.sim.courses)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("    title: Security Awareness\n", "    title: Security Awareness 2\n",
     "course.security: not found in the LMS, and the ilms provider cannot create courses. "
     "iLMS courses are created in the iLMS admin UI"),
    ("groups:\n", "groups:\n  - name: Marketing\n",
     "group.Marketing: not found in the LMS, and the ilms provider cannot create groups"),
    ("    published: true\n    custom: {days_after_enrollment: 30}\n",
     "    pricing: [{plan: std, amount: 5, currency: USD}]\n",
     "course.security: the ilms provider does not support the course field 'pricing'"),
    ("users:\n", "coupons:\n  - code: X\n    discount: {percent: 5}\nusers:\n",
     "coupon.X: the ilms provider does not manage coupons"),
    ("    first_name: Bob\n", "    first_name: Bob;Robert\n",
     "org.yaml:34:17: error: users[1].first_name: iLMS does not allow the characters ; "
     "in 'Bob;Robert'"),
    ("    job_title: Engineer\n", "    job_title: " + "x" * 51 + "\n",
     "users[0].job_title: iLMS allows at most 50 characters (51 given)"),
    ("departments: [Finance]", "departments: [Finance, 'Fin:ance']",
     "hierarchy[1].divisions[0].departments[1].name: iLMS does not allow the characters :"),
    ("    first_name: Dan\n    last_name: Brown\n", "",
     "user.dan@example.com: not found in the LMS, and the ilms provider needs first_name, "
     "last_name to create a user; add them to the manifest"),
    ("custom: {language: English, city: London}", "custom: {postal_code: 12345}",
     "users[0].custom: postal_code: iLMS profile fields are text; write '12345' "
     "in quotes"),
    ("custom: {language: English, city: London}", "custom: {shoe_size: 44}",
     "users[0].custom: 'shoe_size' is not an iLMS profile field"),
])
def test_impossible_manifests_fail_at_plan_time(ilms: IlmsOrg, old: str, new: str,
                                                message: str) -> None:
    ilms.edit("org.yaml", old, new)
    ilms.sim.reset_counts()
    result = ilms.run("plan")
    assert result.exit_code == 1
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    if "not found in the LMS" not in message:  # knowable without the LMS: validate says so
        assert ilms.sim.stats()["requests"] == 0
        offline = ilms.run("validate")
        assert offline.exit_code == 1 and message in offline.output


def test_credentials_never_leak(ilms: IlmsOrg, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = [ilms.run("plan").output, ilms.run("plan", "--json").output,
               ilms.apply().output, (ilms.dir / "state.json").read_text()]
    assert json.loads(outputs[-1])["provider"]["instance"].startswith("ilms:http://127.0.0.1")
    monkeypatch.setenv("ILMS_KEY", "wrong-" + KEY)
    denied = ilms.run("plan")
    assert denied.exit_code == 1
    assert "GET /organizations/99999/" in denied.output
    assert "HTTP 401: Authorization has been denied for this request." in denied.output
    outputs.append(denied.output)
    for text in outputs:
        assert KEY not in text


def test_plain_http_to_a_remote_host_is_refused(ilms: IlmsOrg) -> None:
    path = ilms.dir / "main.yaml"
    path.write_text(path.read_text().replace(ilms.sim.base_url, "http://lms.example.com"))
    result = ilms.run("plan")
    assert result.exit_code == 1 and "plain HTTP" in result.output


def test_verbose_logs_each_request_without_credentials(ilms: IlmsOrg) -> None:
    result = lmsform("-v", "plan", "-C", str(ilms.dir))
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if "lmsform.providers.http" in line]
    assert any(line.startswith("INFO lmsform.providers.http: GET /organizations/99999/users: "
                               "200 in ") for line in lines)
    assert len(lines) == sum(ilms.sim.stats()["by_route"].values())
    assert KEY not in result.output


class TerseIlms(IlmsSimulator):
    """Another reading of the same document: no F0xx_ID fields in profiles, 201s whose body
    is empty (the id only in Location), and pagination links only as a Link header."""

    def _public(self, user: dict) -> dict:
        public = super()._public(user)
        for code in ("F019_ID", "F020_ID", "F021_ID"):
            public["Profile"].pop(code)
        return public

    def _created(self, path: str, new_id: object):
        response = super()._created(path, new_id)
        response.body = None
        return response

    def _page(self, request, items):
        response = super()._page(request, items)
        for name in ("first", "prev", "next", "last", "X-Total-Count"):
            response.headers.pop(name, None)
        return response


def test_the_provider_reads_a_terser_implementation_of_the_api(
        new_org: Callable[..., IlmsOrg]) -> None:
    org = new_org(sim=TerseIlms(transaction_key=KEY), requests_per_second=200, per_page=2)
    org.apply()
    assert org.run("plan", "--detailed-exitcode").exit_code == 0
    org.assert_state_matches_server()
    assert org.user("bob@example.com")["Profile"]["F021"] == "Field Sales"


def test_export_round_trips(ilms: IlmsOrg, tmp_path: Path) -> None:
    ilms.apply()
    output = assert_export_round_trips(ilms, tmp_path / "exported")
    assert "4 users" in output
    exported = (tmp_path / "exported" / "users.yaml").read_text()
    assert "department: Americas/Sales/Field Sales" in exported
    assert "${env:ILMS_KEY}" in (tmp_path / "exported" / "lmsform.yaml").read_text()
    assert KEY not in "".join(p.read_text() for p in (tmp_path / "exported").rglob("*")
                              if p.is_file())


def test_a_plan_leaves_the_providers_listings_as_they_were(ilms: IlmsOrg) -> None:
    """The planner makes live views in the dicts `list_all` returns: those must be the
    caller's, never the provider's cached hierarchy."""
    from lmsform import providers
    from lmsform.config import load_config
    from lmsform.planning import make_plan
    from lmsform.state import State

    assert ilms.apply().exit_code == 0
    config = load_config(ilms.dir)
    provider = providers.open_provider(config.provider, config.directory)
    try:
        before = {k: provider.list_all(k) for k in ("region", "division", "department")}
        make_plan(config, State.load(backends.open_backend(config.state, config.directory)),
                  provider)
        after = {k: provider.list_all(k) for k in ("region", "division", "department")}
    finally:
        provider.close()
    assert after == before and len(after["department"]) == 3


# --- listings and creates while the LMS changes -------------------------------------------


def add_user(api: httpx.Client, email: str, last_name: str) -> int:
    profile = {"F001": "U", "F003": last_name, "F015": email, "F019": "EMEA",
               "F020": "Operations", "F021": "Finance"}
    answer = api.post("/organizations/99999/users", json={"userProfileData": [
        {"Key": k, "Value": v} for k, v in profile.items()]})
    assert answer.status_code == 201, answer.text
    return int(answer.json())


def provider_of(org: IlmsOrg) -> IlmsProvider:
    return IlmsProvider(IlmsSettings(type="ilms", base_url=org.sim.base_url, org_id="99999",
                                     api_login_id="sim-login", transaction_key=KEY), org.dir)


def test_users_created_and_deleted_between_pages_are_neither_skipped_nor_repeated(
        ilms: IlmsOrg) -> None:
    """iLMS sorts users by last name (no documented sort is by id or creation): another
    client creates users sorting first and deletes one of page 1 before page 2 is answered,
    and lmsform still lists every user that was there all along, once."""
    ilms.apply()
    before = {add_user(ilms.api, f"old{i}@example.com", f"N{i:03d}"): f"old{i}@example.com"
              for i in range(250)}
    doomed = min(before)
    changed: list[bool] = []

    def another_client(request: Request) -> None:
        if request.method == "GET" and request.path.endswith("/users") \
                and request.query.get("page") == "2" and not changed:
            changed.append(True)
            for i in range(3):
                add_user(ilms.api, f"meanwhile{i}@example.com", f"A{i}")
            ilms.api.delete(f"/organizations/99999/users/{doomed}")

    ilms.sim.before_request = another_client
    listed = emails_listed(provider_of(ilms))
    assert changed and set(listed.values()) == {1}
    kept = {email for id, email in before.items() if id != doomed} | {
        "ada@example.com", "bob@example.com", "carol@example.com", "dan@example.com"}
    assert kept <= set(listed) <= kept | {f"meanwhile{i}@example.com" for i in range(3)}


def test_a_create_answered_already_exists_adopts_the_user_a_read_finds(ilms: IlmsOrg) -> None:
    ilms.apply()
    finance = next(i for i, d in ilms.sim.departments.items() if d["Name"] == "Finance")
    existing = add_user(ilms.api, "Eve@Example.com", "Adams")
    provider = provider_of(ilms)
    try:
        made = provider.create("user", {"email": "eve@example.com", "first_name": "Eve",
                                        "last_name": "Adams", "department": str(finance)})
    finally:
        provider.close()
    assert made == str(existing)
    assert [u["ID"] for u in ilms.sim.users.values()
            if u["Profile"]["F015"].lower() == "eve@example.com"] == [existing]


def test_names_that_look_like_url_syntax_are_data(new_org: Callable[..., IlmsOrg]) -> None:
    """Emails holding `#`, `/`, `&`, `?` (those iLMS allows; it cannot create groups), in one
    apply whose answers are dropped now and then, so that the reads deciding whether a
    write landed run for them too."""
    org = new_org(faults=Faults(drop_every=4), requests_per_second=1000)
    emails, _ = add_hostile(org, groups=False, refused='%+;"<>')
    applied = org.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    org.sim.faults = Faults()
    for email in emails:
        org.user(email)  # exactly one each
    assert org.run("plan", "--detailed-exitcode").exit_code == 0
