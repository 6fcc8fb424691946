"""Paged listings, described as data so that each vendor's way is configuration, not code, and
checked, because a listing is what a plan believes: what it misses is created again, what it
repeats is matched twice.

Vendors page differently: page and size parameters of any spelling, sent in the query or in a
JSON or form body (BrainCert lists with POST), numbered from 0 or 1, or an offset and a limit;
the total comes from a header (X-Total-Count), from Link or `next` headers, from the body (a
count of items such as `meta.totalItems` or `recordsTotal`, or of pages such as
`meta.totalPages`), or only from a short last page. A `Pages` value says which; one
`paginate` generator reads any of them.

Nothing a server sends is believed unchecked. A page must hold the documented list, of JSON
objects unless the provider says otherwise; a total above `MAX_LISTED_ITEMS` is an error before
anything is asked for, so memory never grows with a number the server sends; pages after the
first are asked for lazily, at most the client's `max_concurrency` at a time, and reading stops
at a page that brings nothing new.

Paging by page number or offset is not a snapshot: a row created or deleted between two pages
moves every row after it, so that one is read twice or not at all. Providers ask for one fixed
order, the oldest first, where the vendor lets them, and the pager detects the rest: every item
is known by its id (or, without one, by its content), and a page repeating an item, a total
that changed between pages, or an end that contradicts the total means the listing moved. Any
change of the total counts, a growing one too: rows created at the end can hide one deleted
before the current page. The listing is then read again from the start, up to
`LISTING_ATTEMPTS` times; a listing that never holds still is an error naming the call and what
was wrong, never a partial listing. What this cannot see: without a count of items, a row
deleted between two pages moves the next onto the page read already, and nothing repeats; a
delete and a create between the same pages keep the total. The planner's safety limits and
the adoption of what "already exists" are what then keep a skipped row from being doubled
(docs/http.md).
"""

from __future__ import annotations

import hashlib
import itertools
import json as jsonlib
import logging
from collections import deque
from collections.abc import Hashable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from lmsform.errors import ProviderError
from lmsform.providers.client import Client

log = logging.getLogger(__name__)

# The most items one listing may hold. Far above any school lmsform manages (the largest
# benchmark is 100,000 users), and low enough that a listing this size still fits in memory:
# a total above it is an error before a second page is asked for, not a plan that allocates
# what the server claims.
MAX_LISTED_ITEMS = 5_000_000
# How many times a listing that moved while it was read (rows created or deleted between its
# pages) is read again from the start before that is an error.
LISTING_ATTEMPTS = 3


@dataclass(frozen=True)
class Pages:
    """How one vendor pages its listings."""

    size: int = 100  # items asked for per page
    # how a page is asked for
    page_param: str = "page"
    size_param: str = "per_page"  # also the limit's name when paging by offset
    first_page: int = 1  # the number of the first page: 0 or 1
    offset_param: str | None = None  # page by offset/limit instead: the offset's name
    send_in: Literal["query", "json", "form"] = "query"  # where the paging parameters go
    # where the answer is
    items: str | None = None  # dotted path to the list in the body; None: the payload itself
    total_items: str | None = None  # dotted path to the count of all items, e.g. "recordsTotal"
    total_pages: str | None = None  # dotted path to the count of pages, e.g. "meta.totalPages"
    total_header: str | None = "X-Total-Count"  # a header giving the count of all items
    follow_links: bool = True  # where the server sends Link or `next` headers, stop at no next
    # what the items are
    objects: bool = True  # every item is a JSON object; False: any JSON value
    # dotted paths to an item's id, the first present wins ("id", or ("id", "user_id")); none:
    # an item is known by its whole content
    id_field: str | tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("Pages.size must be at least 1")
        if self.first_page < 0:
            raise ValueError("Pages.first_page must be 0 or more")

    def ask(self, index: int, offset: int, params: Mapping[str, Any] | None, json: Any,
            form: Mapping[str, Any] | None) -> dict[str, Any]:
        """The request arguments for one page: the `index`th (from 0), at `offset` items."""
        where: dict[str, Any] = ({self.offset_param: offset} if self.offset_param
                                 else {self.page_param: self.first_page + index})
        where[self.size_param] = self.size
        out: dict[str, Any] = {"params": dict(params or {}), "json": json,
                               "form": None if form is None else dict(form)}
        if self.send_in == "query":
            out["params"].update(where)
        elif self.send_in == "json":
            if json is not None and not isinstance(json, Mapping):
                raise TypeError("paging parameters go in a JSON object; json= is not one")
            out["json"] = {**(json or {}), **where}
        else:
            out["form"] = {**(form or {}), **where}
        return out

    def id_paths(self) -> tuple[str, ...]:
        if self.id_field is None:
            return ()
        return (self.id_field,) if isinstance(self.id_field, str) else self.id_field


