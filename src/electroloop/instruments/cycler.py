"""Multichannel battery cycler over the SCPI-style command set of docs/cycler_protocol.md.

The cycler runs a downloaded step list per channel on its own; the driver validates a
`CyclingProtocol` against the cell chemistry's `ChannelLimits` before anything is sent, sets
the channel's hardware safety limits just outside that window, loads and reads the protocol
back, starts, stops, polls and fetches records. Error queue: SCPI-1999 Vol. 2 §21.8
(``SYST:ERR?`` → ``<code>,"<message>"``); common commands: IEEE 488.2 §10.14 and §10.32.

Reconnect safety: every query moves nothing (``STAT?``, ``DATA?``, ``PROT?``…), so a query
that times out — which is also how pyvisa-py reports a link the peer closed — reopens the
link, drains the error queue and is asked once more. ``DATA? <since>,<max>`` returns the same
records however often it is asked: a client that keeps `next_index` from `fetch` loses
nothing and stores nothing twice across dropped links and its own restarts. ``PROT:START`` is
not repeated: its effect is confirmed with ``STAT?`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal, Self, get_args

from electroloop.clocks import WallClock
from electroloop.errors import (
    ConfigError,
    DeviceFault,
    InstrumentError,
    InstrumentTimeout,
    LimitViolation,
)
from electroloop.instruments import scpi
from electroloop.instruments.scpi import ScpiError, ScpiInstrument
from electroloop.instruments.transport import ConnectionLost, MessageResource, escape
from electroloop.protocols import Clock

__all__ = [
    "ChannelFault",
    "ChannelLimits",
    "ChannelState",
    "ChannelStatus",
    "CycleRecord",
    "CyclerError",
    "CyclingProtocol",
    "MultichannelCycler",
    "ProtocolStep",
    "check_limits",
    "fetch_every",
    "parse_error",
    "parse_protocol",
    "parse_records",
    "parse_status",
]

ChannelState = Literal["IDLE", "RUNNING", "DONE", "FAULT"]
StepKind = Literal["cc", "cv", "rest"]
MAX_STEPS = 63  # 64 on the instrument, one kept for the LOOP
MAX_CYCLES = 100_000
MAX_RECORDS_PER_QUERY = 500
PLAUSIBLE_OVERSHOOT = 0.1  # V a record may lie beyond the safety limits (the sample that trips)
_INSTRUMENT = "cycler"


def _finite(value: float | None, what: str) -> None:
    if value is not None and not math.isfinite(value):
        raise ConfigError(f"{what} is {value}; must be a finite number")


@dataclass(frozen=True)
class ProtocolStep:
    """One step. cc: `current` A (+ charge) until `voltage` V; cv: hold `voltage` V until
    |I| ≤ `cutoff_current` A; rest: `duration` s. For cc and cv `duration` caps the step."""

    kind: StepKind
    current: float = 0.0
    voltage: float = 0.0
    cutoff_current: float = 0.0
    duration: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(StepKind):
            raise ConfigError(f"step kind {self.kind!r}; allowed: {get_args(StepKind)}")
        for name in ("current", "voltage", "cutoff_current", "duration"):
            _finite(getattr(self, name), name)
        if self.kind == "cc" and self.current == 0.0:
            raise ConfigError("a cc step needs a non-zero current")
        if self.kind == "cv" and self.cutoff_current <= 0.0:
            raise ConfigError("a cv step needs a cut-off current > 0")
        if self.kind == "rest" and self.duration is None:
            raise ConfigError("a rest step needs a duration")
        if self.duration is not None and self.duration <= 0.0:
            raise ConfigError(f"duration {self.duration} s; allowed: > 0")

    @classmethod
    def cc(cls, current: float, until_voltage: float, max_duration: float | None = None) -> Self:
        return cls("cc", current=current, voltage=until_voltage, duration=max_duration)

    @classmethod
    def cv(cls, voltage: float, until_current: float, max_duration: float | None = None) -> Self:
        return cls("cv", voltage=voltage, cutoff_current=until_current, duration=max_duration)

    @classmethod
    def rest(cls, duration: float) -> Self:
        return cls("rest", duration=duration)

    def wire(self) -> str:
        """This step in the ``PROT:LOAD`` format."""
        tail = "" if self.duration is None else f",{self.duration:.6E}"
        if self.kind == "cc":
            return f"CC,{self.current:.6E},{self.voltage:.6E}{tail}"
        if self.kind == "cv":
            return f"CV,{self.voltage:.6E},{self.cutoff_current:.6E}{tail}"
        return f"REST,{self.duration:.6E}"


@dataclass(frozen=True)
class CyclingProtocol:
    """`steps` run `cycles` times in a row; a record every `record_interval` s."""

    steps: tuple[ProtocolStep, ...]
    cycles: int = 1
    record_interval: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= len(self.steps) <= MAX_STEPS:
            raise ConfigError(f"{len(self.steps)} steps; allowed: 1..{MAX_STEPS}")
        if not 1 <= self.cycles <= MAX_CYCLES:
            raise ConfigError(f"{self.cycles} cycles; allowed: 1..{MAX_CYCLES}")
        if not (math.isfinite(self.record_interval) and 1.0 <= self.record_interval <= 3600.0):
            raise ConfigError(f"record interval {self.record_interval} s; allowed: 1..3600 s")

    def wire(self) -> str:
        """The step list of ``PROT:LOAD`` (without quotes)."""
        parts = [step.wire() for step in self.steps]
        if self.cycles > 1:
            parts.append(f"LOOP,1,{self.cycles}")
        return ";".join(parts)


@dataclass(frozen=True)
class ChannelLimits:
    """The cell chemistry's window, enforced by the driver and (widened by `safety_margin` V)
    by the cycler's hardware limits."""

    min_voltage: float = 2.5
    max_voltage: float = 4.2
    max_current: float = 0.05
    max_temperature: float = 60.0
    safety_margin: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_voltage < self.max_voltage:
            raise ConfigError(f"voltage window {self.min_voltage}..{self.max_voltage} V")
        if not self.max_current > 0.0 or not 0.0 <= self.safety_margin <= self.min_voltage:
            raise ConfigError("max current must be > 0 and the safety margin within 0..min V")


