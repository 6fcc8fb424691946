"""The provider toolkit: the per-plan listing cache, bounded fan-out, link synchronisation
with its lost-write and 'already there' checks (over a real socket), field rules and new ids."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmsform.errors import ProviderError
from lmsform.providers.auth import Auth
from lmsform.providers.base import Capabilities
from lmsform.providers.http import (
    Classifier,
    Envelope,
    HttpClient,
    HttpError,
    HttpProviderSettings,
)
from lmsform.providers.toolkit import Call, HttpProvider, field_rule, new_id
from lmsform.resources import LiveResource
from tests.providers.local_server import InFlight, LocalServer, Reply, Seen


class Demo(HttpProvider):
    """The least a provider must write on top of the toolkit."""

    type_name = "demo"
    capabilities = Capabilities()

    def __init__(self, url: str, classifier: Classifier | None = None,
                 **options: Any) -> None:
        settings = HttpProviderSettings(type="demo", base_url=url, **options)
        super().__init__(settings, Path("."), HttpClient(url, Auth(), settings,
                                                         classifier=classifier,
                                                         sleep=lambda s: None))

    def identity(self) -> str:
        return "demo"

    def list_all(self, kind: str) -> list[LiveResource]:
        return []

    def create(self, kind: str, attrs: dict[str, Any]) -> str:
        return ""

    def update(self, kind: str, id: str, changes: dict[str, Any],
               before: dict[str, Any]) -> None:
        pass

    def delete(self, kind: str, id: str) -> None:
        pass

    def set_members(self, user: str, after: list[str], before: list[str]) -> None:
        self._sync(after, before,
                   add=lambda g: Call("POST", f"/groups/{g}/members", json={"userid": user}),
                   remove=lambda g: Call("DELETE", f"/groups/{g}/members/{user}"),
                   present=lambda g: user in self.members_of(g))

    def members_of(self, group: str) -> set[str]:
        return {str(u["ID"]) for u in self.http.paginate(f"/groups/{group}/members")}


# --- the cache and fan-out ----------------------------------------------------------------


def test_a_listing_is_loaded_once_however_many_threads_ask(server: LocalServer) -> None:
    demo = Demo(server.url)
    loads: list[str] = []

    def load() -> list[int]:
        loads.append("users")
        time.sleep(0.02)
        return [1, 2]

    threads = [threading.Thread(target=demo._cached, args=("users", load)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["users"]
    assert demo._cached("users", load) == [1, 2] and loads == ["users"]
    demo._forget("users")
    demo._cached("users", load)
    assert loads == ["users", "users"]


def test_different_listings_load_concurrently(server: LocalServer) -> None:
    demo = Demo(server.url)
    groups_loaded = threading.Event()

    def users() -> str:  # needs the groups listing to finish while it is still loading
        assert groups_loaded.wait(5), "one lock for every name: the loads ran one by one"
        return "users"

    def groups() -> str:
        groups_loaded.set()
        return "groups"

    first = threading.Thread(target=demo._cached, args=("users", users))
    first.start()
    time.sleep(0.01)
    assert demo._cached("groups", groups) == "groups"
    first.join()
    assert demo._cached("users", users) == "users"


def test_fan_out_keeps_order_within_the_bound(server: LocalServer) -> None:
    demo = Demo(server.url, max_concurrency=3)
    flight = InFlight()

    def fetch(n: int) -> int:
        with flight.one():
            return n * n

    assert demo._each(list(range(12)), fetch) == [n * n for n in range(12)]
    assert 1 < flight.peak <= 3
    assert demo._each([], fetch) == []


# --- links --------------------------------------------------------------------------------


class Groups:
    """A server with one group's members, whose answers to adds and reads are scripted."""

    def __init__(self, posts: list[Reply | None], reads: list[bool] | None = None) -> None:
        self.members: set[str] = set()
        self.posts = iter(posts)
        self.reads = iter(reads or [])  # what member reads say, when scripted (lagging reads)

    def answer(self, seen: Seen) -> Reply | None:
        if seen.method == "GET":
            shown = next(self.reads, "5" in self.members)
            return Reply(200, [{"ID": 5}] if shown else [])
        if seen.method == "DELETE":
            if "5" not in self.members:
                return Reply(404, {"Message": "not a member"})
            self.members.discard("5")
            return Reply(204)
        reply = next(self.posts)
        if reply is not None and reply.status == 200:
            self.members.add("5")
        return reply


