"""Every pagination strategy, over a real socket: where the paging parameters go, how pages
are numbered, where the items and the total are, and when pages are fetched concurrently."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lmsform.errors import ProviderError
from lmsform.providers.auth import Auth
from lmsform.providers.http import Envelope, HttpClient, HttpOptions, json_param
from lmsform.providers.paging import Pages, dig
from tests.providers.local_server import LocalServer, Reply, Seen

ITEMS = [{"id": i} for i in range(23)]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def http_for(server: LocalServer, **options: Any) -> HttpClient:
    classifier = options.pop("classifier", None)
    return HttpClient(server.url, Auth(), HttpOptions(**options), classifier=classifier,
                      sleep=lambda s: None)


def listing(read: Callable[[Seen], tuple[int, int]], shape: Callable[[list[Any], Seen], Reply],
            items: list[Any] = ITEMS) -> Callable[[Seen], Reply]:
    """A server listing `items`: `read` finds (start, size) in a request, `shape` answers."""

    def answer(seen: Seen) -> Reply:
        start, size = read(seen)
        return shape(items[start:start + size], seen)

    return answer


def bare(chunk: list[Any], seen: Seen) -> Reply:
    return Reply(200, chunk)


def test_query_pages_from_one_with_a_total_header(server: LocalServer) -> None:
    server.answer = listing(
        lambda s: ((int(s.query["page"]) - 1) * 10, int(s.query["per_page"])),
        lambda chunk, s: Reply(200, chunk, {"X-Total-Count": str(len(ITEMS))}))
    assert list(http_for(server).paginate("/users", pages=Pages(size=10))) == ITEMS
    assert sorted(s.query["page"] for s in server.seen) == ["1", "2", "3"]


def test_pages_numbered_from_zero_until_a_short_page(server: LocalServer) -> None:
    server.answer = listing(lambda s: (int(s.query["p"]) * 10, int(s.query["limit"])), bare)
    pages = Pages(size=10, page_param="p", size_param="limit", first_page=0)
    assert list(http_for(server).paginate("/users", pages=pages)) == ITEMS
    assert [s.query["p"] for s in server.seen] == ["0", "1", "2"]


def test_offset_and_limit_with_a_total_in_the_body(server: LocalServer) -> None:
    server.answer = listing(
        lambda s: (int(s.query["offset"]), int(s.query["limit"])),
        lambda chunk, s: Reply(200, {"results": chunk, "total": len(ITEMS)}))
    pages = Pages(size=10, offset_param="offset", size_param="limit", items="results",
                  total_items="total")
    assert list(http_for(server).paginate("/users", pages=pages)) == ITEMS
    assert sorted(int(s.query["offset"]) for s in server.seen) == [0, 10, 20]


def test_offset_and_limit_until_a_short_page(server: LocalServer) -> None:
    server.answer = listing(lambda s: (int(s.query["start"]), int(s.query["count"])), bare)
    pages = Pages(size=10, offset_param="start", size_param="count")
    assert list(http_for(server).paginate("/users", pages=pages)) == ITEMS
    assert [s.query["start"] for s in server.seen] == ["0", "10", "20"]


def test_a_post_listing_pages_in_the_json_body_inside_an_envelope(server: LocalServer) -> None:
    """BrainCert: POST /users/list with page and limit in the JSON body, {"message", "data"}."""
    failed: list[bool] = []

    def braincert(seen: Seen) -> Reply:
        if not failed:  # the first attempt fails: a listing is safe to send again
            failed.append(True)
            return Reply(500, {"message": "Internal error"})
        body = seen.json
        assert body["status"] == "active"  # the caller's own fields stay in every page
        start = (body["page"] - 1) * body["limit"]
        return Reply(200, {"message": "ok", "data": ITEMS[start:start + body["limit"]]})

    server.answer = braincert
    pages = Pages(size=10, size_param="limit", send_in="json")
    http = http_for(server, classifier=Envelope())
    found = list(http.paginate("/users/list", method="POST", pages=pages,
                               json={"status": "active"}))
    assert found == ITEMS
    assert [s.json["page"] for s in server.seen] == [1, 1, 2, 3]
    assert server.count("POST") == 4


def test_pages_in_a_form_body(server: LocalServer) -> None:
    server.answer = listing(
        lambda s: ((int(s.form["page"]) - 1) * 10, int(s.form["rows"])), bare)
    pages = Pages(size=10, size_param="rows", send_in="form")
    found = list(http_for(server).paginate("/list", method="POST", pages=pages,
                                           form={"api-action": "list"}))
    assert found == ITEMS
    assert all(s.form["api-action"] == "list" for s in server.seen)


def meta_page(chunk: list[Any], seen: Seen) -> Reply:
    """LearnWorlds: {"data": [...], "meta": {"page", "totalItems", "totalPages", ...}}."""
    size = int(seen.query["items_per_page"])
    return Reply(200, {"data": chunk, "meta": {
        "page": int(seen.query["page"]), "totalItems": len(ITEMS),
        "totalPages": math.ceil(len(ITEMS) / size), "itemsPerPage": size}})


@pytest.mark.parametrize("total", [{"total_items": "meta.totalItems"},
                                   {"total_pages": "meta.totalPages"}])
def test_a_total_of_items_or_of_pages_in_a_meta_block(server: LocalServer,
                                                      total: dict[str, str]) -> None:
    server.answer = listing(
        lambda s: ((int(s.query["page"]) - 1) * int(s.query["items_per_page"]),
                   int(s.query["items_per_page"])), meta_page)
    pages = Pages(size=5, size_param="items_per_page", items="data", **total)
    assert list(http_for(server).paginate("/v2/users", pages=pages)) == ITEMS
    assert server.count() == math.ceil(len(ITEMS) / 5)


def test_records_total_with_json_encoded_query_parameters(server: LocalServer) -> None:
    """AOM LMS: page_size/page_number, order_by and search_param as JSON in the query."""
    server.answer = listing(
        lambda s: ((int(s.query["page_number"]) - 1) * int(s.query["page_size"]),
                   int(s.query["page_size"])),
        lambda chunk, s: Reply(200, {"recordsTotal": len(ITEMS),
                                     "recordsFiltered": len(ITEMS), "records": chunk}))
    pages = Pages(size=10, page_param="page_number", size_param="page_size", items="records",
                  total_items="recordsTotal")
    order = {"colName": "created_at", "direction": "desc"}
    found = list(http_for(server).paginate(
        "/api/users/tabularlist", pages=pages,
        params={"order_by": json_param(order), "search_param": json_param({"courseName": ""})}))
    assert found == ITEMS
    assert server.count() == 3
    assert all(json.loads(s.query["order_by"]) == order for s in server.seen)


def test_pages_are_counted_by_what_the_first_held_and_fetched_concurrently(
        server: LocalServer) -> None:
    items = list(range(50))
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def capped(seen: Seen) -> Reply:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        size = min(int(seen.query["per_page"]), 7)  # the server caps the page size
        start = (int(seen.query["page"]) - 1) * size
        with lock:
            state["now"] -= 1
        return Reply(200, {"items": items[start:start + size], "total": len(items)})

    server.answer = capped
    pages = Pages(size=10, items="items", total_items="total")
    assert list(http_for(server, max_concurrency=3).paginate("/x", pages=pages)) == items
    assert server.count() == math.ceil(50 / 7)
    assert 1 < state["peak"] <= 3


def test_link_headers_end_the_listing_at_no_next(server: LocalServer) -> None:
    def linked(seen: Seen) -> Reply:
        page = int(seen.query["page"])
        chunk = ITEMS[(page - 1) * 10: page * 10]
        headers = ({"Link": f'<{server.url}/x?page={page + 1}>; rel="next"'}
                   if page * 10 < len(ITEMS) else {"Link": f'<{server.url}/x?page=1>; rel="first"'})
        return Reply(200, chunk, headers)

    server.answer = linked
    assert list(http_for(server).paginate("/x", pages=Pages(size=10))) == ITEMS
    assert server.count() == 3


def test_an_empty_listing_takes_one_request(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, {"data": [], "meta": {"totalItems": 0}})
    pages = Pages(items="data", total_items="meta.totalItems")
    assert list(http_for(server).paginate("/x", pages=pages)) == []
    assert server.count() == 1


def test_a_server_ignoring_the_page_parameter_is_an_error_not_a_loop(
        server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, ITEMS[:10])
    with pytest.raises(ProviderError, match="answered the same page twice"):
        list(http_for(server).paginate("/x", pages=Pages(size=10)))
    assert server.count() == 2


def test_items_that_are_not_a_list_are_an_error(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, {"data": {"id": 1}})
    with pytest.raises(ProviderError, match=r"^GET /x: expected a list of items at 'data'"):
        list(http_for(server).paginate("/x", pages=Pages(items="data")))


def test_dig_follows_dotted_paths() -> None:
    body = {"meta": {"totalItems": 4}, "data": [1]}
    assert dig(body, "meta.totalItems") == 4
    assert dig(body, "meta.missing") is None and dig(body, "data.x") is None
    assert dig(body, "") is body
