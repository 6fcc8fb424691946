"""The braincert provider against the BrainCert simulator, over real sockets.

What the LMS holds is checked through the API itself (the documented calls), not through the
simulator's internals, so these tests read the same against any implementation of the API.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lmsform.providers.braincert import BraincertProvider, BraincertSettings
from lmsform.providers.http import HttpError
from lmsform_simulators.base import Faults, Request
from lmsform_simulators.braincert import BraincertSimulator
from tests.providers.hostile import add_hostile
from tests.providers.listed import emails_listed
from tests.support import (
    ConfigDir,
    Simulators,
    assert_export_round_trips,
    copy_example,
    lmsform,
    recorded,
)

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "braincert"
HEADERS = {"Authorization": "sim-key", "x-domain-id": "sim-domain"}


class School(ConfigDir):
    """The example catalogue in a temporary directory, pointed at a simulator served for
    the test."""

    def __init__(self, root: Path, simulators: Simulators,
                 sim: BraincertSimulator | None = None) -> None:
        self.sim = simulators.start(sim or BraincertSimulator())
        self.url = self.sim.base_url + "/api/v1"
        self.http = simulators.http(self.sim)
        super().__init__(copy_example(EXAMPLE, root / "braincert", {
            "${env:BRAINCERT_BASE_URL:-http://127.0.0.1:8081/api/v1}": self.url,
            "../../state/braincert.json": "state.json"}))

    # the LMS, through its API

    def call(self, method: str, path: str, **body: Any) -> Any:
        response = self.http.request(method, self.url + path, headers=HEADERS,
                                     json=body or None)
        assert response.status_code < 400, response.text
        return response.json()

    def listing(self, path: str, **body: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.call("POST", path, page=page, limit=100, **body)
            found += answer["data"]
            if len(found) >= int(answer["total"]) or not answer["data"]:
                return found
            page += 1

    def listing_emails(self) -> list[str]:
        """Every user's email, duplicates included."""
        return [u["email"] for u in self.listing("/users/list")]

    def users(self) -> dict[str, str]:
        """email -> id"""
        return {u["email"]: str(u.get("id") or u.get("user_id"))
                for u in self.listing("/users/list")}

    def courses(self) -> dict[str, str]:
        """name -> id"""
        return {c.get("name") or c.get("title"): str(c.get("id") or c.get("course_id"))
                for c in self.listing("/courses/list")}

    def enrolled(self, course: str) -> set[str]:
        ids = {str(u.get("id") or u.get("user_id")) for u in self.listing(
            "/users/listUsersenrolledincourse", course_id=int(self.courses()[course]))}
        return {email for email, uid in self.users().items() if uid in ids}

    def pricing(self, course: str) -> dict[str, float]:
        plans = self.call("GET", f"/shoppingCart/courses/pricing/{self.courses()[course]}")
        return {p["plan_name"]: float(p["price"]) for p in plans["data"]}

    def discounts(self) -> Counter[tuple[str, str | None]]:
        """(code, course name or None for global) -> how many"""
        names = {v: k for k, v in self.courses().items()}
        found: Counter[tuple[str, str | None]] = Counter(
            (d["code"], None)
            for d in self.call("GET", "/discounts/globaldiscounts/list")["data"])
        for cid in self.courses().values():
            for d in self.call("GET", f"/discounts/courses/{cid}")["data"]:
                found[d["code"], names[cid]] += 1
        return found

    def assert_converged_and_state_matches(self) -> None:
        plan = self.run("plan", "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output
        state = recorded(self.dir / "state.json")
        users = self.users()
        assert {a[5:]: e["id"] for a, e in state.items() if a.startswith("user.")} == users
        assert all(n == 1 for n in self.discounts().values()), self.discounts()


@pytest.fixture
def school(tmp_path: Path, simulators: Simulators) -> School:
    return School(tmp_path, simulators)


def test_the_example_applies_and_converges(school: School) -> None:
    school.apply()
    assert len(school.users()) == 5
    assert school.enrolled("Security Awareness") == {
        "ada.lovelace@acme.example", "grace.hopper@acme.example",
        "linus.pauling@acme.example", "marie.curie@acme.example"}
    assert school.pricing("Negotiation for Sales Teams") == {"standard": 129.0, "monthly": 19.0}
    assert school.discounts() == Counter({
        ("WELCOME10", None): 1, ("SALES25", "Negotiation for Sales Teams"): 1,
        ("SALES25", "Leadership Essentials"): 1, ("EUPRIVACY", "GDPR Basics"): 1})
    school.assert_converged_and_state_matches()


def test_an_edit_applies_and_converges(school: School) -> None:
    school.apply()
    school.edit("catalogue.yaml", "amount: 129.00", "amount: 149.00")
    school.edit("catalogue.yaml", "discount: {percent: 15}", "discount: {percent: 20}")
    school.edit("people.yaml", "enrollments: [sales-negotiation]\n",
                "enrollments: [gdpr-basics]\n")
    school.edit("people.yaml", "  - email: marie.curie@acme.example\n    username: marie.curie\n"
                "    first_name: Marie\n    last_name: Curie\n"
                "    enrollments: [gdpr-basics, security-101]\n", "")
    plan = school.run("plan").output
    assert "~ course.sales-negotiation" in plan and "pricing[standard]" in plan
    assert "-/+ coupon.EUPRIVACY" in plan and "- user.marie.curie@acme.example" in plan
    school.apply()
    assert school.pricing("Negotiation for Sales Teams")["standard"] == 149.0
    assert "frida.kahlo@acme.example" in school.enrolled("GDPR Basics")
    assert "frida.kahlo@acme.example" not in school.enrolled("Negotiation for Sales Teams")
    assert "marie.curie@acme.example" not in school.users()
    school.assert_converged_and_state_matches()


def test_what_the_api_cannot_do_is_refused_at_plan_time(school: School) -> None:
    school.apply()
    school.edit("people.yaml", "first_name: Ada", "first_name: Augusta")
    school.edit("people.yaml", "    groups: [Sales Team]\n    enrollments: [sales-negotiation]\n",
                "    groups: []\n    enrollments: [sales-negotiation]\n")
    result = school.run("plan")
    assert result.exit_code == 1
    assert "users[0].first_name: user.ada.lovelace@acme.example: the braincert provider " \
           "cannot change first_name once the user exists" in result.output
    assert "can add to groups but not remove from it (Sales Team)" in result.output
    school.edit("people.yaml", "first_name: Augusta", "first_name: Ada")
    school.edit("people.yaml", "    groups: []\n", "    groups: [Sales Team]\n")
    school.edit("lmsform.yaml", "user_removal: delete", "user_removal: deactivate")
    school.edit("people.yaml", "  - email: marie.curie@acme.example\n", "  - email: x@y.example\n")
    refused = school.run("plan")
    assert refused.exit_code == 1 and "cannot deactivate users" in refused.output


def test_the_same_under_faults_creates_nothing_twice(tmp_path: Path,
                                                     simulators: Simulators) -> None:
    school = School(tmp_path, simulators,
                    BraincertSimulator(faults=Faults(latency_ms=2, fail_every=7, drop_every=11)))
    for _ in range(6):  # a failure may stop an apply: running it again continues
        if school.run("apply", "--auto-approve").exit_code == 0:
            break
    else:
        pytest.fail("apply did not converge under faults")
    school.sim.faults = Faults()
    assert Counter(school.users().keys()).most_common(1)[0][1] == 1
    assert len(school.users()) == 5
    assert school.pricing("Security Awareness") == {"standard": 49.0, "team": 399.0}
    school.assert_converged_and_state_matches()


def test_planning_reads_users_in_pages(tmp_path: Path, simulators: Simulators) -> None:
    school = School(tmp_path, simulators)
    users = "".join(f"  - email: u{i}@example.com\n    username: u{i}\n"
                    for i in range(250))
    (school.dir / "many.yaml").write_text("users:\n" + users)
    school.apply()
    school.sim.reset_counts()
    assert school.run("plan", "--detailed-exitcode").exit_code == 0
    by_route = school.sim.stats()["by_route"]
    assert by_route["POST users list"] == math.ceil(255 / 100)  # pages, not one per user


def test_credentials_never_show(school: School) -> None:
    school.apply()
    result = lmsform("-v", "plan", "-C", str(school.dir))
    state = (school.dir / "state.json").read_text()
    for text in (result.output, state):
        assert "sim-key" not in text and "sim-domain" not in text


def test_a_catalogue_plans_the_same_on_local_and_braincert(school: School, tmp_path: Path
                                                           ) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "lmsform.yaml").write_text("provider: {type: local, path: lms.sqlite}\n"
                                        "state: {path: state.json}\n")
    shutil.copy(school.dir / "catalogue.yaml", local)
    (school.dir / "people.yaml").unlink()

    def operations(directory: Path) -> list[tuple[str, str, list[str]]]:
        result = lmsform("plan", "--json", "-C", str(directory))
        assert result.exit_code == 0, result.output
        return sorted((op["address"], op["action"], sorted(c["field"] for c in op["changes"]))
                      for op in json.loads(result.output)["operations"])

    assert operations(local) == operations(school.dir)
    for directory in (local, school.dir):
        assert lmsform("apply", "--auto-approve", "-C", str(directory)).exit_code == 0
        catalogue = directory / "catalogue.yaml"
        catalogue.write_text(catalogue.read_text().replace("amount: 39.00", "amount: 45.00")
                             .replace("For new managers", "For new and future managers"))
    edited = operations(local)
    assert edited == operations(school.dir) == [
        ("course.gdpr-basics", "update", ["pricing[standard]"]),
        ("course.leadership-essentials", "update", ["description"])]


