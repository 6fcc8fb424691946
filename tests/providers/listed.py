"""What a provider lists, for the tests that change the LMS while it lists."""

from __future__ import annotations

from collections import Counter

from lmsform.providers.base import Provider


def emails_listed(provider: Provider) -> Counter[str]:
    """How many times each user's email is in one listing of users; the provider closed."""
    try:
        return Counter(user.attrs["email"] for user in provider.list_all("user"))
    finally:
        provider.close()
