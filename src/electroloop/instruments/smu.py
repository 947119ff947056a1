"""Keithley 2450 SourceMeter over SCPI, for single-cell constant-current / constant-voltage work.

Source: Keithley "Model 2450 Interactive SourceMeter Instrument Reference Manual", 2450-901-01
(Rev. B, 2015), §6 "SCPI command reference":

- ``*IDN?``, ``*RST`` (§6 "Common commands"; IEEE 488.2 §10.14, §10.32);
- ``:SOURce[1]:FUNCtion[:MODE] {CURRent|VOLTage}`` and its query (§6 SOURce subsystem);
- ``:SOURce[1]:<function>[:LEVel][:IMMediate][:AMPLitude] <n>`` (levels);
- ``:SOURce[1]:<function>:<x>LIMit[:LEVel] <n>``: ``:SOUR:VOLT:ILIM`` (current limit of the
  voltage source), ``:SOUR:CURR:VLIM`` (voltage limit of the current source), and
  ``...:<x>LIMit[:LEVel]:TRIPped?`` (1 while the source is clamped at its limit);
- ``[:SENSe[1]]:FUNCtion[:ON] "VOLT"|"CURR"``; the query answers ``"VOLT:DC"``/``"CURR:DC"``;
- ``:READ? ["<bufferName>"[, <bufferElements>]]`` (§6 READ): this driver sends
  ``:READ? "defbuffer1", READ, SOUR, REL`` and parses three NR3 numbers: the measured value of
  the sense function, the measured source value (source readback is on after ``*RST``) and the
  relative time in s;
- ``:OUTPut[1][:STATe] {ON|OFF}`` and ``:OUTPut[1]?`` (``1``/``0``);
  ``:OUTPut[1]:<function>:SMODe HIMPedance``: the output-off state. The default, NORMal,
  sources 0 V when the output is off and would discharge a connected cell, so `reset` selects
  HIMPedance (output relay open) for both source functions;
- ``:SYSTem:ERRor[:NEXT]?`` → ``<code>,"<message>"``, ``0,"No error"`` when empty.

Ranges (2450 data sheet): source and limit up to ±1.05 A and ±210 V. On top, `CellLimits`
carries the cell chemistry's window (graphite‖NMC: 2.5–4.2 V) and its maximum current; every
value is checked against both before anything is sent. Wiring: cell + on FORCE HI, so positive
current charges the cell, as in `electroloop.simulations.cell_circuit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from electroloop.clocks import WallClock
from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments import scpi
from electroloop.instruments.scpi import ScpiError, ScpiInstrument
from electroloop.instruments.transport import MessageResource, escape
from electroloop.protocols import Clock

__all__ = [
    "CellLimits",
    "CellRun",
    "Clock",
    "Keithley2450",
    "SmuError",
    "SmuReading",
    "WallClock",
    "parse_bool",
    "parse_error",
    "parse_function",
    "parse_number",
    "parse_reading",
]

Function = Literal["CURR", "VOLT"]
MAX_CURRENT = 1.05  # A, 2450 largest source/limit range
MAX_VOLTAGE = 210.0  # V
MIN_VOLTAGE_LIMIT = 0.02  # V, smallest VLIM
MIN_CURRENT_LIMIT = 1e-9  # A, smallest ILIM
READ_COMMAND = ':READ? "defbuffer1", READ, SOUR, REL'
_INSTRUMENT = "SMU"


@dataclass(frozen=True)
class CellLimits:
    """The connected cell's safe window: volts and amps (magnitude)."""

    min_voltage: float = 2.5
    max_voltage: float = 4.2
    max_current: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_voltage < self.max_voltage <= MAX_VOLTAGE:
            raise LimitViolation(
                f"cell window {self.min_voltage}..{self.max_voltage} V; allowed within 0..210 V"
            )
        if not 0.0 < self.max_current <= MAX_CURRENT:
            raise LimitViolation(f"max current {self.max_current} A; allowed: 0 < I <= 1.05 A")


@dataclass(frozen=True)
class SmuReading:
    """One `:READ?`: terminal voltage V, current A (+ charges), instrument time s."""

    voltage: float
    current: float
    time: float


@dataclass(frozen=True)
class CellRun:
    """A finished charge or discharge: the polled readings, and charge Ah / energy Wh moved."""

    readings: tuple[SmuReading, ...]
    capacity: float
    energy: float


class SmuError(ScpiError):
    """The SMU's error queue held errors (``<code>,"<message>"`` pairs)."""

    instrument = _INSTRUMENT


# -- response parsers (pure; property-tested) ----------------------------------------------


