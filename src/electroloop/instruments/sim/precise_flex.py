"""A Brooks PreciseFlex arm running TCS (Tcp Command Server), protocol-true, on loopback.

Protocol: TCS over TCP (port 10100 on the real controller), one command a line ``<command>\\n``,
one answer a line ``<replycode> <data>\\r\\n`` with replycode 0 for success and a negative TCS
error code otherwise (Brooks "Tcp Command Server" and "PreciseFlex error codes" documentation;
the codes and their texts as `pylabrobot.arms.precise_flex.error_codes` lists them). The
commands answered are those PyLabRobot's `PreciseFlexBackend` sends to set up, pick, place,
ask where the arm is and stop: ``mode``, ``hp``, ``attach``, ``home``, ``homeAll``,
``movetosafe``, ``halt``, ``nop``, ``version``, ``sysState``, ``state``, ``waitForEom``,
``locXyz``, ``locConfig``, ``StationType``, ``GraspData``, ``GripOpenPos``, ``GripClosePos``,
``gripper``, ``IsFullyClosed``, ``pickplate``, ``placeplate``, ``wherec``, ``wherej``,
``Speed``, ``payload``, ``exit``; anything else is ``-714 Unknown command``.

The arm is coupled to a `SimulatedBench`: it knows the taught pose of every bench place
(`positions`, place -> (x, y, z, yaw, pitch, roll) in mm and degrees). ``pickplate`` at a pose
that matches a place takes the vial standing there into the gripper (``0 -1``); no vial there
closes the fingers on air, and the TCS answers ``0 0`` ("no plate", the force-controlled grip
found nothing). ``placeplate`` sets the held vial down at the place; a place that already holds
a vial (every place but waste holds one) stops the arm with ``-3122 Soft envelope error`` (the
vial in the gripper hits the one standing there) and the vial stays in the gripper.

Timing (instrument time on the shared `SimClock`): the arm travels at `SPEED` mm/s, an
assumption of this project at half the 1 m/s maximum Cartesian speed in Brooks' PF400 data
sheet, along the straight line between poses plus the vertical approach and retract of the
station's ZClearance; the fingers take `GRIP_TIME` s to close or open (assumption).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pylabrobot.arms.precise_flex.error_codes import ERROR_CODES

from electroloop.instruments.deck import GRIPPER  # the bench place of a vial the arm holds
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.server import LineServer
from electroloop.samples import BALANCE, WASTE

__all__ = ["GRIPPER", "PreciseFlexServer"]

SPEED = 500.0
"""mm/s, mean Cartesian speed (assumption: half the PF400's 1 m/s maximum, Brooks data sheet)."""
GRIP_TIME = 0.5
"""s for the fingers to close on a vial or open (assumption)."""
LINK = 225.0
"""mm, each of the two horizontal links used for `wherej` (assumption, PF400-like geometry)."""
STATIONS = 100
"""Station (location) indices the controller holds, 1..STATIONS (an assumption; N_LOC varies)."""
HOME = (300.0, 0.0, 300.0, 0.0, 90.0, 180.0)
"""Where ``home`` leaves the tool: x, y, z mm; yaw, pitch, roll degrees (assumption)."""
MATCH_MM = 0.5
MATCH_DEG = 0.5
"""A location is a taught place when every coordinate lies this close (mm, degrees)."""
VERSION = "Tcs_2.0.3 (electroloop simulator)"


def _error(code: int) -> str:
    return f"{code} {ERROR_CODES[code]['text']}"


def _stocked(slot: str) -> str:
    return f"unlabelled-{slot}"


@dataclass
class _Station:
    access: int = 1
    kind: int = 0
    z_clearance: float = 50.0
    z_above: float = 0.0
    z_grasp: float = 0.0


class PreciseFlexServer(LineServer):
    """A PF400 under TCS, picking and placing the vials of one `SimulatedBench`.

    `positions`: bench place -> taught (x, y, z, yaw, pitch, roll). `rack_labels`: the label
    on the vial a person stood in a rack slot the bench has no record of (None: the slot is
    empty); by default every such slot holds an empty vial labelled ``unlabelled-<slot>`` (a
    technician filled the racks before the run; a simulator in its own process cannot know
    the campaign's labels). A bench served by an arm starts with an empty balance pan: the
    vial a hand-fed bench puts there is taken to waste.
    """

    terminator = b"\n"
    reply_terminator = b"\r\n"
    name = "precise-flex"

    def __init__(
        self,
        bench: SimulatedBench,
        positions: Mapping[str, Sequence[float]],
        *,
        clock: SimClock | None = None,
        rack_labels: Callable[[str], str | None] | None = None,
        seed: int = 0,
    ) -> None:
        self.bench = bench
        self.positions = {
            place: tuple(float(v) for v in pose[:6]) for place, pose in positions.items()
        }
        self.clock = clock or SimClock()
        self.rack_labels = rack_labels or _stocked
        self.mode = 1  # verbose until a client selects PC mode
        self.power = False
        self.attached = False
        self.homed = False
        self.pose: tuple[float, ...] = HOME
        self.config = 1
        self.locations: dict[int, tuple[float, ...]] = {}
        self.configs: dict[int, int] = {}
        self.stations: dict[int, _Station] = {}
        self.grasp = (28.0, 50.0, 10.0)  # plate width mm, finger speed %, force N
        self.open_position = 40.0
        self.close_position = 10.0
        self.fingers = self.open_position  # mm between the fingers
        self.held: str | None = None
        self.speed = 50.0
        self.payload = 0
        self.motions = 0  # motions made (home, pick, place, gripper, ...)
        self.received: list[str] = []
        """Keyword of every command answered, in order (lower case)."""
        self._arm = threading.Lock()
        if bench.vial_id is not None:
            bench.move(bench.vial_id, BALANCE, WASTE)
        super().__init__(seed=seed)

    # -- protocol ------------------------------------------------------------------------

    def error_answer(self, line: str) -> str | None:
        return _error(-3122)

    def answer(self, line: str) -> str | None:
        words = line.strip().split()
        if not words:
            return _error(-714)
        keyword, args = words[0].lower(), words[1:]
        if keyword == "exit":
            return None
        handler = self._HANDLERS.get(keyword)
        if handler is None:
            return _error(-714)
        try:
            numbers = [float(a) for a in args]
        except ValueError:
            return _error(-202)
        if not all(math.isfinite(n) for n in numbers):
            return _error(-202)
        with self._arm:  # one arm: commands from several links run one after the other
            self.received.append(keyword)
            return handler(self, numbers)

    # -- settings ------------------------------------------------------------------------

    def _mode(self, args: list[float]) -> str:
        if not args:
            return f"0 {self.mode}"
        if args[0] not in (0, 1):
            return _error(-202)
        self.mode = int(args[0])
        return "0"

    def _hp(self, args: list[float]) -> str:
        if not args:
            return f"0 {int(self.power)}"
        self.power = bool(args[0])
        if not self.power:
            self.attached = False
        return "0"

    def _attach(self, args: list[float]) -> str:
        if not args:
            return f"0 {-1 if self.attached else 0}"
        if args[0] and not self.power:
            return _error(-1046)
        self.attached = bool(args[0])
        return "0"

    def _loc_xyz(self, args: list[float]) -> str:
        if not args:
            return _error(-205)
        index = int(args[0])
        if not 1 <= index <= STATIONS:
            return _error(-2851)
        if len(args) == 1:
            pose = self.locations.get(index, (0.0,) * 6)
            return "0 0 " + f"{index} " + " ".join(f"{v:.3f}" for v in pose)
        if len(args) != 7:
            return _error(-205)
        self.locations[index] = tuple(args[1:])
        return "0"

    def _loc_config(self, args: list[float]) -> str:
        if not args:
            return _error(-205)
        index = int(args[0])
        if not 1 <= index <= STATIONS:
            return _error(-2851)
        if len(args) == 1:
            return f"0 {index} {self.configs.get(index, 0)}"
        self.configs[index] = int(args[1])
        return "0"

    def _station_type(self, args: list[float]) -> str:
        if not args:
            return _error(-205)
        index = int(args[0])
        if not 1 <= index <= STATIONS:
            return _error(-2851)
        if len(args) == 1:
            s = self.stations.get(index, _Station())
            return f"0 {index} {s.access} {s.kind} {s.z_clearance} {s.z_above} {s.z_grasp}"
        if len(args) != 6 or args[1] not in (0, 1) or args[2] not in (0, 1):
            return _error(-202)
        self.stations[index] = _Station(int(args[1]), int(args[2]), *args[3:6])
        return "0"

    def _grasp_data(self, args: list[float]) -> str:
        if not args:
            return "0 " + " ".join(f"{v}" for v in self.grasp)
        if len(args) != 3 or not (0 < args[0] and 0 < args[1] <= 100):
            return _error(-202)
        self.grasp = (args[0], args[1], args[2])
        return "0"

    def _grip_open(self, args: list[float]) -> str:
        if not args:
            return f"0 {self.open_position}"
        self.open_position = args[0]
        return "0"

    def _grip_close(self, args: list[float]) -> str:
        if not args:
            return f"0 {self.close_position}"
        self.close_position = args[0]
        return "0"

    def _speed(self, args: list[float]) -> str:
        if len(args) == 1:
            return f"0 {self.speed}"
        if len(args) != 2 or not 0 < args[1] <= 100:
            return _error(-202)
        self.speed = args[1]
        return "0"

    def _payload(self, args: list[float]) -> str:
        if not args:
            return f"0 {self.payload}"
        self.payload = int(args[0])
        return "0"

    # -- status --------------------------------------------------------------------------

    def _nop(self, args: list[float]) -> str:
        return "0"

    def _version(self, args: list[float]) -> str:
        return f"0 {VERSION}"

    def _sys_state(self, args: list[float]) -> str:
        # DataID 234: 21 = power on and homed ("GPL_PowerOnAndHomed"), 7 = power off (TCS docs).
        return f"0 {21 if self.power and self.homed else 7}"

    def _state(self, args: list[float]) -> str:
        return "0 0"  # Robot.TrajState 0: no motion in progress (moves finish before replying)

    def _wherec(self, args: list[float]) -> str:
        return "0 " + " ".join(f"{v:.3f}" for v in self.pose) + f" {self.config}"

    def _wherej(self, args: list[float]) -> str:
        x, y, z, yaw = self.pose[:4]
        reach = min(math.hypot(x, y), 2 * LINK - 1e-6)
        elbow = math.acos(max(-1.0, min(1.0, (reach**2 - 2 * LINK**2) / (2 * LINK**2))))
        shoulder = math.atan2(y, x) - math.atan2(
            LINK * math.sin(elbow), LINK * (1 + math.cos(elbow))
        )
        shoulder_deg, elbow_deg = math.degrees(shoulder), math.degrees(elbow)
        wrist = yaw - shoulder_deg - elbow_deg
        return f"0 {z:.3f} {shoulder_deg:.3f} {elbow_deg:.3f} {wrist:.3f} {self.fingers:.3f}"

    def _is_fully_closed(self, args: list[float]) -> str:
        return f"0 {-1 if self.fingers <= self.close_position + 2.0 else 0}"

    # -- motion --------------------------------------------------------------------------

    def _ready(self) -> str | None:
        if not self.power:
            return _error(-1046)
        if not self.attached:
            return _error(-1009)
        if not self.homed:
            return _error(-1021)
        return None

    def _travel(self, target: Sequence[float], clearance: float = 0.0) -> None:
        distance = math.dist(self.pose[:3], target[:3]) + 2.0 * clearance
        self.clock.sleep(distance / (SPEED * self.speed / 50.0))
        self.pose = tuple(target)
        self.motions += 1

    def _take_config(self, index: int) -> None:
        """The elbow configuration the location asks for (PLR ORs 0x1000, "single" wrist,
        into 1 righty / 2 lefty) becomes what ``wherec`` reports."""
        config = self.configs.get(index, self.config) & 0x0FFF
        if config in (1, 2):
            self.config = config

    def _home(self, args: list[float]) -> str:
        if not self.power:
            return _error(-1046)
        if not self.attached:
            return _error(-1009)
        self._travel(HOME)
        self.homed = True
        return "0"

    def _home_all(self, args: list[float]) -> str:
        if not self.power:
            return _error(-1046)
        self._travel(HOME)
        self.homed = True
        return "0"

    def _home_if_no_plate(self, args: list[float]) -> str:
        if self.held is not None:
            return "0 0"
        self.power = True
        self._travel(HOME)
        self.homed = True
        return "0 -1"

    def _move_to_safe(self, args: list[float]) -> str:
        return self._ready() or (self._travel(HOME) or "0")

    def _halt(self, args: list[float]) -> str:
        return "0"

    def _gripper(self, args: list[float]) -> str:
        if len(args) != 1 or args[0] not in (1, 2):
            return _error(-202)
        if problem := self._ready():
            return problem
        self.clock.sleep(GRIP_TIME)
        self.motions += 1
        if args[0] == 1:
            if self.held is not None:  # released wherever the arm is
                spot = self._place_at(self.pose) or f"pose {self.pose[0]:.1f},{self.pose[1]:.1f}"
                self.bench.move(self.held, GRIPPER, spot)
                self.held = None
            self.fingers = self.open_position
        elif self.held is None:
            self.fingers = self.close_position
        return "0"

    def _place_at(self, pose: Sequence[float]) -> str | None:
        """The taught place `pose` matches (None: none)."""
        for place, taught in self.positions.items():
            if all(
                abs(a - b) <= MATCH_MM for a, b in zip(pose[:3], taught[:3], strict=True)
            ) and all(
                abs((a - b + 180.0) % 360.0 - 180.0) <= MATCH_DEG
                for a, b in zip(pose[3:6], taught[3:6], strict=True)
            ):
                return place
        return None

    def vial_at(self, place: str) -> str | None:
        """Label of the vial standing at bench place `place` (None: it is free)."""
        if place == BALANCE:
            return self.bench.vial_id
        for label, where in self.bench.places.items():
            if where == place:
                return label
        if place.startswith("rack-"):
            label = self.rack_labels(place)
            if label is not None and label not in self.bench.places:
                return label
        return None

    def _station(self, args: list[float]) -> tuple[int, str | None]:
        if not args:
            return 0, _error(-205)
        index = int(args[0])
        if not 1 <= index <= STATIONS:
            return index, _error(-2851)
        if index not in self.locations:
            return index, _error(-202)
        return index, None

    def _pick(self, args: list[float]) -> str:
        index, problem = self._station(args)
        if problem or (problem := self._ready()):
            return problem
        if self.held is not None:
            return _error(-2852)
        pose = self.locations[index]
        station = self.stations.get(index, _Station())
        self._travel(pose, station.z_clearance)
        self._take_config(index)
        self.clock.sleep(GRIP_TIME)
        place = self._place_at(pose)
        label = self.vial_at(place) if place is not None and place != WASTE else None
        if label is None:
            self.fingers = self.close_position
            return "0 0"
        self.bench.move(label, place or "", GRIPPER)
        self.held = label
        self.fingers = self.grasp[0] - 1.0  # squeezed a little: the force limit holds it
        return "0 -1"

    def _place(self, args: list[float]) -> str:
        index, problem = self._station(args)
        if problem or (problem := self._ready()):
            return problem
        pose = self.locations[index]
        station = self.stations.get(index, _Station())
        place = self._place_at(pose)
        if self.held is not None and place is not None and place != WASTE:
            if self.vial_at(place) is not None:
                self._travel(pose, station.z_clearance / 2.0)  # stopped half-way down
                return _error(-3122)
        self._travel(pose, station.z_clearance)
        self._take_config(index)
        self.clock.sleep(GRIP_TIME)
        if self.held is not None:
            self.bench.move(self.held, GRIPPER, place or f"pose {pose[0]:.1f},{pose[1]:.1f}")
            self.held = None
        self.fingers = self.open_position
        return "0"

    def _wait_for_eom(self, args: list[float]) -> str:
        return "0"

    _HANDLERS: dict[str, Callable[[PreciseFlexServer, list[float]], str]] = {
        "mode": _mode,
        "hp": _hp,
        "attach": _attach,
        "home": _home,
        "homeall": _home_all,
        "homeall_ifnoplate": _home_if_no_plate,
        "movetosafe": _move_to_safe,
        "halt": _halt,
        "nop": _nop,
        "version": _version,
        "sysstate": _sys_state,
        "state": _state,
        "waitforeom": _wait_for_eom,
        "locxyz": _loc_xyz,
        "locconfig": _loc_config,
        "stationtype": _station_type,
        "graspdata": _grasp_data,
        "gripopenpos": _grip_open,
        "gripclosepos": _grip_close,
        "gripper": _gripper,
        "isfullyclosed": _is_fully_closed,
        "pickplate": _pick,
        "placeplate": _place,
        "wherec": _wherec,
        "wherej": _wherej,
        "speed": _speed,
        "payload": _payload,
    }
