"""Syringe pump with a distribution valve over the Cavro / Tricontinent DT protocol.

Sources (section names as in the manuals):
- Tricontinent "C-Series Product Manual", ch. 9 "Data Terminal (DT) protocol", Table 9-4: a
  command block is ``/<address><commands>R`` closed by CR; the answer block is
  ``/0<status><data>`` ETX CR LF (master address "0").
- Cavro XP 3000 Operator's Manual (725730C) §3 "Software Communication" (the XCalibur and XLP
  6000 manuals repeat it): "Initialization Commands" ([Z<n>] plunger and valve, output to the
  right; [Y<n>] output to the left; [W<n>] plunger only; n = 0 full, 1 half, 2 one-third force),
  "Plunger Movement Commands" ([A<n>] absolute, [P<n>] relative pick-up, [D<n>] relative
  dispense, n in increments, 0..3000 in standard mode), "Valve Commands" ([I<n>] to port n
  clockwise, [O<n>] counter-clockwise, [B] bypass), "Set Commands" ([V<n>] top speed, 5..6000
  pulses/s, default 1400; [S<n>] speed code 0..40), "Report Commands" ([?] plunger position,
  [?2] top speed, [?6] valve position, [&] firmware version) and "Error Codes and Query Status"
  (Table 3-8: the status byte is 0b01X0EEEE, bit 5 = ready, bits 0-3 = error code; [Q] reports
  it and clears the code; overload errors persist until the next initialisation).

One increment of the plunger is two motor pulses (half-steps): a full 3000-increment stroke at
the top speed V takes 6000 / V seconds (speed-code table, seconds per stroke), ramps ignored.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import ClassVar, Literal, NoReturn

from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.transport import ConnectionLost, MessageResource, escape, query

__all__ = [
    "ERROR_CODES",
    "READY_BIT",
    "SPEED_CODES",
    "TOP_SPEED_RANGE",
    "CommandOverflow",
    "DtAnswer",
    "InitializationError",
    "InvalidCommand",
    "InvalidOperand",
    "NotInitialized",
    "PlungerMoveNotAllowed",
    "PlungerOverload",
    "PumpFault",
    "PumpNotInitialized",
    "PumpOverload",
    "SyringePump",
    "Valve",
    "ValveOverload",
    "dt_frame",
    "parse_answer",
    "parse_firmware",
    "parse_integer",
    "parse_valve",
    "pump_fault",
]

ERROR_CODES: dict[int, str] = {
    0: "no error",
    1: "initialization error",
    2: "invalid command",
    3: "invalid operand",
    4: "invalid command sequence",
    5: "fluid detection",
    6: "EEPROM failure",
    7: "device not initialized",
    8: "CAN bus failure",
    9: "plunger overload",
    10: "valve overload",
    11: "plunger move not allowed",
    15: "command overflow",
}
READY_BIT = 0x20
# Speed code -> top speed, pulses/s (XP 3000 / XCalibur manuals, "S<n> Set Speed" table).
SPEED_CODES: dict[int, int] = dict(
    enumerate(
        [6000, 5600, 5000, 4400, 3800, 3200, 2600, 2200, 2000, 1800, 1600, 1400, 1200, 1000]
        + [800, 600, 400, 200, 190, 180, 170, 160, 150, 140, 130, 120, 110, 100, 90, 80, 70]
        + [60, 50, 40, 30, 20, 18, 16, 14, 12, 10]
    )
)
TOP_SPEED_RANGE = (5, 6000)  # [V<n>], pulses/s
DEFAULT_TOP_SPEED = 1400  # after power-up
PULSES_PER_INCREMENT = 2

Valve = int | Literal["bypass"]
"""A valve position: a port number 1..ports, or the bypass."""

_ANSWER = re.compile(r"/0(?P<status>.)(?P<data>[^\x03]*)\x03", re.DOTALL)
_BODY = re.compile(r"[A-Za-z0-9?&,]+")
_PRINTABLE = re.compile(r"[\x20-\x7e]+")


# -- errors --------------------------------------------------------------------------------


class PumpFault(DeviceFault):
    """The pump reported an error code in its status byte (XP 3000 manual Table 3-8)."""

    CODE: ClassVar[int | None] = None

    def __init__(self, code: int, command: str) -> None:
        self.code = code
        meaning = ERROR_CODES.get(code, "unknown error")
        super().__init__(f"syringe pump error {code} ({meaning}) after {command!r}")


class PumpNotInitialized(PumpFault):
    """Error 1 or 7: initialise (`SyringePump.initialize`) before moving."""


class InitializationError(PumpNotInitialized):
    """Error 1: the last [Z]/[Y]/[W] failed (blocked plunger or valve); fix, then retry."""

    CODE = 1


class NotInitialized(PumpNotInitialized):
    """Error 7: a move was sent before a successful initialisation."""

    CODE = 7


class InvalidCommand(PumpFault):
    """Error 2: the pump does not know a command in the string; nothing was run."""

    CODE = 2


class InvalidOperand(PumpFault):
    """Error 3: an operand is out of range (e.g. a pick-up past the full stroke)."""

    CODE = 3


class PumpOverload(PumpFault):
    """Error 9 or 10: the plunger or valve stalled; the pump must be re-initialised."""


class PlungerOverload(PumpOverload):
    """Error 9: the plunger stalled (blocked line, too viscous for the speed)."""

    CODE = 9


class ValveOverload(PumpOverload):
    """Error 10: the valve could not turn."""

    CODE = 10


class PlungerMoveNotAllowed(PumpFault):
    """Error 11: the plunger cannot move with the valve where it is (bypass)."""

    CODE = 11


class CommandOverflow(PumpFault):
    """Error 15: a move arrived while the pump was busy and was ignored."""

    CODE = 15


_FAULTS: dict[int, type[PumpFault]] = {
    cls.CODE: cls
    for cls in (
        InitializationError,
        NotInitialized,
        InvalidCommand,
        InvalidOperand,
        PlungerOverload,
        ValveOverload,
        PlungerMoveNotAllowed,
        CommandOverflow,
    )
    if cls.CODE is not None
}


def pump_fault(code: int, command: str) -> PumpFault:
    """The typed error for status-byte error `code` (codes without a class: `PumpFault`)."""
    return _FAULTS.get(code, PumpFault)(code, command)


# -- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DtAnswer:
    """One decoded answer block: the status byte and the data field."""

    status: int
    data: str

    @property
    def ready(self) -> bool:
        """Bit 5: the pump accepts new commands (0 while a move runs)."""
        return bool(self.status & READY_BIT)

    @property
    def error(self) -> int:
        """Bits 0-3: the error code, 0 for none."""
        return self.status & 0x0F


def parse_answer(reply: str) -> DtAnswer:
    """Decode ``/0<status><data>`` ETX (terminations already stripped); else `DeviceFault`."""
    match = _ANSWER.fullmatch(reply)
    if match is None:
        raise DeviceFault(
            f"syringe pump answered {escape(reply)!r}; expected r'/0<status>[data]\\x03'"
        )
    status = ord(match["status"])
    if status & 0xD0 != 0x40:  # bits 7, 6, 4 are fixed to 0, 1, 0 (Table 3-8)
        raise DeviceFault(f"syringe pump status byte {status:#04x} is not 0b01X0EEEE")
    return DtAnswer(status=status, data=match["data"])


def parse_integer(data: str, what: str, low: int, high: int) -> int:
    """A report's decimal data field within `low..high`; else `DeviceFault`."""
    if not data.isascii() or not data.isdigit() or len(data) > 6:
        raise DeviceFault(f"syringe pump reported {what} {escape(data)!r}; expected an integer")
    value = int(data)
    if not low <= value <= high:
        raise DeviceFault(f"syringe pump reported {what} {value}; expected {low}..{high}")
    return value


