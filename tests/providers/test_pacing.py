"""Pacing: a fixed pace where the vendor documents its limit, else the pace the server's 429s
teach (additive increase, multiplicative decrease). Times are a fake clock: no test waits."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from lmsform.providers.auth import StaticHeaders
from lmsform.providers.http import HttpClient, HttpOptions
from lmsform.providers.pacing import BACK_OFF, MIN_RATE, AdaptivePace, RateLimiter
from lmsform_simulators.base import Faults
from lmsform_simulators.ilms import IlmsSimulator
from tests.support import FastClock, Simulators, use_clock


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def send(pace: RateLimiter, clock: Clock, n: int, every: float) -> None:
    for _ in range(n):
        pace.wait()
        pace.succeeded()
        clock.now += every


def test_no_pace_until_the_server_refuses() -> None:
    clock = Clock()
    pace = AdaptivePace(clock, clock.sleep)
    send(pace, clock, 200, 0.001)
    assert pace.rate is None and clock.slept == []


def test_a_429_paces_at_a_little_under_what_the_last_second_saw_once_per_burst() -> None:
    clock = Clock()
    pace = AdaptivePace(clock, clock.sleep)
    send(pace, clock, 40, 0.025)  # 40 requests a second
    for _ in range(8):  # eight requests in flight refused together
        pace.throttled()
    assert pace.rate == pytest.approx(40 * BACK_OFF, rel=0.05)
    clock.slept.clear()
    for _ in range(10):
        pace.wait()
    assert sum(clock.slept) == pytest.approx(9 / pace.rate, rel=0.01)  # spaced at the pace


def test_successes_raise_the_pace_until_it_is_dropped() -> None:
    clock = Clock()
    pace = AdaptivePace(clock, clock.sleep)
    send(pace, clock, 20, 0.05)
    pace.throttled()
    learnt = pace.rate
    assert learnt is not None
    send(pace, clock, 20, 0.0)
    assert pace.rate is not None and pace.rate > learnt  # about 2 requests a second more
    send(pace, clock, 2000, 0.0)
    assert pace.rate is None  # far above what was refused: the server has room again


def test_a_fixed_pace_stays_fixed() -> None:
    clock = Clock()
    pace = RateLimiter(3.0, clock, clock.sleep)
    pace.throttled()
    assert pace.rate == 3.0


def test_a_client_without_a_fixed_pace_learns_the_servers(
        simulators: Simulators, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight threads racing a server's rate limit over real sockets, in real time run 20
    times faster for both (what is learnt depends on how they race). The limit, 100
    requests a second of real time, is one any machine's threads exceed on loopback (at 30
    a fast second, 600 real ones, a loaded machine sometimes never met it); with as many
    retries as a provider may be given, no request runs out of them while the pace is
    learnt, however the threads race."""
    fast = use_clock(monkeypatch, FastClock(20))
    sim = simulators.start(IlmsSimulator(faults=Faults(rate_limit=5)), clock=fast)
    base = sim.base_url
    auth = StaticHeaders({"APILoginID": "sim-login", "TransactionKey": "sim-key",
                          "OrgID": "99999"})
    http = HttpClient(base, auth, HttpOptions(max_concurrency=8, retry_budget_seconds=120,
                                              max_retries=20))
    try:
        assert isinstance(http.limiter, AdaptivePace) and http.limiter.rate is None
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: http.request(
                "GET", "/organizations/99999/regions", safe=True), range(150)))
        assert {a.status_code for a in answers} != {429}  # every request got through
        assert http.counters.retries > 0  # the server did refuse some
        assert http.limiter.rate is not None and http.limiter.rate <= 5 * 2
    finally:
        http.close()
    fixed = HttpClient(base, auth, HttpOptions(requests_per_second=5))
    assert isinstance(fixed.limiter, RateLimiter) and not isinstance(fixed.limiter,
                                                                     AdaptivePace)
    fixed.close()


def test_the_rate_is_measured_over_the_last_second_only() -> None:
    clock = Clock()
    pace = AdaptivePace(clock, clock.sleep)
    send(pace, clock, 20, 0.01)  # 20 requests...
    clock.now += 1.0  # ...whose 429 comes a second later: none of them was in that second
    pace.throttled()
    assert pace.rate == MIN_RATE
