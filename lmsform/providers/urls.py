"""The URLs a provider builds: the base URL it is given, checked (HTTPS, no credentials, no
query), and the path segments and query values it puts after it, encoded so that data an
LMS sent can never reshape a path."""

from __future__ import annotations

import json as jsonlib
from typing import Any
from urllib.parse import quote, urlsplit

from lmsform.errors import LmsformError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_base_url(url: str, allow_insecure_http: bool) -> str:
    """HTTPS only, except a simulator on this machine, unless explicitly allowed; never with
    credentials in it, nor a query string or fragment, where one could hide (they would
    reach state, plans and logs as the LMS's identity)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise LmsformError(
            "base_url holds credentials (user:password@host); remove them (the URL is not "
            "shown here) and give them in the provider block's own credential settings"
        )
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise LmsformError(
            "base_url has a query string or a fragment, where a credential (?token=...) "
            "would reach state, plans and logs as the LMS's identity; remove it (the URL is "
            "not shown here) and give credentials in the provider block's own settings"
        )
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise LmsformError(f"base_url '{url}' is not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS \
            and not allow_insecure_http:
        raise LmsformError(
            f"base_url '{url}' is plain HTTP: credentials would travel unencrypted. Use "
            "https://, or set allow_insecure_http: true if you really mean it"
        )
    return url.rstrip("/")


def segment(value: Any) -> str:
    """One segment of a URL path, percent-encoded: a name, an email or an id (which the LMS
    itself sent) is data, and never ends the path, starts a query (`?`, `#`), climbs a level
    (`..`, `/`) or decodes into something else (`%2F`)."""
    return quote(str(value), safe="")


def json_param(value: Any) -> str:
    """A structure as one compact JSON query parameter (AOM LMS's order_by, search_param)."""
    return jsonlib.dumps(value, separators=(",", ":"))
