"""Simulated Keithley 2450 SourceMeter with a graphite‖NMC cell on its terminals (lines end LF).

Speaks the subset of the 2450 SCPI set that `electroloop.instruments.smu` uses (Keithley
2450-901-01 §6), in short or long mnemonic form, any case, with or without the leading colon:
``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``:SOUR:FUNC``, ``:SOUR:CURR``, ``:SOUR:VOLT``,
``:SOUR:VOLT:ILIM``, ``:SOUR:CURR:VLIM`` (and their queries), ``:SOUR:<f>:<x>LIM:TRIP?``,
``:SENS:FUNC``, ``:OUTP``, ``:OUTP:<f>:SMOD``, ``:READ?`` (elements READ, SOUR, REL, default
READ) and ``:SYST:ERR?``. A rejected command queues an error and sends nothing: ``-113``
undefined header, ``-222`` data out of range (±1.05 A, ±210 V), ``-224`` illegal parameter.

Physics: the cell (`EquivalentCircuitCell`) is integrated lazily, up to the shared `SimClock`'s
present time at every command, in sub-steps of at most `max_step` s and 0.5 % SOC, with the
source settings that held since the last command. Compliance as on the instrument: a current
source whose cell would exceed ``VLIM`` becomes a voltage source at ``VLIM`` (current magnitude
at most the set level, ``VLIM:TRIP?`` = 1); a voltage source whose current would exceed
``ILIM`` delivers ±``ILIM`` and lets the voltage follow (``ILIM:TRIP?`` = 1). Output off is an
open circuit (the HIMPedance off state; the NORMal off state's 0 V source is not modelled).
Measurement noise (assumption, of the order of the 2450's 6½-digit resolution on the 20 V and
10 mA ranges): 50 µV on voltage, 0.01 % + 10 nA on current.

Faults: `Fault.ERROR` queues ``-200,"Execution error"`` and does not execute the command;
`Fault.STUCK_BUSY` leaves ``:READ?`` and ``*OPC?`` unanswered from then on (a trigger that never
completes); `Fault.DRIFT` scales every reading by (1 + drift).
"""

from __future__ import annotations

import math
import re
import threading

import numpy as np

from electroloop.errors import SimulationError
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.scpi import (
    ErrorQueue,
    ScpiReject,
    execute_message,
    parse_number,
    parse_switch,
    split_message,
)
from electroloop.instruments.sim.server import LineServer
from electroloop.simulations.cell_circuit import CellSpec, EquivalentCircuitCell

__all__ = ["SmuServer", "normalise_header", "split_message"]

MAX_CURRENT = 1.05
MAX_VOLTAGE = 210.0
_LONG = {
    "SOURCE": "SOUR",
    "CURRENT": "CURR",
    "VOLTAGE": "VOLT",
    "FUNCTION": "FUNC",
    "SENSE": "SENS",
    "OUTPUT": "OUTP",
    "SYSTEM": "SYST",
    "ERROR": "ERR",
    "ILIMIT": "ILIM",
    "VLIMIT": "VLIM",
    "TRIPPED": "TRIP",
    "SMODE": "SMOD",
    "LEVEL": "LEV",
    "IMMEDIATE": "IMM",
    "AMPLITUDE": "AMPL",
    "STATE": "STAT",
}
_OPTIONAL = {"LEV", "IMM", "AMPL", "MODE", "STAT", "NEXT", "ON"}
_OFF_MODES = {"NORM": "NORM", "NORMAL": "NORM", "HIMP": "HIMP", "HIMPEDANCE": "HIMP"}
_OFF_MODES |= {"ZERO": "ZERO", "GUAR": "GUAR", "GUARD": "GUAR"}
_ELEMENTS = {"READ": "READ", "READING": "READ", "SOUR": "SOUR", "SOURCE": "SOUR"}
_ELEMENTS |= {"REL": "REL", "RELATIVE": "REL"}


def normalise_header(header: str) -> str:
    """Short-form, upper-case header without optional nodes or the suffix 1:
    ``:source1:volt:ilim?`` → ``SOUR:VOLT:ILIM?``; a bare ``:FUNC`` is the SENSe subsystem's
    (its root node is optional)."""
    query = header.endswith("?")
    raw = header.rstrip("?").lstrip(":").upper().split(":")
    nodes = [_LONG.get(node, node) for node in (re.sub(r"(?<=\D)1$", "", node) for node in raw)]
    nodes = [node for node in nodes if node not in _OPTIONAL] or nodes
    if nodes[0] == "FUNC":
        nodes.insert(0, "SENS")
    return ":".join(nodes) + ("?" if query else "")