@dataclass(frozen=True)
class ChannelStatus:
    """``STAT?``: state, step and cycle (0 before the first start), test time s, fault reason."""

    state: ChannelState
    step: int
    cycle: int
    time: float
    reason: str = ""


@dataclass(frozen=True)
class CycleRecord:
    """One buffered record; capacity Ah and energy Wh count from the start of its step."""

    index: int
    time: float
    cycle: int
    step: int
    current: float
    voltage: float
    capacity: float
    energy: float
    temperature: float


class CyclerError(ScpiError):
    """The cycler's error queue held errors."""

    instrument = _INSTRUMENT


class ChannelFault(DeviceFault):
    """A channel stopped on a safety limit (`reason` as the cycler gave it)."""

    def __init__(self, channel: int, status: ChannelStatus) -> None:
        self.channel = channel
        self.status = status
        super().__init__(
            f"cycler channel {channel} FAULT at step {status.step}, cycle {status.cycle}, "
            f"{status.time:.0f} s: {status.reason}"
        )


# -- response parsers (pure; property-tested) ----------------------------------------------


def _bad(command: str, reply: str, expected: str) -> DeviceFault:
    return DeviceFault(f"cycler answered {command!r} with {escape(reply)[:200]!r}; {expected}")


def _float(text: str, command: str, reply: str) -> float:
    try:
        value = scpi.parse_number(text, command, _INSTRUMENT)
    except DeviceFault:
        raise _bad(command, reply, "expected numbers") from None
    if not math.isfinite(value):
        raise _bad(command, reply, "expected finite numbers")
    return value


def _int(text: str, command: str, reply: str) -> int:
    if not text.strip().isascii() or not text.strip().isdigit():  # str.isdigit takes "²"
        raise _bad(command, reply, "expected a non-negative integer")
    return int(text)


def parse_error(reply: str) -> tuple[int, str]:
    """``<code>,"<message>"`` from ``SYST:ERR?``."""
    return scpi.parse_error(reply, _INSTRUMENT)