def test_links_are_added_and_removed_one_call_each(server: LocalServer) -> None:
    groups = Groups([Reply(200, {}), Reply(200, {})])
    server.answer = groups.answer
    groups.members.add("5")
    Demo(server.url).set_members("5", ["g2", "g1"], ["g9"])
    assert [(s.method, s.path) for s in server.seen] == [
        ("POST", "/groups/g1/members"), ("POST", "/groups/g2/members"),
        ("DELETE", "/groups/g9/members/5")]


def test_a_lost_add_is_not_sent_again_when_a_read_shows_it_landed(server: LocalServer) -> None:
    groups = Groups([None])  # the server adds the member, then the answer is lost
    groups.members.add("5")
    server.answer = groups.answer
    Demo(server.url).set_members("5", ["g1"], [])
    assert server.count("POST") == 1 and server.count("GET") == 1


def test_a_retried_add_answered_already_a_member_is_accepted_once_a_read_confirms(
        server: LocalServer) -> None:
    # The first add is lost (500); a read, lagging behind, says it did not land; the add is
    # sent again and answered 409 'already a member'; a second read shows the member.
    groups = Groups([Reply(500, {"Message": "Internal error"}),
                     Reply(409, {"Message": "User is already a member"})], reads=[False, True])
    server.answer = groups.answer
    Demo(server.url).set_members("5", ["g1"], [])
    assert server.count("POST") == 2 and server.count("GET") == 2


def test_a_retried_add_answered_already_a_member_fails_when_the_read_says_absent(
        server: LocalServer) -> None:
    groups = Groups([Reply(500, {"Message": "Internal error"}),
                     Reply(409, {"Message": "User is already a member"})], reads=[False, False])
    server.answer = groups.answer
    with pytest.raises(HttpError, match=r"^POST /groups/g1/members: HTTP 409: User is already"):
        Demo(server.url).set_members("5", ["g1"], [])
    assert server.count("GET") == 2  # the 409 was checked, and the check said no


def test_already_a_member_on_a_first_attempt_is_an_error(server: LocalServer) -> None:
    groups = Groups([Reply(409, {"Message": "User is already a member"})])
    groups.members.add("5")
    server.answer = groups.answer
    with pytest.raises(HttpError, match="HTTP 409"):
        Demo(server.url).set_members("5", ["g1"], [])


def test_a_retried_removal_answered_404_counts_once_a_read_confirms(
        server: LocalServer) -> None:
    answers = iter([Reply(500, {"Message": "Internal error"}), Reply(404, {"Message": "gone"})])
    server.answer = lambda seen: (Reply(200, []) if seen.method == "GET"
                                  else next(answers))
    Demo(server.url).set_members("5", [], ["g1"])
    assert server.count("DELETE") == 1  # unsafe here: the read after the 500 said it is gone
    answers = iter([Reply(500, {"Message": "Internal error"}), Reply(404, {"Message": "gone"})])
    server.answer = lambda seen: (Reply(200, [{"ID": 5}]) if seen.method == "GET"
                                  else next(answers))
    with pytest.raises(HttpError, match="HTTP 404"):
        Demo(server.url).set_members("5", [], ["g1"])


# --- creates: 'already exists' ------------------------------------------------------------


class Taken(Classifier):
    """A vendor saying 'already exists' with a 400, as BrainCert and iLMS do."""

    taken_statuses = (400,)
    taken_words = ("already exists",)


