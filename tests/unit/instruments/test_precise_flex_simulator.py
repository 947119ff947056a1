"""The PreciseFlex simulator answers PyLabRobot's own `PreciseFlexBackend`, unchanged, over TCS on
loopback: set-up, pick, place, where, stop; and it moves the bench's vials as it does so."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from pylabrobot.arms.backend import VerticalAccess
from pylabrobot.arms.precise_flex.coords import ElbowOrientation, PreciseFlexCartesianCoords
from pylabrobot.arms.precise_flex.joints import PFAxis
from pylabrobot.arms.precise_flex.precise_flex_backend import PreciseFlexBackend, PreciseFlexError
from pylabrobot.resources import Coordinate, Rotation

from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.precise_flex import GRIPPER, PreciseFlexServer
from electroloop.instruments.sim.server import Fault
from electroloop.samples import BALANCE, METER, WASTE
from electroloop.simulations.conductivity import conductivity

POSES = {
    "rack-1:A1": (200.0, -150.0, 40.0, 0.0, 90.0, 180.0),
    "rack-1:A2": (235.0, -150.0, 40.0, 0.0, 90.0, 180.0),
    BALANCE: (420.0, 60.0, 95.0, 0.0, 90.0, 180.0),
    METER: (300.0, 200.0, 60.0, 0.0, 90.0, 180.0),
    WASTE: (150.0, 250.0, 120.0, 0.0, 90.0, 180.0),
}


def coords(place: str) -> PreciseFlexCartesianCoords:
    x, y, z, yaw, pitch, roll = POSES[place]
    return PreciseFlexCartesianCoords(
        location=Coordinate(x, y, z),
        rotation=Rotation(x=roll, y=pitch, z=yaw),
        orientation=ElbowOrientation.RIGHT,
    )


@pytest.fixture
def arm(stocks) -> Iterator[PreciseFlexServer]:
    bench = SimulatedBench(stocks, 25.0, conductivity, seed=1)
    clock = SimClock(1000.0)
    labels = {"rack-1:A1": "V1"}
    with PreciseFlexServer(bench, POSES, clock=clock, rack_labels=labels.get) as server:
        yield server
    clock.stop()


def run(server: PreciseFlexServer, steps) -> object:  # type: ignore[no-untyped-def]
    """Set up PyLabRobot's backend against `server`, run `steps(backend)`, stop it."""

    async def session() -> object:
        backend = PreciseFlexBackend(host=server.host, port=server.port, timeout=2)
        await backend.setup()
        try:
            return await steps(backend)
        finally:
            await backend.stop()

    return asyncio.run(session())


def test_a_bench_served_by_the_arm_starts_with_an_empty_pan(arm: PreciseFlexServer) -> None:
    assert arm.bench.vial_id is None
    assert arm.vial_at("rack-1:A1") == "V1" and arm.vial_at("rack-1:A2") is None


def test_pylabrobot_moves_a_vial_from_its_rack_slot_onto_the_balance(
    arm: PreciseFlexServer,
) -> None:
    access = VerticalAccess(clearance_mm=80.0, gripper_offset_mm=0.0)

    async def steps(backend: PreciseFlexBackend) -> tuple[object, ...]:
        await backend.pick_up_resource(coords("rack-1:A1"), plate_width=28.0, access=access)
        held = arm.bench.places["V1"], await backend.is_gripper_closed()
        fingers = (await backend.get_joint_position())[PFAxis.GRIPPER]
        await backend.drop_resource(coords(BALANCE), access=access)
        at = await backend.get_cartesian_position()
        return held, fingers, at, await backend.get_version(), await backend.get_power_state()

    held, fingers, at, version, power = run(arm, steps)  # type: ignore[misc]
    assert held == (GRIPPER, False)
    assert fingers == pytest.approx(27.0, abs=1e-3)  # squeezed 1 mm below the 28 mm width
    assert arm.bench.vial_id == "V1" and arm.bench.places["V1"] == BALANCE
    assert (at.location.x, at.location.y, at.location.z) == pytest.approx(
        POSES[BALANCE][:3], abs=1e-3
    )
    assert at.orientation is ElbowOrientation.RIGHT
    assert version.startswith("Tcs_") and power == 1
    # The backend's set-up and stop, each answered: PC mode, power, attach, home; detach,
    # power off (then ``exit``, which TCS does not answer).
    assert arm.received[:4] == ["mode", "hp", "attach", "home"]
    assert arm.received[-2:] == ["attach", "hp"]
    assert arm.power is False and arm.attached is False