def parse_number(reply: str, command: str = "query") -> float:
    """One finite NR1/NR2/NR3 number."""
    value = scpi.parse_number(reply, command, _INSTRUMENT)
    if not scpi.is_reading(value):  # SCPI +INF/NAN: no valid reading
        raise DeviceFault(f"SMU answered {command!r} with {escape(reply)!r} (no valid reading)")
    return value


def parse_reading(reply: str) -> tuple[float, float, float]:
    """``<reading>,<source>,<relative time>`` from `READ_COMMAND`."""
    fields = reply.strip().split(",")
    if len(fields) != 3:
        raise DeviceFault(
            f"SMU answered {READ_COMMAND!r} with {escape(reply)!r}; expected 3 fields"
        )
    reading, source, relative = (parse_number(field, READ_COMMAND) for field in fields)
    return reading, source, relative


def parse_bool(reply: str, command: str = "query") -> bool:
    """``1``/``0`` (also ``ON``/``OFF``)."""
    return scpi.parse_boolean(reply, command, _INSTRUMENT)


def parse_function(reply: str, command: str = "query") -> Function:
    """``CURR``/``VOLT`` (``:SOUR:FUNC?``) or ``"CURR:DC"``/``"VOLT:DC"`` (``:SENS:FUNC?``)."""
    text = reply.strip().strip('"').upper().removesuffix(":DC")
    if text in ("CURR", "CURRENT"):
        return "CURR"
    if text in ("VOLT", "VOLTAGE"):
        return "VOLT"
    raise DeviceFault(f"SMU answered {command!r} with {escape(reply)!r}; expected CURR or VOLT")


def parse_error(reply: str) -> tuple[int, str]:
    """``<code>,"<message>"`` from ``:SYST:ERR?``."""
    return scpi.parse_error(reply, _INSTRUMENT, ":SYST:ERR?")


