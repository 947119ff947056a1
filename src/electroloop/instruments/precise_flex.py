"""A Brooks PreciseFlex arm moving vials between taught places (a `SampleHandler`).

The arm is driven through PyLabRobot's `PreciseFlexBackend` (MIT, unchanged): TCS over TCP
(port 10100), ``command\\n`` → ``replycode data\\r\\n`` (Brooks "Tcp Command Server"
documentation). A move is PyLabRobot's force-controlled pick at the source's taught pose
(``GraspData``, ``locXyz``, ``StationType``, ``locConfig``, ``PickPlate``) and place at the
target's (``PlacePlate``). The backend is asynchronous; it runs on a private event loop in a
background thread, so callers on any thread (also one with a running loop, as Prefect's) call
plain methods.

Taught positions: one Cartesian pose per place (x, y, z in mm; yaw, pitch, roll in degrees;
optionally the elbow configuration 1 = righty, 2 = lefty, as TCS ``locConfig`` codes it), read
from the lab file. Every check runs before a byte is sent: an untaught place raises
`UnknownPosition`, a source where the deck has another vial raises `deck.WrongVial`, a target
that holds another vial raises `deck.SlotOccupied`. Once a pick succeeds the deck has the vial
in the gripper (`deck.GRIPPER`) until the place succeeds: a place that fails (a TCS error, a
timeout, a dropped link) leaves the deck true, and `find` sets the vial down.

Grip defaults: width `deck.VIAL_DIAMETER` (28 mm, a 20 mL scintillation vial), force 10 N and
finger speed 50 % (PyLabRobot's `pick_up_resource` defaults), approach clearance 80 mm (the
61 mm vial plus 19 mm to spare, an assumption). The lab file's ``limits`` override them
(``grip_width``, ``grip_force``, ``finger_speed``, ``clearance``, ``speed``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import re
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pylabrobot.arms.backend import VerticalAccess
from pylabrobot.arms.precise_flex.coords import ElbowOrientation, PreciseFlexCartesianCoords
from pylabrobot.arms.precise_flex.joints import PFAxis
from pylabrobot.arms.precise_flex.precise_flex_backend import PreciseFlexBackend, PreciseFlexError
from pylabrobot.io.socket import Socket
from pylabrobot.resources import Coordinate, Rotation
from pylabrobot.scales.chatterbox import ScaleChatterboxBackend

from electroloop.errors import (
    ConfigError,
    DeviceFault,
    InstrumentError,
    InstrumentTimeout,
    LimitViolation,
)
from electroloop.instruments.deck import VIAL_DIAMETER, BenchDeck

__all__ = [
    "ArmFault",
    "ArmStopFailed",
    "GripSettings",
    "Pose",
    "PreciseFlexArm",
    "UnknownPosition",
    "VialNotGripped",
    "arm_address",
    "require_taught",
]

_T = TypeVar("_T")
_ADDRESS = re.compile(r"TCPIP0?::([^:]+)::(\d{1,5})::SOCKET")
OPERATION_TIMEOUTS = 4
"""How many `timeout`s one operation (set-up, pick, place: several TCS commands and a motion)
may take in all before it counts as unanswered (assumption)."""
HOLD_TOLERANCE = 3.0
"""mm: fingers this close to the grasp width hold a vial (a force-limited grip stops at it)."""


class UnknownPosition(ConfigError):
    """A place the arm has no taught position for; nothing has moved."""

    def __init__(self, place: str, taught: Sequence[str]) -> None:
        shown = ", ".join(sorted(taught)) or "none"
        super().__init__(
            f"arm position {place!r} is not taught; taught places: {shown} (add it to "
            "[arm.positions] in the lab file)"
        )
        self.place = place


class ArmFault(DeviceFault):
    """The arm's controller answered a TCS error code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ArmStopFailed(InstrumentError):
    """`close` could not detach and power the arm down (the link and loop are closed anyway):
    the arm may still be powered; check it at its pendant or web interface."""


class VialNotGripped(ArmFault):
    """The force-controlled grip closed on nothing: no vial at the place."""


