"""The Course Toolkit simulator, over real sockets: one form-POST URL, the status inside a JSON
answer, and the three user actions as the simulator reads the vendor's page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lmsform_simulators.base import Faults
from lmsform_simulators.coursetoolkit import (
    API_DISABLED,
    AUTHENTICATION_FAILED,
    INVALID_EMAIL,
    INVALID_USERID,
    MISSING_FIELD,
    UNKNOWN_ACTION,
    USER_NOT_FOUND,
    CoursetoolkitSimulator,
    command,
)
from tests.support import Simulators, invoke

CREDENTIALS = {"api-user": "523098", "api-key": "sim-key"}


class Api:
    """Form POSTs to the API URL of one simulator served for the test, with the account's
    credentials by default; `http` is the test's client of it for any other call."""

    def __init__(self, simulators: Simulators, sim: CoursetoolkitSimulator) -> None:
        self.sim = simulators.start(sim)
        self.http = simulators.http(sim)
        self.base = sim.base_url
        self.url = sim.api_url

    def post(self, action: str | None, **fields: str) -> httpx.Response:
        data = {**CREDENTIALS, **({} if action is None else {"api-action": action}), **fields}
        return self.http.post(self.url, data=data)

    def __call__(self, action: str | None, **fields: str) -> dict[str, Any]:
        """The answer of an API call, which answers HTTP 200 whatever the outcome."""
        answer = self.post(action, **fields)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def create(self, email: str) -> str:
        answer = self("create-user", email=email)
        assert answer["response"] == 0, answer
        return str(answer["userid"])


@pytest.fixture
def api(simulators: Simulators) -> Api:
    return Api(simulators, CoursetoolkitSimulator())


def failed(answer: dict[str, Any], code: int) -> bool:
    return (answer["response"] == code and isinstance(answer["response_description"], str)
            and answer["response_description"] != "")


# the URL, the method, the body


def test_one_url_post_only(api: Api) -> None:
    assert api.url == api.base + "/api"
    for method in ("GET", "PUT", "DELETE"):
        answer = api.http.request(method, api.url)
        assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
        assert failed(answer.json(), 405)
    elsewhere = api.http.post("/api/users", data={**CREDENTIALS, "api-action": "get-user"})
    assert elsewhere.status_code == 404 and failed(elsewhere.json(), 404)
    assert api.http.post("/", data=CREDENTIALS).status_code == 404
    assert api.sim.counts == {}


