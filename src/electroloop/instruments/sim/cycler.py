"""Simulated multichannel battery cycler speaking docs/cycler_protocol.md (lines end with LF).

Each channel holds its own `EquivalentCircuitCell`; `fill(channel, spec)` puts in a freshly
filled cell, so the electrolyte's conductivity reaches the records through the cell's
resistance. The simulator-only command ``SIM:CHAN<n>:FILL`` does the same over the link
(`cell_line`), for a client in another process.

Channels are integrated lazily: every command first advances every channel to the shared
`SimClock`'s present time, in sub-steps of at most `max_step` s (60 s) and 1 % SOC
(10 s in CV), and a constant-current step is landed on its voltage cut-off by bisection of the
last sub-step to 0.1 s. A 10-hour test is a few thousand sub-steps: well under a CPU second.

Safety limits are compared with the true (noise-free) cell voltage, current and temperature
after every sub-step, as a hardware comparator would; a breach ends the run in FAULT.
Measurement noise (assumption, a typical 16-bit cycler channel): 100 µV, 0.02 % + 100 nA,
0.05 °C.

Faults: `Fault.ERROR` queues ``-200,"Execution error"`` and does not execute the command;
`Fault.STUCK_BUSY` freezes every running channel (RUNNING for ever, no new records);
`Fault.DRIFT` scales the voltage and current of every new record by (1 + drift).
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from electroloop.errors import SimulationError
from electroloop.instruments.sim.cell_line import parse_fill, spec_wire
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.scpi import (
    ErrorQueue,
    ScpiReject,
    execute_message,
    parse_number,
)
from electroloop.instruments.sim.server import LineServer
from electroloop.simulations.cell_circuit import CellSpec, EquivalentCircuitCell

__all__ = ["ChannelEngine", "CyclerServer", "EngineStep"]

MAX_VOLTAGE = 5.0  # V, channel range
MAX_STEPS = 64
MAX_CYCLES = 100_000
MAX_RECORDS_PER_QUERY = 500
CV_STEP = 10.0  # s: a third of the cell's polarisation time constant keeps the CV taper smooth
_CHANNEL = re.compile(r":?CHAN(?:NEL)?(\d+):(.+)", re.IGNORECASE)
_SIM_FILL = re.compile(r":?SIM(?:ULATION)?:CHAN(?:NEL)?(\d+):FILL(\?)?", re.IGNORECASE)
_LONG = {
    "SYSTEM": "SYST",
    "ERROR": "ERR",
    "CHANNELS": "CHAN",
    "PROTOCOL": "PROT",
    "STATUS": "STAT",
    "LIMIT": "LIM",
    "VOLTAGE": "VOLT",
    "CURRENT": "CURR",
    "TEMPERATURE": "TEMP",
    "INTERVAL": "INT",
    "NEXT": "",
}


@dataclass(frozen=True)
class _Step:
    """One protocol step: kind CC (a = A, b = V), CV (a = V, b = A), REST (a = s),
    LOOP (a = first step, b = passes); `tmax` s or None."""

    kind: str
    a: float
    b: float = 0.0
    tmax: float | None = None

    def wire(self) -> str:
        if self.kind == "REST":
            return f"REST,{self.a:.6E}"
        if self.kind == "LOOP":
            return f"LOOP,{int(self.a)},{int(self.b)}"
        tail = "" if self.tmax is None else f",{self.tmax:.6E}"
        return f"{self.kind},{self.a:.6E},{self.b:.6E}{tail}"


def _illegal(detail: str) -> ScpiReject:
    return ScpiReject(-224, f"Illegal parameter value;{detail}")


def _parse_protocol(text: str, max_current: float) -> list[_Step]:
    """The step list of ``PROT:LOAD``, checked against the channel's hardware range."""
    body = text.strip()
    if len(body) >= 2 and body[0] == body[-1] == '"':
        body = body[1:-1]
    parts = [part.strip() for part in body.split(";")]
    if not body or not 1 <= len(parts) <= MAX_STEPS:
        raise _illegal(f"1..{MAX_STEPS} steps required")
    steps: list[_Step] = []
    for number, part in enumerate(parts, start=1):
        kind, *fields = [field.strip() for field in part.split(",")]
        kind = kind.upper()
        try:
            values = [float(field) for field in fields]
        except ValueError:
            raise _illegal(f"step {number}: fields must be numbers") from None
        if not all(math.isfinite(value) for value in values):
            raise _illegal(f"step {number}: fields must be finite")
        if kind in ("CC", "CV"):
            if len(values) not in (2, 3):
                raise _illegal(f"step {number}: {kind} takes 2 or 3 fields")
            tmax = values[2] if len(values) == 3 else None
            if tmax is not None and tmax <= 0:
                raise _illegal(f"step {number}: tmax must be > 0")
            if kind == "CC":
                current, voltage = values[0], values[1]
                if not (0 < abs(current) <= max_current and 0 <= voltage <= MAX_VOLTAGE):
                    raise _illegal(f"step {number}: CC outside the channel's range")
            else:
                voltage, current = values[0], values[1]
                if not (0 < current <= max_current and 0 <= voltage <= MAX_VOLTAGE):
                    raise _illegal(f"step {number}: CV outside the channel's range")
            steps.append(_Step(kind, values[0], values[1], tmax))
        elif kind == "REST":
            if len(values) != 1 or values[0] <= 0:
                raise _illegal(f"step {number}: REST takes one duration > 0")
            steps.append(_Step("REST", values[0]))
        elif kind == "LOOP":
            if len(values) != 2 or not all(value == int(value) for value in values):
                raise _illegal(f"step {number}: LOOP takes two integers")
            first, passes = int(values[0]), int(values[1])
            if not (1 <= first < number and 1 <= passes <= MAX_CYCLES):
                raise _illegal(f"step {number}: LOOP target or count out of range")
            steps.append(_Step("LOOP", first, passes))
        else:
            raise _illegal(f"step {number}: unknown step {kind!r}")
    if sum(step.kind == "LOOP" for step in steps) > 1:
        raise _illegal("at most one LOOP")
    return steps


