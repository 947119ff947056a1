"""Simulated Mettler-Toledo balance speaking MT-SICS over TCP (lines end with CR LF).

Implements the answers of the MT-SICS Reference Manual (weigh-module edition) §2.1.2–2.1.3 and
§3 for "@", "D", "DW", "I1", "I2", "I3", "I4", "S", "SI", "T", "TA", "TAC" and "Z"; any other
command is answered ``ES`` (syntax error), a line holding control characters ``ET``
(transmission error), a parameter the command does not take ``<ID> L`` (logical error).

Readings are the bench's true load minus zero point and tare, scaled by the sensitivity drift
a DRIFT fault adds, plus Gaussian noise, rounded to the readability (0.1 mg: a 220 g
analytical balance), the value right-aligned in 10 characters (§2.1.2.1).

Timing runs on the lab's `SimClock`: after the load changes (a dose arrives, a vial is swapped)
the reading is dynamic for `settle_time` instrument seconds. ``SI`` then answers ``S D``;
``S``, ``T`` and ``Z`` wait for stability, at most `stability_timeout`, then answer ``<ID> I``
as the real balance does. The balance notices a load change (a dose, a vial swap, an edit
made in a test) by comparing the load with the one it last saw.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from decimal import Decimal

from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.server import LineServer

__all__ = ["BalanceServer"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PRESET = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)) (g|mg|kg)")
_UNITS = {"g": 1.0, "mg": 1e-3, "kg": 1e3}
_TEXT = re.compile(r'"([^"]*)"')
_LEVEL_VERSION = "2.20"  # MT-SICS level 0 and 1 version this simulator reports in "I1"


class BalanceServer(LineServer):
    """One balance weighing the vial on `bench`.

    `noise` is the standard deviation of a stable reading (g; dynamic readings scatter 20 times
    more). `settle_time` (instrument s) is how long a reading stays dynamic after the load
    changes: 1.5 s, the typical settling time of a 0.1 mg analytical balance (Mettler-Toledo
    XS204 data sheet); ``S``/``T``/``Z`` wait at most `stability_timeout`
    (instrument s) for stability. `underload` is how far (g) below the zero point the load may
    go before ``S -``. `error_reply` is what a Fault.ERROR answers to a known command.
    """

    terminator = b"\r\n"
    reply_terminator = b"\r\n"
    name = "balance"
    error_reply = "EL"

    def __init__(
        self,
        bench: SimulatedBench,
        *,
        serial: str = "B000000001",
        model: str = "XS204",
        software: str = "2.10 10.28.0.493.142",
        capacity: float = 220.0,
        readability: float = 0.0001,
        noise: float = 0.0001,
        settle_time: float = 1.5,
        stability_timeout: float = 10.0,
        underload: float = 1.0,
        clock: SimClock | None = None,
        port: int = 0,
    ) -> None:
        self.bench = bench
        self.serial = serial
        self.model = model
        self.software = software
        self.capacity = capacity
        self.readability = readability
        self.noise = noise
        self.settle_time = settle_time
        self.stability_timeout = stability_timeout
        self.underload = underload
        self._own_clock = clock is None
        self.clock = SimClock(1.0) if clock is None else clock
        self.zero_point = 0.0  # gross load that reads zero, g
        self.tare_weight = 0.0  # g
        self.display = ""  # text shown by "D"; empty while the weight is shown
        self._decimals = max(0, -int(Decimal(str(readability)).as_tuple().exponent))
        self._state = threading.Lock()
        self._rng = bench.rng("balance")
        self._last_load = bench.gross_load()
        self._unstable_until = 0.0  # clock time
        self._handlers = self._commands()
        super().__init__(port=port, seed=bench.seed)

    def close(self) -> None:
        """Wake a command waiting for stability (on a clock this balance owns), then stop."""
        if self._own_clock:
            self.clock.stop()
        super().close()

    def answer(self, line: str) -> str | None:
        if _CONTROL.search(line):
            return "ET"
        command, _, parameters = line.strip(" ").partition(" ")
        parameters = parameters.strip(" ")
        if command == "TA" and parameters:
            return self._preset_tare(parameters)
        if command == "D":
            return self._show(parameters)
        handler = self._handlers.get(command)
        if handler is None:
            return "ES"
        if parameters:
            return f"{'I4' if command == '@' else command} L"
        return handler()

    def error_answer(self, line: str) -> str | None:
        """A Fault.ERROR: `error_reply` to a command the balance knows, ``ES`` otherwise."""
        command = line.strip(" ").partition(" ")[0]
        return self.error_reply if command in self._handlers or command == "D" else "ES"

    def _commands(self) -> dict[str, Callable[[], str]]:
        """Parameterless commands (§3) and their answers; "D" and "TA <value>" are parsed."""
        return {
            "@": self._reset,
            "I1": lambda: f'I1 A "01" "{_LEVEL_VERSION}" "{_LEVEL_VERSION}" "" ""',
            "I2": lambda: f'I2 A "{self.model} {self.capacity:.{self._decimals}f} g"',
            "I3": lambda: f'I3 A "{self.software}"',
            "I4": lambda: f'I4 A "{self.serial}"',
            "S": lambda: self._weight(wait=True),
            "SI": lambda: self._weight(wait=False),
            "T": self._tare,
            "TA": lambda: self._format("TA", "A", self.tare_weight),
            "TAC": self._clear_tare,
            "Z": self._zero,
            "DW": self._show_weight,
        }

    # -- stability ----------------------------------------------------------------------

    def _stable_at(self) -> float:
        """Clock time from which the reading is stable; notices a changed load."""
        with self._state:
            now = self.clock.now()
            load = self.bench.gross_load()
            if load != self._last_load:
                self._last_load = load
                self._unstable_until = max(self._unstable_until, now + self.settle_time)
            return self._unstable_until

    def _stable_now(self) -> bool:
        return not self.stuck_busy and self._stable_at() <= self.clock.now()

    def _settled(self) -> bool:
        """Wait for a stable load, at most `stability_timeout`; False if still unstable."""
        deadline = self.clock.now() + self.stability_timeout
        while True:
            now = self.clock.now()
            stable_at = deadline + 1.0 if self.stuck_busy else self._stable_at()
            if stable_at <= now:
                return True
            if stable_at > deadline or self._stop.is_set():
                self.clock.sleep(deadline - now)
                return False
            self.clock.sleep(stable_at - now)

    # -- commands ------------------------------------------------------------------------

    def _format(self, ident: str, status: str, grams: float) -> str:
        shown = round(grams / self.readability) * self.readability
        return f"{ident} {status} {shown:>10.{self._decimals}f} g"

    def _measured(self) -> float:
        """Load above the zero point as the (possibly drifting) weighing cell sees it, g."""
        return (self.bench.gross_load() - self.zero_point) * (1.0 + self.drift)

    def _out_of_range(self, ident: str, load: float) -> str | None:
        if load > self.capacity:
            return f"{ident} +"
        if load < -self.underload:
            return f"{ident} -"
        return None

    def _weight(self, *, wait: bool) -> str:
        refused = self._out_of_range("S", self._measured())
        if refused:
            return refused  # over- and underload show at once, stable or not
        stable = self._settled() if wait else self._stable_now()
        if wait and not stable:
            return "S I"
        with self._state:
            spread = self.noise if stable else 20 * self.noise
            reading = self._measured() - self.tare_weight + float(self._rng.normal(0.0, spread))
        return self._format("S", "S" if stable else "D", reading)

    def _zero(self) -> str:
        refused = self._out_of_range("Z", self._measured())
        if refused:
            return refused
        if not self._settled():
            return "Z I"
        with self._state:
            self.zero_point = self.bench.gross_load() + float(self._rng.normal(0.0, self.noise))
            self.tare_weight = 0.0
        return "Z A"

    def _tare(self) -> str:
        refused = self._out_of_range("T", self._measured())
        if refused:
            return refused
        if not self._settled():
            return "T I"
        with self._state:
            self.tare_weight = self._measured() + float(self._rng.normal(0.0, self.noise))
            tare = self.tare_weight
        return self._format("T", "S", tare)

    def _preset_tare(self, parameters: str) -> str:
        """``TA <value> <unit>``: a preset tare within 0..capacity, rounded to readability."""
        match = _PRESET.fullmatch(parameters)
        if match is None:
            return "TA L"
        grams = float(match.group(1)) * _UNITS[match.group(2)]
        if not 0.0 <= grams <= self.capacity:
            return "TA L"
        with self._state:
            self.tare_weight = round(grams / self.readability) * self.readability
            tare = self.tare_weight
        return self._format("TA", "A", tare)

    def _clear_tare(self) -> str:
        with self._state:
            self.tare_weight = 0.0
        return "TAC A"

    def _reset(self) -> str:
        """``@``: the switch-on state without zeroing: tare cleared, weight displayed."""
        with self._state:
            self.tare_weight = 0.0
            self.display = ""
        return f'I4 A "{self.serial}"'

    def _show(self, parameters: str) -> str:
        texts = _TEXT.fullmatch(parameters)
        if texts is None:
            return "D L"
        self.display = texts.group(1)
        return "D A"

    def _show_weight(self) -> str:
        self.display = ""
        return "DW A"
