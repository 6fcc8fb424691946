"""The aomlms provider against the AOM LMS simulator, over real sockets.

What the LMS holds is checked through the documented API calls, not through the simulator's
internals (except to add an order, which the API cannot), so these tests read the same against
any implementation of the API.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lmsform.errors import LmsformError
from lmsform.providers.aomlms import AomlmsProvider, AomlmsSettings
from lmsform_simulators.aomlms import AomlmsSimulator
from lmsform_simulators.base import Faults, HttpProblem, Request
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

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "aomlms"
HEADERS = {"Authorization": "Bearer sim-token", "Accept": "application/json"}
DEFAULT_URL = "${env:AOMLMS_BASE_URL:-http://127.0.0.1:8082}"


class School(ConfigDir):
    """The example in a temporary directory, pointed at a simulator served for the test."""

    def __init__(self, root: Path, simulators: Simulators,
                 sim: AomlmsSimulator | None = None) -> None:
        self.sim = simulators.start(sim or AomlmsSimulator())
        self.url = self.sim.base_url
        self.http = simulators.http(self.sim)
        super().__init__(copy_example(EXAMPLE, root / "aomlms", {
            DEFAULT_URL: self.url, "../../state/aomlms.json": "state.json"}))

    # the LMS, through its API

    def call(self, method: str, path: str, params: dict[str, Any] | None = None,
             **body: Any) -> Any:
        response = self.http.request(method, f"/api{path}", headers=HEADERS, params=params,
                                     json=body or None)
        assert response.status_code < 400, response.text
        return response.json()

    def listing(self, path: str, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.call("GET", path, {**params, "page_size": 100, "page_number": page})
            found += answer["records"]
            if len(found) >= int(answer["recordsTotal"]) or not answer["records"]:
                return found
            page += 1

    def users(self) -> dict[str, str]:
        """email -> id"""
        return {u["email"]: str(u["id"]) for u in self.listing("/users/tabularlist")}

    def disabled(self) -> set[str]:
        return {email for email, uid in self.users().items()
                if self.call("GET", f"/user/{uid}")["disabled"]}

    def courses(self) -> dict[str, dict[str, Any]]:
        """slug -> the course as its one-course read shows it, with its id"""
        return {c["slug"]: {**self.call("GET", f"/course/{c['id']}"), "id": str(c["id"])}
                for c in self.listing("/courses/tabularlist")}

    def category_names(self) -> dict[str, str]:
        return {str(c["id"]): c["name"] for c in self.call("GET", "/categories/course/lookup")}

    def enrolled(self, slug: str) -> set[str]:
        course = self.courses()[slug]["id"]
        return {r["email"] for r in self.listing("/course/enrolled-students", course_id=course)}

    def coupons(self) -> dict[str, dict[str, Any]]:
        """code -> the coupon as its one-coupon read shows it, with its id"""
        return {c["code"]: {**self.call("GET", f"/coupon/{c['id']}"), "id": str(c["id"])}
                for c in self.listing("/coupons/tabularlist")}

    def assert_converged_and_state_matches(self) -> None:
        plan = self.run("plan", "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output
        state = recorded(self.dir / "state.json")
        users = self.users()
        assert Counter(u["email"] for u in self.listing("/users/tabularlist")).most_common(1)[0][
            1] == 1
        assert {a[5:]: e["id"] for a, e in state.items() if a.startswith("user.")} == users
        assert {a[7:]: e["id"] for a, e in state.items() if a.startswith("course.")} == {
            slug: c["id"] for slug, c in self.courses().items()}
        assert {a[7:]: e["id"] for a, e in state.items() if a.startswith("coupon.")} == {
            code: c["id"] for code, c in self.coupons().items()}


@pytest.fixture
def school(tmp_path: Path, simulators: Simulators) -> School:
    return School(tmp_path, simulators)


def test_the_example_applies_and_converges(school: School) -> None:
    school.apply()
    assert len(school.users()) == 6
    assert school.disabled() == {"alan.turing@acme.example"}
    assert school.enrolled("security-101") == {
        "ada.lovelace@acme.example", "grace.hopper@acme.example", "linus.pauling@acme.example",
        "marie.curie@acme.example", "alan.turing@acme.example"}
    courses, names = school.courses(), school.category_names()
    gdpr = courses["gdpr-basics"]
    assert (gdpr["name"], gdpr["status"], int(gdpr["credits"])) == ("GDPR Basics", "publish", 1)
    assert sorted(names[str(c)] for c in gdpr["categories"]) == ["Compliance", "Privacy"]
    assert courses["leadership-essentials"]["status"] == "draft"
    assert (gdpr["gradingRule"], gdpr["durationRule"]) == ("no_grading", "unlimited")
    assert sorted(names.values()) == ["Compliance", "Privacy", "Sales"]
    coupons = school.coupons()
    assert (coupons["WELCOME10"]["type"], float(coupons["WELCOME10"]["value"])) == (
        "percent_amount", 10.0)
    assert (coupons["SALES25"]["type"], float(coupons["SALES25"]["value"])) == (
        "fixed_amount", 25.0)
    assert str(coupons["WELCOME10"]["expiry"])[:10] == "2027-12-31"
    assert int(coupons["SALES25"]["usage_limit"]) == 50
    school.assert_converged_and_state_matches()


def test_an_edit_applies_and_converges(school: School) -> None:
    school.apply()
    # rename a course key under `moved:`: same course, new slug
    school.edit("catalogue.yaml", "key: security-101", "key: security-awareness")
    school.edit("people.yaml", "security-101", "security-awareness")
    (school.dir / "moved.yaml").write_text(
        "moved:\n  - {from: course.security-101, to: course.security-awareness}\n")
    # disable one user and enable another; move an enrollment; change a coupon
    school.edit("people.yaml", "    last_name: Hopper\n",
                "    last_name: Hopper\n    active: false\n")
    school.edit("people.yaml", "active: false              # on leave: the account stays, "
                "switched off", "active: true")
    school.edit("people.yaml", "    last_name: Kahlo\n    enrollments: [sales-negotiation]",
                "    last_name: Kahlo\n    enrollments: [gdpr-basics]")
    school.edit("catalogue.yaml", "discount: {percent: 10}", "discount: {percent: 12}")
    school.edit("catalogue.yaml", "categories: [Sales]", "categories: [Sales, Negotiation]")
    plan = school.run("plan").output
    assert "course.security-awareness" in plan and "security-101" in plan, plan
    school.apply()
    courses = school.courses()
    assert "security-awareness" in courses and "security-101" not in courses
    assert school.disabled() == {"grace.hopper@acme.example"}
    assert "frida.kahlo@acme.example" in school.enrolled("gdpr-basics")
    assert "frida.kahlo@acme.example" not in school.enrolled("sales-negotiation")
    assert float(school.coupons()["WELCOME10"]["value"]) == 12.0
    names = school.category_names()
    assert sorted(names[str(c)] for c in courses["sales-negotiation"]["categories"]) == [
        "Negotiation", "Sales"]
    school.assert_converged_and_state_matches()


def test_a_coupon_with_orders_is_refused_for_that_coupon_only(school: School) -> None:
    school.apply()
    school.sim.add_order(int(school.coupons()["SPRING15"]["id"]))
    school.edit("catalogue.yaml", "  - code: SPRING15\n    discount: {percent: 15}\n", "")
    school.edit("catalogue.yaml", "usage_limit: 50", "usage_limit: 60")
    result = school.run("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "coupon.SPRING15: delete failed: POST /api/coupon/delete" in result.output
    assert "order" in result.output.split("coupon.SPRING15: delete failed")[1].split("\n")[0]
    coupons = school.coupons()
    assert "SPRING15" in coupons and int(coupons["SALES25"]["usage_limit"]) == 60
    plan = school.run("plan").output
    assert "- coupon.SPRING15" in plan and "Plan: 0 to create, 0 to update, 1 to delete" in plan


def test_removed_users_are_disabled_or_deleted_as_settings_say(school: School) -> None:
    school.apply()
    school.edit("people.yaml", "  - email: marie.curie@acme.example\n",
                "  - email: marie.curie@acme.example\n    active: true\n")
    school.apply()
    text = (school.dir / "people.yaml").read_text()
    start = text.index("  - email: marie.curie")
    end = text.index("  - email: frida.kahlo")
    school.edit("people.yaml", text[start:end], "")
    school.sim.reset_counts()
    school.apply()
    assert "marie.curie@acme.example" in school.disabled()
    requests = school.sim.stats()["by_route"]  # one call, not a read and a whole PUT
    assert requests["POST user quick edit"] == 1 and "PUT user update" not in requests
    school.assert_converged_and_state_matches()
    school.edit("lmsform.yaml", "user_removal: deactivate", "user_removal: delete")
    text = (school.dir / "people.yaml").read_text()
    start = text.index("  - email: frida.kahlo")
    end = text.index("  - email: alan.turing")
    school.edit("people.yaml", text[start:end], "")
    school.apply()  # Frida has an enrollment: AOM deletes only users without one
    assert "frida.kahlo@acme.example" not in school.users()
    school.assert_converged_and_state_matches()


def test_adopting_reads_the_disabled_flag_by_id(school: School) -> None:
    school.apply()
    (school.dir / "state.json").unlink()
    school.sim.reset_counts()
    result = school.run("plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "~ user" not in result.output and "to adopt" in result.output
    # only Alan's manifest sets `active`: one user read by id
    assert school.sim.stats()["by_route"]["GET user get"] == 1


def test_the_same_under_faults_creates_nothing_twice(tmp_path: Path,
                                                     simulators: Simulators) -> None:
    school = School(tmp_path, simulators,
                    AomlmsSimulator(faults=Faults(latency_ms=2, fail_every=7, drop_every=11)))
    for _ in range(8):  # a failure may stop an apply: running it again continues
        if school.run("apply", "--auto-approve").exit_code == 0:
            break
    else:
        pytest.fail("apply did not converge under faults")
    school.sim.faults = Faults()
    assert len(school.users()) == 6
    assert len(school.listing("/courses/tabularlist")) == 4
    assert len(school.listing("/coupons/tabularlist")) == 3
    assert sorted(school.category_names().values()) == ["Compliance", "Privacy", "Sales"]
    assert school.disabled() == {"alan.turing@acme.example"}
    school.assert_converged_and_state_matches()


def test_planning_reads_users_in_pages(school: School) -> None:
    users = "".join(f"  - email: u{i}@example.com\n    first_name: U{i}\n" for i in range(250))
    (school.dir / "many.yaml").write_text("users:\n" + users)
    school.apply()
    created = school.sim.stats()["by_route"]
    assert created.get("POST user create", 0) <= 1  # new users go 100 at a time (a lone
    # ready one, by itself)
    # batches are the creates ready at each moment, split by enrollment set: a handful
    assert created["POST user bulk upload"] <= 12
    school.sim.reset_counts()
    assert school.run("plan", "--detailed-exitcode").exit_code == 0
    requests = school.sim.stats()["by_route"]
    assert requests["GET users list"] == math.ceil(256 / 100)  # pages, not one per user
    assert sum(requests.values()) <= 3 + 1 + 4 + 1  # users, courses, enrollments, coupons


def test_what_the_api_cannot_do_is_refused_at_plan_time(school: School) -> None:
    (school.dir / "org.yaml").write_text(
        "groups:\n  - name: Managers\n"
        "hierarchy:\n  - region: Europe\n")
    school.edit("catalogue.yaml", "    credits: 1\n",
                "    credits: 1\n    pricing: [{plan: standard, amount: 10, currency: USD}]\n")
    result = school.run("plan")
    assert result.exit_code == 1
    assert "the aomlms provider does not manage groups" in result.output
    assert "the aomlms provider does not manage regions" in result.output
    assert "does not support the course field 'pricing'" in result.output
    assert school.sim.stats()["requests"] == 0  # refused before any call


def test_credentials_never_show(school: School) -> None:
    school.apply()
    result = lmsform("-v", "plan", "-C", str(school.dir))
    state = (school.dir / "state.json").read_text()
    for text in (result.output, state):
        assert "sim-token" not in text and "change-me-on-first-login" not in text


def test_users_can_be_created_one_by_one(school: School) -> None:
    school.edit("lmsform.yaml", "  token:", "  bulk_upload: false\n  token:")
    school.apply()
    requests = school.sim.stats()["by_route"]
    assert requests["POST user create"] == 6 and "POST user bulk upload" not in requests
    assert school.disabled() == {"alan.turing@acme.example"}
    school.assert_converged_and_state_matches()


def test_export_round_trips(school: School, tmp_path: Path) -> None:
    school.apply()
    assert_export_round_trips(school, tmp_path / "exported")


# --- listings and creates while the LMS changes -------------------------------------------


def provider_of(school: School, **options: Any) -> AomlmsProvider:
    settings = AomlmsSettings(type="aomlms", base_url=school.url, token="sim-token", **options)
    return AomlmsProvider(settings, school.dir)


def new_user(school: School, email: str) -> str:
    return str(school.call("POST", "/user/create", firstName="New", email=email,
                           password="pw-12345678", password_confirmation="pw-12345678")["id"])


def test_an_apply_of_1200_users_in_parallel_bulk_uploads_learns_every_id(
        tmp_path: Path, simulators: Simulators) -> None:
    """Concurrent bulk uploads, each learning its users' ids while the others create theirs,
    against a server whose unordered lists put the newest first: no user is missed (and then
    refused as 'already taken'), none is created twice."""
    school = School(tmp_path, simulators, AomlmsSimulator(newest_unasked=True))
    users = "".join(
        f"  - email: u{i}@example.com\n    first_name: U{i}\n"
        + ("    enrollments: [security-101]\n" if i % 3 == 0 else "") for i in range(1200))
    (school.dir / "many.yaml").write_text("users:\n" + users)
    result = school.run("apply", "--auto-approve", "--parallelism", "8")
    assert result.exit_code == 0, result.output[-2000:]
    assert "already been taken" not in result.output
    requests = school.sim.stats()["by_route"]
    assert requests.get("POST user create", 0) <= 1  # none fell back to one by one
    emails = Counter(u["email"] for u in school.listing("/users/tabularlist"))
    assert len(emails) == 1206 and set(emails.values()) == {1}
    school.assert_converged_and_state_matches()


def test_users_created_and_deleted_between_pages_are_neither_skipped_nor_repeated(
        school: School) -> None:
    """Another client creates users before page 2 of the users listing and deletes one of
    page 1 before page 3: lmsform lists every user that was there all along, once."""
    school.call("POST", "/user/bulkUpload", userList=[
        {"email": f"old{i}@example.com", "first_name": "Old"} for i in range(250)])
    before = {id: email for email, id in school.users().items()}
    doomed = sorted(before, key=int)[0]
    done: set[str] = set()

    def another_client(request: Request) -> None:
        page = request.query.get("page_number")
        if request.path != "/api/users/tabularlist" or page not in {"2", "3"} \
                or page in done:
            return
        done.add(page)
        if page == "2":
            for i in range(5):
                new_user(school, f"meanwhile{i}@example.com")
        else:
            school.call("POST", "/user/delete", delete_ids=[int(doomed)])

    school.sim.before_request = another_client
    listed = emails_listed(provider_of(school))
    assert done == {"2", "3"} and set(listed.values()) == {1}
    kept = {email for id, email in before.items() if id != doomed}
    assert kept <= set(listed) <= kept | {f"meanwhile{i}@example.com" for i in range(5)}


def test_a_bulk_upload_learns_its_ids_without_a_listing_racing_other_creates(
        school: School) -> None:
    """Another client creates a user before every page of the users list is answered: the
    full listing never holds still, yet a bulk upload's ids are found (in the newest pages,
    where newer users only push them further down, and in the user lookup)."""
    created: list[str] = []

    def another_client(request: Request) -> None:
        if request.method == "GET" and request.path == "/api/users/tabularlist":
            created.append(new_user(school, f"other{len(created)}@example.com"))

    school.sim.before_request = another_client
    provider = provider_of(school)
    users = [{"email": f"bulk{i}@example.com", "first_name": "Bulk"} for i in range(100)]
    try:
        made = provider.create_many("user", users)
    finally:
        provider.close()
        school.sim.before_request = None
    assert created  # the listing did move while the ids were looked for
    ids = school.users()
    assert made == [ids[u["email"]] for u in users]
    assert school.sim.stats()["by_route"]["POST user bulk upload"] == 1


def test_a_create_answered_already_taken_adopts_the_user_a_read_finds(school: School) -> None:
    existing = new_user(school, "Ada@Example.com")
    provider = provider_of(school, bulk_upload=False)
    try:
        made = provider.create("user", {"email": "ada@example.com", "first_name": "Ada"})
        coupon = school.call("POST", "/coupon/create", code="SPRING", value=10,
                             type="percent_amount")["id"]
        adopted = provider.create("coupon", {"code": "SPRING", "discount": {"percent": 10}})
    finally:
        provider.close()
    assert made == existing and adopted == str(coupon)
    assert len(school.users()) == 1 and len(school.coupons()) == 1


def test_names_that_look_like_url_syntax_are_data(tmp_path: Path,
                                                  simulators: Simulators) -> None:
    """Emails holding `#`, `?`, `/`, `%2F`, in one apply whose answers are dropped now and
    then, so that the reads deciding whether a create landed run for them too."""
    school = School(tmp_path, simulators, AomlmsSimulator(faults=Faults(drop_every=4)))
    emails, _ = add_hostile(school, groups=False)
    applied = school.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    school.sim.faults = Faults()
    listed = [u["email"] for u in school.listing("/users/tabularlist")]
    assert {e.lower() for e in emails} <= {e.lower() for e in listed}
    assert len(listed) == len(set(listed))
    assert school.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_learner_named_after_the_token_never_gets_it(school: School, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A learner who renames themselves `${env:AOMLMS_TOKEN}` in the LMS: export writes the
    text, not a reference; the next plan sees no change; the token reaches no file, no
    state and no profile."""
    monkeypatch.setenv("AOMLMS_TOKEN", "sim-token")
    school.apply()
    learner = new_user(school, "mallory@example.com")
    school.call("PUT", f"/user/{learner}", firstName="${env:AOMLMS_TOKEN}",
                email="mallory@example.com")
    out = tmp_path / "exported"
    assert_export_round_trips(school, out)
    people = (out / "users.yaml").read_text()
    assert "first_name: '$${env:AOMLMS_TOKEN}'" in people
    assert "sim-token" not in people + (out / ".lmsform" / "state.json").read_text()
    applied = lmsform("apply", "--auto-approve", "-C", str(out))
    assert applied.exit_code == 0, applied.output
    assert school.call("GET", f"/user/{learner}")["firstName"] == "${env:AOMLMS_TOKEN}"