def parse_valve(data: str, ports: int) -> Valve:
    """The [?6] data field: a port number 1..`ports`, or ``b`` for bypass."""
    if data == "b":
        return "bypass"
    return parse_integer(data, "valve port", 1, ports)


def parse_firmware(data: str) -> str:
    """The [&] data field: printable text."""
    if _PRINTABLE.fullmatch(data) is None or not data.strip():
        raise DeviceFault(f"syringe pump reported firmware {escape(data)!r}; expected text")
    return data.strip()


def dt_frame(address: int, body: str) -> str:
    """``/<address><body>``; `LimitViolation` for anything a command block must not carry.

    Only letters, digits, ``?``, ``&`` and ``,`` appear in DT commands; a CR, ``/`` or any
    other control character would end or corrupt the block, so it is refused before sending.
    """
    if not 1 <= address <= 15:
        raise LimitViolation(f"pump address {address}; allowed: 1..15")
    if _BODY.fullmatch(body) is None:
        raise LimitViolation(
            f"pump command {escape(body)!r}; allowed: letters, digits, '?', '&' and ','"
        )
    return "/" + chr(0x30 + address) + body


# -- driver --------------------------------------------------------------------------------


class SyringePump:
    """One DT-protocol pump: volumes in mL, valve ports numbered 1..`ports`.

    Limits are checked before anything is sent: volumes against the syringe and the plunger
    position last read back, ports against the valve, speeds against `TOP_SPEED_RANGE` and
    `max_top_speed`. Every move polls [Q] until the pump is ready (at most `move_timeout` s
    beyond the move's own duration at the top speed, else `InstrumentTimeout`) and reads the
    result back. The driver takes the top speed to be the power-up default (V1400) until
    `set_top_speed`, `set_speed_code` or `top_speed` tell it otherwise. Open the resource with
    `TERMINATIONS`.

    Moves are sent non-idempotently: when the link drops during one (`ConnectionLost`: the
    transport reconnected but did not re-send) or its answer never comes (`InstrumentTimeout`;
    pyvisa-py also reports a socket closed by the peer this way), the driver cannot know
    whether the pump got it. It then waits until the pump is ready and reads plunger and valve
    back. At the target: the move happened, done. Where a relative move started, or anywhere
    but the target of an absolute move, valve turn or initialisation: the move is sent once
    more, which cannot move liquid twice. Elsewhere (a relative move that ended somewhere
    unexpected) the same error type is raised, naming where plunger and valve are, and the
    caller decides. Reports and [Q] polls are simply asked once more.
    """

    PARSER_VERSION: ClassVar[str] = "1"
    """How this driver reads the instrument's replies: bump it when a parser changes, so every
    measurement records which parsing produced it."""

    TERMINATIONS = {"read_termination": "\r\n", "write_termination": "\r"}

    def __init__(
        self,
        resource: MessageResource,
        address: int = 1,
        syringe_volume: float = 5.0,
        steps: int = 3000,
        ports: int = 6,
        *,
        move_timeout: float = 30.0,
        poll_interval: float = 0.002,
        max_top_speed: int = TOP_SPEED_RANGE[1],
    ) -> None:
        if not 1 <= address <= 15:
            raise LimitViolation(f"pump address {address}; allowed: 1..15")
        if not (syringe_volume > 0 and steps > 0 and ports >= 1 and move_timeout > 0):
            raise LimitViolation(
                f"syringe_volume {syringe_volume} mL, steps {steps}, ports {ports}, "
                f"move_timeout {move_timeout} s; allowed: positive values"
            )
        if not TOP_SPEED_RANGE[0] <= max_top_speed <= TOP_SPEED_RANGE[1]:
            raise LimitViolation(f"max_top_speed {max_top_speed}; allowed: {TOP_SPEED_RANGE}")
        self.resource = resource
        self.address = address
        self.syringe_volume = syringe_volume
        self.steps = steps
        self.ports = ports
        self.move_timeout = move_timeout
        self.poll_interval = poll_interval
        self.max_top_speed = max_top_speed
        self._position: int | None = None  # increments, as last read back
        self._valve: Valve | None = None  # as last read back
        self._top_speed = DEFAULT_TOP_SPEED  # pulses/s; sizes the busy-polling timeout

    @property
    def step_volume(self) -> float:
        """Volume of one plunger increment, mL."""
        return self.syringe_volume / self.steps

    def close(self) -> None:
        self.resource.close()

    # -- commands ------------------------------------------------------------------------

    def initialize(
        self, force: int = 0, *, output: Literal["right", "left", "none"] = "right"
    ) -> None:
        """Home the plunger (and valve) and read both back.

        [Z<n>] puts the valve output on the right, [Y<n>] on the left; [W<n>] homes only the
        plunger, for a pump without valve drive (the manual warns the valve then stays put
        until power is cycled). `force`: 0 full, 1 half, 2 one-third plunger force.
        """
        if force not in (0, 1, 2):
            raise LimitViolation(f"initialisation force {force!r}; allowed: 0, 1, 2")
        if output not in ("right", "left", "none"):
            raise LimitViolation(f"valve output {output!r}; allowed: right, left, none")
        letter = {"right": "Z", "left": "Y", "none": "W"}[output]
        body = letter + (str(force) if force else "")
        self._position = None
        self._execute(body, plunger=0, duration=self._duration(self.steps), resend="always")
        self._valve = self._read_valve()

    def select_port(self, port: int, *, direction: Literal["cw", "ccw"] = "cw") -> None:
        """Turn the distribution valve to `port` ([I<n>] clockwise, [O<n>] counter-clockwise)
        and read the valve back ([?6])."""
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= self.ports:
            raise LimitViolation(f"valve port {port!r}; allowed: 1..{self.ports}")
        if direction not in ("cw", "ccw"):
            raise LimitViolation(f"valve direction {direction!r}; allowed: cw, ccw")
        self._execute(f"{'I' if direction == 'cw' else 'O'}{port}", valve=port)

    def bypass(self) -> None:
        """Turn the valve to bypass ([B]); the plunger cannot move until a port is selected."""
        self._execute("B", valve="bypass")

    def aspirate(self, volume: float) -> None:
        """Draw `volume` mL through the selected port ([P<n>], relative pick-up)."""
        steps = self._steps(volume, "aspirate")
        start = self._plunger_may_move()
        if start + steps > self.steps:
            raise LimitViolation(
                f"aspirate {volume} mL with {start * self.step_volume:.4f} mL in the "
                f"syringe; allowed: up to {(self.steps - start) * self.step_volume:.4f} mL"
            )
        self._execute(
            f"P{steps}", plunger=start + steps, duration=self._duration(steps), relative_from=start
        )

    def dispense(self, volume: float) -> None:
        """Push `volume` mL out through the selected port ([D<n>], relative dispense)."""
        steps = self._steps(volume, "dispense")
        start = self._plunger_may_move()
        if steps > start:
            raise LimitViolation(
                f"dispense {volume} mL; allowed: up to the "
                f"{start * self.step_volume:.4f} mL in the syringe"
            )
        self._execute(
            f"D{steps}", plunger=start - steps, duration=self._duration(steps), relative_from=start
        )

    def move_to(self, volume: float) -> None:
        """Move the plunger so the syringe holds `volume` mL ([A<n>], absolute position)."""
        if not math.isfinite(volume) or not 0.0 <= volume <= self.syringe_volume:
            raise LimitViolation(
                f"plunger position {volume} mL; allowed: 0..{self.syringe_volume} mL"
            )
        target = round(volume / self.step_volume)
        if self._valve == "bypass":
            self._refuse_in_bypass()
        travel = self.steps if self._position is None else abs(target - self._position)
        self._execute(f"A{target}", plunger=target, duration=self._duration(travel))

    def set_top_speed(self, pulses_per_second: int) -> None:
        """Set the plunger top speed ([V<n>], pulses/s; two pulses per increment), read back."""
        low, high = TOP_SPEED_RANGE[0], self.max_top_speed
        if isinstance(pulses_per_second, bool) or not isinstance(pulses_per_second, int):
            raise LimitViolation(f"top speed {pulses_per_second!r}; allowed: an integer")
        if not low <= pulses_per_second <= high:
            raise LimitViolation(f"top speed {pulses_per_second} pulses/s; allowed: {low}..{high}")
        self._set_speed(f"V{pulses_per_second}", pulses_per_second)

    def set_speed_code(self, code: int) -> None:
        """Set the top speed by speed code ([S<n>], 0 fastest .. 40 slowest), read back."""
        if isinstance(code, bool) or not isinstance(code, int) or code not in SPEED_CODES:
            raise LimitViolation(f"speed code {code!r}; allowed: 0..40")
        if SPEED_CODES[code] > self.max_top_speed:
            raise LimitViolation(
                f"speed code {code} is {SPEED_CODES[code]} pulses/s; allowed: up to "
                f"max_top_speed {self.max_top_speed}"
            )
        self._set_speed(f"S{code}", SPEED_CODES[code])

    def top_speed(self) -> int:
        """The top speed the pump reports ([?2]), pulses/s."""
        self._top_speed = parse_integer(self._report("?2"), "top speed", *TOP_SPEED_RANGE)
        return self._top_speed

    def position(self) -> float:
        """Volume in the syringe, mL, from the absolute plunger position ([?])."""
        self._position = self._read_position()
        return self._position * self.step_volume

    def valve(self) -> Valve:
        """Where the valve is ([?6]): a port number, or "bypass"."""
        self._valve = self._read_valve()
        return self._valve

    def status(self) -> DtAnswer:
        """The status byte ([Q]): ready or busy, and the pending error code (0 for none)."""
        return self._exchange("Q")

    def firmware(self) -> str:
        """The firmware version text ([&])."""
        return parse_firmware(self._report("&"))

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Poll [Q] until the ready bit is set; raise the typed error of a reported code.

        `timeout` (s) defaults to `move_timeout`; `InstrumentTimeout` once it has passed.
        """
        limit = self.move_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            answer = self._exchange("Q")
            if answer.error:
                raise pump_fault(answer.error, "Q")
            if answer.ready:
                return
            if time.monotonic() > deadline:
                raise InstrumentTimeout(f"syringe pump still busy after {limit:.3g} s")
            time.sleep(self.poll_interval)

    # -- moves ---------------------------------------------------------------------------

    def _execute(
        self,
        body: str,
        *,
        plunger: int | None = None,
        valve: Valve | None = None,
        duration: float = 0.0,
        relative_from: int | None = None,
        resend: Literal["if unmoved", "always"] = "if unmoved",
    ) -> None:
        """Run one move ``<body>R``, wait for it and check the read-back (see class doc)."""
        if plunger is not None:
            self._position = None  # unknown until read back
        if valve is not None:
            self._valve = None
        timeout = self.move_timeout + 1.5 * duration
        try:
            answer: DtAnswer | None = self._exchange(body + "R", idempotent=False)
        except (ConnectionLost, InstrumentTimeout) as lost:
            self.wait_until_ready(timeout)
            position, where = self._read_position(), self._read_valve()
            done = (plunger is None or position == plunger) and (valve is None or where == valve)
            unmoved = relative_from is None or position == relative_from
            if resend == "always" or (not done and unmoved):
                answer = self._exchange(body + "R", idempotent=False)  # once: a second loss raises
            elif done:
                answer = None
            else:
                raise type(lost)(
                    f"syringe pump link failed during {body!r}: the plunger is at {position}, "
                    f"the valve at {where}; expected plunger {plunger}, valve {valve}; "
                    "not re-sent"
                ) from lost
        if answer is not None:
            self._raise_immediate(answer, body + "R")
            self.wait_until_ready(timeout)
        if plunger is not None:
            self._position = self._read_position()
            if self._position != plunger:
                raise DeviceFault(
                    f"syringe pump plunger at {self._position} after {body!r}; expected {plunger}"
                )
        if valve is not None:
            self._valve = self._read_valve()
            if self._valve != valve:
                reported = "b" if self._valve == "bypass" else str(self._valve)
                raise DeviceFault(f"syringe pump valve reports port {reported!r} after {body}")

    def _raise_immediate(self, answer: DtAnswer, command: str) -> None:
        """An error in a command's own answer: read it once with [Q] (which clears it), raise."""
        if answer.error:
            self._exchange("Q")
            raise pump_fault(answer.error, command)

    def _set_speed(self, body: str, expected: int) -> None:
        answer = self._exchange(body + "R")  # the same speed twice is harmless: idempotent
        self._raise_immediate(answer, body + "R")
        self.wait_until_ready()
        if self.top_speed() != expected:
            raise DeviceFault(
                f"syringe pump top speed {self._top_speed} after {body!r}; expected {expected}"
            )

    def _plunger_may_move(self) -> int:
        """The plunger position (read back if unknown), after refusing a move in bypass."""
        if self._valve == "bypass":
            self._refuse_in_bypass()
        if self._position is None:
            self._position = self._read_position()
        return self._position

    @staticmethod
    def _refuse_in_bypass() -> NoReturn:
        raise LimitViolation(
            "plunger move with the valve in bypass (the pump would answer error 11); "
            "select a port first"
        )

    def _steps(self, volume: float, verb: str) -> int:
        if not math.isfinite(volume) or volume <= 0.0:
            raise LimitViolation(f"{verb} volume {volume} mL; allowed: > 0 mL")
        if volume > self.syringe_volume:
            raise LimitViolation(
                f"{verb} volume {volume} mL; allowed: up to the syringe's {self.syringe_volume} mL"
            )
        steps = round(volume / self.step_volume)
        if steps == 0:
            raise LimitViolation(
                f"{verb} volume {volume} mL is below one increment ({self.step_volume:.6f} mL)"
            )
        return steps

    def _duration(self, increments: int) -> float:
        """Seconds a plunger travel of `increments` takes at the current top speed."""
        return PULSES_PER_INCREMENT * increments / self._top_speed

    # -- protocol ------------------------------------------------------------------------

    def _read_position(self) -> int:
        return parse_integer(self._report("?"), "position", 0, self.steps)

    def _read_valve(self) -> Valve:
        return parse_valve(self._report("?6"), self.ports)

    def _report(self, body: str) -> str:
        """A report's data; its status byte's error code is [Q]'s business, not the report's."""
        return self._exchange(body).data

    def _exchange(self, body: str, *, idempotent: bool = True) -> DtAnswer:
        """One command block and its answer. An idempotent one is asked once more after a
        timeout, so a lost answer costs one more query rather than the trial (a dropped
        connection is the transport's business: it reconnects and re-sends queries itself)."""
        frame = dt_frame(self.address, body)
        try:
            reply = query(self.resource, frame, instrument="syringe pump", idempotent=idempotent)
        except InstrumentTimeout:
            if not idempotent:
                raise
            reply = query(self.resource, frame, instrument="syringe pump")
        try:
            return parse_answer(reply)
        except DeviceFault as exc:
            raise DeviceFault(f"{exc} (after {body!r})") from None
