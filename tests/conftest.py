"""The fixtures every test file may use; the helpers behind them are in tests/support.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Org, Simulators, VirtualClock, use_clock


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Org:
    monkeypatch.setenv("LMSFORM_NO_CACHE", "1")
    return Org(tmp_path)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """This test's virtual clock, read by every HttpClient (and OAuth2 token) made without a
    clock of its own: their paces, retries and token lifetimes wait no real time."""
    return use_clock(monkeypatch, VirtualClock())


@pytest.fixture
def simulators(clock: VirtualClock) -> Iterator[Simulators]:
    """Simulators served for this test, on its virtual clock (`simulators.start(sim)`), each
    with one HTTP client for the test's own calls (`simulators.http(sim)`); all stopped when
    the test ends."""
    served = Simulators(clock)
    try:
        yield served
    finally:
        served.close()