def parse_status(reply: str) -> ChannelStatus:
    """``<state>,<step>,<cycle>,<time>,"<reason>"`` from ``CHAN<n>:STAT?``."""
    fields = reply.strip().split(",", 4)
    command = "STAT?"
    if len(fields) != 5 or fields[0] not in get_args(ChannelState):
        raise _bad(command, reply, 'expected <state>,<step>,<cycle>,<time>,"<reason>"')
    reason = fields[4].strip()
    if len(reason) < 2 or reason[0] != '"' or reason[-1] != '"':
        raise _bad(command, reply, "expected a quoted reason")
    time_ = _float(fields[3], command, reply)
    if time_ < 0:
        raise _bad(command, reply, "expected a test time >= 0")
    return ChannelStatus(
        state=fields[0],  # type: ignore[arg-type]  # checked against ChannelState above
        step=_int(fields[1], command, reply),
        cycle=_int(fields[2], command, reply),
        time=time_,
        reason=reason[1:-1],
    )


def parse_records(reply: str) -> list[CycleRecord]:
    """``<k>[;<record>]…`` from ``CHAN<n>:DATA?``: exactly `k` records of 9 fields."""
    command = "DATA?"
    count_text, *rows = reply.strip().split(";")
    count = _int(count_text, command, reply)
    if count != len(rows):
        raise _bad(command, reply, f"announced {count} records, got {len(rows)}")
    records = []
    for row in rows:
        fields = row.split(",")
        if len(fields) != 9:
            raise _bad(command, reply, "expected 9 fields per record")
        index, cycle, step = (_int(fields[i], command, reply) for i in (0, 2, 3))
        values = [_float(fields[i], command, reply) for i in (1, 4, 5, 6, 7, 8)]
        time_, current, voltage, capacity, energy, temperature = values
        records.append(
            CycleRecord(index, time_, cycle, step, current, voltage, capacity, energy, temperature)
        )
    return records


def parse_protocol(reply: str, record_interval: float = 30.0) -> CyclingProtocol:
    """``"<steps>"`` from ``CHAN<n>:PROT?`` as a `CyclingProtocol` (an optional final
    ``LOOP,1,<n>`` is its `cycles`)."""
    command = "PROT?"
    text = reply.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise _bad(command, reply, "expected a quoted step list")
    parts = [part for part in text[1:-1].split(";") if part]
    cycles = 1
    if parts and parts[-1].upper().startswith("LOOP,"):
        fields = parts.pop().split(",")
        if len(fields) != 3 or fields[1].strip() != "1":
            raise _bad(command, reply, "expected a final LOOP,1,<n>")
        cycles = _int(fields[2], command, reply)
    steps = []
    for part in parts:
        kind, *fields = part.split(",")
        kind = kind.strip().upper()
        values = [_float(field, command, reply) for field in fields]
        try:
            if kind == "CC" and len(values) in (2, 3):
                steps.append(ProtocolStep.cc(values[0], values[1], *values[2:]))
            elif kind == "CV" and len(values) in (2, 3):
                steps.append(ProtocolStep.cv(values[0], values[1], *values[2:]))
            elif kind == "REST" and len(values) == 1:
                steps.append(ProtocolStep.rest(values[0]))
            else:
                raise _bad(command, reply, f"unexpected step {escape(part)!r}")
        except ConfigError as exc:
            raise _bad(command, reply, str(exc)) from None
    try:
        return CyclingProtocol(tuple(steps), cycles=cycles, record_interval=record_interval)
    except ConfigError as exc:
        raise _bad(command, reply, str(exc)) from None


Fetch = Callable[[int, int, int], tuple[list[CycleRecord], int]]
"""A driver's ``fetch(channel, since, max_records) -> (records, next index)``."""


def fetch_every(
    fetch: Fetch, channel: int, since: int = 0, page: int = MAX_RECORDS_PER_QUERY
) -> tuple[list[CycleRecord], int]:
    """Every record of `channel` from `since` on, through `fetch` in pages of `page` records
    (every cycler driver's ``fetch_all``)."""
    collected: list[CycleRecord] = []
    while True:
        records, since = fetch(channel, since, page)
        collected.extend(records)
        if len(records) < page:
            return collected, since


