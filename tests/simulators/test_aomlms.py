"""The AOM LMS simulator, over real sockets: the protocol as the vendor's document and the
project's pinned behaviour describe it."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from lmsform_simulators.aomlms import AomlmsSimulator
from lmsform_simulators.base import Faults
from tests.support import Simulators

AUTH = {"Authorization": "Bearer tok"}
LISTED = re.compile(r"^[A-Z][a-z]{2} \d{2}, \d{4} \d{2}:\d{2} [AP]M$")  # Aug 06, 2020 07:20 AM


class Api:
    """Calls to one simulator served for the test, with the bearer token unless told
    otherwise."""

    def __init__(self, simulators: Simulators, sim: AomlmsSimulator) -> None:
        self.sim = simulators.start(sim)
        self.base = sim.base_url
        self.http = simulators.http(sim)

    def __call__(self, method: str, path: str, json: Any = None, headers: Any = None,
                 **kwargs: Any) -> httpx.Response:
        return self.http.request(method, "/api" + path, json=json,
                                 headers=AUTH if headers is None else headers, **kwargs)

    def list(self, path: str, **query: Any) -> Any:
        params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in query.items()}
        answer = self("GET", path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def user(self, email: str, first: str = "Ada", last: str = "Lovelace") -> int:
        answer = self("POST", "/user/create", {
            "firstName": first, "lastName": last, "email": email, "password": "s3cret!",
            "password_confirmation": "s3cret!"})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["id"])

    def course(self, name: str, **fields: Any) -> int:
        body = {"name": name, "gradingRule": "no_grading", "durationRule": "unlimited",
                "status": "publish", **fields}
        answer = self("POST", "/course", body)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["id"])

    def category(self, name: str, kind: str = "course") -> int:
        answer = self("POST", "/category/create", {"category_name": name, "categoryType": kind})
        assert answer.json() == {"message": "Category Created Successfully"}
        (found,) = [c for c in self("GET", f"/categories/{kind}/lookup").json()
                    if c["name"] == name]
        return int(found["id"])

    def students(self, course: int) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.list("/course/enrolled-students", course_id=course,
                                                  page_size=100)["records"]
        return records


@pytest.fixture
def api(simulators: Simulators) -> Api:
    return Api(simulators, AomlmsSimulator("tok"))


def _invalid(answer: httpx.Response) -> dict[str, list[str]]:
    """The errors of a Laravel 422, checking the envelope on the way."""
    assert answer.status_code == 422, answer.text
    body = answer.json()
    errors: dict[str, list[str]] = body["errors"]
    assert body["message"] == next(iter(errors.values()))[0]
    return errors


# protocol


def test_the_bearer_token_is_required(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "tok"}):
        answer = api("GET", "/users/tabularlist", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"message": "Unauthenticated."}
    assert api("POST", "/user/create", {}, headers={}).status_code == 401
    assert api("GET", "/users/tabularlist").status_code == 200


def test_unknown_paths_ids_and_methods(api: Api) -> None:
    assert api("GET", "/groups/tabularlist").status_code == 404
    assert api("GET", "/groups/tabularlist", headers={}).status_code == 401
    missing = api("GET", "/course/123")
    assert missing.status_code == 404 and "Course" in missing.json()["message"]
    assert api("GET", "/user/not-a-number").status_code == 404
    assert api("PUT", "/coupon/5", {"code": "X", "value": 1, "type": "fixed_amount"}
               ).status_code == 404
    wrong = api("DELETE", "/course/1")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, PUT"
    assert api("POST", "/user/create", content=b"firstName=A", headers={
        **AUTH, "Content-Type": "application/x-www-form-urlencoded"}).status_code == 415


# users


def test_create_user_answers_id_and_message_and_reads_back(api: Api) -> None:
    answer = api("POST", "/user/create", {
        "firstName": "John", "lastName": "Doe", "email": "john@example.com",
        "password": "somePassword", "password_confirmation": "somePassword"})
    assert answer.status_code == 200
    assert answer.json()["message"] == "User created successfully"
    uid = answer.json()["id"]
    assert isinstance(uid, int) and uid >= 1000
    user = api("GET", f"/user/{uid}").json()
    assert set(user) == {"firstName", "lastName", "email", "lastLoggedIn", "avatar", "disabled"}
    assert (user["firstName"], user["lastName"], user["email"], user["disabled"]) == (
        "John", "Doe", "john@example.com", False)
    assert user["lastLoggedIn"] == "Never" and ">JD</text></svg>" in user["avatar"]


def test_create_user_validation_is_laravel_422(api: Api) -> None:
    api.user("taken@example.com")
    errors = _invalid(api("POST", "/user/create", {
        "firstName": " ", "email": "TAKEN@example.com", "password": "a",
        "password_confirmation": "b"}))
    assert errors == {"firstName": ["The first name field is required."],
                      "email": ["The email has already been taken."],
                      "password": ["The password confirmation does not match."]}
    errors = _invalid(api("POST", "/user/create", {"firstName": "A", "password": "a",
                                                   "password_confirmation": "a"}))
    assert errors == {"email": ["The email field is required."]}
    errors = _invalid(api("POST", "/user/create", {"firstName": "A", "email": "nope",
                                                   "password": "a",
                                                   "password_confirmation": "a"}))
    assert errors == {"email": ["The email must be a valid email address."]}
    assert api.list("/users/tabularlist")["recordsTotal"] == 1


def test_update_user_changes_names_email_and_disabled(api: Api) -> None:
    uid = api.user("a@example.com")
    other = api.user("b@example.com")
    changed = api("PUT", f"/user/{uid}", {
        "firstName": "Grace", "lastName": "Hopper", "email": "g@example.com",
        "lastLoggedIn": "Never", "avatar": "<svg/>", "disabled": True, "customUserMetas": []})
    assert changed.status_code == 200
    assert changed.json() == {"message": "User updated successfully"}
    user = api("GET", f"/user/{uid}").json()
    assert (user["firstName"], user["lastName"], user["email"], user["disabled"]) == (
        "Grace", "Hopper", "g@example.com", True)
    same = api("PUT", f"/user/{uid}", {"firstName": "Grace", "email": "G@example.com"})
    assert same.status_code == 200  # its own email is not "taken"
    assert api("GET", f"/user/{uid}").json()["disabled"] is True  # absent: unchanged
    errors = _invalid(api("PUT", f"/user/{other}", {"firstName": "B",
                                                    "email": "g@example.com",
                                                    "disabled": "yes"}))
    assert errors == {"email": ["The email has already been taken."],
                      "disabled": ["The disabled field must be true or false."]}
    assert set(_invalid(api("PUT", f"/user/{other}", {"disabled": False}))) == {
        "firstName", "email"}
    assert api("GET", f"/user/{other}").json()["disabled"] is False


def test_users_tabular_list_pages_searches_and_orders(api: Api) -> None:
    rows = [{"email": f"user{i:03d}@example.com", "first_name": f"F{i}",
             "last_name": f"L{i}", "password": ""} for i in range(105)]
    assert api("POST", "/user/bulkUpload", {"userList": rows}).json() == {
        "message": "User(s) uploaded successfully"}
    first = api.list("/users/tabularlist")
    assert (first["recordsTotal"], first["recordsFiltered"], len(first["records"])) == (
        105, 105, 10)
    record = first["records"][0]
    assert set(record) == {"id", "first_name", "last_name", "email", "avatar", "user_type",
                           "display_user_type", "created_at", "last_login"}
    assert (record["email"], record["user_type"], record["display_user_type"],
            record["last_login"]) == ("user000@example.com", "general", "General", "Never")
    assert LISTED.match(record["created_at"])
    ids = [r["id"] for r in first["records"]]
    assert ids == sorted(ids)
    capped = api.list("/users/tabularlist", page_size=500, page_number=1)
    assert len(capped["records"]) == 100
    last = api.list("/users/tabularlist", page_size=100, page_number=2)
    assert [r["email"] for r in last["records"]] == [
        f"user{i:03d}@example.com" for i in range(100, 105)]
    found = api.list("/users/tabularlist", search_param={"nameOrEmail": "USER01"})
    assert (found["recordsTotal"], found["recordsFiltered"]) == (105, 10)
    newest = api.list("/users/tabularlist", page_size=3,
                      order_by={"colName": "created_at", "direction": "desc"})
    assert [r["email"] for r in newest["records"]] == [
        "user104@example.com", "user103@example.com", "user102@example.com"]
    by_id = api.list("/users/tabularlist", page_size=1,
                     order_by='{"colName":"id", "direction": "desc"}}')  # the document's typo
    assert by_id["records"][0]["email"] == "user104@example.com"


def test_the_user_lookup_answers_every_user_unpaged(api: Api) -> None:
    ada, alan = api.user("ada@example.com"), api.user("alan@example.com", "Alan", "Turing")
    assert api("GET", "/users/lookup").json() == [
        {"id": ada, "full_name": "Ada Lovelace", "email": "ada@example.com"},
        {"id": alan, "full_name": "Alan Turing", "email": "alan@example.com"}]


def test_lists_asked_without_an_order_may_answer_the_newest_first(
        simulators: Simulators) -> None:
    """The document never says what a list without order_by answers: a test hook makes it
    the newest first (as its examples ask), so that clients are shown not to depend on it."""
    api = Api(simulators, AomlmsSimulator("tok", newest_unasked=True))
    first, second = api.user("a@example.com"), api.user("b@example.com")
    assert [r["id"] for r in api.list("/users/tabularlist")["records"]] == [second, first]
    asked = api.list("/users/tabularlist", order_by={"colName": "id", "direction": "asc"})
    assert [r["id"] for r in asked["records"]] == [first, second]


def test_a_hook_runs_before_each_request_is_answered(api: Api) -> None:
    """Another client's write lands between two pages of a listing."""
    def another_client(request: Any) -> None:
        if request.query.get("page_number") == "2":
            api.sim.before_request = None
            api.user("late@example.com")

    for i in range(3):
        api.user(f"u{i}@example.com")
    api.sim.before_request = another_client
    assert api.list("/users/tabularlist", page_size=2)["recordsTotal"] == 3
    assert api.list("/users/tabularlist", page_size=2, page_number=2)["recordsTotal"] == 4


