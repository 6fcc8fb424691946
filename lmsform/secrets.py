"""Secrets: every value the config treats as one, and hiding them wherever they would show.

Credentials in the `provider:` and `state:` blocks, write-only fields (passwords) and every
value a manifest takes from the environment are secrets. A manifest may also repeat one
elsewhere, on purpose or not (`description: ${env:ILMS_TRANSACTION_KEY}` in a pull request):
such a field is still reconciled, but every plan, state and log shows it as `(sensitive)`,
and its real value only travels to the LMS, the way write-only fields do.

Text that leaves lmsform (a vendor's error message, which may echo the request; a log line;
an exception) goes through `Secrets.redact`. Masking a short secret wherever its letters
appear would give it away (a one-letter token masks every `e`), so the rule is:
- a secret of at least `MIN_MASKED` characters is replaced by `***` wherever it appears,
  as written, JSON-escaped, URL- or form-encoded, or HTML-escaped;
- a shorter one is never masked: where it appears as a whole word (not inside a longer run
  of letters and digits), in any of those spellings, the whole text is withheld instead,
  and says so.
A value taken from the environment counts in text only from `MIN_MASKED` characters: a
shorter one (a port, a currency, a count) is too short to be a credential lmsform does not
know as one, and withholding every message that names it would hide the errors people need.
The field that took it is secret whatever its length: `(sensitive)` in plans, absent from
state.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, SecretStr

MIN_CONTAINED = 6  # shorter secrets hide a value only when they are the whole of it
MIN_MASKED = 8  # shorter secrets are never masked in text: their text is withheld instead
MASK = "***"
WITHHELD = ("(withheld: it holds a value lmsform keeps secret, too short to mask without "
            "showing it)")


class Secrets:
    """The secret values of one config, and the test whether a value shows one.

    Credentials (few) are looked for inside every value; write-only values (a password per
    user, possibly thousands) only as whole values, which costs one set lookup. A value
    taken from the environment counts from `MIN_MASKED` characters, in text and as a whole
    value, never inside another (a domain would hide every email): the fields that took one
    are known by their place (`Resource.sensitive`) instead."""

    def __init__(self, credentials: Iterable[str], write_only: Iterable[str] = (),
                 from_env: Iterable[str] = ()) -> None:
        credentials = [v for v in credentials if v]
        write_only = frozenset(v for v in write_only if v)
        long_from_env = [v for v in from_env if len(v) >= MIN_MASKED]
        self.values = frozenset((*credentials, *long_from_env, *write_only))
        self._contained = [v for v in credentials if len(v) >= MIN_CONTAINED]
        # looked for in every text `redact` sees (see the module's rule for short ones)
        self._scanned = frozenset((*credentials, *long_from_env))
        self._write_only = write_only

    def redact(self, text: str, present: Iterable[Any] = (), also: Iterable[Any] = ()) -> str:
        """`text` as it may be shown: every credential, and every text in `also` (a token
        fetched since, a resource's secret fields), masked (or the text withheld: the
        module's rule), and so is every write-only value among `present` (the values a
        request carried: looked up, not searched for, so 100k passwords cost nothing)."""
        found = {*self._scanned, *_strings(also)}
        found.update(v for v in _strings(present) if v in self._write_only)
        return redact(text, found)

    def mask(self, text: str, also: Iterable[Any] = ()) -> str:
        """lmsform's own text (an error, a log line), which never quotes a credential but
        may quote a value: every secret long enough is masked, and `also` (the values the
        text may quote: a resource's secret fields) goes by the whole rule. A short
        credential withholds only what comes from outside (`redact`): withheld here, it
        would hide every error that happens to name it (`line 42`)."""
        return redact(redact(text, [s for s in self._scanned if len(s) >= MIN_MASKED]),
                      _strings(also))

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


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret masked, or withheld whole where a short one shows (the
    module's rule)."""
    short = []
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= MIN_MASKED:
            for spelling in _spellings(secret):
                text = text.replace(spelling, MASK)
        else:
            short.append(secret)
    for secret in short:
        for spelling in _spellings(secret):
            if re.search(rf"(?<![^\W_]){re.escape(spelling)}(?![^\W_])", text):
                return WITHHELD
    return text


@functools.lru_cache(maxsize=1024)
def _spellings(secret: str) -> frozenset[str]:
    """How a value may appear in a message that echoes a request: as written, escaped in
    JSON, URL- and form-encoded, HTML-escaped."""
    return frozenset({secret, json.dumps(secret)[1:-1],
                      json.dumps(secret, ensure_ascii=False)[1:-1], quote(secret, safe=""),
                      quote_plus(secret), html.escape(secret)})


def _strings(values: Iterable[Any]) -> Iterator[str]:
    """Every string inside these values (a request's JSON body, form, parameters)."""
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            yield from _strings(value.keys())
            yield from _strings(value.values())
        elif isinstance(value, list | tuple):
            yield from _strings(value)
