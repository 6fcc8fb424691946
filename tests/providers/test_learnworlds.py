"""The learnworlds provider against the LearnWorlds simulator, over real sockets.

What the school holds is checked through the documented API calls (with a token of the
tests' own), never through the simulator's internals, so these tests read the same against
any implementation of the API. The simulator was written apart from the provider, from the
same OpenAPI description.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmsform.errors import ProviderError
from lmsform.providers.learnworlds import (
    DOCUMENTED_RATE,
    ITEMS_PER_PAGE,
    LearnworldsProvider,
    LearnworldsSettings,
)
from lmsform_simulators.base import Faults, Request
from lmsform_simulators.learnworlds import LearnworldsSimulator
from tests.providers.hostile import add_hostile
from tests.providers.listed import emails_listed
from tests.support import (
    ConfigDir,
    Simulators,
    assert_export_round_trips,
    copy_example,
    recorded,
)

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "learnworlds"
DEFAULT_URL = "${env:LEARNWORLDS_BASE_URL:-http://127.0.0.1:8083/admin/api}"
SECRET_LINE = "client_secret: ${env:LEARNWORLDS_CLIENT_SECRET:-sim-secret}"
CLIENT = {"client_id": "sim-client", "client_secret": "sim-secret"}


class School(ConfigDir):
    """The example in a temporary directory, pointed at a simulator served for the test. The
    provider block gets a fast pace: the simulator's own rate limit is off unless a test sets
    it."""

    def __init__(self, root: Path, simulators: Simulators,
                 sim: LearnworldsSimulator | None = None, pace: float = 1000) -> None:
        self.sim = simulators.start(sim or LearnworldsSimulator(rate_limit=None))
        self.http = simulators.http(self.sim)
        self.api = self.sim.api_url
        self._token: str | None = None
        super().__init__(copy_example(EXAMPLE, root / "learnworlds", {
            DEFAULT_URL: self.api, "../../state/learnworlds.json": "state.json",
            SECRET_LINE: f"{SECRET_LINE}\n  requests_per_second: {pace}"}))

    # the school, through its API

    def token(self) -> str:
        answer = self.http.post(f"{self.api}/oauth2/access_token",
                                data={"grant_type": "client_credentials", **CLIENT},
                                headers={"Lw-Client": CLIENT["client_id"]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return str((body.get("tokenData") or body)["access_token"])

    def call(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: Any = None) -> Any:
        for _ in range(3):  # a fault test may expire the tests' token too
            self._token = self._token or self.token()
            response = self.http.request(method, f"{self.api}{path}", params=params,
                                         json=body, headers={
                                             "Authorization": f"Bearer {self._token}",
                                             "Lw-Client": CLIENT["client_id"]})
            if response.status_code != 401:
                assert response.status_code < 400, response.text
                return response.json() if response.content else None
            self._token = None
        raise AssertionError("the tests' own token was refused three times")

    def listing(self, path: str, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.call("GET", path, {**params, "page": page, "items_per_page": 50})
            if isinstance(answer, list):  # a bare array: the group member list may be one
                return answer
            found += answer["data"]
            if page >= int(answer["meta"]["totalPages"]):
                return found
            page += 1

    def users(self) -> dict[str, dict[str, Any]]:
        """email -> user record"""
        return {u["email"]: u for u in self.listing("/v2/users", include_suspended="true")}

    def suspended(self) -> set[str]:
        return {email for email, u in self.users().items() if u["is_suspended"]}

    def members(self, group: str) -> set[str]:
        (found,) = [g for g in self.listing("/v2/user_groups") if g["title"] == group]
        return {u["email"] for u in self.listing(f"/v2/user_groups/{found['id']}/users")}

    def enrolled(self, course: str) -> set[str]:
        return {u["email"] for u in self.listing(f"/v2/courses/{course}/users")}

    def courses(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.listing("/v2/courses")}

    def promotions(self) -> dict[str, dict[str, Any]]:
        """promotion name -> promotion, with its coupons"""
        return {p["name"]: {**p, "coupons": self.call("GET", f"/v2/promotions/{p['id']}/"
                                                             "coupons")["data"]}
                for p in self.listing("/v2/promotions")}

    def assert_converged_and_state_matches(self) -> None:
        plan = self.run("plan", "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output
        state = recorded(self.dir / "state.json")
        users = self.listing("/v2/users", include_suspended="true")
        assert Counter(u["email"] for u in users).most_common(1)[0][1] == 1
        assert {a[5:]: e["id"] for a, e in state.items() if a.startswith("user.")} == {
            u["email"]: u["id"] for u in users}
        groups = self.listing("/v2/user_groups")
        assert sorted(g["title"] for g in groups) == ["New Managers", "Sales Team"]
        names = [p["name"] for p in self.listing("/v2/promotions")]
        assert len(names) == len(set(names))
        codes = [c["code"] for p in self.promotions().values() for c in p["coupons"]]
        assert sorted(codes) == ["SALES25", "SPRING15", "WELCOME10"]


@pytest.fixture
def school(tmp_path: Path, simulators: Simulators) -> School:
    return School(tmp_path, simulators)


def test_the_example_applies_and_converges(school: School) -> None:
    school.apply()
    users = school.users()
    assert len(users) == 6
    assert users["ada.lovelace@acme.example"]["username"] == "Ada Lovelace"
    assert users["ada.lovelace@acme.example"]["role"] == {"level": "instructor",
                                                          "name": "Instructor"}
    assert users["marie.curie@acme.example"]["role"] == {"level": "admin", "name": "Admin"}
    assert users["grace.hopper@acme.example"]["role"]["level"] == "user"
    assert sorted(users["ada.lovelace@acme.example"]["tags"]) == ["mentor", "staff"]
    assert school.suspended() == {"alan.turing@acme.example"}
    assert school.members("Sales Team") == {"linus.pauling@acme.example",
                                            "frida.kahlo@acme.example"}
    assert school.enrolled("security-101") == {
        "ada.lovelace@acme.example", "grace.hopper@acme.example", "linus.pauling@acme.example",
        "alan.turing@acme.example"}
    courses = school.courses()
    assert (courses["security-101"]["title"], courses["security-101"]["access"]) == (
        "Security Awareness", "paid")
    assert float(courses["security-101"]["original_price"]) == 49
    assert courses["gdpr-basics"]["access"] == "free"
    assert courses["leadership-essentials"]["access"] == "draft"
    assert sorted(courses["gdpr-basics"]["categories"]) == ["Compliance", "Privacy"]
    promotions = school.promotions()
    spring = promotions["Spring sale"]
    assert (spring["type"], float(spring["value"])) == ("percentage", 15)
    assert sorted(p["id"] for p in spring["products"]) == ["gdpr-basics", "security-101"]
    (welcome,) = [p for p in promotions.values() if p["coupons"][0]["code"] == "WELCOME10"]
    assert welcome["coupons"][0]["quantity"] == 100
    assert welcome["coupons"][0]["expires"] == "2027-12-31"
    (sales,) = [p for p in promotions.values() if p["coupons"][0]["code"] == "SALES25"]
    assert (sales["type"], float(sales["value"])) == ("fixed", 25)
    school.assert_converged_and_state_matches()


def test_an_edit_converges(school: School) -> None:
    school.apply()
    school.edit("people.yaml", "active: false              # on leave", "active: true  # back")
    school.edit("people.yaml", "    username: Grace Hopper\n",
                "    username: Grace Hopper\n    active: false\n    groups: [Sales Team]\n")
    school.edit("people.yaml", "custom: {tags: [staff, mentor]}", "custom: {tags: [mentor, lead]}")
    school.edit("people.yaml", "    groups: [Sales Team]\n    enrollments: [sales-negotiation, "
                "security-101]", "    groups: [New Managers]\n    role: instructor\n"
                "    enrollments: [gdpr-basics]")
    school.edit("catalogue.yaml", "{plan: standard, amount: 49.00, currency: USD}",
                "{plan: standard, amount: 59.00, currency: USD}")
    school.edit("catalogue.yaml", "    courses: [leadership-essentials]",
                "    courses: [leadership-essentials, security-101]")
    plan = school.run("plan")
    assert "custom.tags" in plan.output and "pricing[standard]" in plan.output, plan.output
    school.apply()
    assert school.suspended() == {"grace.hopper@acme.example"}
    assert school.members("Sales Team") == {"grace.hopper@acme.example",
                                            "frida.kahlo@acme.example"}
    assert school.members("New Managers") == {"ada.lovelace@acme.example",
                                              "linus.pauling@acme.example"}
    assert school.enrolled("sales-negotiation") == {"frida.kahlo@acme.example"}
    assert "linus.pauling@acme.example" in school.enrolled("gdpr-basics")
    users = school.users()
    assert sorted(users["ada.lovelace@acme.example"]["tags"]) == ["lead", "mentor"]
    assert users["linus.pauling@acme.example"]["role"]["level"] == "instructor"
    assert float(school.courses()["security-101"]["original_price"]) == 59
    (managers,) = [g for g in school.listing("/v2/user_groups") if g["title"] == "New Managers"]
    assert sorted(managers["products"]["courses"]) == ["leadership-essentials", "security-101"]
    school.assert_converged_and_state_matches()


def test_removed_users_are_suspended_and_come_back_on_revert(school: School) -> None:
    school.apply()
    original = (school.dir / "people.yaml").read_text()
    school.edit("people.yaml", "  - email: frida.kahlo@acme.example\n    username: Frida Kahlo\n"
                "    groups: [Sales Team]\n    enrollments: [sales-negotiation]\n"
                "    custom: {tags: [contractor]}\n", "")
    school.apply()
    assert school.suspended() == {"alan.turing@acme.example", "frida.kahlo@acme.example"}
    (school.dir / "people.yaml").write_text(original)
    school.apply()
    assert school.suspended() == {"alan.turing@acme.example"}
    school.assert_converged_and_state_matches()


def test_what_the_api_cannot_do_is_refused_at_plan_time(school: School) -> None:
    extra = "  - key: extra-101\n    title: Extra\n"
    school.edit("catalogue.yaml", "  - key: leadership-essentials\n",
                extra + "  - key: leadership-essentials\n")
    school.apply()
    school.edit("lmsform.yaml", "user_removal: deactivate", "user_removal: delete")
    refused = school.run("plan")
    assert refused.exit_code == 1
    assert "cannot delete users" in refused.output and "deactivate" in refused.output
    school.edit("lmsform.yaml", "user_removal: delete", "user_removal: deactivate")

    school.edit("catalogue.yaml", extra, "")
    school.edit("catalogue.yaml", "    usage_limit: 100\n", "    usage_limit: 200\n")
    school.edit("people.yaml", "    username: Grace Hopper\n",
                "    username: Grace Hopper\n    first_name: Grace\n")
    refused = school.run("plan")
    assert refused.exit_code == 1, refused.output
    assert "first_name" in refused.output
    school.edit("people.yaml", "    first_name: Grace\n", "")
    refused = school.run("plan")
    assert refused.exit_code == 1, refused.output
    assert "course.extra-101" in refused.output
    assert "cannot delete courses" in refused.output
    assert "coupon.WELCOME10" in refused.output and "not change or delete" in refused.output
    assert school.run("validate").exit_code == 0  # removals need the LMS: plan time


def test_offline_checks(school: School) -> None:
    school.edit("catalogue.yaml", "      - {plan: standard, amount: 129.00, currency: USD}\n",
                "      - {plan: standard, amount: 129.00, currency: USD}\n"
                "      - {plan: monthly, amount: 9.00, currency: USD, billing: monthly}\n")
    school.edit("people.yaml", "custom: {tags: [contractor]}", "custom: {cost_center: CC-1}")
    school.write("hierarchy.yaml", "hierarchy:\n  - region: EMEA\n")
    refused = school.run("validate")
    assert refused.exit_code == 1
    assert "one price" in refused.output
    assert "no custom field 'cost_center'" in refused.output
    assert "does not manage regions" in refused.output


def test_tokens_expiring_mid_apply_are_renewed_once_each(tmp_path: Path,
                                                         simulators: Simulators) -> None:
    school = School(tmp_path, simulators,
                    LearnworldsSimulator(rate_limit=None, expire_token_every=15))
    school.apply()
    stats = school.sim.stats()
    # Every 15th request found its token dead: one renewal each, never one per request.
    assert 2 <= stats["tokens_issued"] <= stats["requests"] // 15 + 3, stats
    school.assert_converged_and_state_matches()


def test_a_short_lived_token_is_renewed_before_it_runs_out(tmp_path: Path,
                                                           simulators: Simulators) -> None:
    # Time is the test's virtual clock: at 20 requests a second the apply spans several of
    # the token's one-second lifetimes.
    school = School(tmp_path, simulators,
                    LearnworldsSimulator(rate_limit=None, token_lifetime=1.0), pace=20)
    school.apply()
    school.assert_converged_and_state_matches()
    assert school.sim.stats()["tokens_issued"] < school.sim.stats()["requests"] / 4
    assert school.sim.stats()["tokens_issued"] >= 3  # renewed, more than once


def test_faults_converge_without_duplicates(tmp_path: Path, simulators: Simulators) -> None:
    sim = LearnworldsSimulator(faults=Faults(fail_every=7, drop_every=11), rate_limit=None,
                               expire_token_every=23)
    school = School(tmp_path, simulators, sim)
    school.apply()  # every lost answer confirmed by a read: nothing fails, nothing twice
    assert school.sim.stats()["tokens_issued"] >= 2
    school.sim.faults = Faults()
    school.assert_converged_and_state_matches()
    assert len(school.users()) == 6
    assert school.members("Sales Team") == {"linus.pauling@acme.example",
                                            "frida.kahlo@acme.example"}


def test_the_rate_limit_is_honoured(tmp_path: Path, simulators: Simulators) -> None:
    school = School(tmp_path, simulators, LearnworldsSimulator(rate_limit=(20, 1.0)), pace=100)
    school.apply()
    school.assert_converged_and_state_matches()
    # Refused now and then (100 requests a second against 20), each refusal waited out for
    # the second its Retry-After asked: waits computed on the virtual clock, never slept.
    refused = school.sim.stats()["rate_limited"]
    assert refused > 0
    assert sum(1 for wait in simulators.clock.slept if wait >= 1.0) == refused


def _provider(api: str, transport: httpx.BaseTransport | None = None,
              **settings: Any) -> LearnworldsProvider:
    model = LearnworldsSettings.model_validate({
        "type": "learnworlds", "base_url": api, **CLIENT, "requests_per_second": 1000,
        **settings})
    return LearnworldsProvider(model, Path("."), transport=transport)


class Recording(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(f"{request.method} {request.url.path}")
        return super().handle_request(request)


def test_users_and_enrollments_are_read_200_a_page(school: School) -> None:
    """200 a page, the documented maximum of `items_per_page` (GET /v2/users and GET
    /v2/courses/{id}/users), where the default is 20: 456 users in 3 pages, a course's 251
    enrolled users in 2."""
    school.apply()
    for n in range(450):
        user = school.call("POST", "/v2/users", body={"email": f"u{n}@example.com",
                                                     "username": f"User {n}"})
        if n < 250:
            school.call("POST", f"/v2/users/{user['id']}/enrollment", body={
                "productId": "gdpr-basics", "productType": "course", "price": 0})
    sizes: list[str] = []
    school.sim.before_request = lambda r: sizes.append(r.query.get("items_per_page", ""))
    school.sim.reset_counts()
    provider = _provider(school.api)
    try:
        users = provider.list_all("user")
    finally:
        provider.close()
        school.sim.before_request = None
    assert len(users) == 456
    assert sum("gdpr-basics" in u.attrs["enrollments"] for u in users) == 251
    requests = school.sim.stats()["by_route"]
    assert ITEMS_PER_PAGE == 200 and set(sizes) - {""} == {"200"}
    assert requests["GET users list"] == 3  # 456 users, 200 a page
    # 251 enrolled in one course: 2 pages; the example's three other courses: 1 each
    assert requests["GET course users"] == 2 + 1 + 1 + 1
    assert requests["POST access token"] == 1


def test_the_documented_pace_is_the_default(school: School) -> None:
    provider = _provider(school.api)
    paced = LearnworldsProvider(LearnworldsSettings.model_validate({
        "type": "learnworlds", "base_url": school.api, **CLIENT}), Path("."))
    try:
        assert paced.http.limiter.rate == DOCUMENTED_RATE == 3.0
        assert provider.http.limiter.rate == 1000
    finally:
        provider.close()
        paced.close()


def test_credentials_never_show(school: School) -> None:
    school.apply()
    verbose = school.run("plan", "-v", "--debug")
    token = school.token()
    assert "sim-secret" not in verbose.output and token not in verbose.output
    assert "sim-secret" not in (school.dir / "state.json").read_text()
    school.edit("lmsform.yaml", "sim-secret", "wrong-secret")
    refused = school.run("plan")
    assert refused.exit_code == 1
    assert "oauth2/access_token" in refused.output and "401" in refused.output
    assert "wrong-secret" not in refused.output


class BareMemberLists(LearnworldsSimulator):
    """The group member list as the description's schema shows it: a bare array, 20 a page,
    and the last page again for a page past the end."""

    def group_users(self, request: Any, gid: str) -> Any:
        answer = super().group_users(request, gid)
        answer.body = answer.body["data"]
        return answer


def test_group_members_answered_as_a_bare_array_are_all_read(tmp_path: Path,
                                                             simulators: Simulators) -> None:
    school = School(tmp_path, simulators, BareMemberLists(rate_limit=None))
    school.apply()
    school.assert_converged_and_state_matches()
    (group,) = [g["id"] for g in school.listing("/v2/user_groups")
                if g["title"] == "Sales Team"]
    added = set()
    for n in range(43):
        user = school.call("POST", "/v2/users", body={"email": f"m{n}@example.com",
                                                     "username": f"M {n}"})
        school.call("POST", f"/v2/user_groups/{group}/users/{user['id']}")
        added.add(user["id"])
    provider = _provider(school.api)
    try:
        members = provider._members(group)
    finally:
        provider.close()
    assert added < members and len(members) == 45


def test_roles_named_in_the_provider_block_are_given_and_read_back(school: School) -> None:
    school.edit("lmsform.yaml", "  requests_per_second:",
                "  roles: {instructor: Course creator}\n  requests_per_second:")
    school.apply()
    ada = school.users()["ada.lovelace@acme.example"]
    assert ada["role"] == {"level": "instructor", "name": "Course creator"}
    school.assert_converged_and_state_matches()


def test_drift_in_the_school_is_reported_and_accepted(school: School) -> None:
    school.apply()
    users = school.users()
    school.call("PUT", f"/v2/users/{users['grace.hopper@acme.example']['id']}/suspend")
    school.call("PUT", f"/v2/users/{users['alan.turing@acme.example']['id']}/unsuspend")
    school.call("PUT", f"/v2/users/{users['frida.kahlo@acme.example']['id']}/tags",
                body={"tags": ["vip"], "action": "attach"})
    report = school.run("plan", "--refresh-only", "--detailed-exitcode")
    assert report.exit_code == 2, report.output
    assert "grace" not in report.output  # her manifest does not manage `active`
    assert "~ user.alan.turing@acme.example (changed)" in report.output
    assert "active: false -> true" in report.output
    assert 'custom.tags: ["contractor"] -> ["contractor", "vip"]' in report.output
    plan = school.run("plan")
    assert "(changed in the LMS since the last apply)" in plan.output
    assert school.run("apply", "--refresh-only", "--auto-approve").exit_code == 0
    assert school.run("plan", "--refresh-only", "--detailed-exitcode").exit_code == 0
    assert school.suspended() == {"grace.hopper@acme.example"}  # the LMS was not written


def test_export_round_trips(school: School, tmp_path: Path) -> None:
    school.apply()
    assert_export_round_trips(school, tmp_path / "exported")
    coupons = (tmp_path / "exported" / "coupons.yaml").read_text()
    assert "promotion: Spring sale" in coupons


def test_unmanaged_users_are_listed_by_address(school: School) -> None:
    school.apply()
    school.call("POST", "/v2/users", body={"email": "walk.in@acme.example", "username": "W"})
    listed = school.run("plan", "--show-unmanaged")
    assert "1 user." in listed.output and "  ? user.walk.in@acme.example" in listed.output


# --- listings and creates while the school changes ----------------------------------------


def test_users_created_between_pages_are_neither_skipped_nor_repeated(school: School) -> None:
    """LearnWorlds lists the newest first and takes no order: users created before page 2 is
    answered push every user down, so that page 2 would repeat the end of page 1 and the
    oldest would fall off the last page. lmsform notices and reads the listing again."""
    headers = {"Authorization": f"Bearer {school.token()}", "Lw-Client": CLIENT["client_id"]}
    for n in range(250):
        assert school.http.post(f"{school.api}/v2/users", headers=headers, json={
            "email": f"u{n}@example.com", "username": f"User {n}"}).status_code == 201
    changed: list[bool] = []

    def another_client(request: Request) -> None:
        if request.path.endswith("/v2/users") and request.query.get("page") == "2" \
                and not changed:
            changed.append(True)
            for n in range(3):  # another client, over HTTP
                school.call("POST", "/v2/users", body={"email": f"meanwhile{n}@example.com",
                                                      "username": "Meanwhile"})

    school.sim.before_request = another_client
    listed = emails_listed(_provider(school.api))
    assert changed and set(listed.values()) == {1}
    old = {f"u{n}@example.com" for n in range(250)}
    assert old <= set(listed) <= old | {f"meanwhile{n}@example.com" for n in range(3)}


class HugeMemberLists(LearnworldsSimulator):
    """A group member list claiming 2**31 pages."""

    def group_users(self, request: Any, gid: str) -> Any:
        answer = super().group_users(request, gid)
        answer.body["meta"]["totalPages"] = 2 ** 31
        return answer


def test_a_huge_page_count_is_an_error_at_once(tmp_path: Path, simulators: Simulators) -> None:
    school = School(tmp_path, simulators, HugeMemberLists(rate_limit=None))
    school.apply()
    (group,) = [g["id"] for g in school.listing("/v2/user_groups")
                if g["title"] == "Sales Team"]
    provider = _provider(school.api)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderError, match="more than lmsform reads from one listing"):
            provider._members(group)
    finally:
        provider.close()
    assert time.monotonic() - started < 5


def test_a_create_answered_already_taken_adopts_only_what_a_read_confirms(
        school: School) -> None:
    ada = school.call("POST", "/v2/users", body={"email": "ada@example.com",
                                                 "username": "Ada"})["id"]
    promotion = school.call("POST", "/v2/promotions", body={"name": "Spring", "value": 10})
    school.call("POST", f"/v2/promotions/{promotion['id']}/coupons", body={"code": "SPRING"})
    provider = _provider(school.api)
    try:
        assert provider.create("user", {"email": "Ada@Example.com"}) == ada
        with pytest.raises(ProviderError, match="already used by another"):
            # the code is taken, but in another promotion: not the coupon asked for
            provider.create("coupon", {"code": "SPRING", "discount": {"percent": 20}})
    finally:
        provider.close()
    assert list(school.users()) == ["ada@example.com"]


def test_names_that_look_like_url_syntax_are_data(tmp_path: Path,
                                                  simulators: Simulators) -> None:
    """Emails and group names holding `#`, `?`, `/`, `%2F`, `..`, in one apply whose answers
    are dropped now and then, so that the reads deciding whether a write landed (by email,
    in the URL's path) run for them too."""
    school = School(tmp_path, simulators, LearnworldsSimulator(faults=Faults(drop_every=4),
                                                               rate_limit=None))
    emails, _ = add_hostile(school, groups=True)
    applied = school.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    school.sim.faults = Faults()
    listed = [u["email"] for u in school.listing("/v2/users", include_suspended="true")]
    assert {e.lower() for e in emails} <= {e.lower() for e in listed}
    assert len(listed) == len(set(listed))
    assert school.run("plan", "--detailed-exitcode").exit_code == 0
