"""The fixtures every test file may use; the helpers behind them are in tests/support.py."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from lmsform import plugins
from tests.support import Org, Simulators, VirtualClock, use_clock


@pytest.fixture(scope="session", autouse=True)
def _one_certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test talks TLS to a server, yet every httpx client loads the CA bundle it would
    verify one with (about 20 ms, CPU, for each of the thousand clients the suite makes:
    one per provider and per test client). SSL_CERT_FILE, which httpx honours, names a
    bundle of one certificate instead, here and in the processes the tests start."""
    bundle = Path(certifi.where()).read_text(encoding="ascii")
    first = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", bundle,
                      re.DOTALL)
    assert first is not None
    path = tmp_path_factory.mktemp("tls") / "one-certificate.pem"
    path.write_text(first.group(0), encoding="ascii")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(path))
        patch.delenv("SSL_CERT_DIR", raising=False)
        yield


@pytest.fixture(scope="session", autouse=True)
def _entry_points_read_once() -> Iterator[None]:
    """lmsform finds its providers and state backends by entry-point group, reading every
    installed distribution's metadata each time (a few ms; thousands of times in a run).
    Nothing is installed while the tests run: each group is read once. Tests that fake the
    installed plugins replace plugins.entry_points themselves, over this."""
    read = functools.cache(plugins.entry_points)

    def entry_points(*, group: str) -> object:
        return read(group=group)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plugins, "entry_points", entry_points)
        yield


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