def test_bulk_upload_enrolls_and_refuses_every_row_if_one_fails(api: Api) -> None:
    course = api.course("Security")
    api.user("old@example.com")
    bad = api("POST", "/user/bulkUpload", {"userList": [
        {"email": "new@example.com", "first_name": "N", "last_name": "", "password": ""},
        {"email": "OLD@example.com", "first_name": "O"},
        {"email": "new@example.com", "first_name": "N"},
        {"email": "x@example.com"}], "selectedCourses": [course, 999]})
    errors = _invalid(bad)
    assert errors == {
        "userList.1.email": ["The user list.1.email has already been taken."],
        "userList.2.email": ["The user list.2.email field has a duplicate value."],
        "userList.3.first_name": ["The user list.3.first name field is required."],
        "selectedCourses.1": ["The selected selected courses.1 is invalid."]}
    assert api.list("/users/tabularlist")["recordsTotal"] == 1  # nothing created
    assert _invalid(api("POST", "/user/bulkUpload", {"userList": []})) == {
        "userList": ["The user list field is required."]}
    good = api("POST", "/user/bulkUpload", {
        "userList": [{"email": "new@example.com", "first_name": "N", "password": "p"},
                     {"email": "two@example.com", "first_name": "T", "last_name": "W"}],
        "groupId": 1, "membershipId": 12, "classIds": [1], "selectedCourses": [course]})
    assert good.status_code == 200
    assert sorted(s["email"] for s in api.students(course)) == [
        "new@example.com", "two@example.com"]


