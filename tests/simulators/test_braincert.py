"""The BrainCert simulator, over real sockets: the protocol as the document and the project's
pinned names describe it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lmsform_simulators.base import Faults
from lmsform_simulators.braincert import BraincertSimulator
from tests.support import Simulators

AUTH = {"Authorization": "k", "x-domain-id": "d"}


@pytest.fixture
def api(simulators: Simulators) -> Any:
    sim = simulators.start(BraincertSimulator("k", "d"))
    http = simulators.http(sim)

    def call(method: str, path: str, json: Any = None, headers: Any = None,
             **kwargs: Any) -> httpx.Response:
        return http.request(method, "/api/v1" + path, json=json, headers=headers or AUTH,
                            **kwargs)

    call.sim = sim  # type: ignore[attr-defined]
    return call


def test_wrong_credentials_answer_401_in_the_error_envelope(api: Any) -> None:
    answer = api("POST", "/users/list", {}, headers={"Authorization": "k", "x-domain-id": "x"})
    assert answer.status_code == 401
    assert answer.json() == {"message": "Unauthorized", "error": {
        "code": 401, "details": "Your API key or Domain ID is incorrect"}}


def test_users_create_answers_as_the_document_shows_and_refuse_duplicates(api: Any) -> None:
    made = api("POST", "/users/create", {"username": "ada", "email": "Ada@example.com"})
    assert made.status_code == 200 and made.json()["message"] == "User successfully created"
    assert isinstance(made.json()["id"], int)
    again = api("POST", "/users/create", {"username": "other", "email": "ada@EXAMPLE.com"})
    assert again.status_code == 400 and "email" in again.json()["error"]["details"]
    found = api("GET", "/users/getuserbyEmail/ada@example.com").json()["data"]
    assert found["id"] == made.json()["id"] and found["username"] == "ada"
    assert api("GET", "/users/getuserbyEmail/nobody@example.com").status_code == 404
    missing = api("POST", "/users/create", {"username": "x"})
    assert missing.status_code == 400 and missing.json()["error"]["details"] == "email is required"


def test_lists_are_paged_at_most_100_with_total(api: Any) -> None:
    for i in range(130):
        api("POST", "/users/create", {"email": f"u{i}@example.com"})
    first = api("POST", "/users/list", {"page": 1, "limit": 500}).json()
    assert (len(first["data"]), first["total"], first["limit"]) == (100, 130, 100)
    second = api("POST", "/users/list", params={"page": 2, "limit": 100}).json()
    assert len(second["data"]) == 30 and second["page"] == 2
    searched = api("POST", "/users/list", {"search": "U12"}).json()
    assert {u["email"] for u in searched["data"]} == {
        "u12@example.com", *(f"u12{i}@example.com" for i in range(10))}


def test_groups_members_enrollments_and_their_already_answers(api: Any) -> None:
    user = api("POST", "/users/create", {"email": "a@example.com"}).json()["id"]
    group = api("POST", "/groups/create", {"name": "Managers"}).json()["data"]["id"]
    course = api("POST", "/courses/create", {"name": "Sec", "status": "published"}
                 ).json()["data"]["id"]
    assert api("POST", "/groups/addUser", {"group_id": group, "user_id": user}).status_code == 200
    twice = api("POST", "/groups/addUser", {"group_id": group, "user_id": user})
    assert twice.status_code == 400 and "already a member" in twice.json()["error"]["details"]
    members = api("POST", "/groups/listallusers", {"group_id": group}).json()
    assert [m["id"] for m in members["data"]] == [user] and members["total"] == 1
    body = {"course_id": course, "user_id": str(user)}
    assert api("POST", "/courses/enroll", body).status_code == 200
    assert api("POST", "/courses/enroll", body).status_code == 400
    enrolled = api("POST", "/users/listUsersenrolledincourse", {"course_id": course}).json()
    assert [u["id"] for u in enrolled["data"]] == [user]
    assert api("POST", "/courses/unenroll", body).status_code == 200
    assert api("POST", "/courses/unenroll", body).status_code == 404


def test_courses_publish_update_and_delete(api: Any) -> None:
    course = api("POST", "/courses/create", {"name": "Sec"}).json()["data"]["id"]
    assert api("GET", f"/courses/get/{course}").json()["data"]["status"] == "unpublished"
    api("POST", f"/courses/publish/{course}")
    assert api("GET", f"/courses/get/{course}").json()["data"]["status"] == "published"
    bad = api("PUT", "/courses/update", {"course_id": course, "status": "hidden"})
    assert bad.status_code == 400
    updated = api("PUT", "/courses/update", {"course_id": course, "name": "Security"})
    assert updated.json()["data"]["name"] == "Security"
    assert api("DELETE", f"/courses/delete/{course}").status_code == 200
    assert api("GET", f"/courses/get/{course}").status_code == 404
    assert api("GET", "/courses/delete/1").status_code == 405


def test_pricing_and_discounts(api: Any) -> None:
    course = api("POST", "/courses/create", {"name": "Sec"}).json()["data"]["id"]
    plan = {"course_id": course, "plan_name": "team", "price": 399, "type": "subscription",
            "currency": "usd", "interval": "year"}
    assert api("POST", "/shoppingCart/courses/addpricing", plan).status_code == 200
    assert api("POST", "/shoppingCart/courses/addpricing", plan).status_code == 400
    bad = api("POST", "/shoppingCart/courses/addpricing", {**plan, "plan_name": "m",
                                                            "interval": "week"})
    assert bad.status_code == 400
    (listed,) = api("GET", f"/shoppingCart/courses/pricing/{course}").json()["data"]
    assert (listed["currency"], listed["interval"], listed["price"]) == ("USD", "year", 399.0)
    removed = api("DELETE", "/shoppingCart/courses/deletepricing",
                  {"pricing_id": listed["pricing_id"]})
    assert removed.status_code == 200
    assert api("GET", f"/shoppingCart/courses/pricing/{course}").json()["data"] == []
    discount = {"code": "X", "discount_type": "percent", "value": 10, "course_id": None}
    assert api("POST", "/discounts/addCourseDiscount", discount).status_code == 200
    assert api("POST", "/discounts/addCourseDiscount", discount).status_code == 400
    scoped = api("POST", "/discounts/addCourseDiscount", {**discount, "course_id": course})
    assert scoped.status_code == 200  # the same code once per course and once globally
    assert [d["code"] for d in api("GET", "/discounts/globaldiscounts/list").json()["data"]] \
        == ["X"]
    (mine,) = api("GET", f"/discounts/courses/{course}").json()["data"]
    assert api("DELETE", f"/discounts/removeCourseDiscount/{mine['id']}").status_code == 200
    assert api("DELETE", f"/discounts/removeCourseDiscount/{mine['id']}").status_code == 404


def test_a_body_that_is_not_json_is_refused(api: Any) -> None:
    answer = api("POST", "/users/create", content=b"email=a", headers={
        **AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415
    broken = api("POST", "/users/create", content=b"{", headers={
        **AUTH, "Content-Type": "application/json"})
    assert broken.status_code == 400


def test_faults_fire_and_a_dropped_write_has_acted(api: Any) -> None:
    api.sim.faults = Faults(drop_every=2)
    assert api("POST", "/users/list", {}).status_code == 200  # request 1
    with pytest.raises(httpx.TransportError):
        api("POST", "/users/create", {"email": "lost@example.com"})  # request 2: dropped
    api.sim.faults = Faults(fail_every=1)
    assert api("POST", "/users/list", {}).status_code == 500
    api.sim.faults = Faults()
    assert api("GET", "/users/getuserbyEmail/lost@example.com").status_code == 200
