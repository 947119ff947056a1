"""Simulated Cavro/Tricontinent syringe pump speaking the DT protocol over TCP.

Requests are ``/<address><commands>`` closed by CR; answers are ``/0<status><data>`` ETX CR LF
(C-Series Product Manual ch. 9, Table 9-4). The status byte is 0x40 | 0x20 (ready) | error code
(Cavro XP 3000 manual Table 3-8). Behaviour follows those manuals: moves need a prior [Z];
a move sent while busy is refused with error 15 (command overflow); an out-of-range operand sets
error 3; plunger/valve overloads (9/10) persist until [Z]; [Q] reports and then clears the code.

Plumbing: `bottle_port` leads to the stock bottle and `vial_port` to the vial on the balance;
other ports go to waste. The clock is accelerated: a full stroke takes `stroke_time` seconds.
Each pick-up draws (1 + ε) times the nominal volume with ε ~ N(0, `volume_cv`); 0.3 % is within
the ≤ 1 % full-stroke accuracy class quoted for these pumps (an assumption, not a data sheet).
"""

from __future__ import annotations

import re
import threading
import time

from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.server import LineServer

__all__ = ["PumpServer"]

_COMMAND = re.compile(r"([A-Za-z])(\d*)")
_MOVES = set("ZYWIOPDA")


class PumpServer(LineServer):
    """One DT-protocol pump drawing `stock` from its bottle on `bench`."""

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
        stroke_time: float = 0.02,
        valve_time: float = 0.002,
        volume_cv: float = 0.003,
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
        self.stroke_time = stroke_time
        self.valve_time = valve_time
        self.volume_cv = volume_cv
        self.initialized = False
        self.position = 0  # plunger, increments
        self.valve = 1
        self.content = 0.0  # true liquid volume in the syringe, mL
        self.error = 0
        self.overloaded = 0  # 9 or 10 until the next [Z]
        self._busy_until = 0.0
        self._buffer = ""
        self._injected: list[int] = []
        self._state = threading.Lock()
        self._rng = bench.rng(f"pump:{stock}")
        super().__init__(port=port)

    def inject_error(self, code: int) -> None:
        """Make the next move command fail with error `code` (9 and 10 persist until [Z])."""
        with self._state:
            self._injected.append(code)

    def answer(self, line: str) -> str | None:
        if len(line) < 2 or line[0] != "/" or line[1] != chr(0x30 + self.address):
            return None  # addressed to another pump on the bus
        body = line[2:]
        with self._state:
            data = ""
            if body == "Q":
                reply = self._status()
                self.error = 0
                return reply
            if body.startswith("?"):
                data = self._report(body)
            elif body.endswith("R"):
                self._execute(self._buffer + body[:-1])
                self._buffer = ""
            else:
                self._buffer = body  # stored until an [R] (C-Series manual ch. 5)
            return self._status(data)

    # -- protocol ------------------------------------------------------------------------

    def _busy(self) -> bool:
        return time.monotonic() < self._busy_until

    def _status(self, data: str = "") -> str:
        status = 0x40 | (0 if self._busy() else 0x20) | self.error
        return f"/0{chr(status)}{data}\x03"

    def _report(self, body: str) -> str:
        if body in ("?", "?0", "?4", "?5"):
            return str(self.position)
        if body == "?6":
            return str(self.valve)
        self.error = 2
        return ""

    def _execute(self, program: str) -> None:
        commands = [(letter, int(n) if n else None) for letter, n in _COMMAND.findall(program)]
        if "".join(f"{c}{'' if n is None else n}" for c, n in commands) != program or any(
            letter not in _MOVES for letter, _ in commands
        ):
            self.error = 2
            return
        if not commands:
            return
        if self._busy():
            self.error = 15
            return
        start = time.monotonic()
        for letter, operand in commands:
            if not self._step(letter, operand, start):
                break
            start = max(start, self._busy_until)

    def _step(self, letter: str, operand: int | None, start: float) -> bool:
        """Run one command starting at `start`; False (with `error` set) to stop the program."""
        if self._injected and letter != "Z":
            code = self._injected.pop(0)
            self.error = code
            if code in (9, 10):
                self.overloaded = code
            return False
        if letter in "ZYW":
            self._initialize(start)
            return True
        if self.overloaded:
            self.error = self.overloaded
            return False
        if not self.initialized:
            self.error = 7
            return False
        if letter in "IO":
            if operand is None or not 1 <= operand <= self.ports:
                self.error = 3
                return False
            self.valve = operand
            self._busy_until = start + self.valve_time
            return True
        if operand is None:
            self.error = 3
            return False
        target = {
            "A": operand,
            "P": self.position + operand,
            "D": self.position - operand,
        }[letter]
        if not 0 <= target <= self.steps:
            self.error = 3
            return False
        self._move_plunger(target, start)
        return True

    def _initialize(self, start: float) -> None:
        finish = start + self.valve_time + self.stroke_time * self.position / self.steps
        self.valve = self.bottle_port
        self._move_plunger(0, start)  # any liquid goes back to the bottle
        self._busy_until = finish
        self.initialized = True
        self.overloaded = 0
        self.error = 0

    def _move_plunger(self, target: int, start: float) -> None:
        step_volume = self.syringe_volume / self.steps
        finish = start + self.stroke_time * abs(target - self.position) / self.steps
        if target > self.position:
            nominal = (target - self.position) * step_volume
            wanted = max(0.0, nominal * (1.0 + float(self._rng.normal(0.0, self.volume_cv))))
            if self.valve == self.bottle_port:
                self.content += self.bench.withdraw(self.stock, wanted)
        elif target < self.position:
            out = self.content * (self.position - target) / self.position
            self.content -= out
            if self.valve in (self.vial_port, self.bottle_port):
                to_vial = self.valve == self.vial_port
                self.bench.deliver(self.stock, out, until=finish, to_vial=to_vial)
        self.position = target
        self._busy_until = finish