DEFAULT_PAGES = Pages()


def dig(body: Any, path: str) -> Any:
    """The value at a dotted path ("meta.totalItems") in a JSON body, or None."""
    value = body
    for key in path.split(".") if path else []:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _json_type(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


@dataclass
class _Page:
    """One page as the server answered it."""

    number: int  # from 1, for messages
    items: list[Any]
    total: int | None  # the count of all items this page tells, if any
    pages: int | None  # the count of pages this page tells, if any
    last: bool  # links, headers or a short page say nothing follows


class ListingMoved(Exception):
    """Rows were created or deleted between the pages of a listing: read it again."""


class _Reader:
    """One listing's requests, and what each answer holds, checked."""

    def __init__(self, client: Client, method: str, path: str, pages: Pages,
                 params: Mapping[str, Any] | None, json: Any,
                 form: Mapping[str, Any] | None) -> None:
        self.client, self.method, self.path, self.pages = client, method, path, pages
        self.params, self.json, self.form = params, json, form

    def error(self, message: str) -> ProviderError:
        return ProviderError(f"{self.method} {self.client.redact(self.path)}", message)

    def page(self, index: int, offset: int) -> _Page:
        # A listing only reads, whatever its method: it is always safe to send again.
        ask = self.pages.ask(index, offset, self.params, self.json, self.form)
        response = self.client.request(self.method, self.path, safe=True, **ask)
        items = self.items(response, index + 1)
        total, pages = self.totals(response)
        return _Page(index + 1, items, total, pages, self.is_last(response, items))

    def items(self, response: httpx.Response, number: int) -> list[Any]:
        where = f"at '{self.pages.items}'" if self.pages.items else "as the payload"
        if self.pages.items is None:
            found = self.client.payload(response)
        else:
            found = dig(self.client.payload(response, unwrap=False), self.pages.items)
        if found is None:
            raise self.error(f"page {number} answered {response.status_code} without the list "
                             f"of items expected {where}")
        if not isinstance(found, list):
            raise self.error(f"expected a list of items {where}, got {type(found).__name__}")
        if self.pages.objects:
            for position, item in enumerate(found, 1):
                if not isinstance(item, dict):
                    raise self.error(f"item {position} of page {number} is {_json_type(item)}, "
                                     "where a JSON object was expected")
        return found

    def totals(self, response: httpx.Response) -> tuple[int | None, int | None]:
        """The count of all items and of pages this answer tells, where it tells them."""
        pages = self.pages
        body = (self.client.payload(response, unwrap=False)
                if pages.total_pages or pages.total_items else None)
        page_count = _count(dig(body, pages.total_pages)) if pages.total_pages else None
        total = _count(dig(body, pages.total_items)) if pages.total_items else None
        if total is None and pages.total_header:
            total = _count(response.headers.get(pages.total_header))
        return total, page_count

    def is_last(self, response: httpx.Response, batch: list[Any]) -> bool:
        if not batch:
            return True
        headers = response.headers
        if self.pages.follow_links and ("next" in headers or response.links):
            return "next" not in headers and "next" not in response.links
        return len(batch) < self.pages.size

    def key(self, item: Any, number: int) -> Hashable:
        """What an item is known by: its id where the provider names one, else its content."""
        paths = self.pages.id_paths()
        if not paths:
            text = jsonlib.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
            return hashlib.blake2b(text.encode(), digest_size=16).digest()
        for path in paths:
            value = dig(item, path)
            if value not in (None, ""):
                return str(value)
        raise self.error(f"an item of page {number} has no id ({', '.join(paths)})")


class _Listing:
    """One reading of a whole listing: every item once, and whether it held still."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.items: list[Any] = []
        self.seen: set[Hashable] = set()
        self.first: _Page | None = None

    def read(self) -> list[Any]:
        first = self.first = self.reader.page(0, 0)
        self.take(first)
        if not first.items:
            if first.total or first.pages:
                raise ListingMoved(f"the first page is empty, but the total says "
                                   f"{first.total or first.pages}")
            return self.items
        count = self.page_count(first)
        if count is None:
            self.read_one_by_one(first)
        else:
            self.read_counted(len(first.items), count)
            self.check_end(first, count)
        return self.items

    def page_count(self, first: _Page) -> int | None:
        """How many pages the first page says there are; an error past the sanity limit."""
        held = len(first.items)
        if first.pages is not None:
            claimed = first.pages * held
            count: int | None = first.pages
        elif first.total is not None:
            claimed = first.total
            count = -(-first.total // held)
        else:
            return None
        if claimed > MAX_LISTED_ITEMS:
            raise self.reader.error(
                f"the server says the listing holds {claimed:,} items, more than lmsform "
                f"reads from one listing ({MAX_LISTED_ITEMS:,}): a wrong total, or a listing "
                "that is not the one asked for")
        return count

    def take(self, page: _Page) -> int:
        """Keep the page's items not seen before; how many were new. A repeated one means the
        listing moved (or the server pages wrongly)."""
        new = 0
        for item in page.items:
            key = self.reader.key(item, page.number)
            if key in self.seen:
                raise ListingMoved(f"page {page.number} repeats an item already listed")
            self.seen.add(key)
            self.items.append(item)
            new += 1
        if len(self.items) > MAX_LISTED_ITEMS:
            raise self.reader.error(f"the listing holds more than {MAX_LISTED_ITEMS:,} items, "
                                    "more than lmsform reads from one listing")
        return new

    def check_moved(self, page: _Page) -> None:
        """A total that changed since the first page: rows were created or deleted (a total
        that grew may hide a row deleted before this page, which moved the rest back)."""
        first = self.first
        assert first is not None
        for told, was, what in ((page.total, first.total, "items"),
                                (page.pages, first.pages, "pages")):
            if told is not None and was is not None and told != was:
                raise ListingMoved(f"the total went from {was} to {told} {what} while the "
                                   "pages were read")

    def read_counted(self, held: int, count: int) -> None:
        """Pages 2 to `count`, asked for lazily: never more than the client's bound at a time,
        and none after a page that brings nothing new."""
        width = min(self.reader.client.options.max_concurrency, count - 1)
        if width < 1:
            return
        indexes = iter(range(1, count))
        pool = ThreadPoolExecutor(max_workers=width)
        window: deque[Future[_Page]] = deque()

        def ask(index: int) -> None:
            window.append(pool.submit(self.reader.page, index, index * held))

        try:
            for index in itertools.islice(indexes, width):
                ask(index)
            while window:
                page = window.popleft().result()
                self.check_moved(page)
                if not self.take(page):
                    return  # nothing new: the listing ends here (the end is checked next)
                following = next(indexes, None)
                if following is not None:
                    ask(following)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def check_end(self, first: _Page, count: int) -> None:
        """What the pages held must be what the first page said they would."""
        held, found = len(first.items), len(self.items)
        if first.total is not None:
            if found != first.total:
                raise ListingMoved(f"the pages held {found} items where the total said "
                                   f"{first.total}")
        elif not (count - 1) * held < found <= count * held:
            raise ListingMoved(f"the pages held {found} items, which is not {count} pages of "
                               f"{held}")

    def read_one_by_one(self, first: _Page) -> None:
        """Without a total: page after page until links or a short page say it is the last."""
        previous, offset = first, len(first.items)
        while not previous.last:
            page = self.reader.page(previous.number, offset)
            if page.items and page.items == previous.items:
                name = self.reader.pages.offset_param or self.reader.pages.page_param
                raise self.reader.error(
                    "the server answered the same page twice: it does not seem to read the "
                    f"paging parameter '{name}'")
            if not self.take(page):
                return
            previous, offset = page, offset + len(page.items)


def paginate(client: Client, path: str, pages: Pages = DEFAULT_PAGES, *,
             method: str = "GET", params: Mapping[str, Any] | None = None, json: Any = None,
             form: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """Every item of a paged listing, in order, once: yielded after the whole listing has been
    read and checked (a listing that moved is read again; see the module's docstring)."""
    reader = _Reader(client, method, path, pages, params, json, form)
    for attempt in range(1, LISTING_ATTEMPTS + 1):
        try:
            items = _Listing(reader).read()
        except ListingMoved as moved:
            if attempt == LISTING_ATTEMPTS:
                raise reader.error(f"{moved}, after reading the listing {LISTING_ATTEMPTS} "
                                   "times: rows are being created or deleted meanwhile, or "
                                   "the server's pages contradict themselves") from None
            log.info("%s %s: %s; reading the listing again", method, client.redact(path), moved)
            continue
        yield from items
        return