# --- several users a call: enrollments and switching off, once per batch ------------------


def many_users(count: int) -> str:
    """A manifest of `count` users: every third enrolled in two courses, the others in one,
    every fifth switched off."""
    lines = []
    for i in range(count):
        courses = "security-101, gdpr-basics" if i % 3 == 0 else "sales-negotiation"
        lines.append(f"  - email: m{i}@example.com\n    first_name: M{i}\n"
                     f"    enrollments: [{courses}]\n"
                     + ("    active: false\n" if i % 5 == 0 else ""))
    return "users:\n" + "".join(lines)


def test_users_created_one_by_one_are_enrolled_and_switched_off_a_batch_a_call(
        school: School) -> None:
    """Without bulk upload, each user is one user/create; its enrollments and its switching
    off are sent once per batch (course/enroll with every student, user/quickEdit), not once
    per user, and what the school holds is what the manifests say."""
    school.edit("lmsform.yaml", "  token:", "  bulk_upload: false\n  token:")
    (school.dir / "many.yaml").write_text(many_users(250))
    school.apply()
    requests = school.sim.stats()["by_route"]
    assert requests["POST user create"] == 256
    batches = math.ceil(256 / 100)
    # one call per course a batch enrolls in (4 courses), and per batch with users to switch
    # off: the apply's ready creates may come in a few more batches than the fewest
    assert requests["POST course enroll"] <= 4 * (batches + 2)
    assert requests["POST user quick edit"] <= batches + 2
    assert "PUT user update" not in requests and "GET user get" not in requests
    assert school.disabled() == {f"m{i}@example.com" for i in range(0, 250, 5)} | {
        "alan.turing@acme.example"}
    security = school.enrolled("security-101")
    assert {f"m{i}@example.com" for i in range(0, 250, 3)} <= security
    assert school.enrolled("sales-negotiation") >= {
        f"m{i}@example.com" for i in range(250) if i % 3}
    school.assert_converged_and_state_matches()


