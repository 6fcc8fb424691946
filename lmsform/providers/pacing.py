"""How fast a provider sends: a fixed pace where the vendor documents its limit, else a pace
learnt from the server.

A fixed client-side guess is wrong both ways: too slow where the server allows more (a guess of
10 requests a second made 100 operations take 31 s against a server answering in 1 ms), too
fast where it allows less. No vendor document here states a limit except LearnWorlds'. So,
unless the provider block (`requests_per_second`) or the vendor's document fixes one, lmsform
sends without a pace until the server answers 429, then paces at what the server allowed
(additive increase, multiplicative decrease, as TCP does): a 429 sets the pace a little under
the rate of the last second and every success raises it a little, until, sending freely for a
while, the pace is dropped altogether. The retries wait out `Retry-After` as before.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# After a 429, pace at this share of the rate the last second saw (multiplicative decrease)...
BACK_OFF = 0.8
# ...raise the pace by this many requests a second, spread over a second of successes
# (additive increase)...
GROW_PER_SECOND = 2.0
# ...and stop pacing once the pace is this far above the rate that was refused.
FREE_ABOVE = 2.0
MIN_RATE = 0.5  # requests a second: the slowest pace ever set
WINDOW = 1.0  # seconds of sent requests the rate is measured over

# Where the HTTP layer reads the time and waits (its pace, its retries, a token's lifetime)
# unless it is given a clock of its own: read when a client is made. A test puts a virtual
# clock here, shared with the simulators, and so checks the waits a pace computes without
# waiting them.
default_clock: Callable[[], float] = time.monotonic
default_sleep: Callable[[float], None] = time.sleep


class RateLimiter:
    """At most `rate` requests a second across threads (a token bucket of one second)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._clock = clock or default_clock
        self._sleep = sleep or default_sleep
        self._next = self._clock()

    def wait(self) -> None:
        with self._lock:
            rate = self.rate
            if not rate:
                return
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / rate
        if slot > now:
            self._sleep(slot - now)

    def throttled(self) -> None:
        """The server answered 429: a fixed pace stays as it is."""

    def succeeded(self) -> None:
        """An answer that was not a 429."""


class AdaptivePace(RateLimiter):
    """No pace until the server refuses (429); then the pace it allowed, learnt as above."""

    def __init__(self, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        super().__init__(None, clock, sleep)
        self._sent: deque[float] = deque()
        self._refused_at: float | None = None  # the rate the last 429 came at
        self._decreased: float | None = None  # when the pace was last lowered

    def wait(self) -> None:
        super().wait()
        with self._lock:
            now = self._clock()
            self._sent.append(now)
            self._forget_sent_before(now - WINDOW)

    def throttled(self) -> None:
        """One decrease per window: the requests in flight together are refused together."""
        with self._lock:
            now = self._clock()
            if self._decreased is not None and now - self._decreased < WINDOW:
                return
            self._decreased = now
            self._forget_sent_before(now - WINDOW)
            seen = len(self._sent) / WINDOW
            current = min(seen, self.rate) if self.rate else seen
            self._refused_at = max(current, MIN_RATE)
            self.rate = max(current * BACK_OFF, MIN_RATE)

    def _forget_sent_before(self, moment: float) -> None:
        """Only the last window's requests measure the rate; the caller holds the lock."""
        while self._sent and self._sent[0] < moment:
            self._sent.popleft()

    def succeeded(self) -> None:
        with self._lock:
            if not self.rate or self._refused_at is None:
                return
            self.rate += GROW_PER_SECOND / self.rate  # about GROW_PER_SECOND a second
            if self.rate > self._refused_at * FREE_ABOVE:
                self.rate = None  # the server has room again: send freely
