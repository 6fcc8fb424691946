"""The LearnWorlds simulator, over real sockets: the protocol as the vendor's OpenAPI
description and the project's pins describe it."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from lmsform_simulators.base import Faults
from lmsform_simulators.learnworlds import LearnworldsSimulator, command
from tests.support import Simulators, invoke

NOT_FOUND = {"error": "Sorry the resource your trying to access does not exist."}
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
USER_KEYS = {"id", "email", "username", "subscribed_for_marketing_emails", "eu_customer",
             "is_admin", "is_instructor", "is_suspended", "is_reporter", "role", "is_affiliate",
             "referrer_id", "created", "last_login", "signup_approval_status", "fields", "tags",
             "utms", "billing_info", "nps_score", "nps_comment"}
COURSE_KEYS = {"id", "title", "expires", "expiresType", "afterPurchase", "categories",
               "description", "label", "author", "courseImage", "original_price",
               "discount_price", "final_price", "dripFeed", "identifiers", "access", "created",
               "modified"}
COUPON_KEYS = {"code", "quantity", "expires", "bulk", "prefix", "times_used"}


class Api:
    """Calls to the API URL of one simulator served for the test, with a bearer token and
    Lw-Client unless told otherwise."""

    def __init__(self, simulators: Simulators, sim: LearnworldsSimulator) -> None:
        self.sim = simulators.start(sim)
        self.url = sim.api_url
        self.http = simulators.http(sim)
        self.token = self.grant().json()["tokenData"]["access_token"]

    def grant(self, form: bool = True, **fields: str) -> httpx.Response:
        body = {"grant_type": "client_credentials", "client_id": "cid",
                "client_secret": "secret", **fields}
        if form:
            return self.http.post(self.url + "/oauth2/access_token", data=body)
        return self.http.post(self.url + "/oauth2/access_token", json=body)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Lw-Client": "cid"}

    def __call__(self, method: str, path: str, json: Any = None, headers: Any = None,
                 **kwargs: Any) -> httpx.Response:
        return self.http.request(method, self.url + "/v2" + path, json=json,
                                 headers=self.auth if headers is None else headers, **kwargs)

    def ok(self, method: str, path: str, json: Any = None, status: int = 200,
           **kwargs: Any) -> Any:
        answer = self(method, path, json, **kwargs)
        assert answer.status_code == status, answer.text
        return answer.json() if answer.content else None

    def user(self, email: str, username: str = "Ada", **fields: Any) -> str:
        made = self.ok("POST", "/users", {"email": email, "username": username, **fields},
                       status=201)
        return str(made["id"])

    def course(self, title: str, title_id: str = "", **fields: Any) -> str:
        made = self.ok("POST", "/courses", {"titleId": title_id, "title": title,
                                            "access": "free", **fields}, status=201)
        return str(made["id"])


def _api(simulators: Simulators, **options: Any) -> Api:
    options.setdefault("rate_limit", None)
    return Api(simulators, LearnworldsSimulator("cid", "secret", **options))


@pytest.fixture
def api(simulators: Simulators) -> Api:
    return _api(simulators)


def _refused(answer: httpx.Response, *words: str) -> str:
    """A 422 in the overview's shape whose message says each of `words`."""
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    for word in words:
        assert word in body["error"], body
    return str(body["error"])


def _unauthorized(answer: httpx.Response) -> str:
    assert answer.status_code == 401, answer.text
    body = answer.json()
    assert body["success"] is False
    (error,) = body["errors"]
    assert error["code"] == "401" and "context" in error
    return str(error["message"])


# the token and the headers


def test_token_grant_form_and_json(api: Api) -> None:
    for form in (True, False):
        answer = api.grant(form=form)
        assert answer.status_code == 200
        body = answer.json()
        assert body["success"] is True and body["errors"] == []
        data = body["tokenData"]
        assert data["token_type"] == "Bearer" and data["expires_in"] == 8000
        assert isinstance(data["access_token"], str) and len(data["access_token"]) >= 20
    assert api.sim.stats()["tokens_issued"] == 3
    assert api("GET", "/users").status_code == 200  # earlier tokens stay valid


def test_wrong_credentials_or_grant_type_answer_401(api: Api) -> None:
    assert "Client" in _unauthorized(api.grant(client_secret="nope"))
    _unauthorized(api.grant(form=False, client_id="other"))
    assert "grant type" in _unauthorized(api.grant(grant_type="password"))
    assert api.sim.stats()["tokens_issued"] == 1


def test_every_v2_request_needs_a_live_token_and_lw_client(api: Api) -> None:
    _unauthorized(api("GET", "/users", headers={"Lw-Client": "cid"}))
    _unauthorized(api("GET", "/users", headers={"Authorization": "Bearer nope",
                                                "Lw-Client": "cid"}))
    token = {"Authorization": f"Bearer {api.token}"}
    assert "Lw-Client" in _unauthorized(api("GET", "/users", headers=token))
    assert "Lw-Client" in _unauthorized(api("GET", "/users", headers={**token,
                                                                      "Lw-Client": "x"}))
    assert api("GET", "/users", headers={"authorization": f"bearer {api.token}",
                                         "lw-client": "cid"}).status_code == 200
    assert api("POST", "/users", {"email": "a@example.com", "username": "A"},
               headers=token).status_code == 401
    assert api.sim.users == {}


