"""Authentication flows over a real socket: static headers, bearer tokens, credentials in form
bodies and the query, and OAuth2 client credentials (one token shared by every thread, renewed
before it expires and once on a 401), with every secret kept out of errors and logs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lmsform.errors import LmsformError
from lmsform.providers.auth import (
    TOKEN_RENEWAL_MARGIN_SECONDS,
    Auth,
    BearerToken,
    FormFields,
    OAuth2ClientCredentials,
    Outgoing,
    QueryParams,
    StaticHeaders,
)
from lmsform.providers.http import (
    MAX_RENEWALS,
    HttpClient,
    HttpError,
    HttpOptions,
    StatusInBody,
)
from tests.providers.local_server import LocalServer, Reply, Seen

CLIENT_ID = "lw-client-4f2a"
CLIENT_SECRET = "cs-9d8c7b6a-secret"


def http_for(server: LocalServer, auth: Auth, **options: Any) -> HttpClient:
    classifier = options.pop("classifier", None)
    return HttpClient(server.url, auth, HttpOptions(**options), classifier=classifier,
                      sleep=lambda s: None)


# --- static credentials -------------------------------------------------------------------


def test_static_headers_are_sent_and_redacted(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(403, {"message": f"key {seen.headers['authorization']} "
                                             f"has no access to {seen.headers['x-domain-id']}"})
    auth = StaticHeaders({"Authorization": "bc-key-123", "x-domain-id": "77"},
                         secret_names=frozenset({"Authorization"}))
    with pytest.raises(HttpError) as caught:
        http_for(server, auth).request("POST", "/users/list", safe=True, json={})
    assert str(caught.value) == "POST /users/list: HTTP 403: key *** has no access to 77"


def test_a_bearer_token(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(400, {"message": f"bad {seen.headers['authorization']}"})
    with pytest.raises(HttpError) as caught:
        http_for(server, BearerToken("aom-token-xyz")).request("GET", "/api/users", safe=True)
    assert server.seen[0].headers["authorization"] == "Bearer aom-token-xyz"
    assert str(caught.value) == "GET /api/users: HTTP 400: bad Bearer ***"


def test_form_field_credentials_join_the_calls_own_fields(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, {"response": 0, "echo": seen.form})
    auth = FormFields({"api-user": "523098", "api-key": "ct-key-secret"},
                      secret_names=frozenset({"api-key"}))
    http = http_for(server, auth, classifier=StatusInBody())
    answer = http.call("POST", "/api", safe=True, form={"api-action": "getuser", "userid": "9"})
    assert answer["echo"] == {"api-action": "getuser", "userid": "9", "api-user": "523098",
                              "api-key": "ct-key-secret"}
    assert server.seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
    http.call("POST", "/api", safe=True)  # no body of its own: a form of the credentials
    assert server.seen[1].form == {"api-user": "523098", "api-key": "ct-key-secret"}
    with pytest.raises(LmsformError, match="form fields"):
        http.call("POST", "/api", safe=True, json={"x": 1})
    assert server.count() == 2


def test_form_field_credentials_are_redacted_from_errors_inside_a_200(
        server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, {
        "response": 2, "response_description": f"Invalid API key {seen.form['api-key']}"})
    auth = FormFields({"api-user": "1", "api-key": "ct-key-secret"},
                      secret_names=frozenset({"api-key"}))
    with pytest.raises(HttpError) as caught:
        http_for(server, auth, classifier=StatusInBody()).call(
            "POST", "/api", safe=True, form={"api-action": "adduser"})
    assert str(caught.value) == "POST /api: Invalid API key ***"


def test_query_parameter_credentials(server: LocalServer,
                                     caplog: pytest.LogCaptureFixture) -> None:
    server.answer = lambda seen: Reply(200, [])
    auth = QueryParams({"token": "q-secret"}, secret_names=frozenset({"token"}))
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="lmsform"):
        http_for(server, auth).request("GET", "/x", safe=True, params={"page": 1})
    assert server.seen[0].query == {"page": "1", "token": "q-secret"}
    assert "q-secret" not in caplog.text and "GET /x: 200" in caplog.text
    assert "page=1&token=*** " in caplog.text  # httpx's own log of the URL, redacted


# --- OAuth2 client credentials ------------------------------------------------------------


class School:
    """A LearnWorlds-like server: tokens from /oauth2/access_token, API calls need one."""

    def __init__(self, expires_in: int = 8000) -> None:
        self.expires_in = expires_in
        self.lock = threading.Lock()
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.token_requests: list[Seen] = []
        self.on_invalid: Callable[[Seen], None] = lambda seen: None

    def answer(self, seen: Seen) -> Reply:
        if seen.path == "/oauth2/access_token":
            return self.token(seen)
        token = seen.headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            ok = token in self.valid
        if not ok:
            self.on_invalid(seen)
            return Reply(401, {"error": "invalid_token"})
        return Reply(200, {"data": [{"id": "c1"}], "meta": {"totalItems": 1}})

    def token(self, seen: Seen) -> Reply:
        form = seen.form
        with self.lock:
            self.token_requests.append(seen)
            if form.get("client_secret") != CLIENT_SECRET:
                return Reply(401, {"error": f"invalid client secret {form.get('client_secret')}"})
            token = f"tok-{len(self.issued) + 1}-{CLIENT_SECRET[:4]}"
            self.issued.append(token)
            self.valid.add(token)
        return Reply(200, {"access_token": token, "token_type": "Bearer",
                           "expires_in": self.expires_in})

    def expire_all(self) -> None:
        with self.lock:
            self.valid.clear()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def learnworlds(server: LocalServer, school: School, clock: Clock | None = None,
                secret: str = CLIENT_SECRET, **options: Any) -> HttpClient:
    server.answer = school.answer
    auth = OAuth2ClientCredentials(CLIENT_ID, secret, headers={"Lw-Client": CLIENT_ID},
                                   clock=clock or Clock())
    return http_for(server, auth, **options)


def test_one_token_serves_many_calls_from_many_threads(server: LocalServer) -> None:
    school = School()
    http = learnworlds(server, school)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda i: http.call("GET", "/v2/courses", safe=True),
                                range(24)))
    assert all(a["data"] == [{"id": "c1"}] for a in answers)
    (token_request,) = school.token_requests
    assert token_request.method == "POST"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_request.form == {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                  "client_secret": CLIENT_SECRET}
    assert token_request.headers["lw-client"] == CLIENT_ID
    calls = [s for s in server.seen if s.path == "/v2/courses"]
    assert len(calls) == 24
    assert {s.headers["authorization"] for s in calls} == {f"Bearer {school.issued[0]}"}
    assert {s.headers["lw-client"] for s in calls} == {CLIENT_ID}


def test_the_token_is_renewed_shortly_before_it_expires(server: LocalServer) -> None:
    school, clock = School(expires_in=3600), Clock()
    http = learnworlds(server, school, clock)
    start = clock.now
    http.call("GET", "/v2/courses", safe=True)
    clock.now = start + 3600 - TOKEN_RENEWAL_MARGIN_SECONDS - 1
    http.call("GET", "/v2/courses", safe=True)
    assert len(school.token_requests) == 1  # still comfortably valid
    clock.now = start + 3600 - TOKEN_RENEWAL_MARGIN_SECONDS
    http.call("GET", "/v2/courses", safe=True)
    assert len(school.token_requests) == 2  # renewed before it ran out, not after a 401
    assert server.seen[-1].headers["authorization"] == f"Bearer {school.issued[1]}"
    assert server.count(path="/v2/courses") == 3  # and never refused


def test_a_short_lived_token_is_renewed_at_half_its_life(server: LocalServer) -> None:
    school, clock = School(expires_in=60), Clock()
    http = learnworlds(server, school, clock)
    start = clock.now
    http.call("GET", "/v2/courses", safe=True)
    clock.now = start + 29
    http.call("GET", "/v2/courses", safe=True)
    assert len(school.token_requests) == 1
    clock.now = start + 30
    http.call("GET", "/v2/courses", safe=True)
    assert len(school.token_requests) == 2


def test_a_forced_expiry_seen_by_8_threads_at_once_makes_one_token_request(
        server: LocalServer) -> None:
    school = School()
    http = learnworlds(server, school, max_concurrency=8)
    http.call("GET", "/v2/courses", safe=True)
    school.expire_all()  # the server revokes the token before it expires
    together = threading.Barrier(8, timeout=5)
    school.on_invalid = lambda seen: together.wait()  # all 8 are refused at the same moment
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: http.call("GET", "/v2/courses", safe=True),
                                range(8)))
    assert len(answers) == 8
    assert len(school.token_requests) == 2  # the first token, and one renewal for all 8
    refused = [s for s in server.seen if s.headers.get("authorization", "").endswith(
        school.issued[0])]
    assert len(refused) == 1 + 8


def test_a_thread_refused_an_older_token_sends_again_with_the_current_one(
        server: LocalServer) -> None:
    school = School()
    http = learnworlds(server, school)
    auth = http.auth
    first, second = Outgoing("GET", "/a"), Outgoing("GET", "/b")
    auth.sign(first)
    assert auth.refresh(first) is True
    assert len(school.token_requests) == 2
    auth.sign(second)
    assert auth.refresh(first) is True  # `first` carried the old token: nothing to renew
    assert len(school.token_requests) == 2
    assert second.headers["Authorization"] == f"Bearer {school.issued[1]}"


def test_a_401_after_renewing_the_token_is_an_error_not_a_loop(server: LocalServer) -> None:
    school = School()
    http = learnworlds(server, school)
    school.on_invalid = lambda seen: None
    server.answer = lambda seen: (school.token(seen) if seen.path == "/oauth2/access_token"
                                  else Reply(401, {"error": "invalid_token"}))
    with pytest.raises(HttpError) as caught:
        http.call("GET", "/v2/courses", safe=True)
    assert str(caught.value) == ("GET /v2/courses: HTTP 401: invalid_token (refused again "
                                 "after renewing the credentials)")
    # The first token, then one per renewal: MAX_RENEWALS of them, then the error.
    assert len(school.token_requests) == 1 + MAX_RENEWALS
    assert server.count(path="/v2/courses") == 1 + MAX_RENEWALS


def test_the_token_request_goes_through_the_clients_retries(server: LocalServer) -> None:
    school = School()
    answers = iter([Reply(503, {"error": "busy"})])
    sleeps: list[float] = []
    server.answer = lambda seen: (next(answers, None) or school.answer(seen)
                                  if seen.path == "/oauth2/access_token" else school.answer(seen))
    auth = OAuth2ClientCredentials(CLIENT_ID, CLIENT_SECRET, clock=Clock())
    http = HttpClient(server.url, auth, HttpOptions(), sleep=sleeps.append)
    assert http.call("GET", "/v2/courses", safe=True)["data"]
    assert server.count(path="/oauth2/access_token") == 2 and len(sleeps) == 1


def test_the_secret_and_the_token_never_reach_errors_or_logs(
        server: LocalServer, caplog: pytest.LogCaptureFixture) -> None:
    school = School()
    http = learnworlds(server, school, max_retries=1)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="lmsform"):
        http.call("GET", "/v2/courses", safe=True)
        token = school.issued[0]
        server.answer = lambda seen: Reply(500, {"message": f"crash with {token} and "
                                                 f"{CLIENT_SECRET}"})
        with pytest.raises(HttpError) as crashed:
            http.call("GET", "/v2/courses", safe=True)
        denied = learnworlds(server, School(), secret="cs-wrong-secret")
        with pytest.raises(HttpError) as refused:
            denied.call("GET", "/v2/courses", safe=True)
    assert str(crashed.value) == ("GET /v2/courses: HTTP 500: crash with *** and *** "
                                  "(gave up after 2 attempts)")
    assert str(refused.value) == ("POST /oauth2/access_token: HTTP 401: invalid client "
                                  "secret ***")
    for error in (crashed.value, refused.value):
        text = f"{error!s} {error!r} {error.vendor_message} {error.__context__!r}"
        assert token not in text and CLIENT_SECRET not in text and "cs-wrong" not in text
    assert any(r.name == "lmsform.providers.http" for r in caplog.records)
    assert any(r.name == "lmsform.providers.auth" for r in caplog.records)
    for secret in (token, CLIENT_SECRET, "cs-wrong-secret"):
        assert secret not in caplog.text


def test_an_unbound_flow_says_so() -> None:
    with pytest.raises(LmsformError, match="not bound"):
        OAuth2ClientCredentials("id", "secret").sign(Outgoing("GET", "/x"))
