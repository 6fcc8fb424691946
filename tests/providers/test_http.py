"""The shared HTTP layer: bodies, safe and unsafe retries, lost answers, classifiers, rate and
concurrency limits, pages, redaction.

Behaviour on the wire is tested over real sockets against `LocalServer`, a tiny server on
127.0.0.1 whose answers come from a Python function (tests/providers/local_server.py);
edge cases that need exact control of a failure use httpx.MockTransport.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from lmsform.errors import LmsformError, ProviderError
from lmsform.providers.auth import Auth, Outgoing, StaticHeaders
from lmsform.providers.http import (
    MAX_RENEWALS,
    Classifier,
    Envelope,
    HttpClient,
    HttpError,
    HttpOptions,
    RateLimiter,
    StatusInBody,
    check_base_url,
)
from lmsform.providers.paging import Pages
from lmsform.secrets import Secrets
from tests.providers.local_server import InFlight, LocalServer, Reply, Seen

SECRET = "tk-ABC123-secret"

def over(server: LocalServer, auth: Auth | None = None, sleeps: list[float] | None = None,
         classifier: Classifier | None = None, **options: Any) -> HttpClient:
    """A client of `server`; sleeping only records how long it would have slept."""
    return HttpClient(server.url, auth or Auth(), HttpOptions(**options), classifier=classifier,
                      sleep=(sleeps.append if sleeps is not None else lambda s: None))


def client(handler: Callable[[httpx.Request], httpx.Response],
           sleeps: list[float] | None = None, **options: Any) -> HttpClient:
    auth = StaticHeaders({"TransactionKey": SECRET, "OrgID": "1"},
                         secret_names=frozenset({"TransactionKey"}))
    return HttpClient("https://lms.example", auth, HttpOptions(**options),
                      transport=httpx.MockTransport(handler),
                      sleep=(sleeps.append if sleeps is not None else lambda s: None))


# --- bodies -------------------------------------------------------------------------------


def test_json_form_and_empty_bodies_and_query_parameters(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, {"ok": True})
    http = over(server)
    http.request("POST", "/json", safe=False, json={"name": "Ada", "tags": [1, 2]})
    http.request("POST", "/form", safe=False, form={"api-action": "add", "n": 3})
    http.request("GET", "/none", safe=True, params={"q": "a b", "page": 2})
    sent_json, sent_form, sent_none = server.seen
    assert sent_json.headers["content-type"] == "application/json"
    assert sent_json.json == {"name": "Ada", "tags": [1, 2]}
    assert sent_form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent_form.form == {"api-action": "add", "n": "3"}
    assert sent_none.body == b"" and "content-type" not in sent_none.headers
    assert sent_none.query == {"q": "a b", "page": "2"}
    with pytest.raises(ValueError, match="not both"):
        http.request("POST", "/x", safe=False, json={}, form={})


# --- retries ------------------------------------------------------------------------------


@pytest.mark.usefixtures("clock")  # the pace learnt from the 429 waits no real time
def test_retries_server_errors_honouring_retry_after() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "2"}),
                    httpx.Response(429, headers={"Retry-After": "1"}),
                    httpx.Response(200, json={"ok": True})])
    sleeps: list[float] = []
    http = client(lambda request: next(answers), sleeps)
    assert http.request("GET", "/x", safe=True).json() == {"ok": True}
    assert sleeps == [2.0, 1.0]
    assert (http.counters.requests, http.counters.retries) == (3, 2)


def test_backoff_grows_with_jitter_and_gives_up() -> None:
    sleeps: list[float] = []
    http = client(lambda request: httpx.Response(500, json={"Message": "boom"}), sleeps,
                  max_retries=4)
    with pytest.raises(HttpError) as caught:
        http.request("GET", "/users", safe=True)
    error = caught.value
    assert (error.method, error.path, error.status) == ("GET", "/users", 500)
    assert str(error) == "GET /users: HTTP 500: boom (gave up after 5 attempts)"
    assert len(sleeps) == 4
    assert all(0 <= s <= 0.25 * 2 ** i for i, s in enumerate(sleeps))


def test_the_retry_budget_bounds_the_total_wait() -> None:
    http = client(lambda request: httpx.Response(503, headers={"Retry-After": "100"}), [],
                  retry_budget_seconds=10)
    with pytest.raises(HttpError, match="gave up after 1 attempts"):
        http.request("GET", "/x", safe=True)


def test_client_errors_are_not_retried_and_carry_the_vendor_message() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"Message": "F001 is required"})

    with pytest.raises(HttpError, match=r"^POST /users: HTTP 400: F001 is required$"):
        client(handler).request("POST", "/users", safe=True, json={})
    assert len(calls) == 1


def test_an_unsafe_post_whose_answer_is_lost_is_not_sent_again(server: LocalServer) -> None:
    created: list[Any] = []

    def act_then_drop(seen: Seen) -> Reply | None:
        created.append(seen.json)  # the server acts, then the answer is lost
        return None

    server.answer = act_then_drop
    http = over(server)
    with pytest.raises(HttpError, match=r"^POST /users: RemoteProtocolError"):
        http.request("POST", "/users", safe=False, json={"email": "a@x"})
    assert len(created) == 1  # without a way to check, never risk a duplicate
    checks: list[int] = []
    assert http.request("POST", "/users", safe=False, json={"email": "b@x"},
                        landed=lambda: checks.append(1) or "42") == "42"
    assert len(created) == 2 and checks == [1]  # the check found it: nothing sent again


def test_a_safe_post_is_sent_again_after_a_lost_answer(server: LocalServer) -> None:
    answers = iter([None, Reply(200, {"data": [1]})])
    server.answer = lambda seen: next(answers)
    http = over(server)
    assert http.request("POST", "/users/list", safe=True, json={}).json() == {"data": [1]}
    assert server.count("POST") == 2


def test_an_unsafe_post_is_resent_when_the_check_shows_it_did_not_land() -> None:
    answers = iter([httpx.Response(502), httpx.Response(201, json=7)])
    checks: list[int] = []
    http = client(lambda request: next(answers))
    response = http.request("POST", "/users", safe=False, json={},
                            landed=lambda: checks.append(1))
    assert isinstance(response, httpx.Response)
    assert response.json() == 7 and checks == [1]


def test_a_post_refused_with_429_is_sent_again_without_a_check() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}),
                    httpx.Response(201, json=3)])
    checks: list[int] = []
    http = client(lambda request: next(answers))
    response = http.request("POST", "/users", safe=False, json={},
                            landed=lambda: checks.append(1))
    assert isinstance(response, httpx.Response)
    assert response.json() == 3 and checks == []


def test_a_post_whose_connection_was_refused_is_sent_again_without_a_check() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            raise httpx.ConnectError("connection refused")  # nothing left this machine
        return httpx.Response(201, json=5)

    http = client(handler)
    assert http.request("POST", "/users", safe=False, json={}).json() == 5
    assert len(sent) == 2


def test_a_host_that_does_not_resolve_is_one_error_naming_it() -> None:
    sleeps: list[float] = []
    http = HttpClient("https://no-such-host.invalid", Auth(), HttpOptions(),
                      sleep=sleeps.append)
    with pytest.raises(HttpError) as raised:
        http.request("GET", "/users", safe=True)
    assert "the host no-such-host.invalid does not resolve" in str(raised.value)
    assert "base_url" in str(raised.value)
    assert sleeps == []  # not retried
    assert http.counters.requests == 1


def test_a_resolver_that_fails_for_a_moment_is_tried_again() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            try:
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            except socket.gaierror as exc:
                raise httpx.ConnectError(str(exc)) from exc
        return httpx.Response(200, json=[])

    assert client(handler).request("GET", "/users", safe=True).json() == []
    assert len(sent) == 2


def test_a_retried_write_answering_already_done_counts_once_confirmed() -> None:
    answers = iter([httpx.Response(500), httpx.Response(404, json={"Message": "not found"})])
    http = client(lambda request: next(answers))
    response = http.request("DELETE", "/users/1", safe=True,
                            already_done=lambda r: r.status_code == 404)
    assert response.status_code == 404
    # The same 404 on a first attempt is an error: nothing says we deleted it.
    http = client(lambda request: httpx.Response(404, json={"Message": "not found"}))
    with pytest.raises(HttpError, match="HTTP 404"):
        http.request("DELETE", "/users/1", safe=True,
                     already_done=lambda r: r.status_code == 404)


# --- classifiers --------------------------------------------------------------------------


def test_an_envelope_is_unwrapped_and_its_error_details_kept(server: LocalServer) -> None:
    def braincert(seen: Seen) -> Reply:
        if seen.json.get("email") == "bad":
            return Reply(400, {"message": "Bad Request",
                               "error": {"code": 400, "details": "email is not valid"}})
        return Reply(200, {"message": "Users listed", "data": [{"id": 1}]})

    server.answer = braincert
    http = over(server, classifier=Envelope())
    assert http.call("POST", "/users/list", safe=True, json={"email": "ok"}) == [{"id": 1}]
    with pytest.raises(HttpError) as caught:
        http.call("POST", "/users/create", safe=False, json={"email": "bad"})
    assert str(caught.value) == "POST /users/create: HTTP 400: Bad Request: email is not valid"


def test_an_error_inside_a_200_is_an_error_like_a_4xx_and_not_retried(
        server: LocalServer) -> None:
    def toolkit(seen: Seen) -> Reply:
        if seen.form.get("api-action") == "getuser":
            return Reply(200, {"response": 0, "userid": "7"})
        return Reply(200, {"response": 4, "response_description": "User does not exist"})

    server.answer = toolkit
    http = over(server, classifier=StatusInBody())
    assert http.call("POST", "/api", safe=True, form={"api-action": "getuser"}) == {
        "response": 0, "userid": "7"}
    with pytest.raises(HttpError) as caught:
        http.call("POST", "/api", safe=True, form={"api-action": "removeuser"})
    error = caught.value
    assert isinstance(error, ProviderError) and error.in_body
    assert str(error) == "POST /api: User does not exist"
    assert "HTTP 200" not in str(error)
    assert server.count() == 2  # safe, and still sent once: the vendor has answered


def test_a_payload_that_is_not_json_is_an_error_naming_the_call(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, text="<html>maintenance</html>")
    with pytest.raises(HttpError, match=r"^GET /x: expected JSON, got: <html>maintenance"):
        over(server).call("GET", "/x", safe=True)


def test_a_redirect_is_an_error_not_an_empty_answer(server: LocalServer) -> None:
    """httpx follows no redirect: a login page or proxy answering 302 must never read as an
    empty LMS. Where it pointed is named without its query (it may carry a token)."""
    server.answer = lambda seen: Reply(302, headers={
        "Location": "https://sso.example.com:8443/login?token=sso-secret&next=/api"})
    http = over(server)
    with pytest.raises(HttpError) as caught:
        http.call("GET", "/users", safe=True)
    error = caught.value
    assert error.status == 302 and not error.in_body
    assert str(error).startswith(
        "GET /users: HTTP 302: redirected to https://sso.example.com:8443/login;")
    assert "sso-secret" not in str(error) and "next=" not in str(error)
    with pytest.raises(HttpError, match=r"^GET /users: HTTP 302: redirected to"):
        list(http.paginate("/users", pages=Pages(size=10)))
    assert server.count() == 2  # neither retried nor followed


def test_a_redirected_write_is_an_error_and_never_sent_again(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(307, headers={"Location": "/maintenance"})
    with pytest.raises(HttpError, match=r"^POST /users: HTTP 307: redirected to /maintenance"):
        over(server).call("POST", "/users", safe=False, json={"email": "a@example.com"},
                          landed=lambda: None)
    assert server.count() == 1


def test_a_redirect_to_a_location_that_is_no_url_is_the_same_error(
        server: LocalServer) -> None:
    """The Location is the server's text: a port out of range must not become an internal
    error."""
    server.answer = lambda seen: Reply(302, headers={"Location": "https://sso.example:99999/"})
    with pytest.raises(HttpError, match=r"^GET /users: HTTP 302: redirected to a Location "
                                        r"that is no URL"):
        over(server).call("GET", "/users", safe=True)


# --- authentication hooks, redaction, logs ------------------------------------------------


def test_credentials_are_redacted_from_errors() -> None:
    http = client(lambda request: httpx.Response(
        401, json={"Message": f"bad key {request.headers['TransactionKey']}"}))
    with pytest.raises(HttpError) as caught:
        http.request("GET", "/x", safe=True)
    assert SECRET not in str(caught.value) and "bad key ***" in str(caught.value)


def test_url_encoded_credentials_are_redacted_too() -> None:
    secret = "p+ss/w rd&1"
    auth = StaticHeaders({"Key": secret}, secret_names=frozenset({"Key"}))
    http = HttpClient("https://lms.example", auth, HttpOptions(),
                      transport=httpx.MockTransport(lambda request: httpx.Response(
                          400, text="bad key=p%2Bss%2Fw+rd%261 or p%2Bss%2Fw%20rd%261")))
    with pytest.raises(HttpError) as caught:
        http.request("GET", "/x", safe=True)
    assert str(caught.value) == "GET /x: HTTP 400: bad key=*** or ***"


class Renewing(StaticHeaders):
    """Static headers whose token a 401 renews."""

    refreshed = 0

    def refresh(self, rejected: Outgoing) -> bool:
        self.refreshed += 1
        self.values["Authorization"] = f"Bearer new-{self.refreshed}"
        return True


def test_a_401_asks_the_auth_to_refresh_once() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        ok = request.headers.get("Authorization") == "Bearer new-1"
        return httpx.Response(200 if ok else 401)

    auth = Renewing({"Authorization": "Bearer old"})
    http = HttpClient("https://lms.example", auth, HttpOptions(),
                      transport=httpx.MockTransport(handler))
    assert http.request("GET", "/x", safe=True).status_code == 200
    assert auth.refreshed == 1


def test_a_401_after_a_refresh_is_an_error_naming_the_call_not_a_loop() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(401, json={"message": "token rejected"})

    auth = Renewing({"Authorization": "Bearer old"})
    http = HttpClient("https://lms.example", auth, HttpOptions(),
                      transport=httpx.MockTransport(handler))
    with pytest.raises(HttpError) as caught:
        http.request("GET", "/courses", safe=True)
    assert str(caught.value) == ("GET /courses: HTTP 401: token rejected (refused again "
                                 "after renewing the credentials)")
    assert len(sent) == 1 + MAX_RENEWALS and auth.refreshed == MAX_RENEWALS


def test_a_401_without_a_way_to_refresh_is_sent_once() -> None:
    sent: list[httpx.Request] = []
    http = client(lambda request: sent.append(request) or httpx.Response(401, text="denied"))
    with pytest.raises(HttpError, match=r"^GET /x: HTTP 401: denied$"):
        http.request("GET", "/x", safe=True)
    assert len(sent) == 1


def test_each_request_is_logged_without_credentials(
        server: LocalServer, caplog: pytest.LogCaptureFixture) -> None:
    server.answer = lambda seen: Reply(200 if seen.path == "/ok" else 500,
                                       {"message": f"echo {seen.headers.get('transactionkey')}"})
    auth = StaticHeaders({"TransactionKey": SECRET}, secret_names=frozenset({"TransactionKey"}))
    http = over(server, auth, max_retries=1)
    with caplog.at_level(logging.INFO, logger="lmsform.providers.http"):
        http.request("GET", "/ok", safe=True, params={"key": SECRET})
        with pytest.raises(HttpError):
            http.request("GET", "/fails", safe=True)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("GET /ok: 200 in ")
    assert any(line.startswith("GET /fails: retrying in ") for line in lines)
    assert all(SECRET not in line for line in lines)


def test_only_https_unless_loopback_or_allowed() -> None:
    assert check_base_url("https://api.example/", False) == "https://api.example"
    assert check_base_url("http://127.0.0.1:8080", False) == "http://127.0.0.1:8080"
    assert check_base_url("http://localhost:1", False)
    with pytest.raises(LmsformError, match="plain HTTP"):
        check_base_url("http://api.example", False)
    assert check_base_url("http://api.example", True)
    with pytest.raises(LmsformError, match="not an http"):
        check_base_url("ftp://api.example", True)


# --- pages as iLMS sends them (more strategies in test_paging) ----------------------------


def pages(total: int, style: str, cap: int | None = None):
    items = list(range(total))

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        size = min(int(request.url.params["per_page"]), cap or 10**6)
        chunk = items[(page - 1) * size: page * size]
        headers = {}
        last = -(-total // size)
        if style == "total":
            headers["X-Total-Count"] = str(total)
        elif style == "link" and page < last:
            headers["Link"] = f'<https://lms.example/x?page={page + 1}>; rel="next"'
        elif style == "headers" and page < last:
            headers["next"] = f"https://lms.example/x?page={page + 1}"
        if style in {"link", "headers"} and page > 1:
            headers["first"] = "https://lms.example/x?page=1"
        return httpx.Response(200, json=chunk, headers=headers)

    return handler


@pytest.mark.parametrize("style", ["total", "link", "headers", "none"])
def test_pagination_styles(style: str) -> None:
    http = client(pages(23, style))
    assert list(http.paginate("/x", pages=Pages(size=10, objects=False))) == list(range(23))
    assert http.counters.requests == 3


def test_pagination_survives_a_server_capping_the_page_size() -> None:
    http = client(pages(23, "total", cap=5))
    assert list(http.paginate("/x", pages=Pages(size=10, objects=False))) == list(range(23))
    assert http.counters.requests == 5


def test_rate_limiter_spaces_requests() -> None:
    waits: list[float] = []
    limiter = RateLimiter(10, sleep=waits.append)
    for _ in range(5):
        limiter.wait()
    # Time stands still while sleeping is mocked: each request is booked 0.1 s after the last.
    assert waits == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=0.02)


def tracking_concurrency(answer):
    """A handler that answers like `answer` after 10 ms, recording the peak in flight."""
    flight = InFlight()

    def handler(request: httpx.Request) -> httpx.Response:
        with flight.one():
            return answer(request)

    return handler, flight


def test_concurrent_requests_stay_within_the_bound() -> None:
    handler, flight = tracking_concurrency(lambda request: httpx.Response(200, json=[]))
    http = client(handler, max_concurrency=3)
    threads = [threading.Thread(target=http.request, args=("GET", "/x"),
                                kwargs={"safe": True}) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert flight.peak <= 3 and http.counters.requests == 12


def test_pages_are_fetched_concurrently_once_the_total_is_known() -> None:
    handler, flight = tracking_concurrency(pages(100, "total"))
    http = client(handler, max_concurrency=4)
    numbers = Pages(size=10, objects=False)
    assert list(http.paginate("/x", pages=numbers)) == list(range(100))  # in order
    assert http.counters.requests == 10
    assert 1 < flight.peak <= 4


@pytest.mark.parametrize("url", ["https://admin:hunter2-pass@lms.example.com/api",
                                 "http://token-hunter2-pass@127.0.0.1:8080"])
def test_a_base_url_with_credentials_is_refused_without_showing_them(url: str) -> None:
    with pytest.raises(LmsformError) as caught:
        check_base_url(url, allow_insecure_http=False)
    assert "base_url holds credentials" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def echo_of(seen: Seen) -> Reply:
    """A vendor that answers a refusal with the request it refused, as some do."""
    return Reply(422, {"message": f"rejected {seen.path}?{seen.body.decode()} "
                                  f"{json.dumps(seen.query)}"})


@pytest.mark.parametrize("body", ["json", "form", "query"])
def test_secrets_never_leave_through_an_echoed_request(server: LocalServer, body: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Whatever the config knows as secret (a value from the environment, a write-only
    password the request carried) is redacted from the vendor's message, however the
    request was encoded, in the error and in the log."""
    from_env, password = "env-Value-Secret-7", "p@ss word+/&=1"
    server.answer = echo_of
    http = over(server, max_retries=1)
    http.secrets = Secrets([from_env], [password, "someone-elses-pw"])
    values = {"email": "ada@example.com", "password": password, "note": from_env}
    send = {"json": {"json": values}, "form": {"form": values},
            "query": {"params": values}}[body]
    with caplog.at_level(logging.INFO, logger="lmsform"), pytest.raises(HttpError) as caught:
        http.request("POST", "/users", safe=False, **send)
    shown = str(caught.value) + "\n".join(r.getMessage() for r in caplog.records)
    assert "ada" in shown  # the message is kept; only the secrets go
    for secret in (from_env, password):
        for spelling in (secret, quote(secret, safe=""), quote_plus(secret)):
            assert spelling not in shown