def test_quick_edit_disables_and_enrolls(api: Api) -> None:
    course = api.course("Security")
    a, b = api.user("a@example.com"), api.user("b@example.com")
    done = api("POST", "/user/quickEdit", {"user_ids": [a, b], "disabled": True,
                                           "course_ids": [course]})
    assert done.json() == {"message": "Users updated Successfully"}
    assert api("GET", f"/user/{a}").json()["disabled"] is True
    assert sorted(s["user_id"] for s in api.students(course)) == sorted([a, b])
    again = api("POST", "/user/quickEdit", {"user_ids": [a], "disabled": "0",
                                            "course_ids": [course]})
    assert again.status_code == 200 and len(api.students(course)) == 2
    assert api("GET", f"/user/{a}").json()["disabled"] is False
    errors = _invalid(api("POST", "/user/quickEdit", {"user_ids": [a, 42]}))
    assert errors == {"user_ids.1": ["The selected user ids.1 is invalid."],
                      "disabled": ["The disabled field is required."]}


def test_users_with_enrollments_are_not_deleted(api: Api) -> None:
    course = api.course("Security")
    kept, gone = api.user("kept@example.com"), api.user("gone@example.com")
    api("POST", f"/course/enroll/{course}", {"studentIds": [kept]})
    answer = api("POST", "/user/delete", {"delete_ids": [kept, gone, 5]})
    assert answer.status_code == 200
    assert answer.json() == {"message": "1 student(s) not deleted as they has enrollments. "
                                        "Please remove the student(s) from the course and "
                                        "try again."}
    assert api("GET", f"/user/{kept}").status_code == 200
    assert api("GET", f"/user/{gone}").status_code == 404
    (enrollment,) = api.students(course)
    api("POST", f"/course/remove/{course}", {"enrollmentIds": [enrollment["id"]]})
    assert api("POST", "/user/delete", {"delete_ids": [str(kept)]}).json() == {
        "message": "1 student(s) deleted successfully"}
    assert api.list("/users/tabularlist")["recordsTotal"] == 0
    assert _invalid(api("POST", "/user/delete", {})) == {
        "delete_ids": ["The delete ids field is required."]}