def test_fields_come_as_a_form_not_json_nor_query(api: Api) -> None:
    as_json = api.http.post(api.url, json={**CREDENTIALS, "api-action": "create-user",
                                           "email": "ada@example.com"})
    assert as_json.status_code == 415 and failed(as_json.json(), 415)
    assert "x-www-form-urlencoded" in as_json.json()["response_description"]
    broken = api.http.post(api.url, content=b"{",
                           headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and failed(broken.json(), 400)
    in_query = api.http.post(api.url, params={**CREDENTIALS, "api-action": "create-user",
                                              "email": "ada@example.com"})
    assert in_query.status_code == 200 and failed(in_query.json(), AUTHENTICATION_FAILED)
    assert api.sim.users == {}


# failures inside a 200


def test_wrong_or_missing_credentials(api: Api) -> None:
    for credentials in ({"api-user": "523098", "api-key": "nope"},
                        {"api-user": "999999", "api-key": "sim-key"},
                        {"api-key": "sim-key"}, {"api-user": "523098"}, {}):
        answer = api.http.post(api.url, data={**credentials, "api-action": "create-user",
                                              "email": "ada@example.com"})
        assert answer.status_code == 200
        assert failed(answer.json(), AUTHENTICATION_FAILED)
        assert set(answer.json()) == {"response", "response_description"}
    assert failed(api.http.post(api.url).json(), AUTHENTICATION_FAILED)  # no body at all
    assert api.sim.users == {}


def test_api_access_can_be_disabled(api: Api) -> None:
    api.sim.api_enabled = False
    assert failed(api("create-user", email="ada@example.com"), API_DISABLED)
    api.sim.api_enabled = True
    assert api("create-user", email="ada@example.com")["response"] == 0


def test_missing_or_unknown_action(api: Api) -> None:
    assert failed(api(None), MISSING_FIELD)
    assert failed(api(""), MISSING_FIELD)
    unknown = api("delete-everything")
    assert failed(unknown, UNKNOWN_ACTION) and "delete-everything" in \
        unknown["response_description"]
    assert failed(api("Create-User", email="ada@example.com"), UNKNOWN_ACTION)  # exact names
    assert api.sim.users == {}


def test_missing_fields(api: Api) -> None:
    for action, field in (("create-user", "email"), ("get-user", "userid"),
                          ("remove-user", "userid")):
        missing = api(action)
        assert failed(missing, MISSING_FIELD) and field in missing["response_description"]
        assert failed(api(action, **{field: "  "}), MISSING_FIELD)


@pytest.mark.parametrize("email", [
    "plain", "@example.com", "ada@", "ada@example", "ada@@example.com", "a da@example.com",
    "ada@exa mple.com", "ada.@example.com", ".ada@example.com", "ada..l@example.com",
    "ada@-example.com", "ada@example-.com", "ada@example..com", "ada@example.123",
    "adá@example.com", "x" * 65 + "@example.com", "ada@" + "d" * 250 + ".com"])
def test_invalid_emails_are_refused(api: Api, email: str) -> None:
    assert failed(api("create-user", email=email), INVALID_EMAIL)
    assert api.sim.users == {}


def test_invalid_or_unknown_userid(api: Api) -> None:
    userid = api.create("ada@example.com")
    for action in ("get-user", "remove-user"):
        assert failed(api(action, userid="abc"), INVALID_USERID)
        assert failed(api(action, userid="-5"), INVALID_USERID)
        assert failed(api(action, userid=str(int(userid) + 1)), USER_NOT_FOUND)
    assert list(api.sim.users) == [userid]


# the three actions


def test_create_new_and_existing_email(api: Api) -> None:
    new = api("create-user", email="Ada.Lovelace+lms@Example.com")
    assert new["response"] == 0 and new["response_description"] == "User created."
    assert set(new) == {"response", "response_description", "userid"}
    userid = new["userid"]
    assert isinstance(userid, str) and userid.isdigit()
    again = api("create-user", email="  ada.lovelace+LMS@example.COM ")
    assert again["response"] == 0 and again["userid"] == userid
    assert again["response_description"] == "User already exists; no user was created."
    assert set(again) == set(new)
    assert list(api.sim.users) == [userid]
    kept = api("get-user", userid=userid)
    assert kept["email"] == "Ada.Lovelace+lms@Example.com"  # the first spelling stays
    other = api.create("grace@example.com")
    assert other != userid and other.isdigit() and len(api.sim.users) == 2


def test_get_user_answers_details_and_permission_lines(api: Api) -> None:
    userid = api.create("ada@example.com")
    fresh = api("get-user", userid=f" {userid} ")
    assert fresh == {"response": 0, "response_description": "User found.", "userid": userid,
                     "email": "ada@example.com", "permissions": ""}
    api.sim.grant(userid, "1001", "all")
    api.sim.grant(userid, "1002", ["7", "9", "7"])
    api.sim.grant(userid, "1003", "12, 15")
    assert api("get-user", userid=userid)["permissions"] == "1001 all\n1002 7,9\n1003 12,15"
    api.sim.grant(userid, "1001", ["3"])  # replaced in place
    api.sim.revoke(userid, "1003")
    api.sim.revoke(userid, "1003")  # not theirs any more: no change
    lines = api("get-user", userid=userid)["permissions"].split("\n")
    assert [line.split(" ") for line in lines] == [["1001", "3"], ["1002", "7,9"]]


def test_seeded_users_and_their_details(api: Api) -> None:
    userid = api.sim.seed_user("grace@example.com", name="Grace Hopper")
    api.sim.grant(userid, "C-1", "all")
    answer = api("get-user", userid=userid)
    assert answer["name"] == "Grace Hopper" and answer["permissions"] == "C-1 all"
    same = api("create-user", email="GRACE@example.com")
    assert same["userid"] == userid and len(api.sim.users) == 1


def test_remove_user_then_get_and_no_reuse(api: Api) -> None:
    userid = api.create("ada@example.com")
    api.sim.grant(userid, "1001", "all")
    removed = api("remove-user", userid=userid)
    assert removed == {"response": 0, "response_description": "User removed."}
    assert failed(api("get-user", userid=userid), USER_NOT_FOUND)
    assert failed(api("remove-user", userid=userid), USER_NOT_FOUND)
    reborn = api.create("ada@example.com")
    assert reborn != userid and int(reborn) > int(userid)  # numbers are never reused
    assert api("get-user", userid=reborn)["permissions"] == ""
    later = CoursetoolkitSimulator()
    assert int(later.seed_user("x@example.com")) > int(reborn)  # nor by a later run


def test_hooks_check_their_arguments() -> None:
    sim = CoursetoolkitSimulator()
    userid = sim.seed_user("ada@example.com")
    with pytest.raises(ValueError):
        sim.seed_user("ADA@example.com")
    with pytest.raises(ValueError):
        sim.seed_user("not-an-email")
    with pytest.raises(ValueError):
        sim.seed_user("bob@example.com", permissions="1 all")
    with pytest.raises(KeyError):
        sim.grant("1", "1001", "all")
    with pytest.raises(KeyError):
        sim.revoke("1", "1001")
    for course, permissions in (("10 01", "all"), ("", "all"), ("1001", []),
                                ("1001", "3,,4"), ("1001", ["3 4"]), ("1001", ["all", "3"])):
        with pytest.raises(ValueError):
            sim.grant(userid, course, permissions)
    assert sim.permissions[userid] == {}


# faults, counts, names


def test_a_create_that_acts_then_drops_leaves_one_user(api: Api) -> None:
    api.sim.faults = Faults(drop_every=1)
    with pytest.raises(httpx.TransportError):
        api.post("create-user", email="lost@example.com")
    api.sim.faults = Faults()
    (userid,) = api.sim.users
    retried = api("create-user", email="lost@example.com")
    assert retried["response"] == 0 and retried["userid"] == userid
    assert len(api.sim.users) == 1


def test_server_errors_and_rate_limits_keep_the_answer_shape(api: Api) -> None:
    api.sim.faults = Faults(fail_every=1)
    before = api.post("create-user", email="a@example.com")  # request 1: fails, not acted
    assert before.status_code == 500 and failed(before.json(), 500)
    assert api.sim.users == {}
    after = api.post("create-user", email="a@example.com")  # request 2: acts, then fails
    assert after.status_code == 500 and len(api.sim.users) == 1
    api.sim.faults = Faults(rate_limit=1)
    api("get-user", userid=next(iter(api.sim.users)))
    limited = api.post("get-user", userid="1")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert failed(limited.json(), 429)
    api.sim.faults = Faults()


def test_counts_per_action(api: Api) -> None:
    userid = api.create("ada@example.com")
    api.create("ada@example.com")
    api("get-user", userid=userid)
    api("remove-user", userid=userid)
    api("nothing-like-it")
    api.http.post(api.url, data={"api-action": "get-user"})  # refused: still a get-user call
    stats = api.http.get("/_simulator/stats").json()
    assert stats["by_route"] == {"POST create-user": 2, "POST get-user": 2,
                                 "POST remove-user": 1, "POST /api": 1}
    assert stats["requests"] == 6


def test_action_names_are_configurable(simulators: Simulators) -> None:
    names = {"create-user": "addUser", "get-user": "getUser", "remove-user": "deleteUser"}
    sim = simulators.start(CoursetoolkitSimulator("42", "k", actions=names))

    def call(**fields: str) -> dict[str, Any]:
        data = {"api-user": "42", "api-key": "k", **fields}
        answer: dict[str, Any] = simulators.http(sim).post(sim.api_url, data=data).json()
        return answer

    assert call(**{"api-action": "create-user", "email": "a@example.com"})["response"] \
        == UNKNOWN_ACTION
    userid = call(**{"api-action": "addUser", "email": "a@example.com"})["userid"]
    assert call(**{"api-action": "getUser", "userid": userid})["email"] == "a@example.com"
    assert call(**{"api-action": "deleteUser", "userid": userid})["response"] == 0
    assert sim.counts["POST create-user"] == 1 and sim.counts["POST /api"] == 1
    assert "addUser" in sim.announcement(sim.base_url)
    partial = CoursetoolkitSimulator(actions={"remove-user": "removeUser"})
    assert partial.actions == {"create-user": "create-user", "get-user": "get-user",
                               "remove-user": "removeUser"}
    for bad in ({"create-user": "x", "get-user": "x"}, {"update-user": "u"},
                {"get-user": ""}):
        with pytest.raises(ValueError):
            CoursetoolkitSimulator(actions=bad)


def test_announcement_and_command_line() -> None:
    sim = CoursetoolkitSimulator("777", "secret")
    line = sim.announcement("http://127.0.0.1:9")
    assert "http://127.0.0.1:9/api" in line and "777" in line and "secret" in line
    help_text = invoke(command, ["--help"]).output
    for option in ("--account-id", "--api-key", "--create-action", "--get-action",
                   "--remove-action", "--fail-every"):
        assert option in help_text
    clash = invoke(command, ["--get-action", "create-user", "--port", "0"])
    assert clash.exit_code == 2 and "differ" in clash.output
