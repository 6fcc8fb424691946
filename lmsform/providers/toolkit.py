"""What every provider reached over HTTP needs beyond the HTTP client, written once.

`HttpProvider` owns the provider's `HttpClient` and the vendor's way of paging, and adds what
its kinds' handlers share: whole listings, a per-plan cache of them (several kinds often need
the same ones, and concurrent callers must load each only once), bounded fan-out (fetch
something for each of many items, concurrently, within the client's bound), the inversion of
one member listing per group or course into each user's groups or courses, reads of one record
that may be gone, creates that settle a lost answer or an 'already exists' by reading the
natural key, and link synchronisation (members, enrollments, group courses: one call per added
or removed link, with a read deciding after a lost answer or an 'already there'). Plain
functions cover the rest: `field_rule` and `custom_rule`, a vendor's rules on a text field and
on custom keys for plan-time checks, `new_id`, the id of a resource a create call made, and
`gone`, whether a failed delete found nothing left to delete.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx

from lmsform.errors import ProviderError
from lmsform.providers.answers import Classifier
from lmsform.providers.base import Provider
from lmsform.providers.http import HttpClient, HttpProviderSettings
from lmsform.providers.paging import DEFAULT_PAGES, Pages
from lmsform.providers.records import records
from lmsform.resources import LiveResource
from lmsform.secrets import Secrets

A = TypeVar("A")
B = TypeVar("B")


@dataclass(frozen=True)
class Call:
    """One write, as `HttpProvider._sync` sends it for a link."""

    method: str
    path: str
    json: Any = None
    form: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    safe: bool = False  # True when the vendor makes sending it twice harmless


class HttpProvider(Provider):
    """A provider that talks to its LMS through an `HttpClient`; subclasses build the client
    (base URL, auth flow, classifier) and pass it in, with how the vendor pages (`Pages`)."""

    def __init__(self, settings: HttpProviderSettings, config_dir: Path,
                 http: HttpClient, pages: Pages = DEFAULT_PAGES) -> None:
        super().__init__(settings, config_dir)
        self.http = http
        self.pages = pages
        self._lock = threading.RLock()  # guards the cache and the subclass's own tables
        self._cache: dict[str, Any] = {}
        self._cache_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        self.http.close()

    def use_secrets(self, secrets: Secrets) -> None:
        super().use_secrets(secrets)
        self.http.secrets = secrets

    # reading

    def _listing(self, path: str, *, method: str = "GET",
                 params: Mapping[str, Any] | None = None, json: Any = None,
                 id_field: str | tuple[str, ...] | None = None) -> list[Any]:
        """A whole listing, paged as the vendor pages (`self.pages`), its items known by
        `id_field` where it names another than the vendor's usual."""
        pages = self.pages if id_field is None else replace(self.pages, id_field=id_field)
        return list(self.http.paginate(path, pages=pages, method=method, params=params,
                                       json=json))

    def _record(self, path: str, params: Mapping[str, Any] | None = None
                ) -> dict[str, Any] | None:
        """One record (the first of a list answer), or None when the LMS answers 404 or
        holds none."""
        try:
            found = self.http.call("GET", path, safe=True, params=params)
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise
        if isinstance(found, list):
            found = next(iter(records(found)), None)
        return found if isinstance(found, dict) else None

    def _cached(self, name: str, load: Callable[[], A]) -> A:
        """Load once per provider (a plan): several kinds need the same listings. Callers of
        one name wait for the one load; different names load concurrently."""
        with self._lock:
            lock = self._cache_locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._cache:
                self._cache[name] = load()
            found: A = self._cache[name]
            return found

    def _forget(self, name: str) -> None:
        """Drop a cached listing: the next `_cached` call loads it again."""
        with self._lock:
            self._cache.pop(name, None)

    def _each(self, items: Sequence[A], fetch: Callable[[A], B]) -> list[B]:
        """`fetch` for every item concurrently, within the client's bound; results in order."""
        if not items:
            return []
        workers = min(len(items), self.http.options.max_concurrency)
        if workers == 1:
            return [fetch(item) for item in items]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(fetch, items))

    def _by_member(self, owners: Sequence[str], members_of: Callable[[str], Iterable[str]]
                   ) -> dict[str, list[str]]:
        """member -> the owners listing it (a user's groups, from each group's members), one
        listing per owner, read concurrently."""
        found: dict[str, list[str]] = defaultdict(list)
        for owner, members in zip(owners, self._each(owners, members_of), strict=True):
            for member in members:
                found[member].append(owner)
        return found

    def _read_each(self, ids: Sequence[str], fetch: Callable[[str], A | None],
                   attrs: Callable[[A], dict[str, Any]]) -> list[LiveResource]:
        """`Provider.read` one record a request: those `fetch` finds, concurrently."""
        found = self._each(ids, fetch)
        return [LiveResource(i, attrs(r)) for i, r in zip(ids, found, strict=True)
                if r is not None]

    # writing

    def _create(self, method: str, path: str, *, find: Callable[[], str | None],
                json: Any = None, form: Mapping[str, Any] | None = None,
                params: Mapping[str, Any] | None = None,
                keys: Sequence[str] = ("ID", "id")) -> str:
        """Send a create; the new id. `find()` reads the LMS for what the create makes, by
        its natural key (an email, a code, a name), and returns its id or None. It settles a
        lost answer, and an answer saying that it exists already (the classifier's `taken`):
        what it finds then is adopted, as if created; when it finds nothing, the error
        stands."""
        answer = self.http.request(method, path, safe=False, json=json, form=form,
                                   params=params, landed=find, exists=find)
        return self._new_id(answer, keys)

    def _new_id(self, answer: httpx.Response | str,
                keys: Sequence[str] = ("ID", "id")) -> str:
        """The id a create left behind: read from its answer, or, when its answer was lost,
        the id its `landed` check found (what `HttpClient.request` returns then)."""
        return answer if isinstance(answer, str) else new_id(answer, self.http.classifier, keys)

    def _sync(self, after: Collection[str], before: Collection[str], *,
              add: Callable[[str], Call], remove: Callable[[str], Call],
              present: Callable[[str], bool], already: Collection[int] = (400, 409),
              missing: Collection[int] = (404,)) -> None:
        """Add the links in `after` but not `before` and remove the others, one call each.

        `present(item)` reads whether a link exists now. It decides whenever an answer is in
        doubt: after a lost answer to an add (did it land?), or when a retried add answers
        one of the `already` statuses ('already a member') or a retried removal one of the
        `missing` ones: those count as done only when the read confirms.
        """
        for item in sorted(set(after) - set(before)):
            self._link(add(item), item, present, wanted=True, statuses=already)
        for item in sorted(set(before) - set(after)):
            self._link(remove(item), item, present, wanted=False, statuses=missing)

    def _link(self, call: Call, item: str, present: Callable[[str], bool], *, wanted: bool,
              statuses: Collection[int]) -> None:
        def landed() -> bool | None:
            return True if present(item) == wanted else None

        def already_done(response: httpx.Response) -> bool:
            return response.status_code in statuses and present(item) == wanted

        self.http.request(call.method, call.path, safe=call.safe, json=call.json,
                          form=call.form, params=call.params, landed=landed,
                          already_done=already_done)