class Keithley2450(ScpiInstrument):
    """A Keithley 2450 with one cell on its terminals; open the resource with `TERMINATIONS`.

    Setters are idempotent (named for the target state) and read back in the same message
    (``<command>;<query>``): a value that does not read back is looked up in the error queue
    (`SmuError`), else sent once more (a command lost with a dropped link), then `DeviceFault`.
    A query that times out reopens the link if the resource can (pyvisa-py may report a peer's
    close as a timeout) and drains the error queue. `clock` paces the CC/CV helpers in
    instrument time; a run survives `max_missed_polls` consecutive unanswered readings.
    """

    PARSER_VERSION: ClassVar[str] = "1"
    """How this driver reads the instrument's replies: bump it when a parser changes, so every
    measurement records which parsing produced it."""

    def __init__(
        self,
        resource: MessageResource,
        *,
        limits: CellLimits | None = None,
        clock: Clock | None = None,
        max_errors: int = 20,
        max_missed_polls: int = 2,
    ) -> None:
        super().__init__(
            resource,
            _INSTRUMENT,
            SmuError,
            max_errors=max_errors,
            joined=True,
            error_query=":SYST:ERR?",
        )
        self.limits = limits or CellLimits()
        self.clock: Clock = clock or WallClock()
        self.max_missed_polls = max_missed_polls
        self._source: Function | None = None
        self._sense: Function | None = None

    def reset(self) -> None:
        """``*RST`` (source voltage, sense current, output off), then a high-impedance off state."""
        self._send_reset()
        self._source, self._sense = "VOLT", "CURR"
        for function in ("CURR", "VOLT"):
            self._apply(
                f":OUTP:{function}:SMOD HIMP",
                f":OUTP:{function}:SMOD?",
                lambda reply: reply.strip().upper().startswith("HIMP"),
            )
        self.check_errors(after="'*RST'")

    # -- source and sense ----------------------------------------------------------------

    def set_source_function(self, function: Function) -> None:
        """Source current or voltage (``:SOUR:FUNC``)."""
        if function not in ("CURR", "VOLT"):
            raise LimitViolation(f"source function {function!r}; allowed: 'CURR', 'VOLT'")
        self._apply(
            f":SOUR:FUNC {function}",
            ":SOUR:FUNC?",
            lambda reply: parse_function(reply, ":SOUR:FUNC?") == function,
        )
        self._source = function

    def set_sense_function(self, function: Function) -> None:
        """Measure current or voltage (``:SENS:FUNC "..."``)."""
        if function not in ("CURR", "VOLT"):
            raise LimitViolation(f"sense function {function!r}; allowed: 'CURR', 'VOLT'")
        self._apply(
            f':SENS:FUNC "{function}"',
            ":SENS:FUNC?",
            lambda reply: parse_function(reply, ":SENS:FUNC?") == function,
        )
        self._sense = function

    def set_current(self, current: float) -> None:
        """Current-source level, A (+ charges the cell)."""
        self._check_current(current, "source current")
        self._apply_numbers(":SOUR:CURR", current)

    def set_voltage(self, voltage: float) -> None:
        """Voltage-source level, V: only inside the cell's window."""
        self._check_window(voltage, "source voltage")
        self._apply_numbers(":SOUR:VOLT", voltage)

    def set_voltage_limit(self, voltage: float) -> None:
        """Voltage limit of the current source (``:SOUR:CURR:VLIM``), V: at most the cell's max."""
        if not (math.isfinite(voltage) and MIN_VOLTAGE_LIMIT <= voltage <= self.limits.max_voltage):
            raise LimitViolation(
                f"voltage limit {voltage} V; allowed: {MIN_VOLTAGE_LIMIT}.."
                f"{self.limits.max_voltage} V (cell maximum)"
            )
        self._apply_numbers(":SOUR:CURR:VLIM", voltage)

    def set_current_limit(self, current: float) -> None:
        """Current limit of the voltage source (``:SOUR:VOLT:ILIM``), A."""
        top = min(MAX_CURRENT, self.limits.max_current)
        if not (math.isfinite(current) and MIN_CURRENT_LIMIT <= current <= top):
            raise LimitViolation(
                f"current limit {current} A; allowed: {MIN_CURRENT_LIMIT}..{top} A"
            )
        self._apply_numbers(":SOUR:VOLT:ILIM", current)

    def output_on(self) -> None:
        """Connect the source to the cell (``:OUTP ON``)."""
        self._apply(":OUTP ON", ":OUTP?", lambda reply: parse_bool(reply, ":OUTP?"))

    def output_off(self) -> None:
        """Open the output (``:OUTP OFF``)."""
        self._apply(":OUTP OFF", ":OUTP?", lambda reply: not parse_bool(reply, ":OUTP?"))

    def output_enabled(self) -> bool:
        """Whether the output is on."""
        return parse_bool(self._ask(":OUTP?"), ":OUTP?")

    def in_compliance(self) -> bool:
        """Whether the source is clamped at its limit (``...:<x>LIM:TRIP?``)."""
        if self._functions()[0] == "CURR":
            command = ":SOUR:CURR:VLIM:TRIP?"
        else:
            command = ":SOUR:VOLT:ILIM:TRIP?"
        return parse_bool(self._ask(command), command)

    # -- measuring -----------------------------------------------------------------------

    def read(self) -> SmuReading:
        """One measurement: sense the quantity that is not sourced (``:READ?``)."""
        source, sense = self._functions()
        if source == sense:
            raise LimitViolation(
                f"source and sense are both {source}; sense the other quantity to read a cell"
            )
        reading, readback, relative = parse_reading(self._ask(READ_COMMAND))
        if sense == "VOLT":
            return SmuReading(voltage=reading, current=readback, time=relative)
        return SmuReading(voltage=readback, current=reading, time=relative)

    def charge_cc_cv(
        self,
        current: float,
        voltage_limit: float,
        cutoff_current: float,
        *,
        timeout: float,
        poll_interval: float = 10.0,
    ) -> CellRun:
        """CC at `current` until `voltage_limit`, then CV until the current falls to the cut-off.

        The 2450 does the CV phase itself: a current source with ``VLIM`` at `voltage_limit`
        becomes a voltage source when it reaches the limit. Polls `:READ?` every
        `poll_interval` s of instrument time; raises `InstrumentTimeout` after `timeout` s.
        """
        self._check_current(current, "charge current")
        if current <= 0.0:
            raise LimitViolation(f"charge current {current} A; allowed: > 0")
        self._check_window(voltage_limit, "charge voltage limit")
        if not 0.0 < cutoff_current < current:
            raise LimitViolation(
                f"cut-off current {cutoff_current} A; allowed: 0 < cut-off < {current} A"
            )
        self._check_timing(timeout, poll_interval)
        self.output_off()
        self.set_source_function("CURR")
        self.set_sense_function("VOLT")
        self.set_voltage_limit(voltage_limit)
        self.set_current(current)
        return self._run(lambda r: r.current <= cutoff_current, timeout, poll_interval)

    def discharge_cc(
        self,
        current: float,
        cutoff_voltage: float,
        *,
        timeout: float,
        poll_interval: float = 10.0,
    ) -> CellRun:
        """Discharge at `current` (A, magnitude) until the cell reaches `cutoff_voltage`.

        The floor is enforced by the instrument, not by polling: a voltage source at the
        cut-off with ``ILIM`` = `current` sinks exactly `current` while the cell is above the
        cut-off and holds the cut-off once it gets there. The run ends at the first reading
        at the cut-off (or with the current out of its limit).
        """
        self._check_current(current, "discharge current")
        if current <= 0.0:
            raise LimitViolation(f"discharge current {current} A; give its magnitude, > 0")
        self._check_window(cutoff_voltage, "cut-off voltage")
        self._check_timing(timeout, poll_interval)
        rest = self.open_circuit_voltage()
        if rest <= cutoff_voltage:
            raise LimitViolation(
                f"cell rests at {rest:.4f} V, at or below the cut-off {cutoff_voltage} V: "
                "a voltage source there would charge it"
            )
        self.set_source_function("VOLT")
        self.set_sense_function("CURR")
        self.set_current_limit(current)
        self.set_voltage(cutoff_voltage)
        return self._run(
            lambda r: r.voltage <= cutoff_voltage + 1e-3 or abs(r.current) < 0.99 * current,
            timeout,
            poll_interval,
        )

    def open_circuit_voltage(self) -> float:
        """The cell's voltage at zero current (a 0 A current source, measured, output off)."""
        self.output_off()
        self.set_source_function("CURR")
        self.set_sense_function("VOLT")
        self.set_voltage_limit(self.limits.max_voltage)
        self.set_current(0.0)
        self.output_on()
        try:
            voltage = self.read().voltage
        except BaseException as exc:
            self._switch_off_after(exc)
            raise
        self.output_off()
        return voltage

    # -- internals -----------------------------------------------------------------------

    def _run(
        self, finished: Callable[[SmuReading], bool], timeout: float, poll_interval: float
    ) -> CellRun:
        readings: list[SmuReading] = []
        self.output_on()
        try:
            deadline = self.clock.now() + timeout
            missed = 0
            while True:
                try:
                    reading = self.read()
                except InstrumentTimeout:  # one lost poll is not a lost run; the link reopened
                    missed += 1
                    if missed > self.max_missed_polls:
                        raise
                    continue
                missed = 0
                self._check_plausible(reading)
                readings.append(reading)
                if finished(reading):
                    break
                if self.clock.now() >= deadline:
                    raise InstrumentTimeout(
                        f"SMU run did not reach its cut-off within {timeout} s; last {reading}"
                    )
                self.clock.sleep(poll_interval)
        except BaseException as exc:
            self._switch_off_after(exc)
            raise
        self.output_off()
        return CellRun(tuple(readings), *_integrate(readings))

    def _check_plausible(self, reading: SmuReading) -> None:
        margin = 0.05  # V: beyond the polling overshoot, short of damage
        if (
            not (
                self.limits.min_voltage - margin
                <= reading.voltage
                <= self.limits.max_voltage + margin
            )
            or abs(reading.current) > self.limits.max_current * 1.05
        ):
            raise DeviceFault(
                f"SMU reads {reading.voltage:.4f} V, {reading.current:.6f} A, outside the cell's "
                f"window {self.limits.min_voltage}..{self.limits.max_voltage} V, "
                f"{self.limits.max_current} A: output switched off"
            )

    def _switch_off_after(self, exc: BaseException) -> None:
        try:
            self.output_off()
        except Exception as off_failure:  # noqa: BLE001  reported on the original error
            exc.add_note(f"switching the SMU output off also failed: {off_failure}")

    def _functions(self) -> tuple[Function, Function]:
        if self._source is None:
            self._source = parse_function(self._ask(":SOUR:FUNC?"), ":SOUR:FUNC?")
        if self._sense is None:
            self._sense = parse_function(self._ask(":SENS:FUNC?"), ":SENS:FUNC?")
        return self._source, self._sense

    def _check_current(self, current: float, what: str) -> None:
        top = min(MAX_CURRENT, self.limits.max_current)
        if not (math.isfinite(current) and abs(current) <= top):
            raise LimitViolation(f"{what} {current} A; allowed: |I| <= {top} A")

    def _check_window(self, voltage: float, what: str) -> None:
        low, high = self.limits.min_voltage, self.limits.max_voltage
        if not (math.isfinite(voltage) and low <= voltage <= high):
            raise LimitViolation(f"{what} {voltage} V; allowed: {low}..{high} V (cell window)")

    @staticmethod
    def _check_timing(timeout: float, poll_interval: float) -> None:
        if not (math.isfinite(timeout) and timeout > 0.0):
            raise LimitViolation(f"timeout {timeout} s; allowed: > 0")
        if not (math.isfinite(poll_interval) and 0.0 < poll_interval <= timeout):
            raise LimitViolation(f"poll interval {poll_interval} s; allowed: 0 < p <= timeout")


def _integrate(readings: list[SmuReading]) -> tuple[float, float]:
    """Charge (Ah) and energy (Wh) moved, trapezoidal over the readings' times."""
    charge = energy = 0.0
    for a, b in zip(readings, readings[1:], strict=False):
        dt = b.time - a.time
        charge += 0.5 * (abs(a.current) + abs(b.current)) * dt
        energy += 0.5 * (abs(a.current * a.voltage) + abs(b.current * b.voltage)) * dt
    return charge / 3600.0, energy / 3600.0
