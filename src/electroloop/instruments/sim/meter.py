"""Simulated SCPI conductivity meter with temperature probe (lines end with LF).

Answers ``*IDN?``, ``*RST``, ``*CLS``, ``MEAS:COND?`` (S/m, NR3), ``MEAS:TEMP?`` (°C, NR3) and
``SYST:ERR?`` (SCPI-1999 Vol. 2 §21.8), accepting short and long mnemonic forms in any case.
A rejected command queues ``-113,"Undefined header"`` and sends nothing, as SCPI instruments
do. Readings are the bench's true conductivity × (1 + ε), ε ~ N(0, `relative_noise` = 0.5 %),
the accuracy class of laboratory conductivity meters (an assumption, not a data sheet).
When the physics model refuses the vial, the meter queues ``-222,"Data out of range"`` and
answers 9.91E+37 (SCPI NAN).
"""

from __future__ import annotations

import threading
from collections import deque

from electroloop.errors import SimulationError
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.server import LineServer

__all__ = ["MeterServer"]

_ALIASES = {
    "*IDN?": "*IDN?",
    "*RST": "*RST",
    "*CLS": "*CLS",
    "MEAS:COND?": "COND",
    "MEASURE:CONDUCTIVITY?": "COND",
    "MEAS:TEMP?": "TEMP",
    "MEASURE:TEMPERATURE?": "TEMP",
    "SYST:ERR?": "ERR",
    "SYSTEM:ERROR?": "ERR",
    "SYST:ERR:NEXT?": "ERR",
    "SYSTEM:ERROR:NEXT?": "ERR",
}
_NAN = "9.91E+37"


class MeterServer(LineServer):
    """One conductivity meter whose cell sits in the vial on `bench`."""

    terminator = b"\n"
    reply_terminator = b"\n"
    name = "meter"

    def __init__(
        self,
        bench: SimulatedBench,
        *,
        serial: str = "CM000001",
        relative_noise: float = 0.005,
        temperature_noise: float = 0.05,
        port: int = 0,
    ) -> None:
        self.bench = bench
        self.serial = serial
        self.relative_noise = relative_noise
        self.temperature_noise = temperature_noise
        self._errors: deque[tuple[int, str]] = deque(maxlen=32)
        self._state = threading.Lock()
        self._rng = bench.rng("meter")
        super().__init__(port=port)

    def inject_error(self, code: int, message: str) -> None:
        """Queue an error as if the last command had failed."""
        with self._state:
            self._errors.append((code, message))

    def answer(self, line: str) -> str | None:
        command = _ALIASES.get(line.strip().upper())
        with self._state:
            if command is None:
                self._errors.append((-113, "Undefined header"))
                return None
            if command == "*IDN?":
                return f"Electroloop Sim,CM-100,{self.serial},1.0"
            if command == "*RST":
                return None
            if command == "*CLS":
                self._errors.clear()
                return None
            if command == "ERR":
                code, message = self._errors.popleft() if self._errors else (0, "No error")
                return f'{code},"{message}"'
            if command == "TEMP":
                value = self.bench.temperature + self._rng.normal(0.0, self.temperature_noise)
                return f"{value:.6E}"
            try:
                true = self.bench.true_conductivity()
            except SimulationError:
                self._errors.append((-222, "Data out of range"))
                return _NAN
            reading = true * (1.0 + self._rng.normal(0.0, self.relative_noise))
            return f"{reading / 10.0:.6E}"  # mS/cm -> S/m
