"""Every pagination strategy, over a real socket: where the paging parameters go, how pages
are numbered, where the items and the total are, and when pages are fetched concurrently."""

from __future__ import annotations

import json
import math
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from lmsform.errors import ProviderError
from lmsform.providers.auth import Auth
from lmsform.providers.http import Envelope, HttpClient, HttpOptions, json_param
from lmsform.providers.paging import Pages, dig
from tests.providers.local_server import InFlight, LocalServer, Reply, Seen

ITEMS = [{"id": i} for i in range(23)]


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
    flight = InFlight()

    def capped(seen: Seen) -> Reply:
        with flight.one(0.02):
            size = min(int(seen.query["per_page"]), 7)  # the server caps the page size
            start = (int(seen.query["page"]) - 1) * size
            return Reply(200, {"items": items[start:start + size], "total": len(items)})

    server.answer = capped
    pages = Pages(size=10, items="items", total_items="total", objects=False)
    assert list(http_for(server, max_concurrency=3).paginate("/x", pages=pages)) == items
    assert server.count() == math.ceil(50 / 7)
    assert 1 < flight.peak <= 3


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


# --- what a server answers is checked before it is believed --------------------------------


def numbered(seen: Seen) -> tuple[int, int]:
    """(start, size) of a `page`/`per_page` request."""
    size = int(seen.query["per_page"])
    return (int(seen.query["page"]) - 1) * size, size


def test_a_200_without_the_documented_list_is_an_error_not_an_empty_listing(
        server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, {"meta": {"totalItems": 0}})
    with pytest.raises(ProviderError, match=r"^GET /x: page 1 answered 200 without the list "
                                            r"of items expected at 'data'"):
        list(http_for(server).paginate("/x", pages=Pages(items="data")))
    server.answer = lambda seen: Reply(200)  # an empty body where the body is the list
    with pytest.raises(ProviderError, match="without the list of items expected as the payload"):
        list(http_for(server).paginate("/x"))


def test_items_of_the_wrong_type_are_an_error(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, {"data": [{"id": 1}, "2"]})
    with pytest.raises(ProviderError, match=r"^GET /x: item 2 of page 1 is a string, where a "
                                            r"JSON object was expected"):
        list(http_for(server).paginate("/x", pages=Pages(items="data")))
    pages = Pages(items="data", objects=False)  # a listing of any values, declared so
    assert list(http_for(server).paginate("/x", pages=pages)) == [{"id": 1}, "2"]


@pytest.mark.parametrize(("told", "held"), [(30, 23), (15, 20)])
def test_a_total_contradicting_the_items_is_an_error(server: LocalServer, told: int,
                                                     held: int) -> None:
    """Fewer or more items than the total at the end: read again, then an error."""
    server.answer = listing(numbered, lambda chunk, s: Reply(
        200, chunk, {"X-Total-Count": str(told)}), ITEMS[:held])
    with pytest.raises(ProviderError, match=rf"^GET /x: the pages held {held} items where the "
                                            rf"total said {told}, after reading the listing 3"):
        list(http_for(server).paginate("/x", pages=Pages(size=10)))
    assert server.count() == 3 * math.ceil(told / 10)


def test_pages_that_repeat_are_an_error(server: LocalServer) -> None:
    """A server answering the first page for every page, with a total: never a listing of
    the first page three times."""
    server.answer = lambda seen: Reply(200, ITEMS[:10], {"X-Total-Count": "30"})
    with pytest.raises(ProviderError, match=r"^GET /x: page 2 repeats an item already listed"):
        list(http_for(server).paginate("/x", pages=Pages(size=10)))


def test_ids_seen_on_an_earlier_page_are_a_repeat(server: LocalServer) -> None:
    """Pages overlapping by one row (known by its id, whatever else changed) never list it
    twice."""
    def overlapping(seen: Seen) -> Reply:
        start, size = numbered(seen)
        start = max(0, start - 1)  # every page after the first starts one row early
        chunk = [{**item, "read": seen.query["page"]} for item in ITEMS[start:start + size]]
        return Reply(200, chunk, {"X-Total-Count": str(len(ITEMS))})

    server.answer = overlapping
    with pytest.raises(ProviderError, match="page 2 repeats an item already listed"):
        list(http_for(server).paginate("/x", pages=Pages(size=10, id_field="id")))


