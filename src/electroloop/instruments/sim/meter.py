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
DRIFT adds ``drift × value`` to conductivity readings. The SCPI parsing helpers first written
here (`ScpiHeader`, `ErrorQueue`, `parse_parameter`…) live in `electroloop.instruments.sim.scpi`
and are re-exported.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from electroloop.errors import SimulationError
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.scpi import (
    CommandTable,
    ErrorQueue,
    ScpiHeader,
    ScpiReject,
    parse_parameter,
    parse_switch,
)
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


@dataclass(frozen=True)
class _Acquisition:
    done_at: float  # instrument time
    raw: float | None  # S/m at the probe temperature; None: the model refused the vial
    temperature: float  # °C


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
        self._commands = CommandTable(
            [
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
        )
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
            return self._commands.execute(header, parameters, self.errors)

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
