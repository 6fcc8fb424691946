"""How the AOM LMS API speaks: Laravel's failures, and its records turned into lmsform's
attributes and back (names, dates, categories, flags, ids)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import httpx

from lmsform.providers.answers import Classifier
from lmsform.providers.aomlms.settings import (
    COUPON,
    DATE_FORMATS,
    DISCOUNTS,
    STATUS,
)
from lmsform.providers.records import pick, record_id


class Laravel(Classifier):
    """Laravel's failures: the message, and for a 422 every field's errors after it. A create
    whose email, slug, code or name is taken answers 422 "The email has already been
    taken."."""

    taken_statuses = (422,)
    taken_words = ("has already been taken",)

    def message(self, response: httpx.Response) -> str:
        text = super().message(response)
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            return text
        if not isinstance(errors, dict) or not errors:
            return text
        details = "; ".join(f"{field}: {' '.join(map(str, problems))}"
                            if isinstance(problems, list) else f"{field}: {problems}"
                            for field, problems in errors.items())
        return f"{text} ({details})" if details not in text else text


def _by_email(records: list[Any], emails: set[str]) -> dict[str, str]:
    return {str(r.get("email")).lower(): _id(r) for r in records
            if isinstance(r, dict) and str(r.get("email", "")).lower() in emails}


def _user_attrs(user: dict[str, Any]) -> dict[str, Any]:
    """A user from the list (snake_case) or the one-user read (camelCase)."""
    attrs = {"email": user.get("email"),
             "first_name": pick(user, "first_name", "firstName") or "",
             "last_name": pick(user, "last_name", "lastName") or ""}
    if user.get("disabled") is not None:
        attrs["active"] = not _flag(user["disabled"])
    return attrs


def _course_attrs(course: dict[str, Any]) -> dict[str, Any]:
    """A course from the list or the one-course read."""
    attrs = {"key": course.get("slug"), "title": course.get("name"),
             "published": str(course.get("status", "")).lower() == STATUS[True],
             "categories": _category_names(course.get("categories"))}
    if "credits" in course:
        attrs["credits"] = course["credits"]
    return attrs


def _category_names(value: Any) -> list[str]:
    """The list gives a course's categories as text ("Sales, Security"); a read may give
    names or {id, name} records."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if isinstance(value, list):
        return [str(v.get("name")) if isinstance(v, dict) else str(v) for v in value
                if not isinstance(v, dict) or v.get("name")]
    return []


def _category_refs(value: Any) -> list[str]:
    """Category ids from a one-course read, for sending the record back."""
    if not isinstance(value, list):
        return []
    return [str(v.get("id")) if isinstance(v, dict) else str(v) for v in value
            if not isinstance(v, dict) or v.get("id") is not None]


def _coupon_body(attrs: dict[str, Any]) -> dict[str, Any]:
    body = COUPON.to_vendor(attrs)
    if attrs.get("discount"):
        body["type"], value = DISCOUNTS.to_vendor(attrs["discount"])
        body["value"] = float(value)
    return body


def _date(value: Any) -> str | None:
    """A date as YYYY-MM-DD, from any of the forms AOM's answers use ("Aug 26, 2020")."""
    if value in (None, "", "Never"):
        return None
    text = str(value).strip()
    for form in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, form).date().isoformat()
        except ValueError:
            continue
    return text[:10]


def _whole(value: Any) -> Any:
    """A count as a number when it is one ("12" -> 12); anything else as it came."""
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return value


def _random_password() -> str:
    """Long, random, and with the character classes password rules usually ask for."""
    return f"Lf1!{secrets.token_urlsafe(24)}"


def _slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "course"


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _id(record: dict[str, Any]) -> str:
    return record_id(record, "AOM LMS")
