"""The iLMS simulator answers as the vendor's documentation says, over a real socket."""

from __future__ import annotations

import httpx
import pytest

from lmsform_simulators.base import Faults
from lmsform_simulators.ilms import IlmsSimulator
from tests.support import Simulators

HEADERS = {"APILoginID": "sim-login", "TransactionKey": "sim-key", "OrgID": "99999"}
ORG = "/organizations/99999"


@pytest.fixture
def sim(simulators: Simulators) -> IlmsSimulator:
    return simulators.start(IlmsSimulator())


@pytest.fixture
def api(sim: IlmsSimulator, simulators: Simulators) -> httpx.Client:
    """The test's client of `sim`, sending the organisation's credentials."""
    client = simulators.http(sim)
    client.headers.update(HEADERS)
    return client


def make_department(api: httpx.Client) -> tuple[int, int, int]:
    region = api.post(f"{ORG}/regions", json={"name": "EMEA"}).json()
    division = api.post(f"{ORG}/regions/{region}/divisions", json={"name": "Ops"}).json()
    department = api.post(f"{ORG}/regions/{region}/divisions/{division}/departments",
                          json={"name": "Finance"}).json()
    return region, division, department


def new_user(api: httpx.Client, email: str = "ada@example.com", **extra) -> httpx.Response:
    profile = {"F001": "Ada", "F003": "Lovelace", "F015": email, "F019": "EMEA",
               "F020": "Ops", "F021": "Finance", **extra}
    return api.post(f"{ORG}/users", json={
        "userProfileData": [{"Key": k, "Value": v} for k, v in profile.items()],
        "sendRegistrationMail": False})


def test_credentials_are_required(sim: IlmsSimulator, simulators: Simulators) -> None:
    http = simulators.http(sim)  # no credentials unless given
    assert http.get(f"{ORG}/users").status_code == 401
    wrong = {**HEADERS, "TransactionKey": "nope"}
    assert http.get(f"{ORG}/users", headers=wrong).status_code == 401
    other_org = http.get("/organizations/1/users", headers=HEADERS)
    assert other_org.status_code == 401