class OtherBraincert(BraincertSimulator):
    """Another reading of the same document: records keyed `user_id`/`course_id`/..., ids and
    prices as text, creates that answer the new record in `data`, pages capped at 50, and
    `firstname`/`lastname` spellings. The provider must not depend on our own choices."""

    KEYS = {"users": "user_id", "groups": "group_id", "courses": "course_id",
            "discounts": "discount_id"}

    def _page(self, request: Any, items: list[Any]) -> Any:
        body = self._body(request)
        body["limit"] = min(50, int(body.get("limit") or 50))
        request.body, request.query = body, {}
        answer = super()._page(request, [self._renamed(i) for i in items])
        answer.body["limit"] = body["limit"]
        return answer

    def _ok(self, data: Any, message: str = "Success", status: int = 200) -> Any:
        if isinstance(data, list):
            data = [self._renamed(d) for d in data]
        elif isinstance(data, dict):
            data = self._renamed(data)
        return super()._ok(data, message, status)

    def _renamed(self, record: dict[str, Any]) -> dict[str, Any]:
        out = {k: (str(v) if k in {"id", "price", "value", "pricing_id"} and v is not None
                   else v) for k, v in record.items()}
        if "email" in out:
            out["user_id"] = out.pop("id")
            out["firstname"], out["lastname"] = out.pop("first_name"), out.pop("last_name")
        elif "code" in out:
            out["discount_id"] = out.pop("id")
        return out

    def create_user(self, request: Any) -> Any:
        answer = super().create_user(request)
        user = self.users[answer.body["id"]]
        return self._ok(user, "User successfully created")