@dataclass(frozen=True)
class Pose:
    """A taught Cartesian pose: mm and degrees, and the elbow configuration (0: any)."""

    x: float
    y: float
    z: float
    yaw: float
    pitch: float
    roll: float
    config: int = 1

    @classmethod
    def of(cls, place: str, values: Sequence[float]) -> Pose:
        """From the lab file's ``[x, y, z, yaw, pitch, roll(, config)]``."""
        if len(values) not in (6, 7) or not all(math.isfinite(v) for v in values):
            raise ConfigError(
                f"arm.positions.{place}: {list(values)}; allowed: 6 or 7 finite numbers "
                "[x, y, z, yaw, pitch, roll, config]"
            )
        config = int(values[6]) if len(values) == 7 else 1
        if config not in (0, 1, 2):
            raise ConfigError(
                f"arm.positions.{place}: config {values[6]}; allowed: 0 (any), 1 (righty), "
                "2 (lefty)"
            )
        return cls(*(float(v) for v in values[:6]), config=config)

    def coords(self) -> PreciseFlexCartesianCoords:
        orientation = {1: ElbowOrientation.RIGHT, 2: ElbowOrientation.LEFT}.get(self.config)
        return PreciseFlexCartesianCoords(
            location=Coordinate(self.x, self.y, self.z),
            rotation=Rotation(x=self.roll, y=self.pitch, z=self.yaw),
            orientation=orientation,
        )


@dataclass(frozen=True)
class GripSettings:
    """How the arm grips a vial: width mm, force N, finger speed %, approach clearance mm,
    and the motion profile's speed % (None: the controller's)."""

    width: float = VIAL_DIAMETER
    force: float = 10.0
    finger_speed: float = 50.0
    clearance: float = 80.0
    speed: float | None = None

    @classmethod
    def from_limits(cls, limits: Mapping[str, float]) -> GripSettings:
        """From the lab file's ``[arm] limits``; `LimitViolation` naming a field outside its
        range (width 5–100 mm, force 1–20 N, finger speed 1–100 %, clearance 40–300 mm,
        speed 1–100 %)."""
        ranges = {
            "grip_width": (5.0, 100.0),
            "grip_force": (1.0, 20.0),
            "finger_speed": (1.0, 100.0),
            "clearance": (40.0, 300.0),
            "speed": (1.0, 100.0),
        }
        for key, value in limits.items():
            low, high = ranges.get(key, (-math.inf, math.inf))
            if key in ranges and not (math.isfinite(value) and low <= value <= high):
                raise LimitViolation(f"arm.limits.{key} is {value}; allowed: {low} to {high}")
        default = cls()
        return cls(
            width=limits.get("grip_width", default.width),
            force=limits.get("grip_force", default.force),
            finger_speed=limits.get("finger_speed", default.finger_speed),
            clearance=limits.get("clearance", default.clearance),
            speed=limits.get("speed"),
        )


def require_taught(positions: Mapping[str, object], places: Sequence[str]) -> None:
    """`UnknownPosition` naming the first of `places` that `positions` lacks (nothing sent)."""
    for place in places:
        if place not in positions:
            raise UnknownPosition(place, list(positions))


def arm_address(address: str) -> tuple[str, int]:
    """``TCPIP::<host>::<port>::SOCKET`` -> (host, port); ConfigError otherwise."""
    match = _ADDRESS.fullmatch(address)
    if match is None or not 0 < int(match[2]) < 65536:
        raise ConfigError(
            f"arm.address {address!r}; allowed: 'TCPIP::<host>::<port>::SOCKET' (TCS listens "
            "on port 10100), or 'sim'"
        )
    return match[1], int(match[2])


