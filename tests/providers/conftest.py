"""The fixture the tests of the HTTP layer share: a local server answering as a test says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.providers.local_server import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A LocalServer serving for this test; `server.answer` says how it answers."""
    with LocalServer() as running:
        yield running