def test_another_reading_of_the_document_works_too(tmp_path: Path,
                                                   simulators: Simulators) -> None:
    school = School(tmp_path, simulators, OtherBraincert())
    users = "".join(f"  - email: u{i}@example.com\n    username: u{i}\n" for i in range(70))
    (school.dir / "many.yaml").write_text("users:\n" + users)
    school.apply()
    school.assert_converged_and_state_matches()
    school.edit("catalogue.yaml", "amount: 129.00", "amount: 149.00")
    school.apply()
    school.assert_converged_and_state_matches()
    prices = [p for p in school.sim.pricing.values() if p["plan_name"] == "standard"
              and school.sim.courses[p["course_id"]]["name"] == "Negotiation for Sales Teams"]
    assert [p["price"] for p in prices] == [149.0]
    assert len(school.sim.users) == 75


def test_export_round_trips(school: School, tmp_path: Path) -> None:
    school.apply()
    assert_export_round_trips(school, tmp_path / "exported")
    courses = (tmp_path / "exported" / "courses.yaml").read_text()
    assert "key: security-awareness" in courses  # BrainCert keeps no key: one from the title


# --- listings and creates while the LMS changes -------------------------------------------


def provider_of(school: School) -> BraincertProvider:
    return BraincertProvider(BraincertSettings(type="braincert", base_url=school.url,
                                               api_key="sim-key", domain_id="sim-domain"),
                             school.dir)


def test_users_created_and_deleted_between_pages_are_neither_skipped_nor_repeated(
        school: School) -> None:
    """BrainCert documents no order for its lists: another client deletes a user of page 1
    and creates three before page 2 is answered, and lmsform still lists every user that was
    there all along, once (it notices the listing moved and reads it again)."""
    before = {str(school.call("POST", "/users/create", email=f"old{i}@example.com")["id"]):
              f"old{i}@example.com" for i in range(250)}
    doomed = min(before, key=int)
    changed: list[bool] = []

    def another_client(request: Request) -> None:
        if request.path.endswith("/users/list") and (request.body or {}).get("page") == 2 \
                and not changed:
            changed.append(True)
            school.call("DELETE", "/users/delete", user_id=int(doomed))
            for i in range(3):
                school.call("POST", "/users/create", email=f"meanwhile{i}@example.com")

    school.sim.before_request = another_client
    listed = emails_listed(provider_of(school))
    assert changed and set(listed.values()) == {1}
    kept = {email for id, email in before.items() if id != doomed}
    assert kept <= set(listed) <= kept | {f"meanwhile{i}@example.com" for i in range(3)}


def test_a_create_answered_already_exists_adopts_only_what_a_read_confirms(
        school: School) -> None:
    ada = school.call("POST", "/users/create", email="ada@example.com", username="ada")["id"]
    provider = provider_of(school)
    try:
        assert provider.create("user", {"email": "ADA@example.com"}) == str(ada)
        with pytest.raises(HttpError, match="A user with username ada already exists"):
            # the username is taken, but by someone else: no user has this email
            provider.create("user", {"email": "other@example.com", "username": "ada"})
    finally:
        provider.close()
    assert school.users() == {"ada@example.com": str(ada)}


def test_names_that_look_like_url_syntax_are_data(tmp_path: Path, simulators: Simulators) -> None:
    """Emails and names holding `#`, `?`, `/`, `%2F`: the reads that decide whether a lost
    create landed (dropped answers force them) find them by email, in the URL's path."""
    school = School(tmp_path, simulators, BraincertSimulator(faults=Faults(drop_every=4)))
    emails, _ = add_hostile(school, groups=True)
    applied = school.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    school.sim.faults = Faults()
    users = Counter(school.listing_emails())
    assert {e.lower() for e in emails} <= set(users) and max(users.values()) == 1
    school.assert_converged_and_state_matches()
