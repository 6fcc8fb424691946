"""The LearnWorlds school as the handlers reach it: one client with the school's token and
pace, the listings the kinds share, and each group's member list, whichever of its two
documented shapes it has. The provider class that names the handlers builds on it, so the
handlers can name it without importing their own provider."""


from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from lmsform.errors import ProviderError
from lmsform.providers.http import HttpClient
from lmsform.providers.learnworlds.api import LearnworldsErrors, LearnworldsToken, _id
from lmsform.providers.learnworlds.settings import (
    DOCUMENTED_RATE,
    GROUP_MEMBERS_PAGE,
    ITEMS_PER_PAGE,
    PAGES,
    TOKEN_PATH,
    LearnworldsSettings,
)
from lmsform.providers.paging import MAX_LISTED_ITEMS
from lmsform.providers.toolkit import HttpProvider
from lmsform.providers.urls import segment


class LearnworldsSchool(HttpProvider):
    def __init__(self, settings: LearnworldsSettings, config_dir: Path,
                 transport: httpx.BaseTransport | None = None) -> None:
        auth = LearnworldsToken(settings.client_id, settings.client_secret.get_secret_value(),
                                token_path=TOKEN_PATH,
                                headers={"Lw-Client": settings.client_id})
        http = HttpClient(settings.base_url, auth, settings, classifier=LearnworldsErrors(),
                          default_rate=DOCUMENTED_RATE, transport=transport)
        super().__init__(settings, config_dir, http, PAGES)
        self.settings: LearnworldsSettings = settings
        self._promotions_lock = threading.Lock()
        self._promotion_names: dict[str, dict[str, Any]] = {}  # name -> promotion record
        # whether this school answers a group's members as a bare array (None: not yet seen)
        self._bare_member_lists: bool | None = None

    def identity(self) -> str:
        return f"learnworlds:{self.http.base_url}"

    # reading, shared by the kinds

    def _users(self) -> list[dict[str, Any]]:
        return self._cached("users", lambda: self._listing(
            "/v2/users", params={"include_suspended": "true"}))

    def _groups(self) -> list[dict[str, Any]]:
        return self._cached("groups", lambda: self._listing("/v2/user_groups"))

    def _courses(self) -> list[dict[str, Any]]:
        return self._cached("courses", lambda: self._listing("/v2/courses"))

    def _promotions(self) -> list[dict[str, Any]]:
        return self._cached("promotions", lambda: self._listing("/v2/promotions"))

    def _memberships(self) -> dict[str, list[str]]:
        """user id -> group ids: one member listing per group."""
        return self._by_member([_id(g) for g in self._groups()], self._members)

    def _enrollments(self) -> dict[str, list[str]]:
        """user id -> course ids: one paged listing of enrolled users per course."""
        return self._by_member([_id(c) for c in self._courses()], self._enrolled)

    def _enrolled(self, course: str) -> set[str]:
        return {_id(u) for u in self._listing(f"/v2/courses/{segment(course)}/users")}

    def _members(self, group: str) -> set[str]:
        """The ids of a group's members. The description documents the answer both as a
        paged `{"data", "meta"}` block and as a bare array: the first answer of the school
        says which; the paged one is read by the shared pager (its checks included)."""
        path = f"/v2/user_groups/{segment(group)}/users"
        if self._bare_member_lists is False:
            return {_id(u) for u in self._listing(path)}

        def page(number: int) -> Any:
            return self.http.call("GET", path, safe=True,
                                  params={"page": number, "items_per_page": ITEMS_PER_PAGE})

        first = page(1)
        self._bare_member_lists = isinstance(first, list)
        if isinstance(first, list):
            return self._bare_members(path, first, page)
        return {_id(u) for u in self._listing(path)}

    @staticmethod
    def _bare_members(path: str, first: list[Any], page: Callable[[int], Any]) -> set[str]:
        """A bare array, read page by page until a page is short (the documented 20) or
        holds nobody new (a server answers the last page again past the end), and never
        more pages than a listing may hold."""
        members: set[str] = set()
        batch = first
        for number in range(2, MAX_LISTED_ITEMS // GROUP_MEMBERS_PAGE + 2):
            if not all(isinstance(u, dict) for u in batch):
                raise ProviderError(f"GET {path}", "the group's members are not a list of "
                                    "JSON objects")
            ids = {_id(u) for u in batch}
            if not ids or ids <= members:
                return members
            members |= ids
            if len(batch) < GROUP_MEMBERS_PAGE:
                return members
            found = page(number)
            batch = found if isinstance(found, list) else []
        raise ProviderError(f"GET {path}", f"more than {MAX_LISTED_ITEMS:,} group members")