def test_user_enrolled_courses(api: Api) -> None:
    uid = api.user("a@example.com")
    courses = [api.course(f"Course {i}") for i in range(3)]
    for course in courses:
        api("POST", f"/course/enroll/{course}", {"studentIds": [uid]})
    page = api.list("/users/enrolled-courses", user_id=uid, page_size=2, page_number=2)
    assert (page["recordsTotal"], page["recordsFiltered"]) == (3, 3)
    (record,) = page["records"]
    assert set(record) == {"id", "courseId", "featuredImageUrl", "courseSlug", "courseName",
                           "lastAccessed", "status", "display_status", "accessStatus",
                           "percentComplete", "registered_on", "started_on", "completed_on",
                           "expire_on", "isExpired"}
    assert (record["courseId"], record["courseName"], record["status"]) == (
        courses[2], "Course 2", "Not Started")
    assert record["courseSlug"].endswith("/course/course-2")
    assert re.match(r"^[A-Z][a-z]{2} \d{2}, \d{4}$", record["registered_on"])
    done = api.list("/users/enrolled-courses", user_id=uid,
                    search_param={"status": ["Completed"]})
    assert (done["recordsTotal"], done["recordsFiltered"]) == (3, 0)
    assert api("GET", "/users/enrolled-courses", params={"user_id": 7}).status_code == 404
    assert set(_invalid(api("GET", "/users/enrolled-courses"))) == {"user_id"}


# categories


