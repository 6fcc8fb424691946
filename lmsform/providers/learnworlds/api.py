"""How the LearnWorlds API answers, apart from what it answers about: its error bodies, its
token grant and its record ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from lmsform.providers.answers import StatusInBody
from lmsform.providers.auth import OAuth2ClientCredentials
from lmsform.providers.records import record_id


@dataclass
class LearnworldsErrors(StatusInBody):
    """The documented error bodies, `{"errors": [{"code", "context", "message"}], "success":
    false}` or `{"error": "..."}`; a `"success": false` answered with a 200 fails too."""

    field: str = "success"
    ok: tuple[Any, ...] = (True,)
    # a taken email or course id answers 422 "... is already taken by another ...", a coupon
    # code "... is already used by another ..."
    taken_statuses = (422,)
    taken_words = ("already taken", "already used")

    def error(self, response: httpx.Response) -> str | None:
        return None if super().error(response) is None else self.message(response)

    def message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        words = [_error_words(e) for e in errors] if isinstance(errors, list) else []
        if isinstance(errors, dict):
            words = [f"{field}: {_error_words(e)}" for field, e in errors.items()]
        words = [w for w in words if w]
        return "; ".join(words) if words else super().message(response)


def _error_words(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message") or error.get("context") or ""
        return str(message)
    if isinstance(error, list):
        return " ".join(map(str, error))
    return str(error or "")


class LearnworldsToken(OAuth2ClientCredentials):
    """LearnWorlds answers the grant as `{"tokenData": {"access_token", "expires_in"},
    "success": true}`; a bare OAuth2 answer is read too."""

    def read_token(self, body: Any) -> tuple[str, float | None]:
        if isinstance(body, dict) and isinstance(body.get("tokenData"), dict):
            body = body["tokenData"]
        return super().read_token(body)


def _id(record: dict[str, Any]) -> str:
    return record_id(record, "LearnWorlds")