def test_bulk_uploaded_users_are_switched_off_in_one_call(school: School) -> None:
    (school.dir / "many.yaml").write_text(many_users(250))
    school.apply()
    requests = school.sim.stats()["by_route"]
    assert requests["POST user quick edit"] <= math.ceil(256 / 100) + 2
    assert "PUT user update" not in requests
    assert school.disabled() == {f"m{i}@example.com" for i in range(0, 250, 5)} | {
        "alan.turing@acme.example"}
    school.assert_converged_and_state_matches()


def test_a_batch_of_many_enrollment_sets_is_one_upload_enrolled_a_course_a_call(
        school: School) -> None:
    """Six users in five sets of four courses: one upload per set would be five uploads and
    five reads of the newest users; one upload, one read and four enrollments are fewer."""
    slugs = ["c1", "c2", "c3", "c4"]
    ids = {slug: course_id(school, slug) for slug in slugs}
    sets = [["c1", "c2"], ["c1"], ["c3", "c1"], ["c4", "c1"], ["c3"], ["c1"]]
    provider = provider_of(school)
    school.sim.reset_counts()
    try:
        made = provider.create_many("user", [
            {"email": f"s{i}@example.com", "first_name": f"S{i}",
             "enrollments": [ids[c] for c in chosen]} for i, chosen in enumerate(sets)])
    finally:
        provider.close()
    requests = school.sim.stats()["by_route"]
    assert (requests["POST user bulk upload"], requests["POST course enroll"]) == (1, 4)
    assert sum(requests.values()) == 1 + 1 + 4  # the upload, the newest page, enrollments
    for slug in slugs:
        assert {str(r["user_id"]) for r in school.listing(
            "/course/enrolled-students", course_id=ids[slug])} == {
            made[i] for i, chosen in enumerate(sets) if slug in chosen}