def test_categories_create_lookup_list_get_update(api: Api) -> None:
    cid = api.category("Compliance")
    api.category("Compliance", kind="question")  # the same name in another type
    assert _invalid(api("POST", "/category/create", {
        "category_name": "compliance", "categoryType": "course"})) == {
        "category_name": ["The category name has already been taken."]}
    assert _invalid(api("POST", "/category/create", {
        "category_name": "X", "categoryType": "blog"})) == {
        "categoryType": ["The selected category type is invalid."]}
    api.category("Safety")
    listed = api.list("/coursecategory/tabularlist", search_param={"categoryName": "compl"})
    assert (listed["recordsTotal"], listed["recordsFiltered"]) == (2, 1)
    (row,) = listed["records"]
    assert set(row) == {"id", "name", "author", "count", "created_at"}
    assert (row["id"], row["name"], row["count"]) == (cid, "Compliance", 0)
    assert LISTED.match(row["created_at"])
    assert api.list("/questioncategory/tabularlist")["recordsTotal"] == 1
    assert api("GET", "/categories/user/lookup").json() == []
    assert api("GET", "/categories/blog/lookup").status_code == 404
    shown = api("GET", f"/category/{cid}").json()
    assert set(shown) == {"id", "name", "type", "created_by", "updated_by", "deleted_by",
                          "created_at", "updated_at", "deleted_at"}
    assert (shown["id"], shown["name"], shown["type"], shown["updated_by"]) == (
        cid, "Compliance", "course", None)
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", shown["created_at"])
    assert api("PUT", f"/category/{cid}", {"category_name": "Rules"}).json() == {
        "message": "Category Updated Successfully"}
    assert api("GET", f"/category/{cid}").json()["name"] == "Rules"
    assert "category_name" in _invalid(api("PUT", f"/category/{cid}",
                                           {"category_name": "SAFETY"}))
    assert api("PUT", f"/category/{cid}", {"category_name": "rules"}).status_code == 200


def test_deleting_a_category_takes_it_off_its_courses(api: Api) -> None:
    a, b = api.category("A"), api.category("B")
    course = api.course("Security", categories=[a, b])
    assert api.list("/courses/tabularlist")["records"][0]["categories"] == "A, B"
    counts = {r["name"]: r["count"] for r in api.list("/coursecategory/tabularlist")["records"]}
    assert counts == {"A": 1, "B": 1}
    assert api("POST", "/category/delete", {"delete_ids": [a, 777]}).json() == {
        "message": "1 category(s) deleted "}
    assert api("GET", f"/course/{course}").json()["categories"] == [b]
    assert [c["id"] for c in api("GET", "/categories/course/lookup").json()] == [b]


# courses


def test_course_create_read_and_derived_slugs(api: Api) -> None:
    cat = api.category("Compliance")
    answer = api("POST", "/course", {
        "name": "Security 101", "instructions": "Read", "credits": "70",
        "minPassingPercentage": 75, "gradingRule": "avg_all_modules",
        "durationRule": "x_days_after_enrollment", "durationDays": 30, "status": "draft",
        "certificateTemplates": [1], "categories": [cat], "modules": [], "gradeModules": []})
    assert answer.status_code == 200
    assert answer.json()["message"] == "Course saved successfully"
    course = api("GET", f"/course/{answer.json()['id']}").json()
    assert set(course) == {
        "name", "slug", "featuredImageUrl", "instructions", "credits", "minPassingPercentage",
        "gradingRule", "durationRule", "durationSpecificDate", "durationDays", "status",
        "certificateTemplates", "associatedProduct", "hasAssociatedProduct", "modules",
        "categories", "gradeModules"}
    assert (course["slug"], course["credits"], course["gradingRule"], course["status"],
            course["categories"], course["durationDays"]) == (
        "security-101", 70, "avg_all_modules", "draft", [cat], 30)
    again = api.course("Security 101!")
    assert api("GET", f"/course/{again}").json()["slug"] == "security-101-1"
    named = api.course("Other", slug="my_course")
    assert api("GET", f"/course/{named}").json()["slug"] == "my_course"


def test_course_validation(api: Api) -> None:
    api.course("Security", slug="security")
    errors = _invalid(api("POST", "/course", {"slug": "SECURITY", "gradingRule": "strict",
                                              "status": "live", "categories": [12]}))
    assert errors == {
        "name": ["The name field is required."],
        "gradingRule": ["The selected grading rule is invalid."],
        "durationRule": ["The duration rule field is required."],
        "status": ["The selected status is invalid."],
        "slug": ["The slug has already been taken."],
        "categories.0": ["The selected categories.0 is invalid."]}
    assert "slug" in _invalid(api("POST", "/course", {
        "name": "X", "slug": "a b", "gradingRule": "no_grading", "durationRule": "unlimited",
        "status": "draft"}))
    assert api.list("/courses/tabularlist")["recordsTotal"] == 1


