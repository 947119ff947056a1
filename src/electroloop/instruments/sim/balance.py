"""Simulated Mettler-Toledo balance speaking MT-SICS over TCP (lines end with CR LF).

Implements the answers of MT-SICS Reference Manual §2.1.2–2.1.3 and §3 for "@", "I4", "S",
"SI", "T" and "Z"; anything else is answered ``ES`` (syntax error). Readings are the bench's
true load minus zero point and tare, plus Gaussian noise, rounded to the readability
(0.1 mg, a 220 g analytical balance).
"""

from __future__ import annotations

import threading
import time

from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.server import LineServer

__all__ = ["BalanceServer"]


class BalanceServer(LineServer):
    """One balance weighing the vial on `bench`.

    `noise` is the standard deviation of a reading (g); ``S``/``T``/``Z`` wait for the bench to
    settle, at most `stability_timeout` s, then answer ``<ID> I``. `underload` is how far (g)
    below the zero point the gross load may go before ``S -``.
    """

    terminator = b"\r\n"
    reply_terminator = b"\r\n"
    name = "balance"

    def __init__(
        self,
        bench: SimulatedBench,
        *,
        serial: str = "B000000001",
        capacity: float = 220.0,
        readability: float = 0.0001,
        noise: float = 0.0001,
        stability_timeout: float = 0.2,
        underload: float = 1.0,
        port: int = 0,
    ) -> None:
        self.bench = bench
        self.serial = serial
        self.capacity = capacity
        self.readability = readability
        self.noise = noise
        self.stability_timeout = stability_timeout
        self.underload = underload
        self.zero_point = 0.0  # gross load that reads zero, g
        self.tare_weight = 0.0  # g
        self._state = threading.Lock()
        self._rng = bench.rng("balance")
        super().__init__(port=port)

    def answer(self, line: str) -> str | None:
        command = line.strip(" ")
        if command in ("I4", "@"):
            if command == "@":
                with self._state:
                    self.tare_weight = 0.0
            return f'I4 A "{self.serial}"'
        if command == "S":
            return self._weight("S", wait=True)
        if command == "SI":
            return self._weight("S", wait=False)
        if command == "Z":
            return self._zero()
        if command == "T":
            return self._tare()
        return "ES"

    # -- commands ------------------------------------------------------------------------

    def _settled(self) -> bool:
        """Wait for a stable load, at most `stability_timeout`; False if still unstable."""
        delay = self.bench.stable_at() - time.monotonic()
        if delay > self.stability_timeout:
            time.sleep(self.stability_timeout)
            return False
        if delay > 0:
            time.sleep(delay)
        return True

    def _format(self, ident: str, status: str, grams: float) -> str:
        shown = round(grams / self.readability) * self.readability
        return f"{ident} {status} {shown:>10.4f} g"

    def _weight(self, ident: str, *, wait: bool) -> str:
        stable = self._settled() if wait else time.monotonic() >= self.bench.stable_at()
        if wait and not stable:
            return f"{ident} I"
        with self._state:
            gross = self.bench.gross_load() - self.zero_point
            if gross > self.capacity:
                return f"{ident} +"
            if gross < -self.underload:
                return f"{ident} -"
            spread = self.noise if stable else 20 * self.noise
            reading = gross - self.tare_weight + float(self._rng.normal(0.0, spread))
        return self._format(ident, "S" if stable else "D", reading)

    def _zero(self) -> str:
        if not self._settled():
            return "Z I"
        with self._state:
            gross = self.bench.gross_load()
            if gross - self.zero_point > self.capacity:
                return "Z +"
            self.zero_point = gross + float(self._rng.normal(0.0, self.noise))
            self.tare_weight = 0.0
        return "Z A"

    def _tare(self) -> str:
        if not self._settled():
            return "T I"
        with self._state:
            gross = self.bench.gross_load() - self.zero_point
            if gross > self.capacity:
                return "T +"
            if gross < 0.0:
                return "T -"
            self.tare_weight = gross + float(self._rng.normal(0.0, self.noise))
            tare = self.tare_weight
        return self._format("T", "S", tare)
