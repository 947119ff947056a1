"""The simulators' clock: instrument time runs `speedup` times faster than the wall clock.

A 10-hour cycling test or a 2-minute pump stroke takes as long as the instrument would, in
instrument time, while a dry run takes seconds. Every simulator of one lab shares one clock, so
their timings stay consistent with each other (the balance settles while the pump moves).
"""

from __future__ import annotations

import threading
import time

__all__ = ["SimClock"]


class SimClock:
    """Monotonic instrument time, in seconds since the clock was made."""

    def __init__(self, speedup: float = 1.0) -> None:
        if not speedup > 0:
            raise ValueError(f"speedup is {speedup}; allowed: > 0")
        self.speedup = speedup
        self._start = time.monotonic()
        self._stop = threading.Event()

    def now(self) -> float:
        """Instrument seconds elapsed."""
        return (time.monotonic() - self._start) * self.speedup

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of instrument time (returns early once the clock is stopped)."""
        if seconds > 0:
            self._stop.wait(seconds / self.speedup)

    def stop(self) -> None:
        """Wake every sleeper: the lab is shutting down."""
        self._stop.set()