def test_course_update_and_slug_update(api: Api) -> None:
    course = api.course("Security", credits=2)
    other = api.course("Other")
    body = {"name": "Security II", "gradingRule": "no_grading", "durationRule": "unlimited",
            "status": "draft"}
    answer = api("PUT", f"/course/{course}", body)
    assert answer.json() == {"id": course, "message": "Course updated successfully"}
    shown = api("GET", f"/course/{course}").json()
    assert (shown["name"], shown["slug"], shown["status"], shown["credits"]) == (
        "Security II", "security", "draft", 2)  # absent fields unchanged
    assert api("PUT", f"/course/{course}", {**body, "credits": None}).status_code == 200
    assert api("GET", f"/course/{course}").json()["credits"] is None
    assert set(_invalid(api("PUT", f"/course/{course}", {"name": "X"}))) == {
        "gradingRule", "durationRule", "status"}
    assert "slug" in _invalid(api("PUT", f"/course/{course}", {**body, "slug": "other"}))
    renamed = api("PUT", f"/course/update-slug/{course}", {"slug": "Awesome-course"})
    assert renamed.status_code == 200 and renamed.json() == "Awesome-course"
    assert api("GET", f"/course/{course}").json()["slug"] == "Awesome-course"
    assert "slug" in _invalid(api("PUT", f"/course/update-slug/{other}",
                                  {"slug": "awesome-course"}))
    assert "slug" in _invalid(api("PUT", f"/course/update-slug/{other}", {}))
    assert api("PUT", "/course/update-slug/5", {"slug": "x"}).status_code == 404


def test_courses_tabular_list(api: Api) -> None:
    cat = api.category("Compliance")
    api.course("Security Basics", categories=[cat])
    api.course("Security Advanced", status="draft")
    api.course("Fire Safety")
    page = api.list("/courses/tabularlist")
    assert (page["recordsTotal"], page["recordsFiltered"]) == (3, 3)
    record = page["records"][0]
    assert set(record) == {"id", "name", "slug", "status", "categories", "author", "created_at"}
    assert (record["name"], record["slug"], record["status"], record["categories"]) == (
        "Security Basics", "security-basics", "publish", "Compliance")
    assert re.match(r"^\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2} [AP]M$", record["created_at"])

    def names(search: dict[str, Any]) -> list[str]:
        found = api.list("/courses/tabularlist", search_param=search)
        return [r["name"] for r in found["records"]]

    assert names({"courseName": "security"}) == ["Security Basics", "Security Advanced"]
    assert names({"courseName": "security", "status": "draft"}) == ["Security Advanced"]
    assert names({"courseCategoryIds": [cat], "courseName": ""}) == ["Security Basics"]
    assert len(names({"status": "In Progress"})) == 3  # the example's value is ignored
    ordered = api.list("/courses/tabularlist", order_by={"colName": "name", "direction": "asc"})
    assert [r["name"] for r in ordered["records"]] == [
        "Fire Safety", "Security Advanced", "Security Basics"]


def test_lookups_list_the_documented_values(api: Api) -> None:
    def values(path: str) -> list[str]:
        answer = api("GET", path).json()
        assert all(set(item) == {"db_value", "display_value"} for item in answer)
        return [item["db_value"] for item in answer]

    assert values("/courses/grading-rules/lookup") == [
        "no_grading", "avg_all_modules", "avg_specific_modules"]
    assert values("/courses/duration-rules/lookup") == [
        "unlimited", "on_specific_date", "x_days_after_start", "x_days_after_enrollment"]
    assert values("/courses/status/lookup") == ["Not Started", "In Progress", "Completed"]
    assert values("/coupons/type/lookup") == ["fixed_amount", "percent_amount"]