class _Loop:
    """A private event loop in a daemon thread; `run` waits for a coroutine from any thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout: float) -> _T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout} s") from None

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class PreciseFlexArm:
    """Moves vials between the taught places of a bench with a PreciseFlex arm.

    `positions`: place -> 6 or 7 numbers (see `Pose.of`). `deck` tracks which vial stands
    where (default: a deck of one rack whose balance nobody weighs with). Connects on first
    use (PC response mode, power, attach, and unless `home` is False, home); `close` detaches
    and powers down, unless `power_down` is False (an arm other campaigns share stays on for
    them: `close` then only closes the link).
    """

    name = "PreciseFlex arm"

    def __init__(
        self,
        host: str,
        port: int,
        positions: Mapping[str, Sequence[float]],
        *,
        grip: GripSettings | None = None,
        deck: BenchDeck | None = None,
        timeout: float = 30.0,
        home: bool = True,
        power_down: bool = True,
    ) -> None:
        self.positions = {place: Pose.of(place, values) for place, values in positions.items()}
        self.grip = grip or GripSettings()
        self.deck = deck or BenchDeck.for_places(ScaleChatterboxBackend(), self.positions)
        self.timeout = timeout
        self.home = home
        self.power_down = power_down
        self.host, self.port = host, port
        self.backend = PreciseFlexBackend(host=host, port=port, timeout=int(math.ceil(timeout)))
        # The backend's own socket waits 30 s for a line; the lab file's timeout governs here.
        self.backend.io = Socket(
            human_readable_device_name="Precise Flex Arm",
            host=host,
            port=port,
            read_timeout=timeout,
            write_timeout=timeout,
        )
        self._loop = _Loop(f"precise-flex:{host}:{port}")
        self._lock = threading.RLock()
        self._connected = False

    # -- checks (nothing sent) -----------------------------------------------------------

    def pose(self, place: str) -> Pose:
        """The taught pose of `place`; `UnknownPosition` if it has none."""
        try:
            return self.positions[place]
        except KeyError:
            raise UnknownPosition(place, list(self.positions)) from None

    def require(self, places: Sequence[str]) -> None:
        """`UnknownPosition` naming the first of `places` without a taught pose."""
        require_taught(self.positions, places)

    # -- SampleHandler -------------------------------------------------------------------

    def move(self, vial: str, source: str, target: str) -> None:
        """Pick `vial` at `source`, place it at `target`; checked before anything moves.

        Between the pick and the place the deck has `vial` in the gripper, so after a place
        that failed `deck.place_of(vial)` is `deck.GRIPPER` (and `find` sets it down)."""
        start, end = self.pose(source), self.pose(target)
        with self._lock:
            self.deck.check_move(vial, source, target)
            self._pick(vial, source, start)
            self.deck.hold(vial)
            self._run(lambda: self._drop(end), f"placing vial {vial} at {target}")
            self.deck.put(vial, target)

    def find(self, vial: str, place: str, masses: Mapping[str, float]) -> bool:
        """After a crash: set `vial` down at `place` if the gripper still holds it; otherwise
        grip at `place` to feel whether it stands there (and set it back). False if the grip
        closes on nothing: the vial is gone."""
        pose = self.pose(place)
        with self._lock:
            if self._run(self._holding, "asking the gripper what it holds"):
                self._run(lambda: self._drop(pose), f"setting vial {vial} down at {place}")
                self.deck.put(vial, place)
                return True
            try:
                self._pick(vial, place, pose)
            except VialNotGripped:
                self._run(self._open, "opening the gripper")
                self.deck.remove(vial)
                return False
            self._run(lambda: self._drop(pose), f"setting vial {vial} back at {place}")
            self.deck.put(vial, place)
            return True

    # -- status --------------------------------------------------------------------------

    def version(self) -> str:
        """TCS and plug-in versions (``version``)."""
        with self._lock:
            return self._run(self.backend.get_version, "asking the version")

    def power(self) -> bool:
        """High power on (``hp``)."""
        with self._lock:
            return bool(self._run(self.backend.get_power_state, "asking the power state"))

    def where(self) -> Pose:
        """The tool's present Cartesian pose (``wherec``)."""
        with self._lock:
            at = self._run(self.backend.get_cartesian_position, "asking where the arm is")
        config = {ElbowOrientation.RIGHT: 1, ElbowOrientation.LEFT: 2}.get(at.orientation, 0)
        rotation = at.rotation
        return Pose(
            at.location.x,
            at.location.y,
            at.location.z,
            rotation.yaw,
            rotation.pitch,
            rotation.roll,
            config,
        )

    def close(self) -> None:
        """Detach, power down (see `power_down`) and close the link, if it was opened; stop
        the loop.

        The loop is stopped whatever happens; if detaching or powering down failed (a TCS
        error, no answer within `timeout` s, a broken link) that is raised afterwards as
        `ArmStopFailed`: the arm may still be powered."""
        with self._lock:
            failure: Exception | None = None
            try:
                if self._connected and not self.power_down:
                    self._drop_link()
                elif self._connected:
                    self._connected = False
                    try:
                        self._loop.run(self.backend.stop(), self.timeout)
                    except (PreciseFlexError, OSError, TimeoutError, RuntimeError) as exc:
                        failure = exc
                        self._drop_link()  # stop ends before closing the socket: close it
            finally:
                self._loop.close()
            if failure is not None:
                raise ArmStopFailed(
                    f"arm at {self.host}:{self.port} may still be powered: detaching and "
                    f"powering down failed: {failure or type(failure).__name__}"
                ) from failure

    # -- exchange ------------------------------------------------------------------------

    def _pick(self, vial: str, place: str, pose: Pose) -> None:
        access = VerticalAccess(clearance_mm=self.grip.clearance, gripper_offset_mm=0.0)
        try:
            self._run(
                lambda: self.backend.pick_up_resource(
                    pose.coords(),
                    plate_width=self.grip.width,
                    access=access,
                    finger_speed_percent=self.grip.finger_speed,
                    grasp_force=self.grip.force,
                ),
                f"picking vial {vial} at {place}",
            )
        except ArmFault as exc:
            if "no plate" in str(exc):
                raise VialNotGripped(
                    f"arm gripped nothing at {place}: vial {vial} is not there", exc.code
                ) from None
            raise

    async def _drop(self, pose: Pose) -> None:
        access = VerticalAccess(clearance_mm=self.grip.clearance, gripper_offset_mm=0.0)
        await self.backend.drop_resource(pose.coords(), access=access)

    async def _open(self) -> None:
        await self.backend.open_gripper(self.grip.width + 10.0)

    async def _holding(self) -> bool:
        if await self.backend.is_gripper_closed():
            return False
        joints = await self.backend.get_joint_position()
        width, _, _ = await self.backend.get_grasp_data()
        return abs(joints[PFAxis.GRIPPER] - width) <= HOLD_TOLERANCE

    def _connect(self) -> None:
        if self._connected:
            return
        try:
            self._loop.run(
                self.backend.setup(skip_home=not self.home), self.timeout * OPERATION_TIMEOUTS
            )
            if self.grip.speed is not None:
                self._loop.run(self.backend.set_speed(self.grip.speed), self.timeout)
        except BaseException:
            self._drop_link()
            raise
        self._connected = True

    def _run(self, operation: Callable[[], Coroutine[Any, Any, _T]], doing: str) -> _T:
        """Run one backend operation (connecting first); TCS errors and link failures become
        electroloop errors naming what the arm was doing.

        An operation is several TCS commands and a motion (a pick sends five), so it gets
        `OPERATION_TIMEOUTS` × `timeout`; each command still gets `timeout` on the socket."""
        limit = self.timeout * OPERATION_TIMEOUTS
        try:
            self._connect()
            return self._loop.run(operation(), limit)
        except PreciseFlexError as exc:
            if exc.replycode == -1 and "Empty reply" in exc.message:
                self._drop_link()
                raise InstrumentError(
                    f"arm at {self.host}:{self.port} closed the link while {doing}"
                ) from None
            raise ArmFault(f"arm failed while {doing}: {exc}", exc.replycode) from None
        except TimeoutError as exc:  # a command's socket read, or the whole operation
            self._drop_link()
            raise InstrumentTimeout(
                f"arm at {self.host}:{self.port} did not answer while {doing}: {exc} (each "
                f"command may take {self.timeout} s, the whole operation {limit} s)"
            ) from None
        except (OSError, RuntimeError, ValueError) as exc:
            self._drop_link()
            raise InstrumentError(
                f"arm at {self.host}:{self.port} unreachable while {doing}: {exc}"
            ) from None

    def _drop_link(self) -> None:
        """Forget a link in an unknown state; the next call connects afresh."""
        try:
            self._loop.run(self.backend.io.stop(), self.timeout)
        except Exception:  # a link already broken may fail to close; it is dropped either way
            pass
        self._connected = False
