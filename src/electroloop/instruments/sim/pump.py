"""Simulated Cavro/Tricontinent syringe pump speaking the DT protocol over TCP.

Requests are ``/<address><commands>`` closed by CR, run by a trailing [R]; answers are
``/0<status><data>`` ETX CR LF (C-Series Product Manual ch. 9, Table 9-4). The status byte is
0x40 | 0x20 (ready) | error code (Cavro XP 3000 manual Table 3-8). Behaviour follows the XP 3000
manual §3 ("Error Codes and Query Status", "Error Reporting Examples"):

- an unknown command is refused at once (error 2 in the answer, nothing runs);
- a move or valve command while busy is refused at once with error 15; [V] is not;
- a move before a successful [Z]/[Y]/[W] is refused at once with error 7; after a plunger or
  valve overload (9/10) every move is refused with that code until the next initialisation;
- an out-of-range operand (error 3) or a plunger move with the valve in bypass (error 11) runs
  the program up to that command, then stops; [Q] reports the code when it is reached;
- [Q] reports the status byte and then clears the code.

Timing: a plunger move of n increments takes 2n / V seconds of instrument time on `clock` (two
pulses per increment, top speed V in pulses/s, ramps ignored), a valve move `valve_time`; the
pump is busy until then, and [?] / [?6] report the plunger and valve where they are meanwhile.

Plumbing: `bottle_port` leads to the stock bottle and `vial_port` to the vial on the balance;
other ports go to waste. [Z] turns the valve to port 1, [Y] to the last port, [W] leaves it
(the valve drive stays uninitialised: valve commands run but the valve does not turn). Each
pick-up from the bottle draws (1 + ε)(1 + drift) times the nominal volume, ε ~ N(0,
`volume_cv`); 0.3 % is within the ≤ 1 % full-stroke accuracy class quoted for these pumps (an
assumption, not a data sheet), and `drift` grows once a DRIFT fault has fired (`LineServer`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.server import LineServer

__all__ = ["PumpServer"]

_COMMAND = re.compile(r"([A-Za-z])(\d*)")
_INIT = set("ZYW")
_VALVE = set("IOB")
_PLUNGER = set("APD")
_KNOWN = _INIT | _VALVE | _PLUNGER | set("VS")
# Speed code -> top speed, pulses/s (XP 3000 manual, "S<n> Set Speed" table).
_SPEED_CODES = (
    [6000, 5600, 5000, 4400, 3800, 3200, 2600, 2200, 2000, 1800, 1600, 1400, 1200, 1000, 800]
    + [600, 400, 200, 190, 180, 170, 160, 150, 140, 130, 120, 110, 100, 90, 80, 70, 60, 50]
    + [40, 30, 20, 18, 16, 14, 12, 10]
)
_START_SPEED, _CUTOFF_SPEED = 900, 900  # power-up defaults, pulses/s ([?1], [?3])

Valve = int | str  # a port number, or "b" in bypass


@dataclass(frozen=True)
class _Segment:
    """One command of a running program: plunger and valve go from `before` to `after`."""

    start: float
    end: float
    plunger: tuple[int, int]
    valve: tuple[Valve, Valve]


class PumpServer(LineServer):
    """One DT-protocol pump drawing `stock` from its bottle on `bench`.

    `error_code` is the status-byte error a `Fault.ERROR` answers with (its effects follow the
    manual: 9/10 persist until initialisation, 1/7 leave the pump uninitialised).
    """

    terminator = b"\r"
    reply_terminator = b"\r\n"
    name = "pump"

    def __init__(
        self,
        bench: SimulatedBench,
        stock: str,
        *,
        address: int = 1,
        syringe_volume: float = 5.0,
        steps: int = 3000,
        ports: int = 6,
        bottle_port: int = 1,
        vial_port: int = 2,
        top_speed: int = 1400,
        valve_time: float = 0.2,
        volume_cv: float = 0.003,
        firmware: str = "XCalibur DT 2.4 (simulated)",
        error_code: int = 9,
        clock: SimClock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.bench = bench
        self.stock = stock
        self.address = address
        self.syringe_volume = syringe_volume
        self.steps = steps
        self.ports = ports
        self.bottle_port = bottle_port
        self.vial_port = vial_port
        self.top_speed = top_speed
        self.valve_time = valve_time
        self.volume_cv = volume_cv
        self.firmware = firmware
        self.error_code = error_code
        self.clock = clock if clock is not None else SimClock(1.0)
        self.initialized = False
        self.valve_drive = False  # False after [W]: the valve does not turn
        self.position = 0  # plunger, increments, where the last command leaves it
        self.valve: Valve = 1
        self.content = 0.0  # true liquid volume in the syringe, mL
        self.error = 0  # the code [Q] reports next
        self.overloaded = 0  # 9 or 10 until the next initialisation
        self._busy_until = 0.0  # instrument time
        self._segments: list[_Segment] = []
        self._deferred: tuple[float, int] | None = None  # (instrument time, code) to report
        self._buffer = ""
        self._stuck_taken = False
        self._injected: list[list[int]] = []  # [moves still to pass, code]
        self._state = threading.Lock()
        self._rng = bench.rng(f"pump:{stock}")
        super().__init__(host=host, port=port, seed=bench.seed)

    def inject_error(self, code: int, *, after_moves: int = 0) -> None:
        """Make a move fail with error `code` while it runs, reported by [Q]: the next one,
        or the one after `after_moves` more valve or plunger moves (9 and 10 persist until
        the next initialisation)."""
        with self._state:
            self._injected.append([after_moves, code])

    def error_answer(self, line: str) -> str | None:
        """A `Fault.ERROR`: answer `line` with `error_code` in the status byte, run nothing."""
        if not self._addressed(line):
            return None
        with self._state:
            now = self.clock.now()
            code = self.error_code
            if line.endswith("R"):  # a command: refused with `code`, which [Q] reports again
                self.error = code
                if code in (9, 10):
                    self.overloaded = code
                elif code in (1, 7):
                    self.initialized = False
            return self._reply(now, code)

    def answer(self, line: str) -> str | None:
        if not self._addressed(line):
            return None  # addressed to another pump on the bus
        body = line[2:]
        with self._state:
            now = self.clock.now()
            self._settle(now)
            if body == "Q":
                reply = self._reply(now, self.error)
                self.error = 0
                return reply
            if body.startswith("?") or body in ("&", "F"):
                data = self._report(body, now)
                return self._reply(now, self.error, data)
            if not body.endswith("R"):
                self._buffer = body  # stored until an [R] (C-Series manual ch. 5)
                return self._reply(now, self.error)
            program, self._buffer = self._buffer + body[:-1], ""
            # The command that brings a STUCK_BUSY fault is taken, then never finishes.
            taking_stuck = self.stuck_busy and not self._stuck_taken
            self._stuck_taken = self.stuck_busy
            immediate = self._execute(program, now, taking_stuck=taking_stuck)
            if immediate:
                self.error = immediate
            return self._reply(now, immediate)

    # -- protocol ------------------------------------------------------------------------

    def _addressed(self, line: str) -> bool:
        return len(line) >= 2 and line[0] == "/" and line[1] == chr(0x30 + self.address)

    def _busy(self, now: float) -> bool:
        return self.stuck_busy or now < self._busy_until

    def _reply(self, now: float, code: int, data: str = "") -> str:
        status = 0x40 | (0 if self._busy(now) else 0x20) | code
        return f"/0{chr(status)}{data}\x03"

    def _settle(self, now: float) -> None:
        """Make an error that a running program has reached visible to [Q]."""
        if self._deferred is not None and self._deferred[0] <= now:
            self.error = self._deferred[1]
            self._deferred = None

    def _where(self, now: float) -> tuple[int, Valve]:
        """Plunger (increments) and valve as they are at `now`, mid-move included."""
        for segment in self._segments:  # contiguous, in order
            if segment.start < segment.end and now < segment.end:
                start, end = segment.plunger
                fraction = max(0.0, now - segment.start) / (segment.end - segment.start)
                return round(start + (end - start) * fraction), segment.valve[0]
        return self.position, self.valve

    def _report(self, body: str, now: float) -> str:
        plunger, valve = self._where(now)
        if body in ("?", "?0", "?4"):
            return str(plunger)
        if body == "?6":
            return str(valve)
        reports = {
            "?1": _START_SPEED,
            "?2": self.top_speed,
            "?3": min(_CUTOFF_SPEED, self.top_speed),
            "?10": int(bool(self._buffer)),
            "F": int(bool(self._buffer)),
        }
        if body in reports:
            return str(reports[body])
        if body == "&":
            return self.firmware
        self.error = 2
        return ""

    def _execute(self, program: str, now: float, *, taking_stuck: bool = False) -> int:
        """Run `program` from `now`; the code to answer at once (0: accepted)."""
        commands = [(letter, int(n) if n else None) for letter, n in _COMMAND.findall(program)]
        spelled = "".join(f"{c}{'' if n is None else n}" for c, n in commands)
        if spelled != program or any(letter not in _KNOWN for letter, _ in commands):
            return 2
        if not commands:
            return 0
        busy = now < self._busy_until or (self.stuck_busy and not taking_stuck)
        if busy and any(letter != "V" for letter, _ in commands):
            return 15
        first = commands[0][0]
        if first not in _INIT and first not in "VS":
            if self.overloaded:
                return self.overloaded
            if not self.initialized:
                return 7
        self._segments = []
        start = now
        for letter, operand in commands:
            end = self._step(letter, operand, start)
            if end is None:
                break
            start = end
        self._busy_until = max(self._busy_until, start)
        return 0

    def _fail(self, code: int, at: float) -> None:
        self._deferred = (at, code)

    def _step(self, letter: str, operand: int | None, start: float) -> float | None:
        """Run one command from `start`; its end time, or None (error deferred) to stop."""
        if letter in "VS":
            return self._set_speed(letter, operand, start)
        if letter in _INIT:
            return self._initialize(letter, operand, start)
        if self._injected and self._injected[0][0] > 0:
            self._injected[0][0] -= 1
        elif self._injected:
            code = self._injected.pop(0)[1]
            if code in (9, 10):
                self.overloaded = code
            elif code in (1, 7):
                self.initialized = False
            self._fail(code, start)
            return None
        if self.overloaded or not self.initialized:
            self._fail(self.overloaded or 7, start)
            return None
        if letter in _VALVE:
            return self._turn_valve(letter, operand, start)
        if operand is None:
            self._fail(3, start)
            return None
        if self.valve == "b":
            self._fail(11, start)
            return None
        target = {
            "A": operand,
            "P": self.position + operand,
            "D": self.position - operand,
        }[letter]
        if not 0 <= target <= self.steps:
            self._fail(3, start)
            return None
        return self._move_plunger(target, start)

    def _set_speed(self, letter: str, operand: int | None, start: float) -> float | None:
        if letter == "V" and operand is not None and 5 <= operand <= 6000:
            self.top_speed = operand
        elif letter == "S" and operand is not None and operand < len(_SPEED_CODES):
            self.top_speed = _SPEED_CODES[operand]
        else:
            self._fail(3, start)
            return None
        return start

    def _turn_valve(self, letter: str, operand: int | None, start: float) -> float | None:
        if letter == "B":
            if operand is not None:
                self._fail(3, start)
                return None
            target: Valve = "b"
        elif operand is None or not 1 <= operand <= self.ports:
            self._fail(3, start)
            return None
        else:
            target = operand
        if not self.valve_drive:
            target = self.valve  # after [W] the valve does not turn
        end = start + self.valve_time
        self._segments.append(_Segment(start, end, (self.position,) * 2, (self.valve, target)))
        self.valve = target
        return end

    def _initialize(self, letter: str, operand: int | None, start: float) -> float | None:
        if operand is not None and operand not in (0, 1, 2) and not 10 <= operand <= 40:
            self._fail(3, start)
            return None
        if operand is not None and operand >= 10:
            self.top_speed = _SPEED_CODES[operand]
        self.initialized = True
        self.overloaded = 0
        self.error = 0
        self._deferred = None
        self.valve_drive = letter != "W"  # after [W] the valve stays put (here: until [Z]/[Y])
        if self.valve_drive:
            home: Valve = 1 if letter == "Z" else self.ports
            end = start + self.valve_time
            self._segments.append(_Segment(start, end, (self.position,) * 2, (self.valve, home)))
            self.valve, start = home, end
        return self._move_plunger(0, start)  # any liquid leaves through the valve's port

    def _move_plunger(self, target: int, start: float) -> float:
        step_volume = self.syringe_volume / self.steps
        end = start + 2.0 * abs(target - self.position) / self.top_speed
        if target > self.position and self.valve == self.bottle_port:
            nominal = (target - self.position) * step_volume
            error = float(self._rng.normal(0.0, self.volume_cv))
            wanted = max(0.0, nominal * (1.0 + error) * (1.0 + self.drift))
            self.content += self.bench.withdraw(self.stock, wanted)
        elif target < self.position:
            out = self.content * (self.position - target) / self.position
            self.content -= out
            if self.valve in (self.vial_port, self.bottle_port):
                to_vial = self.valve == self.vial_port
                self.bench.deliver(self.stock, out, to_vial=to_vial)
        self._segments.append(_Segment(start, end, (self.position, target), (self.valve,) * 2))
        self.position = target
        return end