def test_enroll_and_remove_are_idempotent_and_remove_takes_enrollment_ids(api: Api) -> None:
    course = api.course("Security")
    a, b = api.user("a@example.com", "Ann", "Bee"), api.user("b@example.com", "Bob", "Cee")
    answer = api("POST", f"/course/enroll/{course}", {"studentIds": [a, b], "groupId": 4})
    assert answer.json() == {"message": "2 student(s) enrolled successfully"}
    again = api("POST", f"/course/enroll/{course}", {"studentIds": [a]})
    assert again.status_code == 200
    assert again.json() == {"message": "0 student(s) enrolled successfully"}
    listed = api.list("/course/enrolled-students", course_id=course, group_id=1,
                      search_param={"nameOrEmail": "ann bee", "status": []})
    assert (listed["courseName"], listed["recordsTotal"], listed["recordsFiltered"],
            listed["totalNotStarted"], listed["totalInProgress"],
            listed["totalCompleted"]) == ("Security", 2, 1, 2, 0, 0)
    (record,) = listed["records"]
    assert set(record) == {"id", "user_id", "first_name", "last_name", "email", "avatar",
                           "status", "percentComplete", "access_status", "registered_on",
                           "started_on", "completed_on", "expire_on", "last_accessed_on"}
    assert record["user_id"] == a and record["id"] != a
    assert re.match(r"^\d{2}-[A-Z][a-z]{2}-\d{4}$", record["registered_on"])
    by_user = api("POST", f"/course/remove/{course}", {"enrollmentIds": [a, b]})
    assert by_user.json() == {"message": "0 student(s) removed successfully"}
    removed = api("POST", f"/course/remove/{course}", {"enrollmentIds": [record["id"]]})
    assert removed.json() == {"message": "1 student(s) removed successfully"}
    assert [s["user_id"] for s in api.students(course)] == [b]
    twice = api("POST", f"/course/remove/{course}", {"enrollmentIds": [record["id"]]})
    assert twice.status_code == 200 and len(api.students(course)) == 1
    assert _invalid(api("POST", f"/course/enroll/{course}", {"studentIds": [99]})) == {
        "studentIds.0": ["The selected student ids.0 is invalid."]}
    assert api("POST", "/course/enroll/99", {"studentIds": [a]}).status_code == 404
    assert api("GET", "/course/enrolled-students", params={"course_id": 99}).status_code == 404


def test_courses_with_enrollments_are_not_deleted(api: Api) -> None:
    busy, idle = api.course("Busy"), api.course("Idle")
    uid = api.user("a@example.com")
    api("POST", f"/course/enroll/{busy}", {"studentIds": [uid]})
    answer = api("POST", "/course/delete", {"delete_ids": [busy, idle]})
    assert answer.json() == {"message": "1  course(s) deleted 1 course(s) not deleted as it "
                                        "has enrollments. Please remove the students from "
                                        "the course and try again."}
    assert api("GET", f"/course/{idle}").status_code == 404
    assert api("GET", f"/course/{busy}").status_code == 200
    (enrollment,) = api.students(busy)
    api("POST", f"/course/remove/{busy}", {"enrollmentIds": [enrollment["id"]]})
    assert api("POST", "/course/delete", {"delete_ids": [busy]}).json() == {
        "message": "1  course(s) deleted "}
    assert api.list("/users/enrolled-courses", user_id=uid)["recordsTotal"] == 0


# coupons


def test_coupons_create_read_list_update(api: Api) -> None:
    answer = api("POST", "/coupon/create", {
        "code": "code75", "notes": "Discount upto 75%", "value": "1500",
        "type": "percent_amount", "usage_limit": 1200, "expiry": "2020-08-26",
        "allowed_emails": "a@example.com"})
    assert answer.status_code == 200
    assert answer.json()["message"] == "Coupon created successfully"
    pid = answer.json()["id"]
    assert api("GET", f"/coupon/{pid}").json() == {
        "code": "code75", "type": "percent_amount", "value": 1500, "usage_limit": 1200,
        "expiry": "2020-08-26", "allowed_emails": "a@example.com", "note_privacy": None,
        "notes": "Discount upto 75%", "allowed_products": [], "excluded_products": [],
        "allowed_product_categories": []}
    api("POST", "/coupon/create", {"code": "FLAT5", "value": 5.5, "type": "fixed_amount"})
    listed = api.list("/coupons/tabularlist", search_param={"code": "CODE"})
    assert (listed["recordsTotal"], listed["recordsFiltered"]) == (2, 1)
    assert listed["records"] == [{"id": pid, "code": "code75", "type": "percent_amount",
                                  "value": 1500, "total_limit": 1200,
                                  "expired_at": "Aug 26, 2020"}]
    updated = api("PUT", f"/coupon/{pid}", {"code": "code80", "value": 80,
                                            "type": "percent_amount", "usage_limit": None})
    assert updated.json() == {"message": "Coupon updated successfully"}
    shown = api("GET", f"/coupon/{pid}").json()
    assert (shown["code"], shown["value"], shown["usage_limit"], shown["expiry"]) == (
        "code80", 80, None, "2020-08-26")


