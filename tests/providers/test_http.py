"""The shared HTTP layer: retries, lost answers, rate and concurrency limits, pages, redaction.

Edge cases use httpx.MockTransport (exact control of each answer); behaviour against a real
server is covered by the iLMS provider tests over sockets.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from lmsform.errors import LmsformError
from lmsform.providers.http import (
    HttpClient,
    HttpError,
    HttpOptions,
    RateLimiter,
    StaticHeaders,
    check_base_url,
)

SECRET = "tk-ABC123-secret"


def client(handler, sleeps: list[float] | None = None, **options) -> HttpClient:
    auth = StaticHeaders({"TransactionKey": SECRET, "OrgID": "1"},
                         secret_names=frozenset({"TransactionKey"}))
    return HttpClient("https://lms.example", auth, HttpOptions(**options),
                      transport=httpx.MockTransport(handler),
                      sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_retries_server_errors_honouring_retry_after() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "2"}),
                    httpx.Response(429, headers={"Retry-After": "1"}),
                    httpx.Response(200, json={"ok": True})])
    sleeps: list[float] = []
    http = client(lambda request: next(answers), sleeps)
    assert http.request("GET", "/x").json() == {"ok": True}
    assert sleeps == [2.0, 1.0]
    assert (http.counters.requests, http.counters.retries) == (3, 2)


def test_backoff_grows_with_jitter_and_gives_up() -> None:
    sleeps: list[float] = []
    http = client(lambda request: httpx.Response(500, json={"Message": "boom"}), sleeps,
                  max_retries=4)
    with pytest.raises(HttpError) as caught:
        http.request("GET", "/users")
    error = caught.value
    assert (error.method, error.path, error.status) == ("GET", "/users", 500)
    assert str(error) == "GET /users: HTTP 500: boom (gave up after 5 attempts)"
    assert len(sleeps) == 4
    assert all(0 <= s <= 0.25 * 2 ** i for i, s in enumerate(sleeps))


def test_the_retry_budget_bounds_the_total_wait() -> None:
    http = client(lambda request: httpx.Response(503, headers={"Retry-After": "100"}), [],
                  retry_budget_seconds=10)
    with pytest.raises(HttpError, match="gave up after 1 attempts"):
        http.request("GET", "/x")


def test_client_errors_are_not_retried_and_carry_the_vendor_message() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"Message": "F001 is required"})

    with pytest.raises(HttpError, match=r"^POST /users: HTTP 400: F001 is required$"):
        client(handler).request("POST", "/users", json={})
    assert len(calls) == 1


def test_a_post_is_not_resent_when_its_answer_was_lost() -> None:
    posts = []

    def handler(request: httpx.Request) -> httpx.Response:
        posts.append(request)
        raise httpx.ReadError("connection dropped")

    http = client(handler)
    with pytest.raises(HttpError, match="ReadError"):
        http.request("POST", "/users", json={})
    assert len(posts) == 1  # without a way to check, never risk a duplicate
    posts.clear()
    assert http.request("POST", "/users", json={}, landed=lambda: "42") == "42"
    assert len(posts) == 1  # the check found the first attempt: nothing sent again


def test_a_post_is_resent_when_the_check_shows_it_did_not_land() -> None:
    answers = iter([httpx.Response(502), httpx.Response(201, json=7)])
    checks = []
    http = client(lambda request: next(answers))
    response = http.request("POST", "/users", json={}, landed=lambda: checks.append(1))
    assert response.json() == 7 and checks == [1]


def test_a_retried_write_answering_already_done_counts_once_confirmed() -> None:
    answers = iter([httpx.Response(500), httpx.Response(404, json={"Message": "not found"})])
    http = client(lambda request: next(answers))
    response = http.request("DELETE", "/users/1", already_done=lambda r: r.status_code == 404)
    assert response.status_code == 404
    # The same 404 on a first attempt is an error: nothing says we deleted it.
    http = client(lambda request: httpx.Response(404, json={"Message": "not found"}))
    with pytest.raises(HttpError, match="HTTP 404"):
        http.request("DELETE", "/users/1", already_done=lambda r: r.status_code == 404)


def test_credentials_are_redacted_from_errors() -> None:
    http = client(lambda request: httpx.Response(
        401, json={"Message": f"bad key {request.headers['TransactionKey']}"}))
    with pytest.raises(HttpError) as caught:
        http.request("GET", "/x")
    assert SECRET not in str(caught.value) and "bad key ***" in str(caught.value)


def test_a_401_asks_the_auth_to_refresh_once() -> None:
    class Refreshing(StaticHeaders):
        refreshed = 0

        def refresh(self) -> bool:
            Refreshing.refreshed += 1
            self.values["Authorization"] = "Bearer new"
            return True

    def handler(request: httpx.Request) -> httpx.Response:
        ok = request.headers.get("Authorization") == "Bearer new"
        return httpx.Response(200 if ok else 401)

    http = HttpClient("https://lms.example", Refreshing({"Authorization": "Bearer old"}),
                      HttpOptions(), transport=httpx.MockTransport(handler))
    assert http.request("GET", "/x").status_code == 200
    assert Refreshing.refreshed == 1


def test_only_https_unless_loopback_or_allowed() -> None:
    assert check_base_url("https://api.example/", False) == "https://api.example"
    assert check_base_url("http://127.0.0.1:8080", False) == "http://127.0.0.1:8080"
    assert check_base_url("http://localhost:1", False)
    with pytest.raises(LmsformError, match="plain HTTP"):
        check_base_url("http://api.example", False)
    assert check_base_url("http://api.example", True)
    with pytest.raises(LmsformError, match="not an http"):
        check_base_url("ftp://api.example", True)


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
    assert list(http.paginate("/x", per_page=10)) == list(range(23))
    assert http.counters.requests == 3


def test_pagination_survives_a_server_capping_the_page_size() -> None:
    http = client(pages(23, "total", cap=5))
    assert list(http.paginate("/x", per_page=10)) == list(range(23))
    assert http.counters.requests == 5


def test_rate_limiter_spaces_requests() -> None:
    limiter = RateLimiter(10)
    waits: list[float] = []
    original = time.sleep
    try:
        time.sleep = waits.append  # type: ignore[assignment]
        for _ in range(5):
            limiter.wait()
    finally:
        time.sleep = original
    # Time stands still while sleeping is mocked: each request is booked 0.1 s after the last.
    assert waits == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=0.02)


def tracking_concurrency(answer):
    """A handler that answers like `answer` after 10 ms, recording the peak in flight."""
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        return answer(request)

    return handler, state


def test_concurrent_requests_stay_within_the_bound() -> None:
    handler, state = tracking_concurrency(lambda request: httpx.Response(200, json=[]))
    http = client(handler, max_concurrency=3)
    threads = [threading.Thread(target=http.request, args=("GET", "/x")) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state["peak"] <= 3 and http.counters.requests == 12


def test_pages_are_fetched_concurrently_once_the_total_is_known() -> None:
    handler, state = tracking_concurrency(pages(100, "total"))
    http = client(handler, max_concurrency=4)
    assert list(http.paginate("/x", per_page=10)) == list(range(100))  # in order
    assert http.counters.requests == 10
    assert 1 < state["peak"] <= 4


def test_a_post_refused_with_429_is_sent_again_without_a_check() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(201, json=3)])
    checks: list[int] = []
    http = client(lambda request: next(answers))
    response = http.request("POST", "/users", json={}, landed=lambda: checks.append(1))
    assert response.json() == 3 and checks == []