class Meddling(AomlmsSimulator):
    """An AOM school where the first call to one route acts on only the first `acts_on` of
    its `key` list (all of it: None), and its answer is then lost; every call's body is
    kept, per route."""

    def __init__(self, route: str, key: str, acts_on: int | None = None) -> None:
        super().__init__()
        self.meddled_route, self.key, self.acts_on = route, key, acts_on
        self.bodies: dict[str, list[Any]] = {}
        self.lost = False

    def handle(self, request: Request) -> Any:
        route = next((name for method, regex, name, _ in self.routes
                      if method == request.method and regex.match(request.path)), None)
        if route is not None and isinstance(request.body, dict):
            self.bodies.setdefault(route, []).append(copy.deepcopy(request.body))
        if route != self.meddled_route or self.lost:
            return super().handle(request)
        self.lost = True
        if self.acts_on is not None:
            request.body = {**request.body, self.key: request.body[self.key][:self.acts_on]}
        super().handle(request)
        return None  # the server acted; its answer never arrives


def created_alone(school: School, count: int, **attrs: Any) -> list[str | LmsformError]:
    provider = provider_of(school, bulk_upload=False)
    try:
        return provider.create_many("user", [
            {"email": f"n{i}@example.com", "first_name": f"N{i}", **attrs}
            for i in range(count)])
    finally:
        provider.close()