class _Channel:
    """One channel: its cell, limits, protocol, run state and record buffer."""

    def __init__(
        self,
        cell: EquivalentCircuitCell,
        now: float,
        rng: np.random.Generator,
        server: CyclerServer,
    ) -> None:
        self.cell = cell
        self.time = now  # instrument time the cell is integrated to
        self.rng = rng
        self.server = server
        self.drift = 0.0  # the server's DRIFT-fault gain on new records
        self.reset()

    def reset(self) -> None:
        self.steps: list[_Step] = []
        self.state = "IDLE"
        self.reason = ""
        self.step_number = 0
        self.cycle = 0
        self.run_time = 0.0
        self.limits = {"vmin": 0.0, "vmax": MAX_VOLTAGE, "imax": self.server.max_current}
        self.limits["tmax"] = 60.0
        self.interval = 30.0
        self.records: list[tuple[int, float, int, int, float, float, float, float, float]] = []
        self._index = 0
        self._passes = 1
        self._step_time = self._charge = self._energy = 0.0
        self._next_record = 0.0

    # -- control -------------------------------------------------------------------------

    def start(self) -> None:
        if not self.steps:
            raise ScpiReject(-221, "Settings conflict;no protocol loaded")
        if self.state == "RUNNING":
            raise ScpiReject(-221, "Settings conflict;already running")
        self.state, self.reason = "RUNNING", ""
        self.run_time, self.cycle, self._passes = 0.0, 1, 1
        self._begin(0)
        self._next_record = self.interval
        current, voltage = self._instant()
        self._record(current, voltage)
        self._check_safety(current, voltage)

    def stop(self) -> None:
        if self.state == "RUNNING":
            self._record(*self._instant())
            self.state = "IDLE"

    def _begin(self, index: int) -> None:
        """Enter step `index` (following a LOOP jump or falling off the end)."""
        while index < len(self.steps) and self.steps[index].kind == "LOOP":
            loop = self.steps[index]
            if self._passes < loop.b:
                self._passes += 1
                self.cycle += 1
                index = int(loop.a) - 1
            else:
                index += 1
        if index >= len(self.steps):
            self.state = "DONE"
            return
        self._index = index
        self.step_number = index + 1
        self._step_time = self._charge = self._energy = 0.0

    # -- physics -------------------------------------------------------------------------

    def _drive(self, step: _Step, cell: EquivalentCircuitCell, dt: float) -> tuple[float, float]:
        """Run `step` on `cell` for `dt` s; (current, voltage) at the end."""
        if step.kind == "CC":
            current = step.a
        elif step.kind == "CV":
            current = cell.current_for_voltage(step.a, dt)
            current = max(-self.limits["imax"], min(self.limits["imax"], current))
        else:
            current = 0.0
        cell.step(current, dt)
        return current, cell.terminal_voltage(current)

    def present(self) -> tuple[_Step | None, float, float, float, float, float]:
        """(running step or None, current A, voltage V, and the step's time s, charge Ah and
        energy Wh so far) at this instant: what a cycler's live readout shows."""
        current, voltage = self._instant()
        if self.state != "RUNNING":
            return None, current, voltage, 0.0, 0.0, 0.0
        step = self.steps[self._index]
        return step, current, voltage, self._step_time, self._charge, self._energy

    def _instant(self) -> tuple[float, float]:
        """(current, voltage) at this instant of the present step (or at rest)."""
        if self.state != "RUNNING":
            return 0.0, self.cell.terminal_voltage(0.0)
        return self._drive(self.steps[self._index], copy.copy(self.cell), 0.0)

    def _crossed(self, step: _Step, current: float, voltage: float) -> bool:
        if step.kind != "CC":
            return False
        return voltage >= step.b if step.a > 0 else voltage <= step.b

    def advance(self, until: float, drift: float, stuck: bool) -> None:
        """Integrate up to instrument time `until`."""
        self.drift = drift
        if self.state != "RUNNING":
            if until > self.time:
                self.cell.step(0.0, until - self.time)
                self.time = until
            return
        if stuck:  # the channel hangs: time passes, nothing happens
            self.time = max(self.time, until)
            return
        while self.state == "RUNNING" and until - self.time > 1e-9:
            self._substep(until)

    def _substep(self, until: float) -> None:
        step = self.steps[self._index]
        limit = step.a if step.kind == "REST" else step.tmax
        dt = min(until - self.time, self.server.max_step, self._next_record - self.run_time)
        if limit is not None:
            dt = min(dt, limit - self._step_time)
        if step.kind == "CC":
            dt = min(dt, 0.01 * self.cell.capacity * 3600.0 / abs(step.a))
        elif step.kind == "CV":
            dt = min(dt, CV_STEP)
        dt = max(dt, 0.0)
        trial = copy.copy(self.cell)
        current, voltage = self._drive(step, trial, dt)
        ended = limit is not None and self._step_time + dt >= limit - 1e-9
        if self._crossed(step, current, voltage):
            dt, trial, current, voltage = self._land(step, dt)
            ended = True
        self.cell = trial
        self.time += dt
        self.run_time += dt
        self._step_time += dt
        self._charge += abs(current) * dt / 3600.0
        self._energy += abs(current * voltage) * dt / 3600.0
        if self._check_safety(current, voltage):
            return
        if step.kind == "CV":  # report and judge the current that holds the voltage now
            current, voltage = self._drive(step, copy.copy(self.cell), 0.0)
            ended = ended or abs(current) <= step.b
        recorded = False
        if self.run_time >= self._next_record - 1e-9:
            self._record(current, voltage)
            recorded = True
            while self._next_record <= self.run_time + 1e-9:
                self._next_record += self.interval
        if ended:
            if not recorded:
                self._record(current, voltage)
            self._begin(self._index + 1)

    def _land(self, step: _Step, dt: float) -> tuple[float, EquivalentCircuitCell, float, float]:
        """Shortest sub-step (to 0.1 s) after which a CC step has reached its cut-off."""
        low, high = 0.0, dt
        best = copy.copy(self.cell)
        current, voltage = self._drive(step, best, 0.0)
        if self._crossed(step, current, voltage):
            return 0.0, best, current, voltage
        best = copy.copy(self.cell)
        current, voltage = self._drive(step, best, dt)
        while high - low > 0.1:
            middle = 0.5 * (low + high)
            trial = copy.copy(self.cell)
            trial_current, trial_voltage = self._drive(step, trial, middle)
            if self._crossed(step, trial_current, trial_voltage):
                high, best, current, voltage = middle, trial, trial_current, trial_voltage
            else:
                low = middle
        return high, best, current, voltage

    def _check_safety(self, current: float, voltage: float) -> bool:
        """Trip to FAULT on a breached limit (true values); True when it tripped."""
        limits = self.limits
        temperature = self.cell.spec.temperature
        reason = ""
        if voltage > limits["vmax"]:
            reason = f"VOLT_HIGH: {voltage:.4f} V > {limits['vmax']:.4f} V"
        elif voltage < limits["vmin"]:
            reason = f"VOLT_LOW: {voltage:.4f} V < {limits['vmin']:.4f} V"
        elif abs(current) > limits["imax"] * (1 + 1e-9):
            reason = f"CURR_HIGH: {abs(current):.6f} A > {limits['imax']:.6f} A"
        elif temperature > limits["tmax"]:
            reason = f"TEMP_HIGH: {temperature:.2f} C > {limits['tmax']:.2f} C"
        if not reason:
            return False
        self._record(current, voltage)
        self.state, self.reason = "FAULT", reason
        return True

    def _record(self, current: float, voltage: float) -> None:
        gain = 1.0 + self.drift
        rng = self.rng
        measured_v = (voltage + rng.normal(0.0, 100e-6)) * gain
        measured_i = (current + rng.normal(0.0, 2e-4 * abs(current) + 100e-9)) * gain
        temperature = self.cell.spec.temperature + rng.normal(0.0, 0.05)
        self.records.append(
            (
                len(self.records),
                self.run_time,
                self.cycle,
                self.step_number,
                measured_i,
                measured_v,
                self._charge,
                self._energy,
                temperature,
            )
        )

    def status(self) -> str:
        return f'{self.state},{self.step_number},{self.cycle},{self.run_time:.3f},"{self.reason}"'


