"""AOM LMS calls that carry several users at once, for the users one batch creates.

Apply hands the provider up to `BULK_SIZE` ready user creates at once (`create_many`). What
the new users need once they exist is then sent once per batch, not once per user, with the
two calls of the document that take a list of users:
- `POST course/enroll/{id}` takes `studentIds`, every student to enroll in that course
  ("Enroll Students"): one call per course the batch's users are enrolled in;
- `POST user/quickEdit` takes `user_ids` and `disabled` ("Quick Edit": "updates the details
  in bulk"): one call switches off every user of the batch declared `active: false`.

Each keeps the discipline of the one-user call it stands for. An enrollment is not safe to
send twice blind: after a lost answer the course's students are read, the users found there
landed and are never sent again, and only the others are. The quick edit sets a flag, so
sending it again changes nothing. A call AOM refuses (422: a user or course it no longer
knows, say) names no culprit, so it is made again one user at a time, each refusal then that
user's; any other failure is the failure of every user the call carried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lmsform.errors import LmsformError, ProviderError
from lmsform.providers.records import numeric
from lmsform.providers.urls import segment

if TYPE_CHECKING:
    from lmsform.providers.aomlms.school import AomlmsSchool

# One user's share of a call made for several: how the handler does it for that user alone.
Alone = Callable[[str], None]


def enroll_together(school: AomlmsSchool, course: str, users: list[str],
                    alone: Alone) -> dict[str, LmsformError]:
    """Enroll these users in a course with one call; user id -> error for those that failed.
    `alone(user)` enrolls one user, for a call AOM refused."""
    if not users:
        return {}

    def landed() -> set[str] | None:
        enrolled = school._enrolled_in(course)
        return {user for user in users if user in enrolled} or None

    try:
        answer = school.http.request("POST", f"/course/enroll/{segment(course)}", safe=False,
                                     json={"studentIds": [numeric(u) for u in users]},
                                     landed=landed)
    except ProviderError as exc:
        return _each_alone(school, users, alone, exc)
    if isinstance(answer, set):  # the answer was lost: what landed is done, the rest is not
        return enroll_together(school, course, [u for u in users if u not in answer], alone)
    return {}


def disable_together(school: AomlmsSchool, users: list[str],
                     alone: Alone) -> dict[str, LmsformError]:
    """Switch these users off with one call; user id -> error for those that failed.
    `alone(user)` switches one user off, for a call AOM refused."""
    if not users:
        return {}
    try:
        school.http.request("POST", "/user/quickEdit", safe=True, json={
            "user_ids": [numeric(u) for u in users], "disabled": True})
    except ProviderError as exc:
        return _each_alone(school, users, alone, exc)
    return {}


def _each_alone(school: AomlmsSchool, users: list[str], alone: Alone,
                refused: ProviderError) -> dict[str, LmsformError]:
    """After a call for several users failed: a refusal (422) is tried again one user at a
    time, so that each refusal is pinned to its user; any other failure is every user's."""
    if refused.status != 422:
        return dict.fromkeys(users, refused)

    def one(user: str) -> LmsformError | None:
        try:
            alone(user)
        except LmsformError as exc:
            return exc
        return None

    return {user: error for user, error in zip(users, school._each(users, one), strict=True)
            if error is not None}
