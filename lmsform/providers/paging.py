"""Paged listings, described as data so that each vendor's way is configuration, not code.

Vendors page differently: page and size parameters of any spelling, sent in the query or in a
JSON or form body (BrainCert lists with POST), numbered from 0 or 1, or an offset and a limit;
the total comes from a header (X-Total-Count), from Link or `next` headers, from the body (a
count of items such as `meta.totalItems` or `recordsTotal`, or of pages such as
`meta.totalPages`), or only from a short last page. A `Pages` value says which; one
`paginate` generator reads any of them.

When the first page tells the total, the other pages are fetched concurrently within the
client's bound on concurrent requests. Servers may cap the page size below what was asked, so
pages are counted by what the first page held, not by what was asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

from lmsform.errors import ProviderError

if TYPE_CHECKING:
    from lmsform.providers.http import HttpClient


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
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


class _Reader:
    """One listing: sends page requests and reads the answers."""

    def __init__(self, client: HttpClient, method: str, path: str, pages: Pages,
                 params: Mapping[str, Any] | None, json: Any,
                 form: Mapping[str, Any] | None) -> None:
        self.client, self.method, self.path, self.pages = client, method, path, pages
        self.params, self.json, self.form = params, json, form

    def fetch(self, index: int, offset: int) -> httpx.Response:
        # A listing only reads, whatever its method: it is always safe to send again.
        ask = self.pages.ask(index, offset, self.params, self.json, self.form)
        return self.client.request(self.method, self.path, safe=True, **ask)

    def items(self, response: httpx.Response) -> list[Any]:
        if self.pages.items is None:
            found = self.client.payload(response)
        else:
            found = dig(self.client.payload(response, unwrap=False), self.pages.items)
        if found is None:
            return []
        if not isinstance(found, list):
            where = f"at '{self.pages.items}'" if self.pages.items else "as the payload"
            raise ProviderError(f"{self.method} {self.path}",
                                f"expected a list of items {where}, got {type(found).__name__}")
        return found

    def page_count(self, response: httpx.Response, held: int) -> int | None:
        """How many pages there are, when the first page says; None when it does not."""
        pages = self.pages
        body = (self.client.payload(response, unwrap=False)
                if pages.total_pages or pages.total_items else None)
        if pages.total_pages:
            count = _count(dig(body, pages.total_pages))
            if count is not None:
                return count
        total = _count(dig(body, pages.total_items)) if pages.total_items else None
        if total is None and pages.total_header:
            total = _count(response.headers.get(pages.total_header))
        return None if total is None else math.ceil(total / held)

    def is_last(self, response: httpx.Response, batch: list[Any]) -> bool:
        if not batch:
            return True
        headers = response.headers
        if self.pages.follow_links and ("next" in headers or response.links):
            return "next" not in headers and "next" not in response.links
        return len(batch) < self.pages.size


def paginate(client: HttpClient, path: str, pages: Pages = DEFAULT_PAGES, *,
             method: str = "GET", params: Mapping[str, Any] | None = None, json: Any = None,
             form: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """Every item of a paged listing, in order."""
    reader = _Reader(client, method, path, pages, params, json, form)
    first = reader.fetch(0, 0)
    batch = reader.items(first)
    yield from batch
    if not batch:
        return
    count = reader.page_count(first, len(batch))
    if count is not None:
        held = len(batch)
        rest = range(1, count)
        if rest:
            workers = min(len(rest), client.options.max_concurrency)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for response in pool.map(lambda i: reader.fetch(i, i * held), rest):
                    yield from reader.items(response)
        return
    index, seen, response = 0, len(batch), first
    while not reader.is_last(response, batch):
        index += 1
        response = reader.fetch(index, seen)
        previous, batch = batch, reader.items(response)
        if batch and batch == previous:
            name = pages.offset_param or pages.page_param
            raise ProviderError(f"{method} {path}", "the server answered the same page twice: "
                                f"it does not seem to read the paging parameter '{name}'")
        seen += len(batch)
        yield from batch
