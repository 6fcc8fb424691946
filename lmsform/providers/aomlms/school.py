"""The AOM LMS school as the handlers reach it: one client with the school's token, the
listings the kinds share, the enrollments by user and by course, and deletes that refuse
some ids. The provider class that names the handlers builds on it, so the handlers can name
it without importing their own provider."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from lmsform.errors import ProviderError
from lmsform.providers.aomlms.api import (
    Laravel,
    _id,
)
from lmsform.providers.aomlms.settings import (
    API_PREFIX,
    NOT_DELETED,
    OLDEST_FIRST,
    PAGES,
    AomlmsSettings,
)
from lmsform.providers.auth import BearerToken
from lmsform.providers.http import HttpClient
from lmsform.providers.records import numeric
from lmsform.providers.toolkit import HttpProvider, gone


class AomlmsSchool(HttpProvider):
    def __init__(self, settings: AomlmsSettings, config_dir: Path,
                 transport: httpx.BaseTransport | None = None) -> None:
        auth = BearerToken(settings.token.get_secret_value())
        http = HttpClient(settings.base_url + API_PREFIX, auth, settings, classifier=Laravel(),
                          transport=transport)
        super().__init__(settings, config_dir, http, PAGES)
        self.settings: AomlmsSettings = settings
        # (course id, user id) -> enrollment id, from every enrollment listing read
        self._enrollments: dict[tuple[str, str], str] = {}
        self._categories_lock = threading.Lock()

    def identity(self) -> str:
        return f"aomlms:{self.settings.base_url}"

    # reading, shared by the kinds

    def _pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """A whole listing, oldest first."""
        return self._listing(path, params={**params, "order_by": OLDEST_FIRST})

    def _listed_id(self, path: str, field: str, value: str, **params: Any) -> str | None:
        """The id of the record of a listing whose `field` is `value` (ignoring case, as
        AOM's uniqueness does): a create's confirmation."""
        return next((_id(r) for r in self._pages(path, **params)
                     if str(r.get(field) or "").lower() == value.lower()), None)

    def _existing(self, path: str, what: str) -> dict[str, Any]:
        """A record an update sends back whole: it must still be there."""
        record = self._record(path)
        if record is None:
            raise ProviderError(f"GET {API_PREFIX}{path}", f"the {what} no longer exists",
                                status=404)
        return record

    def _users(self) -> list[dict[str, Any]]:
        return self._cached("users", lambda: self._pages("/users/tabularlist"))

    def _courses(self) -> list[dict[str, Any]]:
        return self._cached("courses", lambda: self._pages("/courses/tabularlist"))

    def _enrolled_by_user(self) -> dict[str, list[str]]:
        """user id -> course ids. One paged listing per course, or per user when the LMS
        has fewer users than courses: whichever needs fewer requests."""
        courses, users = [_id(c) for c in self._courses()], [_id(u) for u in self._users()]
        if len(courses) <= len(users):
            return self._by_member(courses, self._enrolled_in)
        return {user: list(enrolled) for user, enrolled
                in zip(users, self._each(users, self._courses_of), strict=True)}

    def _enrolled_in(self, course: str) -> dict[str, str]:
        """user id -> enrollment id, for one course."""
        return self._enrollment_ids("/course/enrolled-students", "user_id",
                                    lambda user: (course, user), course_id=course)

    def _courses_of(self, user: str) -> dict[str, str]:
        """course id -> enrollment id, for one user."""
        return self._enrollment_ids("/users/enrolled-courses", "courseId",
                                    lambda course: (course, user), user_id=user)

    def _enrollment_ids(self, path: str, field: str, pair: Callable[[str], tuple[str, str]],
                        **params: Any) -> dict[str, str]:
        """One enrollment listing as `field` -> enrollment id, each remembered under its
        (course, user) `pair` for unenrolling."""
        found = {str(r[field]): str(r["id"]) for r in self._pages(path, **params)
                 if r.get(field) is not None and r.get("id") is not None}
        with self._lock:
            self._enrollments.update({pair(key): e for key, e in found.items()})
        return found

    def _enrollment(self, course: str, user: str) -> str | None:
        """The id of a user's enrollment in a course: as listed, or read again."""
        with self._lock:
            known = self._enrollments.get((course, user))
        return known or self._enrolled_in(course).get(user)

    # deleting

    def _delete(self, path: str, id: str) -> None:
        """The delete calls take a list and answer 200 whatever they did: a refusal is in
        the message, and is this resource's failure with the vendor's reason."""
        answer = self.http.call("POST", path, safe=True, json={"delete_ids": [numeric(id)]},
                                already_done=gone)
        message = str(answer.get("message", "")) if isinstance(answer, dict) else ""
        refused = NOT_DELETED.search(message)
        if refused and int(refused.group(1)) > 0:
            raise ProviderError(f"POST {API_PREFIX}{path}", message, status=200)
