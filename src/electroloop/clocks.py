"""The clocks behind `protocols.Clock`, besides the simulators' faster `SimClock`.

One abstraction (`now`, `sleep`) serves drivers polling an instrument, leases that expire, and
a cycling loop waiting between polls, so each can be given the clock that fits: the wall clock
on a bench, a `SimClock` in a dry run, a `SteppedClock` for a replayed transcript or a test.
"""

from __future__ import annotations

import time

__all__ = ["SteppedClock", "WallClock"]


class WallClock:
    """Real time, in seconds since the Unix epoch: what a lease stored in a database compares
    across processes. Polling deadlines use only differences of it."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class SteppedClock:
    """Time that passes only when slept on: a replayed transcript has no instrument behind it,
    so polling loops must not wait on the wall clock; a test moves it by hand the same way."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)