def test_coupon_validation(api: Api) -> None:
    api("POST", "/coupon/create", {"code": "SAVE", "value": 5, "type": "fixed_amount"})
    errors = _invalid(api("POST", "/coupon/create", {
        "code": "save", "value": "lots", "type": "percent", "usage_limit": 1.5,
        "expiry": "26/08/2020"}))
    assert errors == {"code": ["The code has already been taken."],
                      "value": ["The value must be a number."],
                      "type": ["The selected type is invalid."],
                      "usage_limit": ["The usage limit must be an integer."],
                      "expiry": ["The expiry is not a valid date."]}
    assert set(_invalid(api("POST", "/coupon/create", {}))) == {"code", "value", "type"}
    assert api.list("/coupons/tabularlist")["recordsTotal"] == 1


def test_coupons_with_orders_are_not_deleted(api: Api) -> None:
    used = api("POST", "/coupon/create", {"code": "USED", "value": 5,
                                          "type": "fixed_amount"}).json()["id"]
    free = api("POST", "/coupon/create", {"code": "FREE", "value": 5,
                                          "type": "fixed_amount"}).json()["id"]
    api.sim.add_order(used)
    with pytest.raises(KeyError):
        api.sim.add_order(12345)
    answer = api("POST", "/coupon/delete", {"delete_ids": [used, free]})
    assert answer.status_code == 200
    assert answer.json() == {"message": "1 coupon(s) deleted 1 coupon(s) not deleted as they "
                                        "are associated with orders"}
    assert api("GET", f"/coupon/{used}").status_code == 200
    assert api("GET", f"/coupon/{free}").status_code == 404


# ids and faults


def test_ids_never_name_a_record_of_another_kind(api: Api) -> None:
    uid = api.user("a@example.com")
    course = api.course("Security")
    cat = api.category("Compliance")
    pid = api("POST", "/coupon/create", {"code": "C", "value": 1,
                                         "type": "fixed_amount"}).json()["id"]
    api("POST", f"/course/enroll/{course}", {"studentIds": [uid]})
    (enrollment,) = api.students(course)
    assert len({uid, course, cat, pid, enrollment["id"]}) == 5
    assert api("GET", f"/user/{course}").status_code == 404
    with pytest.MonkeyPatch.context() as second_later:  # ids come from the time, in 0.1 s
        now = time.time()
        second_later.setattr(time, "time", lambda: now + 1.0)
        later = AomlmsSimulator("tok")
    assert next(later.ids["users"]) > uid  # a later run starts further on


def test_faults_fire_and_a_dropped_write_has_acted(api: Api) -> None:
    api.sim.faults = Faults(drop_every=2)
    assert api("GET", "/users/tabularlist").status_code == 200  # request 1
    with pytest.raises(httpx.TransportError):
        api.user("lost@example.com")  # request 2: acted, then dropped
    api.sim.faults = Faults(fail_every=1)
    failed = api("GET", "/users/tabularlist")
    assert failed.status_code == 500 and failed.json() == {"message": "Server Error"}
    api.sim.faults = Faults(rate_limit=1)
    api("GET", "/users/tabularlist")
    limited = api("GET", "/users/tabularlist")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json() == {"message": "Too Many Attempts."}
    api.sim.faults = Faults()
    (user,) = api.list("/users/tabularlist")["records"]
    assert user["email"] == "lost@example.com"
    stats = api.http.get("/_simulator/stats").json()
    assert stats["by_route"]["POST user create"] == 1
    assert stats["by_route"]["GET users list"] >= 3