def test_tokens_expire_after_their_lifetime(simulators: Simulators) -> None:
    api = _api(simulators, token_lifetime=0.3)
    assert api.grant().json()["tokenData"]["expires_in"] == 1
    assert api("GET", "/users").status_code == 200
    simulators.clock.advance(0.4)
    assert "expired" in _unauthorized(api("GET", "/users"))
    api.token = api.grant().json()["tokenData"]["access_token"]
    assert api("GET", "/users").status_code == 200


def test_expire_tokens_kills_every_issued_token(api: Api) -> None:
    other = api.grant(form=False).json()["tokenData"]["access_token"]
    api.sim.expire_tokens()
    assert "expired" in _unauthorized(api("GET", "/users"))
    _unauthorized(api("GET", "/users", headers={"Authorization": f"Bearer {other}",
                                                "Lw-Client": "cid"}))
    api.token = api.grant().json()["tokenData"]["access_token"]
    assert api("GET", "/users").status_code == 200


def test_every_nth_request_finds_its_token_expired_and_it_stays_dead(
        simulators: Simulators) -> None:
    api = _api(simulators, expire_token_every=3)
    assert api("GET", "/users").status_code == 200
    assert api("GET", "/courses").status_code == 200
    assert "expired" in _unauthorized(api("GET", "/users"))  # the third
    _unauthorized(api("GET", "/users"))  # that token is gone for good
    api.token = api.grant().json()["tokenData"]["access_token"]  # not a /v2 request
    assert api("GET", "/users").status_code == 200  # the fifth
    _unauthorized(api("GET", "/users"))  # the sixth


def test_the_schools_sliding_window_answers_429_with_retry_after(
        simulators: Simulators) -> None:
    api = _api(simulators, rate_limit=(3, 0.5))  # the grant took the first slot
    assert api("GET", "/users").status_code == 200
    assert api("GET", "/courses").status_code == 200
    refused = api("GET", "/users")
    assert refused.status_code == 429
    assert refused.json() == {"error": "Too many requests"}
    assert refused.headers["Retry-After"] == "1"
    assert api.grant().status_code == 429  # the token endpoint counts too
    assert api.sim.stats()["rate_limited"] == 2
    simulators.clock.advance(0.55)
    assert api("GET", "/users").status_code == 200


def test_the_window_defaults_to_30_in_10_seconds_and_can_be_off(
        simulators: Simulators) -> None:
    api = Api(simulators, LearnworldsSimulator("cid", "secret"))
    answers = [api("GET", "/user-roles").status_code for _ in range(30)]
    assert answers == [200] * 29 + [429]  # the grant took one of the 30
    assert 1 <= int(api("GET", "/users").headers["Retry-After"]) <= 10
    free = _api(simulators, rate_limit=None)
    assert {free("GET", "/user-roles").status_code for _ in range(40)} == {200}


