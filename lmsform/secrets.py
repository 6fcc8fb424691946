"""Secrets: every value the config treats as one, and hiding them wherever they would show.

Credentials in the `provider:` and `state:` blocks and write-only fields (passwords) are
secrets. A manifest may also repeat one elsewhere, on purpose or not
(`description: ${env:ILMS_TRANSACTION_KEY}` in a pull request): such a field is still
reconciled, but every plan, state and log shows it as `(sensitive)`, and its real value only
travels to the LMS, the way write-only fields do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, SecretStr

MIN_CONTAINED = 6  # shorter secrets hide a value only when they are the whole of it


class Secrets:
    """The secret values of one config, and the test whether a value shows one.

    Credentials (few) are looked for inside every value; write-only values (a password per
    user, possibly thousands) only as whole values, which costs one set lookup."""

    def __init__(self, credentials: Iterable[str], write_only: Iterable[str] = ()) -> None:
        credentials = list(credentials)
        self.values = frozenset(v for v in (*credentials, *write_only) if v)
        self._contained = [v for v in credentials if len(v) >= MIN_CONTAINED]

    def shows(self, value: Any) -> bool:
        """Whether the value is, or holds anywhere inside it, a secret."""
        if not self.values:
            return False
        if isinstance(value, str):
            return value in self.values or any(s in value for s in self._contained)
        if isinstance(value, dict):
            return any(self.shows(k) or self.shows(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(self.shows(v) for v in value)
        return False


def secret_settings(model: BaseModel) -> Iterator[str]:
    """Every SecretStr value in a settings model, nested models included."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from secret_settings(value)


def signing_key(credentials: Iterable[str]) -> bytes | None:
    """A key only those holding these credentials can make, for signing what lmsform hands
    from one run to another (a saved plan); None when there are none. It shows nothing of
    them: a one-way hash, used as an HMAC key."""
    values = sorted(v for v in credentials if v)
    if not values:
        return None
    digest = hashlib.sha256(b"lmsform signing key\0")
    for value in values:
        digest.update(value.encode() + b"\0")
    return digest.digest()
