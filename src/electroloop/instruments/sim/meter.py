"""Simulated SCPI conductivity meter with temperature probe and compensation (lines end with LF).

Speaks the command set `electroloop.instruments.conductivity_meter` documents: ``*IDN?``,
``*RST``, ``*CLS``, ``*OPC?``, ``SYSTem:ERRor[:NEXT]?``, ``MEASure:CONDuctivity?`` and
``MEASure:TEMPerature?``, ``INITiate[:IMMediate]`` with ``FETCh:CONDuctivity[:RAW]?`` and
``FETCh:TEMPerature?``, and the ``[SENSe:]CONDuctivity`` settings ``CELL``, ``TCOMPensation
[:STATe]``, ``TCOMPensation:COEFficient`` and ``TCOMPensation:REFerence``, in short or long
form and any case (SCPI-1999 Vol. 1 §6.2.1). A rejected command queues its SCPI error
(SCPI-1999 Vol. 2 §21.8: -113 undefined header, -104 data type, -108 parameter not allowed,
-109 missing parameter, -213 init ignored, -222 data out of range, -224 illegal value, -230
data stale) and sends nothing; a full queue keeps its last slot for -350 queue overflow.

Physics: the cell sits in the vial on the bench; the raw reading is the bench's true
conductivity at the bench temperature × (1 + ε), ε ~ N(0, `relative_noise` = 0.5 %), the
accuracy class of laboratory meters (an assumption, not a data sheet), scaled by the ratio of
the configured to the true cell constant (the meter measures conductance G = κ / K_cell and
multiplies by the K it is told). The compensated value applies the linear law exactly to the
probe temperature it reports: κ_ref = κ_raw / (1 + α/100 · (T − T_ref)). When the physics
model refuses the vial the meter queues -222 and answers 9.91E+37 (SCPI NAN).

Faults (`LineServer`): ERROR queues -240 hardware error (a reading answers NAN, other queries
nothing); STUCK_BUSY makes every acquisition hang (``*OPC?`` and ``MEAS?`` never answer);
DRIFT adds ``drift × value`` to conductivity readings. The SCPI parsing helpers here
(`ScpiHeader`, `ErrorQueue`, `parse_parameter`) are shared with the chamber simulator.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from electroloop.errors import SimulationError
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.server import LineServer

__all__ = [
    "ErrorQueue",
    "MeterServer",
    "ScpiHeader",
    "ScpiReject",
    "parse_parameter",
    "parse_switch",
]

NAN = "9.91E+37"  # SCPI-1999 Vol. 1 §7.2.1.5
OVERFLOW = "9.9E+37"


# -- SCPI parsing shared by the SCPI simulators ------------------------------------------


class ScpiReject(Exception):
    """A command the instrument refuses: queue (code, message), send nothing."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code},{message}")
        self.code = code
        self.message = message