@pytest.mark.parametrize("url", ["https://lms.example.com/api?token=hunter2-pass",
                                 "https://lms.example.com/api?x=1#key=hunter2-pass",
                                 "https://lms.example.com/api?"])
def test_a_base_url_with_a_query_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(LmsformError) as caught:
        check_base_url(url, allow_insecure_http=False)
    assert "query string or a fragment" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_long_message_is_cut_only_once_it_is_redacted() -> None:
    """A vendor's message is shown up to 500 characters: a secret that straddles the cut
    must not show the half that fits."""
    token = "tok-" + "Q" * 36
    http = client(lambda request: httpx.Response(400, text="x" * 476 + f"Bearer {token} " +
                                                 "y" * 100))
    http.secrets = Secrets([token])
    with pytest.raises(HttpError) as caught:
        http.request("GET", "/x", safe=True)
    assert "QQQQ" not in str(caught.value) and str(caught.value).endswith("[...]")


def test_call_adopts_what_already_exists_without_a_landed_check(server: LocalServer) -> None:
    """`exists` alone is enough: a create answered 409 is adopted once the read finds it."""
    server.answer = lambda seen: Reply(409, {"message": "email already taken"})
    http = over(server)
    assert http.call("POST", "/users", safe=False, json={"email": "a@example.com"},
                     exists=lambda: "42") == "42"
    with pytest.raises(HttpError, match="HTTP 409: email already taken"):
        http.call("POST", "/users", safe=False, json={"email": "a@example.com"},
                  exists=lambda: None)