def test_the_frameworks_faults_still_work(api: Api) -> None:
    api.sim.faults = Faults(rate_limit=2)
    codes = [api("GET", "/users").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    api.sim.faults = Faults(drop_every=1)
    with pytest.raises(httpx.TransportError):
        api("POST", "/users", {"email": "lost@example.com", "username": "Lost"})
    api.sim.faults = Faults(fail_every=1)
    assert api("GET", "/users").json() == {"error": "Server Error"}
    api.sim.faults = Faults()
    assert api("GET", "/users/lost@example.com").status_code == 200  # the drop acted first


def test_unknown_paths_methods_and_bodies(api: Api) -> None:
    assert api("GET", "/bundles").json() == NOT_FOUND
    assert api("GET", "/bundles").status_code == 404
    assert api("DELETE", "/courses/x").status_code == 404
    assert api.http.get(api.url + "/v1/users", headers=api.auth).status_code == 404
    assert api("GET", "/bundles", headers={}).status_code == 401  # credentials first
    form = api("POST", "/users", content=b"email=a%40b.co&username=A", headers={
        **api.auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and "application/json" in form.json()["error"]
    broken = api("POST", "/users", content=b"{", headers={
        **api.auth, "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["success"] is False
    assert api("POST", "/users", ["a"]).status_code == 400
    assert api.sim.users == {}


def test_the_cli_command_offers_the_vendor_options() -> None:
    result = invoke(command, ["--help"])
    assert result.exit_code == 0
    for option in ("--client-id", "--client-secret", "--token-lifetime",
                   "--expire-token-every", "--lw-rate-limit", "--rate-limit"):
        assert option in result.output
    bad = invoke(command, ["--lw-rate-limit", "fast"])
    assert bad.exit_code != 0 and "REQUESTS/SECONDS" in bad.output


def test_the_announcement_names_the_api_url_and_credentials(api: Api) -> None:
    line = api.sim.announcement(api.sim.base_url)
    assert api.sim.api_url == api.sim.base_url + "/admin/api"
    assert api.sim.api_url in line and "cid" in line and "secret" in line


# users


def test_create_user_answers_201_with_the_user_resource(api: Api) -> None:
    made = api.ok("POST", "/users", {
        "email": "Ada@Example.com", "username": "Ada Lovelace", "password": "s3cret!",
        "subscribed_for_marketing_emails": True, "fields": {"bio": "math", "cf_team": "R&D"},
        "tags": ["first", "first", "vip"], "utms": {"fc_utm_source": "Facebook",
                                                   "fc_utm_landing": "/"}}, status=201)
    assert set(made) == USER_KEYS
    assert OBJECT_ID.match(made["id"])
    assert (made["email"], made["username"]) == ("ada@example.com", "Ada Lovelace")
    assert made["role"] == {"level": "user", "name": "User"}
    assert (made["is_admin"], made["is_instructor"], made["is_suspended"]) == (False,) * 3
    assert made["tags"] == ["first", "vip"]
    assert made["fields"]["bio"] == "math" and made["fields"]["cf_team"] == "R&D"
    assert made["fields"]["company"] is None
    assert made["utms"]["fc_utm_source"] == "Facebook" and "fc_utm_landing" not in made["utms"]
    assert isinstance(made["created"], float | int) and made["created"] > 1.6e9
    assert made["last_login"] is None and "password" not in made
    admin = api.ok("POST", "/users", {"email": "root@example.com", "username": "Root",
                                      "is_admin": True}, status=201)
    assert admin["is_admin"] is True and admin["role"] == {"level": "admin", "name": "Admin"}


def test_user_create_validation(api: Api) -> None:
    api.user("ada@example.com")
    _refused(api("POST", "/users", {"email": "ADA@example.com", "username": "B"}),
             "'email'", "taken")
    _refused(api("POST", "/users", {"email": "b@example.com"}), "'username'", "required")
    _refused(api("POST", "/users", {"username": "B"}), "'email'", "required")
    _refused(api("POST", "/users", {"email": "not-an-email", "username": "B"}), "'email'")
    _refused(api("POST", "/users", {"email": "b@example.com", "username": "B",
                                    "is_admin": "yes"}), "'is_admin'")
    _refused(api("POST", "/users", {"email": "b@example.com", "username": "B",
                                    "tags": "vip"}), "'tags'")
    _refused(api("POST", "/users", {"email": "b@example.com", "username": "B",
                                    "fields": {"bio": 3}}), "'fields.bio'")
    assert len(api.sim.users) == 1


def test_a_user_is_found_by_id_or_by_email(api: Api) -> None:
    uid = api.user("ada@example.com")
    assert api.ok("GET", f"/users/{uid}")["email"] == "ada@example.com"
    assert api.ok("GET", "/users/ada%40example.com")["id"] == uid
    assert api.ok("GET", "/users/ADA@example.com")["id"] == uid
    missing = api("GET", "/users/5ea173beca205e67b47f4552")
    assert missing.status_code == 404 and missing.json() == NOT_FOUND


def test_update_user_changes_only_what_is_given(api: Api) -> None:
    uid = api.user("ada@example.com", fields={"bio": "math", "location": "London"},
                   tags=["a"])
    api.user("bob@example.com", "Bob")
    updated = api.ok("PUT", f"/users/{uid}", {"username": "Countess",
                                              "fields": {"bio": None, "cf_x": "1"}})
    assert updated["username"] == "Countess" and updated["email"] == "ada@example.com"
    assert updated["fields"]["location"] == "London" and updated["fields"]["bio"] is None
    assert updated["fields"]["cf_x"] == "1" and updated["tags"] == ["a"]
    _refused(api("PUT", f"/users/{uid}", {"username": "X", "email": "BOB@example.com"}),
             "'email'")
    assert api.ok("GET", f"/users/{uid}")["username"] == "Countess"  # nothing changed
    moved = api.ok("PUT", "/users/ada%40example.com", {"email": "Ada@Math.org",
                                                       "tags": ["b"]})
    assert (moved["email"], moved["tags"]) == ("ada@math.org", ["b"])
    assert api.ok("PUT", f"/users/{uid}", {"is_admin": True})["role"]["level"] == "admin"
    assert api.ok("PUT", f"/users/{uid}", {"is_admin": False})["role"]["level"] == "user"
    assert api("PUT", "/users/nobody@example.com", {}).status_code == 404


def test_tags_attach_and_detach(api: Api) -> None:
    uid = api.user("ada@example.com", tags=["old"])
    attached = api.ok("PUT", f"/users/{uid}/tags", {"tags": ["free", "hot", "old"],
                                                    "action": "attach"})
    assert attached["tags"] == ["old", "free", "hot"] and set(attached) == USER_KEYS
    detached = api.ok("PUT", "/users/ada%40example.com/tags", {"tags": ["free", "none"],
                                                               "action": "detach"})
    assert detached["tags"] == ["old", "hot"]
    _refused(api("PUT", f"/users/{uid}/tags", {"tags": ["x"]}), "'action'")
    _refused(api("PUT", f"/users/{uid}/tags", {"tags": ["x"], "action": "add"}), "'action'")
    _refused(api("PUT", f"/users/{uid}/tags", {"action": "attach"}), "'tags'")
    assert api.ok("GET", f"/users/{uid}")["tags"] == ["old", "hot"]


def test_suspended_users_are_hidden_unless_asked_for(api: Api) -> None:
    uid = api.user("ada@example.com")
    api.user("bob@example.com", "Bob")
    suspended = api.ok("PUT", f"/users/{uid}/suspend")
    assert suspended["is_suspended"] is True and set(suspended) == USER_KEYS
    assert api("GET", f"/users/{uid}").json() == NOT_FOUND
    assert api.ok("GET", f"/users/{uid}", params={"include_suspended": "true"})["id"] == uid
    assert [u["email"] for u in api.ok("GET", "/users")["data"]] == ["bob@example.com"]
    both = api.ok("GET", "/users", params={"include_suspended": "true"})
    assert both["meta"]["totalItems"] == 2
    only = api.ok("GET", "/users", params={"status": "suspended"})["data"]
    assert [u["id"] for u in only] == [uid]
    assert api.ok("PUT", f"/users/{uid}/suspend")["is_suspended"] is True  # again: no change
    assert api.ok("PUT", "/users/ada%40example.com/unsuspend")["is_suspended"] is False
    assert api.ok("GET", f"/users/{uid}")["id"] == uid
    assert api("PUT", "/users/nobody@example.com/suspend").status_code == 404


def test_users_list_is_paged_newest_first(api: Api) -> None:
    ids = [api.sim.seed_user(f"u{i:02d}@example.com") for i in range(45)]
    first = api.ok("GET", "/users")
    assert first["meta"] == {"page": 1, "totalItems": 45, "totalPages": 3, "itemsPerPage": 20}
    assert [u["id"] for u in first["data"]] == ids[::-1][:20]
    assert set(first["data"][0]) == USER_KEYS
    third = api.ok("GET", "/users", params={"page": 3})
    assert len(third["data"]) == 5 and third["meta"]["page"] == 3
    beyond = api.ok("GET", "/users", params={"page": 9})
    assert beyond["meta"]["page"] == 3 and beyond["data"] == third["data"]
    sized = api.ok("GET", "/users", params={"items_per_page": 7, "page": 2})
    assert sized["meta"] == {"page": 2, "totalItems": 45, "totalPages": 7, "itemsPerPage": 7}
    assert [u["id"] for u in sized["data"]] == ids[::-1][7:14]
    capped = api.ok("GET", "/users", params={"items_per_page": 500})
    assert capped["meta"]["itemsPerPage"] == 200 and len(capped["data"]) == 45
    _refused(api("GET", "/users", params={"items_per_page": 0}), "'items_per_page'")
    _refused(api("GET", "/users", params={"page": "two"}), "'page'")


def test_an_empty_list_is_page_one_of_none(api: Api) -> None:
    empty = api.ok("GET", "/users", params={"page": 4})
    assert empty == {"data": [], "meta": {"page": 1, "totalItems": 0, "totalPages": 0,
                                          "itemsPerPage": 20}}


def test_users_list_filters(api: Api) -> None:
    old = api.sim.seed_user("old@example.com", tags=["big learner"])
    time.sleep(0.01)
    cut = time.time()
    admin = api.user("admin@example.com", is_admin=True, tags=["staff"])
    learner = api.user("learner@example.com", fields={"cf_team": "red"})

    def ids(**query: Any) -> list[str]:
        return [u["id"] for u in api.ok("GET", "/users", params=query)["data"]]

    assert ids(tags="big learner,staff") == [admin, old]
    assert ids(role="admin") == [admin]
    assert ids(role="user") == [learner, old]
    assert ids(registration_after=cut) == [learner, admin]
    assert ids(registration_before=cut) == [old]
    assert ids(cf_team="red") == [learner]
    assert ids(status="never_logged_in") == [learner, admin, old]
    assert ids(status="paying") == []
    assert ids(role="admin", tags="big learner") == []
    _refused(api("GET", "/users", params={"role": "owner"}), "'role'")
    _refused(api("GET", "/users", params={"status": "gone"}), "'status'")
    _refused(api("GET", "/users", params={"registration_after": "May"}), "registration_after")


# roles


def test_roles_are_seeded_and_listed_by_title(api: Api) -> None:
    roles = api.ok("GET", "/user-roles")["data"]
    assert [r["title"] for r in roles] == sorted(r["title"] for r in roles)
    assert {r["access_level"] for r in roles} >= {"user", "instructor", "admin"}
    creator = next(r for r in roles if r["title"] == "Course creator")
    assert creator["id"] == "61bb42d5e07e202700000008"
    assert creator["access_level"] == "instructor" and creator["custom_role"] is False
    assert all(OBJECT_ID.match(r["id"]) and set(r) == {
        "id", "title", "description", "access_level", "custom_role"} for r in roles)
    levels = api.ok("GET", "/user-roles", params={"access_level": "admin,instructor"})["data"]
    assert {r["access_level"] for r in levels} == {"admin", "instructor"}
    one = api.ok("GET", "/user-roles", params={"role_id": creator["id"]})["data"]
    assert one == [creator]
    _refused(api("GET", "/user-roles", params={"access_level": "owner"}), "access_level")


def test_a_users_role_changes_and_reads_back(api: Api) -> None:
    roles = {r["title"]: r["id"] for r in api.ok("GET", "/user-roles")["data"]}
    uid = api.user("ada@example.com")
    course = api.course("Security")
    group = api.ok("POST", "/user_groups", {"title": "G", "products": {"courses": []}},
                   status=201)["id"]
    start = api.ok("GET", f"/users/{uid}/user-role")
    assert start["role_id"] == roles["User"] and start["assigned_courses"] == []
    assert start["user_role"] == {"id": roles["User"], "access_level": "user", "name": "User"}
    _refused(api("PUT", f"/users/{uid}/user-role", {"role_id": roles["Instructor"]}),
             "'assigned_courses'")
    _refused(api("PUT", f"/users/{uid}/user-role", {"role_id": "nope"}), "'role_id'")
    _refused(api("PUT", f"/users/{uid}/user-role", {
        "role_id": roles["Instructor"],
        "assigned_courses": [{"course_id": "missing"}]}), "'assigned_courses.0.course_id'")
    changed = api.ok("PUT", "/users/ada%40example.com/user-role", {
        "role_id": roles["Course creator"],
        "assigned_courses": [{"course_id": course, "revenue_share_percentage": 45}],
        "assigned_user_group_ids": [group]})
    assert changed["user_role"]["name"] == "Course creator"
    assert changed["assigned_courses"] == [{"course_id": course,
                                            "revenue_share_percentage": 45}]
    assert changed["assigned_user_group_ids"] == [group]
    assert api.ok("GET", f"/users/{uid}/user-role") == changed
    user = api.ok("GET", f"/users/{uid}")
    assert user["role"] == {"level": "instructor", "name": "Course creator"}
    assert user["is_instructor"] is True and user["is_admin"] is False
    back = api.ok("PUT", f"/users/{uid}/user-role", {"role_id": roles["User"]})
    assert back["assigned_courses"] == [] and back["assigned_user_group_ids"] == []
    assert api.ok("GET", f"/users/{uid}")["role"]["level"] == "user"


# courses


def test_create_course_answers_201_with_the_course_resource(api: Api) -> None:
    made = api.ok("POST", "/courses", {
        "titleId": "new-course", "title": "new course", "description": "A testing course",
        "price": 125.45, "dripFeed": "days", "access": "paid", "categories": ["paid_course"],
        "label": "new"}, status=201)
    assert set(made) == COURSE_KEYS
    assert (made["id"], made["title"], made["access"]) == ("new-course", "new course", "paid")
    assert (made["original_price"], made["discount_price"], made["final_price"]) == (
        125.45, 0, 125.45)
    assert made["identifiers"] == {"google_store_id": "new_course",
                                   "apple_store_id": "new_course"}
    assert made["categories"] == ["paid_course"] and made["dripFeed"] == "days"
    assert made["created"] == made["modified"]
    assert api.ok("GET", "/courses/new-course") == made
    plain = api.ok("POST", "/courses", {"titleId": "", "title": "10 Secrets of Sleep!",
                                        "access": "draft", "price": "52.00"}, status=201)
    assert plain["id"] == "10-secrets-of-sleep" and plain["dripFeed"] == "none"
    assert plain["original_price"] == 52 and isinstance(plain["original_price"], int)
    again = api.ok("POST", "/courses", {"titleId": None, "title": "10 secrets of sleep",
                                        "access": "free"}, status=201)
    assert again["id"] == "10-secrets-of-sleep-2"


def test_course_create_validation(api: Api) -> None:
    api.course("Security", "sec")
    _refused(api("POST", "/courses", {"titleId": "sec", "title": "X", "access": "free"}),
             "'titleId'", "taken")
    _refused(api("POST", "/courses", {"title": "X", "access": "free"}), "'titleId'")
    _refused(api("POST", "/courses", {"titleId": "x", "access": "free"}), "'title'")
    _refused(api("POST", "/courses", {"titleId": "x", "title": "X"}), "'access'")
    _refused(api("POST", "/courses", {"titleId": "x", "title": "X", "access": "open"}),
             "'access'")
    _refused(api("POST", "/courses", {"titleId": "x", "title": "X",
                                      "access": "enrollment_closed"}), "'access'")
    _refused(api("POST", "/courses", {"titleId": "a b", "title": "X", "access": "free"}),
             "'titleId'")
    _refused(api("POST", "/courses", {"titleId": "x", "title": "X", "access": "free",
                                      "price": -1}), "'price'")
    _refused(api("POST", "/courses", {"titleId": "x", "title": "X", "access": "free",
                                      "dripFeed": False}), "'dripFeed'")
    assert list(api.sim.courses) == ["sec"]


def test_update_course_changes_only_what_is_given(api: Api) -> None:
    api.course("Security", "sec", description="old", price=10, categories=["a"])
    updated = api.ok("PUT", "/courses/sec", {"description": "new", "access": "free",
                                             "categories": ["b", "c"], "label": "hot"})
    assert (updated["title"], updated["original_price"]) == ("Security", 10)
    assert (updated["description"], updated["label"]) == ("new", "hot")
    assert updated["categories"] == ["b", "c"] and updated["modified"] >= updated["created"]
    closed = api.ok("PUT", "/courses/sec", {"access": "enrollment_closed", "title": "Sec"})
    assert (closed["access"], closed["title"]) == ("enrollment_closed", "Sec")
    _refused(api("PUT", "/courses/sec", {"title": ""}), "'title'")
    _refused(api("PUT", "/courses/sec", {"price": None, "label": "x"}), "'price'")
    assert api.ok("GET", "/courses/sec")["label"] == "hot"
    assert api("PUT", "/courses/nope", {"title": "X"}).json() == NOT_FOUND
    assert api("DELETE", "/courses/sec").status_code == 404  # no course delete in the API


def test_courses_list_is_paged_by_50_newest_first_and_filtered(api: Api) -> None:
    for i in range(52):
        api.course(f"Course {i}", access="draft" if i % 2 else "paid",
                   categories=["odd" if i % 2 else "even"])
    first = api.ok("GET", "/courses", params={"items_per_page": 5})
    assert first["meta"] == {"page": 1, "totalItems": 52, "totalPages": 2, "itemsPerPage": 50}
    assert first["data"][0]["id"] == "course-51" and len(first["data"]) == 50
    last = api.ok("GET", "/courses", params={"page": 5})
    assert last["meta"]["page"] == 2 and [c["id"] for c in last["data"]] == [
        "course-1", "course-0"]

    def count(**query: Any) -> int:
        return int(api.ok("GET", "/courses", params=query)["meta"]["totalItems"])

    assert count(access="draft") == 26
    assert count(access='["draft", "free"]') == 26
    assert count(access="paid,draft") == 52
    assert count(categories="odd") == 26 and count(categories="even,odd") == 52
    assert count(categories="odd", access="paid") == 0
    _refused(api("GET", "/courses", params={"access": "open"}), "'access'")


# enrollments


def test_enrollment_in_and_out(api: Api) -> None:
    uid = api.user("ada@example.com")
    api.course("Security", "sec", price=49)
    api.course("Privacy", "priv")
    body = {"productId": "sec", "productType": "course", "price": 0,
            "justification": "Added by admin", "send_enrollment_email": False}
    assert api.ok("POST", f"/users/{uid}/enrollment", body) == {"success": True}
    assert api.ok("POST", "/users/ada%40example.com/enrollment",
                  {**body, "productId": "priv", "price": "100.23"}) == {"success": True}
    assert api.ok("POST", f"/users/{uid}/enrollment", body) == {"success": True}  # again
    courses = api.ok("GET", f"/users/{uid}/courses")
    assert courses["meta"] == {"page": 1, "totalItems": 2, "totalPages": 1, "itemsPerPage": 50}
    assert [e["course"]["id"] for e in courses["data"]] == ["priv", "sec"]
    assert set(courses["data"][0]) == {"created", "expires", "course"}
    assert set(courses["data"][0]["course"]) == COURSE_KEYS
    products = api.ok("GET", f"/users/{uid}/products")
    assert products == {"data": [{"id": "priv", "title": "Privacy", "type": "course"},
                                 {"id": "sec", "title": "Security", "type": "course"}]}
    enrolled = api.ok("GET", "/courses/sec/users")
    assert [u["id"] for u in enrolled["data"]] == [uid] and enrolled["meta"]["totalItems"] == 1
    out = api("DELETE", f"/users/{uid}/enrollment", {"productId": "sec",
                                                     "productType": "course"})
    assert out.status_code == 204 and out.content == b""
    again = api("DELETE", f"/users/{uid}/enrollment", {"productId": "sec",
                                                       "productType": "course"})
    assert again.status_code == 404 and again.json() == NOT_FOUND
    assert api.ok("GET", "/courses/sec/users")["data"] == []
    assert [p["id"] for p in api.ok("GET", f"/users/{uid}/products")["data"]] == ["priv"]


def test_enrollment_validation(api: Api) -> None:
    uid = api.user("ada@example.com")
    api.course("Security", "sec")
    body = {"productId": "sec", "productType": "course", "price": 10}
    _refused(api("POST", f"/users/{uid}/enrollment", {**body, "productId": "nope"}),
             "'productId'", "course")
    _refused(api("POST", f"/users/{uid}/enrollment", {**body, "productType": "bundle"}),
             "'productId'", "bundle")
    _refused(api("POST", f"/users/{uid}/enrollment", {**body, "productType": "thing"}),
             "'productType'")
    _refused(api("POST", f"/users/{uid}/enrollment", {"productId": "sec",
                                                      "productType": "course"}), "'price'")
    _refused(api("POST", f"/users/{uid}/enrollment", {**body, "duration": 0}), "'duration'")
    _refused(api("DELETE", f"/users/{uid}/enrollment", {"productId": "sec"}),
             "'productType'")
    assert api.sim.enrollments == {}
    assert api("POST", "/users/nobody/enrollment", body).json() == NOT_FOUND
    assert api("GET", "/courses/nope/users").status_code == 404


def test_course_users_are_paged_newest_user_first(api: Api) -> None:
    api.course("Security", "sec")
    ids = [api.sim.seed_user(f"u{i}@example.com") for i in range(25)]
    for uid in reversed(ids):
        api.ok("POST", f"/users/{uid}/enrollment", {"productId": "sec",
                                                    "productType": "course", "price": 0})
    page = api.ok("GET", "/courses/sec/users", params={"items_per_page": 10, "page": 3})
    assert page["meta"] == {"page": 3, "totalItems": 25, "totalPages": 3, "itemsPerPage": 10}
    assert [u["id"] for u in page["data"]] == ids[::-1][20:]
    assert api.ok("GET", "/courses/sec/users")["meta"]["itemsPerPage"] == 20


# user groups


def test_user_groups_create_read_update_and_list(api: Api) -> None:
    manager = api.user("boss@example.com", "Boss")
    api.course("Security", "sec")
    made = api.ok("POST", "/user_groups", {
        "title": "api group 2", "description": "lorem ipsum", "products": {"courses": ["sec"]},
        "max_number_of_users": 200, "enroll_users_on_courses": False, "tags": ["t1", "t2"],
        "group_managers": [manager]}, status=201)
    assert OBJECT_ID.match(made["id"])
    assert made["products"] == {"courses": ["sec"]} and made["tags"] == ["t1", "t2"]
    assert made["group_managers"] == [{"id": manager, "username": "Boss",
                                       "email": "boss@example.com",
                                       "role_id": "61bb42d5e07e202700000018"}]
    assert api.ok("GET", f"/user_groups/{made['id']}") == made
    updated = api.ok("PUT", f"/user_groups/{made['id']}", {"title": "Renamed",
                                                           "products": {"courses": []}})
    assert (updated["title"], updated["products"]) == ("Renamed", {"courses": []})
    assert updated["description"] == "lorem ipsum" and updated["tags"] == ["t1", "t2"]
    for i in range(21):
        api.ok("POST", "/user_groups", {"title": f"g{i}", "products": {"courses": []}},
               status=201)
    listed = api.ok("GET", "/user_groups", params={"page": 2})
    assert listed["meta"] == {"page": 2, "totalItems": 22, "totalPages": 2,
                              "itemsPerPage": 20}
    assert [g["title"] for g in listed["data"]] == ["g0", "Renamed"]  # the oldest, last
    assert api("GET", "/user_groups/646f3a8010b76ba4270c87b4").json() == NOT_FOUND


def test_user_group_validation_changes_nothing(api: Api) -> None:
    api.course("Security", "sec")
    _refused(api("POST", "/user_groups", {"title": "G"}), "'products'")
    _refused(api("POST", "/user_groups", {"title": "G", "products": {}}),
             "'products.courses'")
    _refused(api("POST", "/user_groups", {"title": "G", "products": {"courses": [
        "sec", "nope"]}}), "'products.courses'", "nope")
    _refused(api("POST", "/user_groups", {"products": {"courses": []}}), "'title'")
    _refused(api("POST", "/user_groups", {"title": "G", "products": {"courses": []},
                                          "group_managers": ["nobody"]}), "'group_managers'")
    _refused(api("POST", "/user_groups", {"title": "G", "products": {"courses": []},
                                          "max_number_of_users": 0}), "'max_number_of_users'")
    assert api.sim.groups == {}
    gid = api.ok("POST", "/user_groups", {"title": "G", "products": {"courses": []}},
                 status=201)["id"]
    _refused(api("PUT", f"/user_groups/{gid}", {"title": "H"}), "'products'")
    assert api.ok("GET", f"/user_groups/{gid}")["title"] == "G"


def test_group_membership_in_and_out(api: Api) -> None:
    api.course("Security", "sec")
    gid = api.ok("POST", "/user_groups", {
        "title": "Managers", "products": {"courses": ["sec"]}, "tags": ["manager"],
        "enroll_users_on_courses": True, "max_number_of_users": 2}, status=201)["id"]
    ada = api.user("ada@example.com", tags=["x"])
    bob = api.user("bob@example.com", "Bob")
    assert api.ok("POST", f"/user_groups/{gid}/users/{ada}") == {"success": True}
    assert api.ok("POST", f"/user_groups/{gid}/users/bob%40example.com") == {"success": True}
    assert api.ok("POST", f"/user_groups/{gid}/users/{ada}") == {"success": True}  # again
    carl = api.user("carl@example.com", "Carl")
    _refused(api("POST", f"/user_groups/{gid}/users/{carl}"), "full")
    members = api.ok("GET", f"/user_groups/{gid}/users")
    assert [u["id"] for u in members["data"]] == [bob, ada]
    assert members["meta"] == {"page": 1, "totalItems": 2, "totalPages": 1,
                               "itemsPerPage": 20}
    assert api.ok("GET", f"/users/{ada}")["tags"] == ["x", "manager"]
    assert [e["course"]["id"] for e in api.ok("GET", f"/users/{ada}/courses")["data"]] == [
        "sec"]
    assert api.ok("GET", f"/users/{ada}/user-groups") == [{"id": gid, "title": "Managers"}]
    _refused(api("PUT", f"/user_groups/{gid}", {"title": "M", "products": {"courses": []},
                                                "max_number_of_users": 1}),
             "'max_number_of_users'")
    removed = api("DELETE", f"/user_groups/{gid}/users/{ada}")
    assert removed.status_code == 204 and removed.content == b""
    assert api("DELETE", f"/user_groups/{gid}/users/{ada}").json() == NOT_FOUND
    assert api.ok("GET", f"/users/{ada}/user-groups") == []
    assert [u["id"] for u in api.ok("GET", f"/user_groups/{gid}/users")["data"]] == [bob]
    assert api("POST", f"/user_groups/{gid}/users/nobody").status_code == 404
    assert api("POST", f"/user_groups/nope/users/{ada}").status_code == 404


# promotions and coupons


def test_promotions_create_read_and_list(api: Api) -> None:
    api.course("My first course", "my-first-course")
    made = api.ok("POST", "/promotions", {
        "name": "my promo", "type": "percentage", "value": 20.5, "applies_to_all": ["bundles"],
        "products": [{"type": "course", "id": "my-first-course"}]}, status=201)
    assert set(made) == {"id", "name", "coupons", "applies_to_all", "products", "type",
                         "value", "created", "modified"}
    assert OBJECT_ID.match(made["id"]) and made["coupons"] == []
    assert (made["type"], made["value"], made["applies_to_all"]) == ("percentage", 20.5,
                                                                     ["bundles"])
    assert made["products"] == [{"type": "course", "id": "my-first-course"}]
    assert api.ok("GET", f"/promotions/{made['id']}") == made
    plain = api.ok("POST", "/promotions", {"name": "plain"}, status=201)
    assert (plain["type"], plain["value"], plain["applies_to_all"]) == ("percentage", 0,
                                                                       ["none"])
    listed = api.ok("GET", "/promotions")
    assert [p["id"] for p in listed["data"]] == [plain["id"], made["id"]]
    assert listed["meta"] == {"page": 1, "totalItems": 2, "totalPages": 1, "itemsPerPage": 20}
    assert api("GET", "/promotions/615447e090c3ce7a00092772").json() == NOT_FOUND


def test_promotion_validation(api: Api) -> None:
    _refused(api("POST", "/promotions", {"type": "fixed"}), "'name'")
    _refused(api("POST", "/promotions", {"name": "p", "type": "half"}), "'type'")
    _refused(api("POST", "/promotions", {"name": "p", "value": 150}), "'value'")
    _refused(api("POST", "/promotions", {"name": "p", "applies_to_all": ["all"]}),
             "'applies_to_all'")
    _refused(api("POST", "/promotions", {"name": "p", "applies_to_all": ["none", "courses"]}),
             "'applies_to_all'")
    _refused(api("POST", "/promotions", {"name": "p", "products": [
        {"type": "course", "id": "nope"}]}), "'products.0.id'")
    _refused(api("POST", "/promotions", {"name": "p", "products": [
        {"type": "bundle", "id": "b"}]}), "'products.0.id'", "bundle")
    assert api.sim.promotions == {}
    fixed = api.ok("POST", "/promotions", {"name": "p", "type": "fixed", "value": "150"},
                   status=201)
    assert fixed["value"] == 150


def test_coupons_create_list_and_refuse_duplicates(api: Api) -> None:
    pid = api.ok("POST", "/promotions", {"name": "p"}, status=201)["id"]
    other = api.ok("POST", "/promotions", {"name": "q"}, status=201)["id"]
    coupon = api.ok("POST", f"/promotions/{pid}/coupons", {
        "code": "coup-ZFPVOG", "quantity": 4, "expires": "2020-10-28"})
    assert coupon == {"code": "coup-ZFPVOG", "quantity": 4, "expires": "2020-10-28",
                      "bulk": False, "prefix": None, "times_used": 0}
    unlimited = api.ok("POST", f"/promotions/{pid}/coupons", {"code": "FOREVER"})
    assert unlimited["quantity"] is None and unlimited["expires"] is None
    _refused(api("POST", f"/promotions/{other}/coupons", {"code": "COUP-zfpvog"}),
             "'code'", "already")
    _refused(api("POST", f"/promotions/{pid}/coupons", {"quantity": 1}), "'code'")
    _refused(api("POST", f"/promotions/{pid}/coupons", {"code": "a b"}), "'code'")
    _refused(api("POST", f"/promotions/{pid}/coupons", {"code": "Z", "quantity": 0}),
             "'quantity'")
    _refused(api("POST", f"/promotions/{pid}/coupons", {"code": "Z", "expires": 1629195074}),
             "'expires'")
    _refused(api("POST", f"/promotions/{pid}/coupons", {"code": "Z", "expires": "2021-02-30"}),
             "'expires'")
    listed = api.ok("GET", f"/promotions/{pid}/coupons")
    assert listed == {"data": [coupon, unlimited]}
    assert api.ok("GET", f"/promotions/{pid}")["coupons"] == [coupon, unlimited]
    assert api.ok("GET", f"/promotions/{other}/coupons") == {"data": []}
    assert api("POST", "/promotions/nope/coupons", {"code": "Y"}).status_code == 404


def test_coupons_have_no_update_or_delete(api: Api) -> None:
    pid = api.ok("POST", "/promotions", {"name": "p"}, status=201)["id"]
    api.ok("POST", f"/promotions/{pid}/coupons", {"code": "KEEP"})
    for method in ("PUT", "DELETE"):
        for path in (f"/promotions/{pid}/coupons/KEEP", f"/promotions/{pid}/coupons",
                     f"/promotions/{pid}"):
            answer = api(method, path, {"code": "X"})
            assert answer.status_code == 404 and answer.json() == NOT_FOUND
    assert [c["code"] for c in api.ok("GET", f"/promotions/{pid}/coupons")["data"]] == [
        "KEEP"]


def test_bulk_coupons(api: Api) -> None:
    pid = api.ok("POST", "/promotions", {"name": "p"}, status=201)["id"]
    made = api.ok("POST", f"/promotions/{pid}/coupons-bulk", {
        "prefix": "bulk_prono", "quantity": 3, "expires": "2023-09-08"})
    assert len(made) == 3 and len({c["code"] for c in made}) == 3
    for coupon in made:
        assert set(coupon) == COUPON_KEYS
        assert re.fullmatch(r"bulk_prono-[A-Z]{6}", coupon["code"])
        assert (coupon["quantity"], coupon["bulk"], coupon["prefix"], coupon["expires"]) == (
            1, True, "bulk_prono", "2023-09-08")
    assert api.ok("GET", f"/promotions/{pid}/coupons")["data"] == made
    _refused(api("POST", f"/promotions/{pid}/coupons-bulk", {"prefix": "x"}), "'quantity'")
    _refused(api("POST", f"/promotions/{pid}/coupons-bulk", {"quantity": 2}), "'prefix'")
    _refused(api("POST", f"/promotions/{pid}/coupons-bulk", {"prefix": "x",
                                                             "quantity": 5000}), "'quantity'")
    assert len(api.sim.coupons) == 3