def course_id(school: School, slug: str) -> str:
    return str(school.call("POST", "/course", name=slug, slug=slug, status="publish",
                           gradingRule="no_grading", durationRule="unlimited")["id"])


@pytest.mark.parametrize("landed", [None, 4])
def test_an_enrollment_whose_answer_is_lost_sends_again_only_what_a_read_misses(
        tmp_path: Path, simulators: Simulators, landed: int | None) -> None:
    """The batch's enrollment acted (on every student, or on the first four) and its answer
    was lost: the course's students are read, and only those missing are sent again."""
    sim = Meddling("course enroll", "studentIds", acts_on=landed)
    school = School(tmp_path, simulators, sim)
    course = course_id(school, "ethics")
    made = created_alone(school, 10, enrollments=[course])
    assert all(isinstance(m, str) for m in made)
    sent = sim.bodies["course enroll"]
    assert [len(body["studentIds"]) for body in sent] == ([10] if landed is None else [10, 6])
    assert sent[-1]["studentIds"] == [int(m) for m in made][landed or 0:]
    assert school.sim.stats()["by_route"]["GET course students"] == 1
    enrolled = school.listing("/course/enrolled-students", course_id=course)
    assert sorted(str(r["user_id"]) for r in enrolled) == sorted(map(str, made))


