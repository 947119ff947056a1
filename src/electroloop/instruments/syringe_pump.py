"""Syringe pump with a distribution valve over the Cavro / Tricontinent DT protocol.

Sources: Tricontinent "C-Series Product Manual", ch. 9 "Data Terminal (DT) protocol"
(Table 9-4: command block ``/<address><commands>`` closed by CR; answer block
``/0<status><data>`` ETX CR LF, master address "0"), ch. 5 initialization ([Z]), valve
([I<n>], [O<n>]: move the distribution valve to port n), plunger ([A<n>] absolute,
[P<n>] relative pick-up, [D<n>] relative dispense, in increments of the N0 mode, 0..3000)
and report commands (Table 5-12: [?] absolute plunger position, [?6] valve port);
Cavro XP 3000 Operator's Manual §3 "Error Codes and Query Status" and Table 3-8 (also
Cavro XLP 6000 manual §3.6): the [Q] status byte carries bit 5 = ready (1) / busy (0) and the
error code in bits 0–3.
"""

from __future__ import annotations

import math
import re
import time

from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.transport import MessageResource, escape, query

__all__ = [
    "ERROR_CODES",
    "PumpFault",
    "PumpNotInitialized",
    "PumpOverload",
    "SyringePump",
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
_ANSWER = re.compile(r"^/0(?P<status>.)(?P<data>[^\x03]*)\x03$", re.DOTALL)


class PumpFault(DeviceFault):
    """The pump reported an error code in its status byte."""

    def __init__(self, code: int, command: str) -> None:
        self.code = code
        meaning = ERROR_CODES.get(code, "unknown error")
        super().__init__(f"syringe pump error {code} ({meaning}) after {command!r}")


class PumpNotInitialized(PumpFault):
    """Error 1 or 7: initialise (`SyringePump.initialize`) before moving."""


class PumpOverload(PumpFault):
    """Error 9 or 10: the plunger or valve stalled; the pump must be re-initialised."""


def _fault(code: int, command: str) -> PumpFault:
    if code in (1, 7):
        return PumpNotInitialized(code, command)
    if code in (9, 10):
        return PumpOverload(code, command)
    return PumpFault(code, command)


class SyringePump:
    """One DT-protocol pump: volumes in mL, valve ports numbered 1..`ports`.

    Limits are checked before anything is sent. The driver remembers the plunger position it
    last read back, so aspirating past a full syringe or dispensing more than it holds is a
    `LimitViolation`, not a pump error. Every move waits for the pump to be ready again and
    reads the result back. Open the resource with `TERMINATIONS`.
    """

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
    ) -> None:
        if not 1 <= address <= 15:
            raise LimitViolation(f"pump address {address}; allowed: 1..15")
        if syringe_volume <= 0 or steps <= 0 or ports < 1:
            raise LimitViolation(
                f"syringe_volume {syringe_volume} mL, steps {steps}, ports {ports}; "
                "allowed: positive values"
            )
        self.resource = resource
        self.address = address
        self.syringe_volume = syringe_volume
        self.steps = steps
        self.ports = ports
        self.move_timeout = move_timeout
        self.poll_interval = poll_interval
        self._prefix = "/" + chr(0x30 + address)
        self._position: int | None = None  # steps, as last read back

    @property
    def step_volume(self) -> float:
        """Volume of one plunger increment, mL."""
        return self.syringe_volume / self.steps

    def close(self) -> None:
        self.resource.close()

    # -- commands ------------------------------------------------------------------------

    def initialize(self) -> None:
        """Home plunger and valve ([Z], C-Series manual ch. 5) and wait until ready."""
        self._run("ZR")
        self._position = self._read_position()

    def select_port(self, port: int) -> None:
        """Turn the distribution valve to `port` ([I<n>]) and read the port back ([?6])."""
        if not isinstance(port, int) or not 1 <= port <= self.ports:
            raise LimitViolation(f"valve port {port!r}; allowed: 1..{self.ports}")
        self._run(f"I{port}R")
        reported = self._report("?6")
        if reported != str(port):
            raise DeviceFault(f"syringe pump valve reports port {reported!r} after I{port}")

    def aspirate(self, volume: float) -> None:
        """Draw `volume` mL through the selected port ([P<n>], relative pick-up)."""
        steps = self._steps(volume, "aspirate")
        if self._position is not None and self._position + steps > self.steps:
            raise LimitViolation(
                f"aspirate {volume} mL with {self._position * self.step_volume:.4f} mL in the "
                f"syringe; allowed: up to {(self.steps - self._position) * self.step_volume:.4f} mL"
            )
        self._move(f"P{steps}R", None if self._position is None else self._position + steps)

    def dispense(self, volume: float) -> None:
        """Push `volume` mL out through the selected port ([D<n>], relative dispense)."""
        steps = self._steps(volume, "dispense")
        if self._position is not None and steps > self._position:
            raise LimitViolation(
                f"dispense {volume} mL; allowed: up to the "
                f"{self._position * self.step_volume:.4f} mL in the syringe"
            )
        self._move(f"D{steps}R", None if self._position is None else self._position - steps)

    def move_to(self, volume: float) -> None:
        """Move the plunger so the syringe holds `volume` mL ([A<n>], absolute position)."""
        if not math.isfinite(volume) or not 0.0 <= volume <= self.syringe_volume:
            raise LimitViolation(
                f"plunger position {volume} mL; allowed: 0..{self.syringe_volume} mL"
            )
        target = round(volume / self.step_volume)
        self._move(f"A{target}R", target)

    def position(self) -> float:
        """Volume in the syringe, mL, from the absolute plunger position ([?])."""
        self._position = self._read_position()
        return self._position * self.step_volume

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Poll [Q] until the ready bit (0x20) is set; raise the typed error of a set code."""
        limit = self.move_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            status = self._status(self._exchange("Q")[0], "Q")
            if status & READY_BIT:
                return
            if time.monotonic() > deadline:
                raise InstrumentTimeout(f"syringe pump still busy after {limit} s")
            time.sleep(self.poll_interval)

    # -- protocol ------------------------------------------------------------------------

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

    def _move(self, command: str, expected: int | None) -> None:
        self._position = None  # unknown until read back
        self._run(command)
        self._position = self._read_position()
        if expected is not None and self._position != expected:
            raise DeviceFault(
                f"syringe pump plunger at {self._position} after {command!r}; expected {expected}"
            )

    def _run(self, command: str) -> None:
        status_char, _ = self._exchange(command)
        self._status(status_char, command)
        self.wait_until_ready()

    def _report(self, command: str) -> str:
        status_char, data = self._exchange(command)
        self._status(status_char, command, check_error=False)
        return data

    def _read_position(self) -> int:
        data = self._report("?")
        try:
            return int(data)
        except ValueError:
            raise DeviceFault(
                f"syringe pump reported position {data!r}; expected an integer"
            ) from None

    def _exchange(self, command: str) -> tuple[str, str]:
        reply = query(self.resource, self._prefix + command, instrument="syringe pump")
        match = _ANSWER.match(reply)
        if match is None:
            raise DeviceFault(
                f"syringe pump answered {command!r} with {escape(reply)!r}; expected "
                r"'/0<status>[data]\x03'"
            )
        return match["status"], match["data"]

    @staticmethod
    def _status(char: str, command: str, *, check_error: bool = True) -> int:
        status = ord(char)
        if status & 0xD0 != 0x40:  # bits 7, 6, 4 are fixed to 0, 1, 0 (Table 3-8)
            raise DeviceFault(f"syringe pump status byte {status:#04x} after {command!r}")
        code = status & 0x0F
        if check_error and code:
            raise _fault(code, command)
        return status