def _format_record(record: tuple[int, float, int, int, float, float, float, float, float]) -> str:
    index, time, cycle, step, current, voltage, capacity, energy, temperature = record
    return (
        f"{index},{time:.6E},{cycle},{step},{current:.6E},{voltage:.6E},"
        f"{capacity:.6E},{energy:.6E},{temperature:.6E}"
    )


class CyclerServer(LineServer):
    """An N-channel cycler; `fill(channel, spec)` connects a new cell to a channel."""

    terminator = b"\n"
    reply_terminator = b"\n"
    name = "cycler"

    def __init__(
        self,
        channels: int = 8,
        *,
        clock: SimClock | None = None,
        cells: Mapping[int, CellSpec] | None = None,
        serial: str = "CY000001",
        max_current: float = 0.1,
        max_step: float = 60.0,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        if not 1 <= channels <= 64:
            raise SimulationError(f"{channels} channels; allowed: 1..64")
        self.clock = clock or SimClock()
        self.serial = serial
        self.max_current = max_current
        self.max_step = max_step
        self._seed = seed
        self._state = threading.RLock()
        self._errors = ErrorQueue(size=32)
        now = self.clock.now()
        self._epoch = now
        cells = cells or {}
        self._channels = [
            _Channel(
                EquivalentCircuitCell(cells.get(n, CellSpec()), seed=seed * 1000 + n),
                now,
                np.random.default_rng([seed, n]),
                self,
            )
            for n in range(1, channels + 1)
        ]
        super().__init__(host=host, port=port, seed=seed)

    @property
    def channel_count(self) -> int:
        return len(self._channels)

    def cell(self, channel: int) -> EquivalentCircuitCell:
        """The cell on `channel` (1-based), integrated up to now."""
        with self._state:
            self._advance()
            return self._channel(channel).cell

    def fill(self, channel: int, spec: CellSpec) -> None:
        """Connect a freshly filled cell to `channel` (not while it runs)."""
        with self._state:
            self._advance()
            target = self._channel(channel)
            if target.state == "RUNNING":
                raise SimulationError(f"channel {channel} is running; stop it before refilling")
            self._put_cell(channel, spec)

    def connect(self, channel: int, cell: Any) -> None:
        """Connect an already built cell object to `channel` (not while it runs): an
        `EquivalentCircuitCell` or any object with its interface (`spec`, `capacity`, `step`,
        `terminal_voltage`, `current_for_voltage`; independent under `copy.copy`), such as
        `sim.built_cell.BuiltCell`, a PyBaMM DFN cell with hidden build offsets."""
        with self._state:
            self._advance()
            if self._channel(channel).state == "RUNNING":
                raise SimulationError(f"channel {channel} is running; stop it before connecting")
            self._channels[channel - 1].cell = cell

    def _put_cell(self, channel: int, spec: CellSpec) -> None:
        self._channels[channel - 1].cell = EquivalentCircuitCell(
            spec, seed=self._seed * 1000 + channel
        )

    def inject_error(self, code: int, message: str) -> None:
        """Queue an error as if the last command had failed."""
        with self._state:
            self._errors.push(code, message)

    def error_answer(self, line: str) -> str | None:
        self.inject_error(-200, "Execution error")
        return None

    def _channel(self, channel: int) -> _Channel:
        if not 1 <= channel <= len(self._channels):
            raise SimulationError(f"channel {channel}; allowed: 1..{len(self._channels)}")
        return self._channels[channel - 1]

    def _advance(self) -> None:
        now = self.clock.now()
        for channel in self._channels:
            channel.advance(now, self.drift, self.stuck_busy)

    # -- protocol ------------------------------------------------------------------------

    def answer(self, line: str) -> str | None:
        """Execute each unit of the message in turn (`execute_message`), every channel
        integrated up to now once for the whole message; the query answers joined with ``;``."""
        with self._state:
            self._advance()
            return execute_message(line, self._dispatch, self._errors)

    def _dispatch(self, head: str, argument: str) -> str | None:
        technician = _SIM_FILL.fullmatch(head)
        if technician is not None:
            return self._technician(int(technician[1]), technician[2] is not None, argument)
        match = _CHANNEL.fullmatch(head)
        if match is None:
            return self._common(_normalise(head), argument)
        number = int(match.group(1))
        if not 1 <= number <= len(self._channels):
            raise ScpiReject(-114, "Header suffix out of range")
        return self._channel_command(self._channels[number - 1], _normalise(match[2]), argument)

    def _technician(self, number: int, query: bool, argument: str) -> str | None:
        """``SIM:CHAN<n>:FILL[?]``, simulator only: a technician swaps the channel's cell."""
        if not 1 <= number <= len(self._channels):
            raise ScpiReject(-114, "Header suffix out of range")
        if query:
            return spec_wire(self._channels[number - 1].cell.spec)
        if self._channels[number - 1].state == "RUNNING":
            raise ScpiReject(-221, "Settings conflict;channel running")
        self._put_cell(number, parse_fill(argument))
        return None

    def _common(self, header: str, argument: str) -> str | None:
        if header == "*IDN?":
            return f"Electroloop Sim,CYC-{len(self._channels)},{self.serial},1.0"
        if header == "*RST":
            for channel in self._channels:
                channel.reset()
            return None
        if header == "*CLS":
            self._errors.clear()
            return None
        if header == "*OPC?":
            return "1"
        if header == "SYST:ERR?":
            return self._errors.pop()
        if header == "SYST:CHAN?":
            return str(len(self._channels))
        if header == "SYST:TIME?":
            return f"{self.clock.now() - self._epoch:.6E}"
        raise ScpiReject(-113, "Undefined header")

    def _channel_command(self, channel: _Channel, header: str, argument: str) -> str | None:
        settings = ("LIM:VOLT", "LIM:CURR", "LIM:TEMP", "DATA:INT", "PROT:LOAD")
        if header in settings and channel.state == "RUNNING":
            raise ScpiReject(-221, "Settings conflict;channel running")
        if header in settings and not argument:
            raise ScpiReject(-109, "Missing parameter")
        if header == "LIM:VOLT":
            low, _, high = argument.partition(",")
            vmin, vmax = parse_number(low), parse_number(high)
            if not 0.0 <= vmin < vmax <= MAX_VOLTAGE:
                raise ScpiReject(-222, "Data out of range")
            channel.limits.update(vmin=vmin, vmax=vmax)
            return None
        if header == "LIM:VOLT?":
            return f"{channel.limits['vmin']:.6E},{channel.limits['vmax']:.6E}"
        if header == "LIM:CURR":
            imax = parse_number(argument)
            if not 0.0 < imax <= self.max_current:
                raise ScpiReject(-222, "Data out of range")
            channel.limits["imax"] = imax
            return None
        if header == "LIM:CURR?":
            return f"{channel.limits['imax']:.6E}"
        if header == "LIM:TEMP":
            channel.limits["tmax"] = parse_number(argument, -40.0, 100.0)
            return None
        if header == "LIM:TEMP?":
            return f"{channel.limits['tmax']:.6E}"
        if header == "DATA:INT":
            channel.interval = parse_number(argument, 1.0, 3600.0)
            return None
        if header == "DATA:INT?":
            return f"{channel.interval:.6E}"
        if header == "PROT:LOAD":
            channel.steps = _parse_protocol(argument, self.max_current)
            return None
        if header == "PROT?":
            return '"' + ";".join(step.wire() for step in channel.steps) + '"'
        if header == "PROT:START":
            channel.start()
            return None
        if header == "PROT:STOP":
            channel.stop()
            return None
        if header == "STAT?":
            return channel.status()
        if header == "DATA:COUNT?":
            return str(len(channel.records))
        if header == "DATA?":
            return self._data(channel, argument)
        raise ScpiReject(-113, "Undefined header")

    @staticmethod
    def _data(channel: _Channel, argument: str) -> str:
        since_text, _, most_text = argument.partition(",")
        if not most_text:
            raise ScpiReject(-109, "Missing parameter")
        since, most = parse_number(since_text), parse_number(most_text)
        if since != int(since) or most != int(most):
            raise ScpiReject(-104, "Data type error")
        if since < 0 or not 1 <= most <= MAX_RECORDS_PER_QUERY:
            raise ScpiReject(-222, "Data out of range")
        chosen = channel.records[int(since) : int(since) + int(most)]
        return ";".join([str(len(chosen)), *(_format_record(record) for record in chosen)])


def _normalise(header: str) -> str:
    """Short form, upper case, no leading colon: ``system:error:next?`` → ``SYST:ERR?``."""
    query = header.endswith("?")
    nodes = [_LONG.get(node, node) for node in header.rstrip("?").lstrip(":").upper().split(":")]
    return ":".join(node for node in nodes if node) + ("?" if query else "")


ChannelEngine = _Channel
"""One channel's engine (cell, protocol, run state, records), shared with `sim.neware`."""
EngineStep = _Step
"""One step of a channel engine's protocol."""