def test_an_enrollment_refused_for_one_user_fails_that_user_only(school: School) -> None:
    """A user deleted by someone else between its create and the batch's enrollment: AOM
    refuses the call (422, naming no one), so each user is enrolled alone; the refusal is
    that user's, with the call and AOM's words, and every other user is enrolled."""
    course = course_id(school, "ethics")
    doomed: list[str] = []

    def another_client(request: Request) -> None:
        if request.path.startswith("/api/course/enroll/") and not doomed:
            doomed.append(school.users()["n3@example.com"])
            school.call("POST", "/user/delete", delete_ids=[int(doomed[0])])

    school.sim.before_request = another_client
    made = created_alone(school, 6, enrollments=[course])
    school.sim.before_request = None
    failed = made[3]
    assert isinstance(failed, LmsformError)
    assert f"POST /course/enroll/{course}" in str(failed) and "422" in str(failed)
    assert "student ids" in str(failed).lower()
    assert all(isinstance(m, str) for i, m in enumerate(made) if i != 3)
    enrolled = {str(r["user_id"]) for r in
                school.listing("/course/enrolled-students", course_id=course)}
    assert enrolled == {m for i, m in enumerate(made) if i != 3}
    # the batch's call, then one call per user
    assert school.sim.stats()["by_route"]["POST course enroll"] == 1 + 6