class ScpiHeader:
    """One SCPI program header pattern, e.g. ``[SENSe:]CONDuctivity:TCOMPensation[:STATe]``.

    Each node matches its short form (the upper-case letters) or its long form, in any case;
    bracketed nodes may be left out (SCPI-1999 Vol. 1 §6.2.1). A leading ``:`` is optional.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        pieces = []
        for node in re.findall(r"\[?:?[A-Za-z*]+\??\]?", pattern):
            optional = node.startswith("[")
            name = node.strip("[]:?")
            short = "".join(c for c in name if c.isupper() or c == "*")
            alternatives = "|".join(re.escape(f) for f in dict.fromkeys([short, name.upper()]))
            piece = f":(?:{alternatives})"
            pieces.append(f"(?:{piece})?" if optional else piece)
        query = r"\?" if pattern.endswith("?") else ""
        self._regex = re.compile("".join(pieces) + query, re.IGNORECASE)

    def matches(self, header: str) -> bool:
        text = header if header.startswith(":") else ":" + header
        return self._regex.fullmatch(text) is not None


class ErrorQueue:
    """The SCPI error/event queue: FIFO, ``0,"No error"`` when empty (SCPI-1999 Vol. 2 §21.8).

    When full, the newest entry is replaced by -350 queue overflow, as the standard requires.
    """

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._queue: deque[tuple[int, str]] = deque()

    def push(self, code: int, message: str) -> None:
        if len(self._queue) >= self.size:
            self._queue[-1] = (-350, "Queue overflow")
        else:
            self._queue.append((code, message))

    def pop(self) -> str:
        code, message = self._queue.popleft() if self._queue else (0, "No error")
        quoted = message.replace('"', '""')
        return f'{code},"{quoted}"'

    def clear(self) -> None:
        self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)


def parse_parameter(
    text: str, *, low: float, high: float, default: float, integer: bool = False
) -> float:
    """One numeric parameter (NRf, or ``MINimum``/``MAXimum``/``DEFault``) within [low, high].

    Raises `ScpiReject` with -109 (missing), -108 (more than one), -104 (not a number) or -222
    (out of range), as SCPI-1999 Vol. 2 §21.8 assigns them.
    """
    text = text.strip()
    if not text:
        raise ScpiReject(-109, "Missing parameter")
    if "," in text:
        raise ScpiReject(-108, "Parameter not allowed")
    word = text.upper()
    if word in ("MIN", "MINIMUM"):
        return low
    if word in ("MAX", "MAXIMUM"):
        return high
    if word in ("DEF", "DEFAULT"):
        return default
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        raise ScpiReject(-104, "Data type error")
    value = float(text)
    if not low <= value <= high:
        raise ScpiReject(-222, "Data out of range")
    return value


def parse_switch(text: str) -> bool:
    """A boolean parameter ``ON|OFF|1|0`` (SCPI-1999 Vol. 1 §7.3); else -224 / -109."""
    word = text.strip().upper()
    if not word:
        raise ScpiReject(-109, "Missing parameter")
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    raise ScpiReject(-224, "Illegal parameter value")


# -- the meter ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Acquisition:
    done_at: float  # instrument time
    raw: float | None  # S/m at the probe temperature; None: the model refused the vial
    temperature: float  # °C


_Handler = Callable[[str], "str | None"]


def _nr3(value: float) -> str:
    return f"{value:.6E}"


class MeterServer(LineServer):
    """One conductivity meter whose cell sits in the vial on `bench`.

    `cell_constant` is the true constant of the simulated cell (cm⁻¹); the meter starts
    configured with it. An acquisition takes `measurement_time` seconds of `clock` time
    (0 answers at once; a real meter averages about 1 s); `measuring_range` is in mS/cm.
    """

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
        cell_constant: float = 1.0,
        measurement_time: float = 0.0,
        measuring_range: float = 2000.0,
        clock: SimClock | None = None,
        port: int = 0,
    ) -> None:
        self.bench = bench
        self.serial = serial
        self.relative_noise = relative_noise
        self.temperature_noise = temperature_noise
        self.true_cell_constant = cell_constant
        self.measurement_time = measurement_time
        self.measuring_range = measuring_range
        self.clock = clock if clock is not None else SimClock(1.0)
        self.cell_constant = cell_constant  # configured; calibration data, kept over *RST
        self.compensation = False
        self.coefficient = 2.0  # %/K
        self.reference = 25.0  # °C
        self.errors = ErrorQueue()
        self._acquisition: _Acquisition | None = None
        self._state = threading.Lock()
        self._rng = bench.rng("meter")
        cond, tcomp = "[SENSe:]CONDuctivity", "[SENSe:]CONDuctivity:TCOMPensation"
        self._commands: list[tuple[ScpiHeader, _Handler]] = [
            (ScpiHeader(pattern), handler)
            for pattern, handler in [
                ("*IDN?", lambda _: f"Electroloop Sim,CM-100,{self.serial},1.0"),
                ("*RST", self._reset),
                ("*CLS", lambda _: self.errors.clear()),
                ("SYSTem:ERRor[:NEXT]?", lambda _: self.errors.pop()),
                ("INITiate[:IMMediate]", self._initiate),
                ("FETCh:CONDuctivity?", lambda _: self._fetch("COND")),
                ("FETCh:CONDuctivity:RAW?", lambda _: self._fetch("RAW")),
                ("FETCh:TEMPerature?", lambda _: self._fetch("TEMP")),
                (f"{cond}:CELL", self._set_cell),
                (f"{cond}:CELL?", lambda _: _nr3(self.cell_constant)),
                (f"{tcomp}[:STATe]", self._set_compensation),
                (f"{tcomp}[:STATe]?", lambda _: str(int(self.compensation))),
                (f"{tcomp}:COEFficient", self._set_coefficient),
                (f"{tcomp}:COEFficient?", lambda _: _nr3(self.coefficient)),
                (f"{tcomp}:REFerence", self._set_reference),
                (f"{tcomp}:REFerence?", lambda _: _nr3(self.reference)),
            ]
        ]
        self._measure = {
            "COND": ScpiHeader("MEASure:CONDuctivity?"),
            "TEMP": ScpiHeader("MEASure:TEMPerature?"),
        }
        self._opc = ScpiHeader("*OPC?")
        super().__init__(port=port, seed=bench.seed)

    def inject_error(self, code: int, message: str) -> None:
        """Queue an error as if the last command had failed."""
        with self._state:
            self.errors.push(code, message)

    # -- dispatch ------------------------------------------------------------------------

    def answer(self, line: str) -> str | None:
        header, _, parameters = line.strip().partition(" ")
        for what, pattern in self._measure.items():
            if pattern.matches(header):
                return self._measure_now(what, parameters)
        if self._opc.matches(header):
            return self._wait_for_acquisition()
        with self._state:
            for pattern, handler in self._commands:
                if pattern.matches(header):
                    try:
                        if header.endswith("?") and parameters.strip():
                            raise ScpiReject(-108, "Parameter not allowed")
                        return handler(parameters)
                    except ScpiReject as reject:
                        self.errors.push(reject.code, reject.message)
                        return None
            self.errors.push(-113, "Undefined header")
            return None

    def error_answer(self, line: str) -> str | None:
        """A hardware error: queued; a reading answers NAN, other queries and commands nothing."""
        header = line.strip().partition(" ")[0].upper()
        with self._state:
            self.errors.push(-240, "Hardware error;conductivity cell")
            if header.startswith(("SYST", ":SYST")):
                return self.errors.pop()
            if header.startswith(("MEAS", "FETC", ":MEAS", ":FETC")) and header.endswith("?"):
                return NAN
        return None

    # -- acquisitions --------------------------------------------------------------------

    def _acquire(self) -> _Acquisition:
        """Sample the bench now; the data become valid `measurement_time` later."""
        temperature = self.bench.temperature + float(self._rng.normal(0.0, self.temperature_noise))
        try:
            true = self.bench.true_conductivity()  # mS/cm at the bench temperature
        except SimulationError:
            self.errors.push(-222, "Data out of range")
            raw = None
        else:
            noise = float(self._rng.normal(0.0, self.relative_noise))
            reading = true * (1.0 + noise) * self.cell_constant / self.true_cell_constant
            raw = (reading + self.drift * reading) / 10.0  # mS/cm -> S/m
        return _Acquisition(self.clock.now() + self.measurement_time, raw, temperature)

    def _initiate(self, parameters: str) -> None:
        if parameters.strip():
            raise ScpiReject(-108, "Parameter not allowed")
        busy = self._acquisition is not None and self.clock.now() < self._acquisition.done_at
        if busy and not self.stuck_busy:  # a stuck meter takes the INIT and never finishes
            raise ScpiReject(-213, "Init ignored")
        self._acquisition = self._acquire()

    def _wait_for_acquisition(self) -> str | None:
        """``*OPC?``: answers 1 once the acquisition is complete; never while stuck busy."""
        if self.stuck_busy:
            return None
        with self._state:
            done_at = self._acquisition.done_at if self._acquisition else 0.0
        self.clock.sleep(done_at - self.clock.now())
        return "1"

    def _measure_now(self, what: str, parameters: str) -> str | None:
        """``MEAS:<function>?``: a fresh acquisition, waited for, then fetched."""
        if self.stuck_busy:
            return None
        with self._state:
            if parameters.strip():
                self.errors.push(-108, "Parameter not allowed")
                return None
            self._acquisition = self._acquire()
            done_at = self._acquisition.done_at
        self.clock.sleep(done_at - self.clock.now())
        with self._state:
            return self._fetch(what)

    def _fetch(self, what: str) -> str:
        acquisition = self._acquisition
        if acquisition is None or self.clock.now() < acquisition.done_at or self.stuck_busy:
            self.errors.push(-230, "Data corrupt or stale")
            return NAN
        if what == "TEMP":
            return f"{acquisition.temperature:.6E}"
        if acquisition.raw is None:
            return NAN
        value = acquisition.raw
        if what == "COND" and self.compensation:
            factor = 1.0 + self.coefficient / 100.0 * (acquisition.temperature - self.reference)
            if factor <= 0.0:
                self.errors.push(-221, "Settings conflict;compensation factor <= 0")
                return NAN
            value /= factor
        if abs(value) * 10.0 > self.measuring_range:
            return OVERFLOW
        return f"{value:.6E}"

    # -- settings ------------------------------------------------------------------------

    def _reset(self, parameters: str) -> None:
        """``*RST``: compensation back to OFF, 2 %/K, 25 °C; the cell constant is kept."""
        self.compensation, self.coefficient, self.reference = False, 2.0, 25.0
        self._acquisition = None

    def _set_cell(self, parameters: str) -> None:
        self.cell_constant = parse_parameter(
            parameters, low=0.01, high=100.0, default=self.true_cell_constant
        )

    def _set_compensation(self, parameters: str) -> None:
        self.compensation = parse_switch(parameters)

    def _set_coefficient(self, parameters: str) -> None:
        self.coefficient = parse_parameter(parameters, low=0.0, high=10.0, default=2.0)

    def _set_reference(self, parameters: str) -> None:
        self.reference = parse_parameter(parameters, low=15.0, high=30.0, default=25.0)