class SmuServer(LineServer):
    """One 2450 with one cell; `fill` swaps the cell as the lab fills a new one."""

    terminator = b"\n"
    reply_terminator = b"\n"
    name = "smu"

    def __init__(
        self,
        cell: CellSpec | None = None,
        *,
        clock: SimClock | None = None,
        serial: str = "04500001",
        voltage_noise: float = 50e-6,
        current_noise: float = 1e-4,
        max_step: float = 10.0,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        self.clock = clock or SimClock()
        self.serial = serial
        self.voltage_noise = voltage_noise
        self.current_noise = current_noise
        self.max_step = max_step
        self._seed = seed
        self._rng = np.random.default_rng([seed, 2450])
        self._state = threading.RLock()
        self._errors = ErrorQueue(size=32)
        self.cell = EquivalentCircuitCell(cell or CellSpec(), seed=seed)
        self._time = self.clock.now()  # instrument time the cell has been integrated to
        self._reset()
        super().__init__(host=host, port=port, seed=seed)

    def fill(self, spec: CellSpec) -> None:
        """Connect a freshly filled cell (the output must be off)."""
        with self._state:
            if self.output:
                raise SimulationError("switch the SMU output off before changing the cell")
            self._advance()
            self.cell = EquivalentCircuitCell(spec, seed=self._seed)

    def inject_error(self, code: int, message: str) -> None:
        """Queue an error as if the last command had failed."""
        with self._state:
            self._errors.push(code, message)

    def error_answer(self, line: str) -> str | None:
        self.inject_error(-200, "Execution error")
        return None

    def _reset(self) -> None:
        """``*RST`` defaults (2450-901-01): source 0 V with ILIM 105 µA, VLIM 21 V, sense
        current, output off in the NORMal off state."""
        self.source = "VOLT"
        self.sense = "CURR"
        self.levels = {"CURR": 0.0, "VOLT": 0.0}
        self.current_limit = 105e-6
        self.voltage_limit = 21.0
        self.output = False
        self.off_modes = {"CURR": "NORM", "VOLT": "NORM"}
        self.tripped = False
        self._epoch = self.clock.now()

    # -- physics -------------------------------------------------------------------------

    def _operating_point(self, dt: float) -> tuple[float, float, bool]:
        """(current A, voltage V, in compliance) over the next `dt` s with today's settings."""
        cell = self.cell
        if not self.output:
            return 0.0, cell.terminal_voltage(0.0), False
        if self.source == "CURR":
            level = self.levels["CURR"]
            hold = cell.current_for_voltage(self.voltage_limit, dt)
            if level > hold:  # the cell would exceed VLIM: voltage source at VLIM
                current = max(hold, -abs(level))
                return current, self.voltage_limit, True
            return level, cell.terminal_voltage(level), False
        current = cell.current_for_voltage(self.levels["VOLT"], dt)
        if abs(current) > self.current_limit:
            current = math.copysign(self.current_limit, current)
            return current, cell.terminal_voltage(current), True
        return current, self.levels["VOLT"], False

    def _advance(self) -> None:
        """Integrate the cell up to the clock's present time."""
        now = self.clock.now()
        while now - self._time > 1e-9:
            dt = now - self._time  # exact at rest: the RC pair decays exponentially
            if self.output:
                current, _, _ = self._operating_point(0.0)
                soc_step = 0.005 * self.cell.capacity * 3600.0 / max(abs(current), 1e-12)
                dt = min(dt, self.max_step, soc_step)
            current, _, self.tripped = self._operating_point(dt)
            self.cell.step(current, dt)
            self._time += dt

    def _measure(self) -> tuple[float, float]:
        """Measured (voltage, current) now, with noise and any drift."""
        current, voltage, self.tripped = self._operating_point(0.0)
        gain = 1.0 + self.drift
        voltage = (voltage + self._rng.normal(0.0, self.voltage_noise)) * gain
        noise = self.current_noise * abs(current) + 10e-9
        current = (current + self._rng.normal(0.0, noise)) * gain
        return voltage, current

    # -- protocol ------------------------------------------------------------------------

    def answer(self, line: str) -> str | None:
        """Execute each unit of the message in turn (`execute_message`), the cell integrated
        up to now once for the whole message; the query answers joined with ``;``."""
        with self._state:
            self._advance()
            return execute_message(
                line,
                lambda head, argument: self._dispatch(normalise_header(head), argument),
                self._errors,
            )

    def _dispatch(self, header: str, argument: str) -> str | None:
        if header == "*IDN?":
            return f"KEITHLEY INSTRUMENTS,MODEL 2450,{self.serial},1.7.12b"
        if header == "*RST":
            self._reset()
            return None
        if header == "*CLS":
            self._errors.clear()
            return None
        if header == "*OPC?":
            return None if self.stuck_busy else "1"
        if header == "SYST:ERR?":
            return self._errors.pop()
        if header == "SOUR:FUNC":
            self.source = _function(argument)
            return None
        if header == "SOUR:FUNC?":
            return self.source
        if header == "SENS:FUNC":
            self.sense = _function(argument.strip('"').removesuffix(":DC"))
            return None
        if header == "SENS:FUNC?":
            return f'"{self.sense}:DC"'
        if header in ("SOUR:CURR", "SOUR:VOLT"):
            function = header[5:]
            top = MAX_CURRENT if function == "CURR" else MAX_VOLTAGE
            self.levels[function] = parse_number(argument, -top, top)
            return None
        if header in ("SOUR:CURR?", "SOUR:VOLT?"):
            return f"{self.levels[header[5:9]]:.6E}"
        if header == "SOUR:VOLT:ILIM":
            self.current_limit = parse_number(argument, 1e-9, MAX_CURRENT)
            return None
        if header == "SOUR:VOLT:ILIM?":
            return f"{self.current_limit:.6E}"
        if header == "SOUR:CURR:VLIM":
            self.voltage_limit = parse_number(argument, 0.02, MAX_VOLTAGE)
            return None
        if header == "SOUR:CURR:VLIM?":
            return f"{self.voltage_limit:.6E}"
        if header in ("SOUR:CURR:VLIM:TRIP?", "SOUR:VOLT:ILIM:TRIP?"):
            _, _, tripped = self._operating_point(0.0)
            return "1" if tripped and header[5:9] == self.source else "0"
        if header == "OUTP":
            self.output = _switch(argument)
            return None
        if header == "OUTP?":
            return "1" if self.output else "0"
        if header in ("OUTP:CURR:SMOD", "OUTP:VOLT:SMOD"):
            mode = _OFF_MODES.get(argument.upper())
            if mode is None:
                raise ScpiReject(-224, "Illegal parameter value")
            self.off_modes[header[5:9]] = mode
            return None
        if header in ("OUTP:CURR:SMOD?", "OUTP:VOLT:SMOD?"):
            return self.off_modes[header[5:9]]
        if header == "READ?":
            return self._read(argument)
        raise ScpiReject(-113, "Undefined header")

    def _read(self, argument: str) -> str | None:
        """``:READ? ["defbuffer1"[, <elements>]]``: one measurement, the elements in order."""
        fields = [field.strip() for field in argument.split(",")] if argument else []
        if fields and fields[0].strip('"').lower() not in ("defbuffer1", "defbuffer2"):
            raise ScpiReject(-224, "Illegal parameter value")
        elements = [_ELEMENTS.get(field.upper()) for field in fields[1:]] or ["READ"]
        if None in elements:
            raise ScpiReject(-224, "Illegal parameter value")
        if self.stuck_busy:
            return None  # the trigger model never completes
        voltage, current = self._measure()
        measured = {"VOLT": voltage, "CURR": current}
        values = {
            "READ": measured[self.sense],
            "SOUR": measured[self.source],
            "REL": self.clock.now() - self._epoch,
        }
        return ",".join(f"{values[element]:.6E}" for element in elements if element)


def _function(argument: str) -> str:
    name = {"CURR": "CURR", "CURRENT": "CURR", "VOLT": "VOLT", "VOLTAGE": "VOLT"}.get(
        argument.strip().upper()
    )
    if name is None:
        raise ScpiReject(-224, "Illegal parameter value")
    return name


def _switch(argument: str) -> bool:
    """``ON|OFF|1|0``; this instrument answers a missing one with -224, not -109."""
    if not argument.strip():
        raise ScpiReject(-224, "Illegal parameter value")
    return parse_switch(argument)