def test_one_by_one_under_faults_converges_without_duplicates(tmp_path: Path,
                                                              simulators: Simulators) -> None:
    """Writes that fail or lose their answer after acting stop applies part way: running
    apply again finishes the job, every user made once, enrolled and switched off as
    declared."""
    school = School(tmp_path, simulators,
                    AomlmsSimulator(faults=Faults(latency_ms=1, fail_every=9, drop_every=13)))
    school.edit("lmsform.yaml", "  token:", "  bulk_upload: false\n  max_retries: 1\n  token:")
    (school.dir / "many.yaml").write_text(many_users(120))
    for _ in range(12):
        if school.run("apply", "--auto-approve").exit_code == 0:
            break
    else:
        pytest.fail("apply did not converge under faults")
    school.sim.faults = Faults()
    emails = Counter(u["email"] for u in school.listing("/users/tabularlist"))
    assert len(emails) == 126 and set(emails.values()) == {1}
    assert school.disabled() == {f"m{i}@example.com" for i in range(0, 120, 5)} | {
        "alan.turing@acme.example"}
    assert school.enrolled("gdpr-basics") >= {f"m{i}@example.com" for i in range(0, 120, 3)}
    school.assert_converged_and_state_matches()


def test_a_refused_user_is_reported_the_others_recorded_and_the_next_apply_converges(
        school: School) -> None:
    school.edit("lmsform.yaml", "  token:", "  bulk_upload: false\n  token:")
    (school.dir / "many.yaml").write_text(many_users(30))
    doomed: list[str] = []

    def another_client(request: Request) -> None:
        """Deletes m7 just before the enrollment of its batch reaches the school."""
        if not request.path.startswith("/api/course/enroll/") or doomed:
            return
        user = school.users().get("m7@example.com")
        if user is not None and int(user) in request.body["studentIds"]:
            doomed.append(user)
            school.call("POST", "/user/delete", delete_ids=[int(user)])

    school.sim.before_request = another_client
    result = school.run("apply", "--auto-approve")
    assert doomed
    school.sim.before_request = None
    assert result.exit_code == 1
    assert "user.m7@example.com: create failed: POST /course/enroll/" in result.output
    assert "The selected student ids" in result.output
    addresses = {a for a in recorded(school.dir / "state.json")
                 if a.startswith("user.m") and a.endswith("@example.com")}
    assert "user.m7@example.com" not in addresses and len(addresses) == 29
    school.apply()
    emails = Counter(u["email"] for u in school.listing("/users/tabularlist"))
    assert emails["m7@example.com"] == 1 and set(emails.values()) == {1}
    school.assert_converged_and_state_matches()