def check_limits(protocol: CyclingProtocol, limits: ChannelLimits) -> None:
    """Raise `LimitViolation` unless every step stays inside the chemistry's window (every
    cycler driver checks this before it loads anything)."""
    low, high = limits.min_voltage, limits.max_voltage
    top = limits.max_current
    for number, step in enumerate(protocol.steps, start=1):
        where = f"step {number} ({step.kind})"
        if step.kind == "cc" and not abs(step.current) <= top:
            raise LimitViolation(f"{where}: current {step.current} A; allowed |I| <= {top} A")
        if step.kind in ("cc", "cv") and not low <= step.voltage <= high:
            raise LimitViolation(f"{where}: voltage {step.voltage} V; allowed {low}..{high} V")
        if step.kind == "cv" and not step.cutoff_current < top:
            raise LimitViolation(f"{where}: cut-off {step.cutoff_current} A; allowed < {top} A")


class MultichannelCycler(ScpiInstrument):
    """A cycler over one message resource; open it with `TERMINATIONS`.

    `limits` is the chemistry's window every protocol is checked against; `clock` paces `wait`
    in instrument time (a `SimClock` in a dry run). ``*RST`` (`reset`) stops every channel and
    clears protocols and records (indices restart). Every query moves nothing, so one that times
    out is asked once more after the link is reopened (``attempts=2``).
    """

    PARSER_VERSION: ClassVar[str] = "1"
    """How this driver reads the instrument's replies: bump it when a parser changes, so every
    measurement records which parsing produced it."""

    def __init__(
        self,
        resource: MessageResource,
        *,
        limits: ChannelLimits | None = None,
        clock: Clock | None = None,
        max_errors: int = 20,
    ) -> None:
        super().__init__(
            resource, _INSTRUMENT, CyclerError, max_errors=max_errors, joined=True, attempts=2
        )
        self.limits = limits or ChannelLimits()
        self.clock: Clock = clock or WallClock()
        self._channels: int | None = None

    def channel_count(self) -> int:
        """Number of channels (``SYST:CHAN?``)."""
        if self._channels is None:
            reply = self._ask("SYST:CHAN?")
            self._channels = _int(reply, "SYST:CHAN?", reply)
        return self._channels

    # -- protocols -----------------------------------------------------------------------

    def validate(self, protocol: CyclingProtocol) -> None:
        """Raise `LimitViolation` unless every step stays inside the chemistry's window."""
        check_limits(protocol, self.limits)

    def load(self, channel: int, protocol: CyclingProtocol) -> None:
        """Set the channel's safety limits and record interval, load `protocol`, read back."""
        self.validate(protocol)
        self._check_channel(channel)
        limits, margin = self.limits, self.limits.safety_margin
        vmin, vmax = limits.min_voltage - margin, limits.max_voltage + margin
        prefix = f":CHAN{channel}:"
        self._apply_numbers(f"{prefix}LIM:VOLT", vmin, vmax)
        imax = limits.max_current * 1.05  # a 5 % margin above the chemistry's current
        self._apply_numbers(f"{prefix}LIM:CURR", imax)
        self._apply_numbers(f"{prefix}LIM:TEMP", limits.max_temperature)
        self._apply_numbers(f"{prefix}DATA:INT", protocol.record_interval)
        self._apply(
            f'{prefix}PROT:LOAD "{protocol.wire()}"',
            f"{prefix}PROT?",
            lambda reply: parse_protocol(reply).wire() == protocol.wire(),  # NR3 both ways
        )

    def start(self, channel: int) -> ChannelStatus:
        """``PROT:START``, confirmed by ``STAT?`` (RUNNING, or DONE for a very short protocol).

        Not repeated on a dropped link (it would restart a finished test): a `DeviceFault`
        then says the channel did not start, and the caller may call `start` again.
        """
        self._check_channel(channel)
        before = self.record_count(channel)
        command = f":CHAN{channel}:PROT:START;:CHAN{channel}:STAT?"
        try:
            status = parse_status(self._ask(command, idempotent=False))
        except (ConnectionLost, InstrumentTimeout):
            status = self.status(channel)  # did it arrive? not re-sent either way
        if status.state == "RUNNING" or (
            status.state in ("DONE", "FAULT") and self.record_count(channel) > before
        ):
            return status
        self.check_errors(after=f"'CHAN{channel}:PROT:START'")
        raise DeviceFault(
            f"cycler channel {channel} did not start (state {status.state}); not re-sent"
        )

    def stop(self, channel: int) -> ChannelStatus:
        """``PROT:STOP``; the target state (not RUNNING) makes it safe to send again."""
        self._check_channel(channel)
        status = self.status(channel)
        for _ in range(2):
            if status.state != "RUNNING":
                return status
            status = parse_status(self._ask(f":CHAN{channel}:PROT:STOP;:CHAN{channel}:STAT?"))
        self.check_errors(after=f"'CHAN{channel}:PROT:STOP'")
        raise DeviceFault(f"cycler channel {channel} is still RUNNING after two STOPs")

    def status(self, channel: int) -> ChannelStatus:
        """``CHAN<n>:STAT?``."""
        self._check_channel(channel)
        return parse_status(self._ask(f"CHAN{channel}:STAT?"))

    def wait(self, channel: int, *, timeout: float, poll_interval: float = 60.0) -> ChannelStatus:
        """Poll until the channel is DONE (returned); FAULT raises `ChannelFault`, IDLE (someone
        stopped it) `InstrumentError`, still RUNNING after `timeout` s `InstrumentTimeout`."""
        if not (timeout > 0 and 0 < poll_interval <= timeout):
            raise LimitViolation(f"timeout {timeout} s, poll {poll_interval} s; need 0 < p <= t")
        deadline = self.clock.now() + timeout
        while True:
            status = self.status(channel)
            if status.state == "DONE":
                return status
            if status.state == "FAULT":
                raise ChannelFault(channel, status)
            if status.state == "IDLE":
                raise InstrumentError(f"cycler channel {channel} is IDLE: stopped, not finished")
            if self.clock.now() >= deadline:
                raise InstrumentTimeout(
                    f"cycler channel {channel} still RUNNING after {timeout} s "
                    f"(step {status.step}, cycle {status.cycle}, {status.time:.0f} s)"
                )
            self.clock.sleep(poll_interval)

    # -- data ----------------------------------------------------------------------------

    def record_count(self, channel: int) -> int:
        """Records stored on `channel` = the index the next record will get."""
        self._check_channel(channel)
        reply = self._ask(f"CHAN{channel}:DATA:COUNT?")
        return _int(reply, "DATA:COUNT?", reply)

    def fetch(
        self, channel: int, since: int = 0, max_records: int = 100
    ) -> tuple[list[CycleRecord], int]:
        """Records with index ≥ `since` (at most `max_records`) and the next index to ask for."""
        self._check_channel(channel)
        if not (since >= 0 and 1 <= max_records <= MAX_RECORDS_PER_QUERY):
            raise LimitViolation(
                f"since {since}, max {max_records}; allowed since >= 0, "
                f"1 <= max <= {MAX_RECORDS_PER_QUERY}"
            )
        records = parse_records(self._ask(f"CHAN{channel}:DATA? {since},{max_records}"))
        expected = list(range(since, since + len(records)))
        if [record.index for record in records] != expected:
            raise DeviceFault(
                f"cycler channel {channel} returned records out of sequence from {since}"
            )
        low = self.limits.min_voltage - self.limits.safety_margin - PLAUSIBLE_OVERSHOOT
        high = self.limits.max_voltage + self.limits.safety_margin + PLAUSIBLE_OVERSHOOT
        for record in records:
            if not low <= record.voltage <= high:
                raise DeviceFault(
                    f"cycler channel {channel} record {record.index} reads {record.voltage:.4f} V,"
                    f" beyond what its safety limits allow ({low:.2f}..{high:.2f} V): "
                    "the measurement is drifting or the channel is miswired"
                )
        return records, since + len(records)

    def fetch_all(self, channel: int, since: int = 0) -> tuple[list[CycleRecord], int]:
        """Every record from `since` on, in pages of `MAX_RECORDS_PER_QUERY`."""
        return fetch_every(self.fetch, channel, since)

    # -- internals -----------------------------------------------------------------------

    def _check_channel(self, channel: int) -> None:
        count = self.channel_count()
        if not (isinstance(channel, int) and 1 <= channel <= count):
            raise LimitViolation(f"channel {channel}; allowed: 1..{count}")