def gone(response: httpx.Response) -> bool:
    """A delete's `already_done`: after a lost answer, a 404 is the first attempt's work."""
    return response.status_code == 404


def field_rule(vendor: str, field: str, value: Any, limit: int, restricted: str = "", *,
               label: str | None = None, show_value: bool = True) -> list[tuple[str, str]]:
    """A vendor's rules on one text field: at most `limit` characters, none of `restricted`.
    Returns (field, message) pairs as `Provider.check` does; `show_value=False` for secrets."""
    if value is None:
        return []
    text = str(value)
    prefix = f"{label}: " if label else ""
    problems = []
    if len(text) > limit:
        problems.append((field, f"{prefix}{vendor} allows at most {limit} characters"
                         f" ({len(text)} given)"))
    bad = sorted(set(restricted) & set(text))
    if bad:
        shown = f" in '{text}'" if show_value else ""
        problems.append((field, f"{prefix}{vendor} does not allow the characters "
                         f"{' '.join(bad)}{shown}"))
    return problems


# A custom key's rule: whether a value is right for it, and what is wrong with one that is not.
CustomKey = tuple[Callable[[Any], bool], str]


def custom_rule(vendor: str, kind: str, attrs: Mapping[str, Any],
                keys: Mapping[str, CustomKey], does: str) -> list[tuple[str, str]]:
    """A vendor's custom fields: each key of `custom` must be one of `keys`, its value as
    that key's rule says; `does` says what the provider does with them. (field, message)
    pairs, as `Provider.check` returns."""
    custom = attrs.get("custom")
    if not isinstance(custom, dict):
        return []
    problems = [("custom", f"{vendor} {kind}s have no custom field '{name}'; the provider "
                           f"{does}") for name in sorted(custom.keys() - keys.keys())]
    return problems + [("custom", wrong) for key, (right, wrong) in keys.items()
                       if key in custom and not right(custom[key])]


def new_id(response: httpx.Response, classifier: Classifier | None = None,
           keys: Sequence[str] = ("ID", "id")) -> str:
    """The id of the resource a create call made: the answer's payload when it is the bare
    id, or its `ID`/`id` field; else the last segment of the Location header."""
    try:
        body = (classifier or Classifier()).payload(response)
    except ValueError:
        body = None
    if isinstance(body, dict):
        body = next((body[k] for k in keys if body.get(k) not in (None, "")), None)
    if isinstance(body, int | str) and not isinstance(body, bool) and str(body).strip():
        return str(body).strip()
    location: str = response.headers.get("Location", "").rstrip("/")
    if location:
        return location.rsplit("/", 1)[-1]
    raise ProviderError(_call_of(response),
                        f"the LMS answered {response.status_code} without the new "
                        "resource's id (no id in the body, no Location header)")


def _call_of(response: httpx.Response) -> str:
    try:
        return f"{response.request.method} {response.request.url.path}"
    except RuntimeError:  # a response built by hand, never sent
        return "create"