def test_json_only(api: httpx.Client) -> None:
    response = api.post(f"{ORG}/regions", content=b"name=x",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415


def test_create_answers_201_with_location_and_id(api: httpx.Client, sim: IlmsSimulator) -> None:
    make_department(api)
    response = new_user(api)
    assert response.status_code == 201
    user_id = response.json()
    assert response.headers["Location"] == f"{sim.base_url}{ORG}/users/{user_id}"
    user = api.get(f"{ORG}/users/{user_id}").json()
    assert user["UserStatus"] == "Active" and user["Profile"]["F016"] is None
    assert user["Profile"]["F021"] == "Finance" and user["Profile"]["F021_ID"]


def test_updates_and_status_changes_answer_204(api: httpx.Client) -> None:
    make_department(api)
    user_id = new_user(api).json()
    update = api.put(f"{ORG}/users/{user_id}", json=[{"Key": "F007", "Value": "CTO"}])
    assert update.status_code == 204
    assert api.delete(f"{ORG}/users/{user_id}/Activate").status_code == 204
    assert api.get(f"{ORG}/users").json() == []  # only active users by default
    listed = api.get(f"{ORG}/users", params={"userstatus": "active,inactive"}).json()
    assert [(u["ID"], u["UserStatus"], u["Profile"]["F007"]) for u in listed] == [
        (user_id, "Inactive", "CTO")]


def test_validation_rejects_with_a_reason(api: httpx.Client) -> None:
    make_department(api)
    bad = api.post(f"{ORG}/regions", json={"name": "A;B"})
    assert bad.status_code == 400 and "restricted characters" in bad.json()["Message"]
    missing = new_user(api, F001="")
    assert missing.status_code == 400 and "F001" in missing.json()["Message"]
    nowhere = new_user(api, "b@example.com", F021="Nowhere")
    assert nowhere.status_code == 400 and "Department 'Nowhere'" in nowhere.json()["Message"]
    user_id = new_user(api).json()
    partial = api.put(f"{ORG}/users/{user_id}", json=[{"Key": "F019", "Value": "EMEA"}])
    assert partial.status_code == 400 and "passed together" in partial.json()["Message"]
    assert new_user(api).status_code == 400  # the email is taken


def test_pages_with_total_count_and_links(api: httpx.Client) -> None:
    make_department(api)
    for i in range(5):
        new_user(api, f"u{i}@example.com", F003=f"L{i}")
    page = api.get(f"{ORG}/users", params={"page": 2, "per_page": 2})
    assert page.headers["X-Total-Count"] == "5"
    assert [u["Profile"]["F003"] for u in page.json()] == ["L2", "L3"]
    assert "page=3" in page.headers["next"] and "page=3" in page.links["next"]["url"]
    assert "page=1" in page.headers["first"] and "page=3" in page.headers["last"]
    last = api.get(f"{ORG}/users", params={"page": 3, "per_page": 2})
    assert "next" not in last.headers and len(last.json()) == 1


def test_search_by_profile_field(api: httpx.Client) -> None:
    make_department(api)
    new_user(api, "ada@example.com")
    new_user(api, "adam@example.com")
    exact = api.get(f"{ORG}/users", params={"F015": '"ada@example.com"'}).json()
    assert [u["Profile"]["F015"] for u in exact] == ["ada@example.com"]
    assert len(api.get(f"{ORG}/users", params={"F015": "ada*"}).json()) == 2


def test_memberships_and_enrollments(api: httpx.Client) -> None:
    make_department(api)
    user_id = new_user(api).json()
    added = api.post(f"{ORG}/groups/101/members", json={"userid": str(user_id)})
    assert added.status_code == 201 and added.headers["Location"].endswith(f"/{user_id}")
    again = api.post(f"{ORG}/groups/101/members", json={"userid": str(user_id)})
    assert again.status_code == 400 and "already a member" in again.json()["Message"]
    assert [u["ID"] for u in api.get(f"{ORG}/groups/101/members").json()] == [user_id]
    assert api.post(f"{ORG}/courses/p1gyJg4a/enrollments",
                    json={"userid": str(user_id)}).status_code == 204
    enrolled = api.get(f"{ORG}/courses/p1gyJg4a/enrollments").json()
    assert enrolled[0]["User"]["ID"] == user_id and enrolled[0]["CourseID"] == "p1gyJg4a"
    gone = api.request("DELETE", f"{ORG}/courses/p1gyJg4a/enrollments",
                       json={"userid": str(user_id)})
    assert gone.status_code == 204
    assert api.delete(f"{ORG}/groups/101/members/{user_id}").status_code == 204
    assert api.delete(f"{ORG}/groups/101/members/{user_id}").status_code == 404


def test_hierarchy_integrity(api: httpx.Client) -> None:
    region, division, department = make_department(api)
    assert api.delete(f"{ORG}/regions/{region}").status_code == 400
    new_user(api)
    path = f"{ORG}/regions/{region}/divisions/{division}/departments/{department}"
    assert api.delete(path).status_code == 400
    assert api.put(path, json={"name": "Money"}).status_code == 204
    (user,) = api.get(f"{ORG}/users").json()
    assert user["Profile"]["F021"] == "Money"


def test_courses_and_groups_come_from_the_seed(api: httpx.Client) -> None:
    groups = api.get(f"{ORG}/groups").json()
    assert {g["Name"] for g in groups} >= {"Managers", "Sales Team"}
    assert api.delete(f"{ORG}/courses/p1gyJg4a/Activate").status_code == 204
    assert api.get(f"{ORG}/courses/p1gyJg4a").json()["Status"] == "Inactive"
    due = api.put(f"{ORG}/courses/p1gyJg4a/DueDate",
                  json={"DefaultDueDate": None, "DaysAfterEnrollment": 1000})
    assert due.status_code == 400


def test_faults_are_injected_deterministically(simulators: Simulators) -> None:
    def faulty(**faults: float) -> tuple[IlmsSimulator, httpx.Client]:
        simulator = simulators.start(IlmsSimulator(faults=Faults(**faults)))
        api = simulators.http(simulator)
        api.headers.update(HEADERS)
        return simulator, api

    _, api = faulty(fail_every=3)
    codes = [api.get(f"{ORG}/regions").status_code for _ in range(6)]
    assert codes == [200, 200, 500, 200, 200, 500]
    _, api = faulty(rate_limit=2)
    answers = [api.get(f"{ORG}/regions") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    simulator, api = faulty(drop_every=2)
    assert api.post(f"{ORG}/regions", json={"name": "A"}).status_code == 201
    with pytest.raises(httpx.TransportError):
        api.post(f"{ORG}/regions", json={"name": "B"})
    assert {r["Name"] for r in simulator.regions.values()} == {"A", "B"}  # acted, then lost
