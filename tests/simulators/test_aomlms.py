"""The AOM LMS simulator's protocol, over real sockets, as the vendor's document gives it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lmsform.simulators.aomlms import AomlmsSimulator
from lmsform.simulators.base import Faults

AUTH = {"Authorization": "Bearer sim-token"}


@pytest.fixture
def api() -> Iterator[tuple[AomlmsSimulator, httpx.Client]]:
    sim = AomlmsSimulator()
    url = sim.start()
    with httpx.Client(base_url=url + "/api", headers=AUTH, timeout=10) as client:
        yield sim, client
    sim.stop()


def user(client: httpx.Client, email: str, first: str = "Ada") -> int:
    answer = client.post("/user/create", json={
        "firstName": first, "lastName": "L", "email": email, "password": "pw-1",
        "password_confirmation": "pw-1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"] == "User created successfully"
    return int(answer.json()["id"])


def course(client: httpx.Client, slug: str, **extra: Any) -> int:
    answer = client.post("/course", json={"name": slug.title(), "slug": slug,
                                          "status": "publish", "gradingRule": "no_grading",
                                          "durationRule": "unlimited", **extra})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["id"])


def test_a_missing_or_wrong_token_is_unauthenticated(api: Any) -> None:
    _, client = api
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": ""}):
        answer = client.get("/users/tabularlist", headers=headers)
        assert (answer.status_code, answer.json()) == (401, {"message": "Unauthenticated."})


def test_validation_is_laravels_422_with_every_field(api: Any) -> None:
    _, client = api
    user(client, "ada@example.com")
    answer = client.post("/user/create", json={"email": "ADA@example.com", "password": "a",
                                               "password_confirmation": "b"})
    assert answer.status_code == 422
    body = answer.json()
    assert set(body["errors"]) == {"firstName", "email", "password"}
    assert body["errors"]["email"] == ["The email has already been taken."]
    assert body["message"] in {m for ms in body["errors"].values() for m in ms}


def test_tabular_lists_page_and_count(api: Any) -> None:
    _, client = api
    ids = [user(client, f"u{i}@example.com") for i in range(25)]
    page = client.get("/users/tabularlist", params={"page_size": 10, "page_number": 3}).json()
    assert (page["recordsTotal"], page["recordsFiltered"]) == (25, 25)
    assert [r["id"] for r in page["records"]] == ids[20:]
    assert set(page["records"][0]) >= {"id", "first_name", "last_name", "email", "user_type",
                                       "created_at", "last_login"}
    newest = client.get("/users/tabularlist", params={
        "page_size": 2, "page_number": 1,
        "order_by": '{"colName": "id", "direction": "desc"}'}).json()["records"]
    assert [r["id"] for r in newest] == ids[:-3:-1]
    capped = client.get("/users/tabularlist", params={"page_size": 500}).json()
    assert len(capped["records"]) == 25  # 100 at most a page


def test_one_user_reads_and_updates_in_camel_case(api: Any) -> None:
    _, client = api
    uid = user(client, "ada@example.com")
    record = client.get(f"/user/{uid}").json()
    assert (record["firstName"], record["disabled"]) == ("Ada", False)
    record.update(disabled=True, firstName="Augusta")
    assert client.put(f"/user/{uid}", json=record).json() == {
        "message": "User updated successfully"}
    assert client.get(f"/user/{uid}").json()["disabled"] is True
    assert client.get("/user/999999999").status_code == 404


def test_enrollments_are_removed_by_enrollment_id(api: Any) -> None:
    _, client = api
    uid, cid = user(client, "ada@example.com"), course(client, "security-101")
    assert client.post(f"/course/enroll/{cid}", json={"studentIds": [uid, uid]}).json() == {
        "message": "1 student(s) enrolled successfully"}
    (row,) = client.get("/course/enrolled-students", params={"course_id": cid}).json()["records"]
    assert row["user_id"] == uid
    (mine,) = client.get("/users/enrolled-courses", params={"user_id": uid}).json()["records"]
    assert (mine["id"], mine["courseId"]) == (row["id"], cid)
    refused = client.post("/user/delete", json={"delete_ids": [uid]}).json()["message"]
    assert "1 student(s) not deleted as they has enrollments" in refused
    client.post(f"/course/remove/{cid}", json={"enrollmentIds": [row["id"]]})
    assert client.get("/course/enrolled-students",
                      params={"course_id": cid}).json()["records"] == []
    assert client.post("/user/delete", json={"delete_ids": [uid]}).json() == {
        "message": "1 student(s) deleted"}


def test_courses_list_categories_by_name_and_change_slugs(api: Any) -> None:
    _, client = api
    for name in ("Sales", "Compliance"):
        assert client.post("/category/create", json={
            "category_name": name, "categoryType": "course"}).json() == {
            "message": "Category Created Successfully"}
    categories = {c["name"]: c["id"] for c in client.get("/categories/course/lookup").json()}
    cid = course(client, "negotiation", categories=list(categories.values()), credits=3)
    (row,) = client.get("/courses/tabularlist").json()["records"]
    assert (row["slug"], row["status"], row["categories"]) == (
        "negotiation", "publish", "Sales, Compliance")
    assert client.get(f"/course/{cid}").json()["credits"] == 3
    assert client.put(f"/course/update-slug/{cid}", json={"slug": "closing"}).json() == "closing"
    taken = client.post("/course", json={"name": "X", "slug": "closing", "status": "draft",
                                         "gradingRule": "no_grading",
                                         "durationRule": "forever"})
    assert set(taken.json()["errors"]) == {"slug", "durationRule"}


def test_a_coupon_used_by_orders_is_not_deleted(api: Any) -> None:
    sim, client = api
    made = client.post("/coupon/create", json={"code": "SPRING", "type": "percent_amount",
                                               "value": "15", "usage_limit": 5,
                                               "expiry": "2027-08-26"}).json()
    (row,) = client.get("/coupons/tabularlist").json()["records"]
    assert (row["id"], row["type"], row["total_limit"], row["expired_at"]) == (
        made["id"], "percent_amount", 5, "Aug 26, 2027")
    sim.add_order(made["id"])
    assert client.post("/coupon/delete", json={"delete_ids": [made["id"]]}).json() == {
        "message": "0 coupon(s) deleted 1 coupon(s) not deleted as they are associated "
                   "with orders"}
    assert client.get(f"/coupon/{made['id']}").json()["code"] == "SPRING"


def test_bulk_upload_enrolls_and_refuses_a_list_with_a_taken_email(api: Any) -> None:
    _, client = api
    cid = course(client, "security-101")
    rows = [{"email": f"b{i}@example.com", "first_name": "B", "last_name": str(i),
             "password": ""} for i in range(3)]
    assert client.post("/user/bulkUpload", json={"userList": rows, "selectedCourses": [cid]}
                       ).json() == {"message": "User(s) uploaded successfully"}
    enrolled = client.get("/course/enrolled-students", params={"course_id": cid}).json()
    assert enrolled["recordsTotal"] == 3
    again = client.post("/user/bulkUpload", json={"userList": rows[:1]})
    assert again.status_code == 422 and "userList.0.email" in again.json()["errors"]
    assert client.get("/users/tabularlist").json()["recordsTotal"] == 3


def test_faults_are_injected_and_counted(api: Any) -> None:
    sim, client = api
    sim.faults = Faults(fail_every=2)
    statuses = [client.get("/users/tabularlist").status_code for _ in range(4)]
    assert statuses == [200, 500, 200, 500]
    # the second failed before reaching the route, the fourth after it had acted
    assert sim.stats()["by_route"]["GET users/tabularlist"] == 3