def test_a_huge_total_is_an_error_at_once_without_allocating(server: LocalServer) -> None:
    server.answer = lambda seen: Reply(200, ITEMS[:10], {"X-Total-Count": str(2 ** 31)})
    http = http_for(server)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ProviderError, match=r"says the listing holds 2,147,483,648 items, "
                                                r"more than lmsform reads"):
            list(http.paginate("/x", pages=Pages(size=10)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    assert peak < 2_000_000 and server.count() == 1
    server.answer = lambda seen: Reply(200, {"data": ITEMS[:10],
                                             "meta": {"totalPages": 2 ** 31}})
    with pytest.raises(ProviderError, match="more than lmsform reads from one listing"):
        list(http.paginate("/x", pages=Pages(size=10, items="data",
                                             total_pages="meta.totalPages")))


def test_pages_are_asked_for_lazily_within_the_bound(server: LocalServer) -> None:
    """A total of 100,000 items in pages of 10: the pages in flight never exceed
    max_concurrency, and a failing page stops the listing there, not after 10,000 pages."""
    flight = InFlight()

    def answer(seen: Seen) -> Reply:
        with flight.one():
            page = int(seen.query["page"])
            chunk = (["not an object"] if page == 20
                     else [{"id": page * 10 + i} for i in range(10)])
            return Reply(200, chunk, {"X-Total-Count": "100000"})

    server.answer = answer
    with pytest.raises(ProviderError, match="item 1 of page 20 is a string"):
        list(http_for(server, max_concurrency=4).paginate("/x", pages=Pages(size=10)))
    assert 1 < flight.peak <= 4
    assert server.count() <= 20 + 4


def test_listing_stops_at_a_page_that_brings_nothing_new(server: LocalServer) -> None:
    """A total of 1,000 pages but nothing after the third: a handful of requests per reading,
    and an error, never a partial listing."""
    server.answer = listing(numbered, lambda chunk, s: Reply(
        200, chunk, {"X-Total-Count": "10000"}))
    with pytest.raises(ProviderError, match="the pages held 23 items where the total said "
                                            "10000"):
        list(http_for(server, max_concurrency=2).paginate("/x", pages=Pages(size=10)))
    assert server.count() <= 3 * (4 + 2)


class Table:
    """Rows a listing pages through while another client changes them: `change(page)` runs
    before a page is answered, on the first reading only (the hook a simulator offers)."""

    def __init__(self, rows: int, newest_first: bool = False) -> None:
        self.rows = [{"id": i} for i in range(rows)]
        self.newest_first = newest_first
        self.next_id = rows
        self.reading = 0
        self.lock = threading.Lock()

    def insert(self, count: int) -> None:
        self.rows += [{"id": self.next_id + i} for i in range(count)]
        self.next_id += count

    def answer(self, change: Callable[[Table, int], None]) -> Callable[[Seen], Reply]:
        def serve(seen: Seen) -> Reply:
            with self.lock:
                page = int(seen.query["page"])
                self.reading += page == 1
                if self.reading == 1:
                    change(self, page)
                ordered = self.rows[::-1] if self.newest_first else self.rows
                start = (page - 1) * 10
                return Reply(200, ordered[start:start + 10],
                             {"X-Total-Count": str(len(self.rows))})
        return serve


def insert_before_page_2(table: Table, page: int) -> None:
    if page == 2:
        table.insert(3)


def delete_the_first_before_page_3(table: Table, page: int) -> None:
    if page == 3:
        del table.rows[0]


@pytest.mark.parametrize("newest_first", [True, False])
def test_rows_created_between_pages_are_neither_skipped_nor_repeated(
        server: LocalServer, newest_first: bool) -> None:
    table = Table(35, newest_first)
    server.answer = table.answer(insert_before_page_2)
    listed = list(http_for(server, max_concurrency=1).paginate("/x", pages=Pages(size=10)))
    assert sorted(r["id"] for r in listed) == list(range(38))  # read again: what is there now


def test_rows_deleted_between_pages_are_not_skipped(server: LocalServer) -> None:
    table = Table(35)
    server.answer = table.answer(delete_the_first_before_page_3)
    listed = list(http_for(server, max_concurrency=1).paginate("/x", pages=Pages(size=10)))
    assert [r["id"] for r in listed] == list(range(1, 35))


def insert_and_delete(table: Table, page: int) -> None:
    if page == 2:
        table.insert(3)
        del table.rows[0]


def test_a_total_that_grew_can_hide_a_deleted_row(server: LocalServer) -> None:
    """Oldest first, three rows created at the end and one deleted from page 1 before page 2:
    the total grew, yet a row of page 2 moved back onto page 1 and would be missed."""
    table = Table(35)
    server.answer = table.answer(insert_and_delete)
    listed = list(http_for(server, max_concurrency=1).paginate("/x", pages=Pages(size=10)))
    assert [r["id"] for r in listed] == list(range(1, 38))


def test_a_listing_that_never_holds_still_is_an_error(server: LocalServer) -> None:
    table = Table(35, newest_first=True)
    serve = table.answer(lambda table, page: None)

    def busy(seen: Seen) -> Reply:
        with table.lock:
            table.insert(1)  # someone creates a row before every page
        return serve(seen)

    server.answer = busy
    with pytest.raises(ProviderError, match=r"^GET /x: (the total went from|page \d repeats)"
                                            r".*after reading the listing 3 times"):
        list(http_for(server).paginate("/x", pages=Pages(size=10)))