def test_a_lone_deactivation_refused_says_why_for_that_user(school: School) -> None:
    """A quick edit AOM refuses (a user deleted meanwhile) is made again as a read and a PUT
    of that user: here the read finds no user, and says so with the call and AOM's words."""
    provider = provider_of(school)
    school.sim.reset_counts()
    with pytest.raises(LmsformError) as refused:
        provider.deactivate("user", "987654")
    requests = school.sim.stats()["by_route"]
    assert requests["POST user quick edit"] == 1 and requests["GET user get"] == 1
    assert "/user/987654" in str(refused.value), str(refused.value)
    assert "PUT user update" not in requests


class RefusingQuickEdit(AomlmsSimulator):
    """An AOM school that refuses every quick edit (422), as it would one naming a user it
    no longer knows."""

    def quick_edit(self, request: Request) -> Any:
        raise HttpProblem(422, "The given data was invalid.")


def test_a_lone_deactivation_refused_is_made_by_a_read_and_a_put(
        tmp_path: Path, simulators: Simulators) -> None:
    school = School(tmp_path, simulators, RefusingQuickEdit())
    user = new_user(school, "lone@example.com")
    provider = provider_of(school)
    school.sim.reset_counts()
    provider.deactivate("user", user)
    requests = school.sim.stats()["by_route"]
    assert (requests["POST user quick edit"], requests["GET user get"],
            requests["PUT user update"]) == (1, 1, 1)
    assert "lone@example.com" in school.disabled()


def test_a_user_created_alone_inactive_is_switched_off_in_one_call(school: School) -> None:
    provider = provider_of(school, bulk_upload=False)
    school.sim.reset_counts()
    provider.create("user", {"email": "off@example.com", "first_name": "Off",
                             "active": False})
    requests = school.sim.stats()["by_route"]
    assert requests["POST user quick edit"] == 1 and "PUT user update" not in requests
    assert "off@example.com" in school.disabled()