def users_server(existing: dict[str, str]) -> Callable[[Seen], Reply]:
    """POST /users refuses a taken email with a 400; GET /users?email= finds one by email."""
    def answer(seen: Seen) -> Reply:
        if seen.method == "GET":
            found = existing.get(seen.query["email"])
            return Reply(200, [{"id": found, "email": seen.query["email"]}] if found else [])
        if seen.json["email"] in existing or seen.json["email"] == "ghost@example.com":
            return Reply(400, {"message": f"A user with email {seen.json['email']} already "
                                          "exists"})
        return Reply(400, {"message": "email is not valid"})
    return answer


def create_user(demo: Demo, email: str) -> str:
    def find() -> str | None:
        found = demo.http.call("GET", "/users", safe=True, params={"email": email})
        return next((str(u["id"]) for u in found if u["email"] == email), None)

    return demo._create("POST", "/users", json={"email": email}, find=find)


def test_a_create_answered_already_exists_adopts_what_a_read_confirms(
        server: LocalServer, caplog: pytest.LogCaptureFixture) -> None:
    server.answer = users_server({"ada@example.com": "41"})
    demo = Demo(server.url, classifier=Taken())
    with caplog.at_level(logging.INFO, logger="lmsform.providers.http"):
        assert create_user(demo, "ada@example.com") == "41"  # as if created
    assert [s.method for s in server.seen] == ["POST", "GET"]  # sent once, then read
    assert "already there, adopted" in caplog.text


def test_already_exists_without_a_confirming_read_is_the_vendors_error(
        server: LocalServer) -> None:
    server.answer = users_server({})
    demo = Demo(server.url, classifier=Taken())
    with pytest.raises(HttpError, match=r"^POST /users: HTTP 400: A user with email "
                                        r"ghost@example.com already exists$"):
        create_user(demo, "ghost@example.com")
    assert [s.method for s in server.seen] == ["POST", "GET"]


def test_other_refusals_are_errors_without_a_read(server: LocalServer) -> None:
    server.answer = users_server({})
    demo = Demo(server.url, classifier=Taken())
    with pytest.raises(HttpError, match="email is not valid"):
        create_user(demo, "not-an-email")
    assert [s.method for s in server.seen] == ["POST"]


# --- rules and ids ------------------------------------------------------------------------


def test_field_rules() -> None:
    assert field_rule("BrainCert", "name", "ab", 5, "<>") == []
    assert field_rule("BrainCert", "name", None, 1) == []
    assert field_rule("BrainCert", "name", "a<b>cdef", 5, "<>") == [
        ("name", "BrainCert allows at most 5 characters (8 given)"),
        ("name", "BrainCert does not allow the characters < > in 'a<b>cdef'")]
    assert field_rule("X", "password", "p;w", 10, ";", label="pw", show_value=False) == [
        ("password", "pw: X does not allow the characters ;")]


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None,
           text: str | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://lms.example/users")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(("response", "expected"), [
    (answer(201, 1234), "1234"),
    (answer(201, "u-77"), "u-77"),
    (answer(201, {"ID": 12}), "12"),
    (answer(201, {"message": "User successfully created", "id": 12345}), "12345"),
    (answer(201, headers={"Location": "https://lms.example/users/88/"}), "88"),
    (answer(201, text="<p>created</p>", headers={"Location": "/users/89"}), "89"),
])
def test_new_ids(response: httpx.Response, expected: str) -> None:
    assert new_id(response) == expected


def test_a_new_id_inside_an_envelope() -> None:
    response = answer(200, {"message": "Course created", "data": {"id": 9}})
    assert new_id(response, Envelope()) == "9"


def test_a_create_answer_without_an_id_is_a_vendor_neutral_error() -> None:
    with pytest.raises(ProviderError) as caught:
        new_id(answer(201, {"message": "ok"}))
    assert str(caught.value) == ("POST /users: the LMS answered 201 without the new "
                                 "resource's id (no id in the body, no Location header)")