def test_a_grip_on_an_empty_place_is_the_tcs_no_plate_answer(arm: PreciseFlexServer) -> None:
    async def steps(backend: PreciseFlexBackend) -> bool:
        with pytest.raises(PreciseFlexError, match="no plate present"):
            await backend.pick_up_resource(coords("rack-1:A2"), plate_width=28.0)
        return await backend.is_gripper_closed()

    assert run(arm, steps) is True
    assert "rack-1:A2" not in arm.bench.places.values()


def test_placing_onto_an_occupied_place_stops_with_an_envelope_error(
    arm: PreciseFlexServer,
) -> None:
    arm.bench.move("V0", "rack-1:A2", METER)  # a vial already stands in the meter

    async def steps(backend: PreciseFlexBackend) -> int:
        await backend.pick_up_resource(coords("rack-1:A1"), plate_width=28.0)
        with pytest.raises(PreciseFlexError) as caught:
            await backend.drop_resource(coords(METER))
        return caught.value.replycode

    assert run(arm, steps) == -3122
    assert arm.bench.places["V1"] == GRIPPER and arm.held == "V1"
    assert arm.bench.places["V0"] == METER


def test_motion_before_power_and_unknown_commands_answer_tcs_error_codes(
    arm: PreciseFlexServer,
) -> None:
    with socket.create_connection((arm.host, arm.port), timeout=2.0) as link:
        reader = link.makefile("rb")

        def ask(line: str) -> str:
            link.sendall(line.encode() + b"\n")
            return reader.readline().decode()

        assert ask("home") == "-1046 Power not enabled\r\n"
        assert ask("hp 1") == "0\r\n"
        assert ask("home") == "-1009 No robot attached\r\n"
        assert ask("attach 1") == "0\r\n"
        assert ask("pickplate 1 0 0") == "-202 Invalid argument\r\n"  # location 1 never set
        assert ask("locXyz 1 1 2 3 0 90 180") == "0\r\n"
        assert ask("pickplate 1 0 0") == "-1021 Robot not homed\r\n"
        assert ask("locXyz 1") == "0 0 1 1.000 2.000 3.000 0.000 90.000 180.000\r\n"
        assert ask("frobnicate") == "-714 Unknown command\r\n"
        assert ask("locXyz 0") == "-2851 Invalid Station ID\r\n"
        arm.inject(Fault.ERROR)
        assert ask("nop") == "-3122 Soft envelope error\r\n"
    assert arm.bench.places == {"vial-0001": WASTE}  # nothing moved but the pan's first vial


def test_without_labels_every_unrecorded_rack_slot_holds_an_empty_vial(stocks) -> None:
    """A simulator in its own process (`electroloop sim up`) cannot know a campaign's labels:
    the racks are full of empty vials, labelled by their slot on the bench."""
    bench = SimulatedBench(stocks, 25.0, conductivity, seed=1)
    clock = SimClock(1000.0)
    with PreciseFlexServer(bench, POSES, clock=clock) as server:

        async def steps(backend: PreciseFlexBackend) -> None:
            await backend.pick_up_resource(coords("rack-1:A2"), plate_width=28.0)
            await backend.drop_resource(coords(BALANCE))

        run(server, steps)
        assert server.vial_at("rack-1:A1") == "unlabelled-rack-1:A1"
        assert server.vial_at("rack-1:A2") is None
    clock.stop()
    assert bench.vial_id == "unlabelled-rack-1:A2"
    assert bench.vial_contents() == {}
