"""`PreciseFlexArm` (a SampleHandler over PyLabRobot's PreciseFlex backend) against the TCS
simulator: moves, checks made before a byte is sent, a failed grip, and finding a vial after a
crash."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pylabrobot.arms.precise_flex.precise_flex_backend import PreciseFlexBackend

from electroloop.errors import (
    ConfigError,
    DeviceFault,
    InstrumentError,
    InstrumentTimeout,
    LimitViolation,
)
from electroloop.instruments.deck import SlotOccupied, WrongVial
from electroloop.instruments.precise_flex import (
    OPERATION_TIMEOUTS,
    ArmFault,
    ArmStopFailed,
    GripSettings,
    Pose,
    PreciseFlexArm,
    UnknownPosition,
    VialNotGripped,
    arm_address,
)
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.precise_flex import GRIPPER, PreciseFlexServer
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.samples import BALANCE, METER, WASTE
from electroloop.settings import parse_lab
from electroloop.simulations.conductivity import conductivity

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "labs" / "lab.arm.toml"
POSES: dict[str, list[float]] = {
    "rack-1:A1": [200.0, -150.0, 40.0, 0.0, 90.0, 180.0, 1],
    "rack-1:A2": [235.0, -150.0, 40.0, 0.0, 90.0, 180.0],
    BALANCE: [420.0, 60.0, 95.0, 0.0, 90.0, 180.0],
    METER: [300.0, 200.0, 60.0, 0.0, 90.0, 180.0],
    WASTE: [150.0, 250.0, 120.0, 0.0, 90.0, 180.0],
}
PICK_COMMANDS = 5  # graspdata, locxyz, stationtype, locconfig, pickplate (PyLabRobot 0.2.2)
MOTIONS = {"home", "pickplate", "placeplate", "gripper", "movetosafe"}


@pytest.fixture
def server(stocks) -> Iterator[PreciseFlexServer]:
    bench = SimulatedBench(stocks, 25.0, conductivity, seed=1)
    clock = SimClock(1000.0)
    labels = {"rack-1:A1": "V1", "rack-1:A2": "V2"}
    with PreciseFlexServer(bench, POSES, clock=clock, rack_labels=labels.get) as arm_server:
        yield arm_server
    clock.stop()


@pytest.fixture
def arm(server: PreciseFlexServer) -> Iterator[PreciseFlexArm]:
    handler = PreciseFlexArm(server.host, server.port, POSES, timeout=5.0)
    yield handler
    handler.close()


def test_a_vial_goes_rack_balance_meter_rack(arm: PreciseFlexArm, server) -> None:
    places = []
    for source, target in (("rack-1:A1", BALANCE), (BALANCE, METER), (METER, "rack-1:A1")):
        arm.move("V1", source, target)
        places.append((server.bench.places["V1"], arm.deck.place_of("V1")))
    assert places == [(BALANCE, BALANCE), (METER, METER), ("rack-1:A1", "rack-1:A1")]
    assert server.received.count("pickplate") == 3 == server.received.count("placeplate")
    assert server.held is None and server.bench.vial_id is None
    assert arm.name == "PreciseFlex arm"


def test_an_untaught_place_is_refused_before_a_byte_is_sent(arm: PreciseFlexArm, server) -> None:
    with pytest.raises(UnknownPosition, match="'hood' is not taught; taught places: balance"):
        arm.move("V1", "rack-1:A1", "hood")
    with pytest.raises(UnknownPosition, match="'rack-1:B1'"):
        arm.find("V1", "rack-1:B1", {})
    assert server.commands == 0 and server.received == []
    arm.move("V1", "rack-1:A1", BALANCE)  # connected now: still nothing sent for a bad place
    sent = len(server.received)
    with pytest.raises(UnknownPosition):
        arm.move("V1", BALANCE, "rack-9:A1")
    assert len(server.received) == sent and server.bench.places["V1"] == BALANCE
    with pytest.raises(UnknownPosition, match="'rack-1:A3'"):
        arm.require(["rack-1:A1", "rack-1:A2", "rack-1:A3"])


def test_a_full_slot_is_refused_before_the_arm_moves(arm: PreciseFlexArm, server) -> None:
    arm.move("V1", "rack-1:A1", BALANCE)
    motions = [c for c in server.received if c in MOTIONS]
    with pytest.raises(SlotOccupied, match="balance holds vial V1; vial V2"):
        arm.move("V2", "rack-1:A2", BALANCE)
    assert [c for c in server.received if c in MOTIONS] == motions
    assert server.bench.places["V1"] == BALANCE and "V2" not in server.bench.places


def test_another_vial_at_the_source_is_refused_before_the_arm_moves(
    arm: PreciseFlexArm, server
) -> None:
    arm.move("V1", "rack-1:A1", BALANCE)
    motions = [c for c in server.received if c in MOTIONS]
    with pytest.raises(WrongVial, match="balance holds vial V1, not vial V2") as caught:
        arm.move("V2", BALANCE, METER)  # the arm would pick V1 and the deck record V2 at meter
    assert isinstance(caught.value, LimitViolation)
    assert [c for c in server.received if c in MOTIONS] == motions
    assert server.bench.places["V1"] == BALANCE and arm.deck.place_of("V1") == BALANCE
    assert arm.deck.place_of("V2") is None


def test_a_place_that_fails_leaves_the_vial_in_the_gripper_on_the_deck(
    arm: PreciseFlexArm, server
) -> None:
    with pytest.raises(ArmFault, match="-3122"):  # V2 stands at A2, which the deck does not know
        arm.move("V1", "rack-1:A1", "rack-1:A2")
    assert server.bench.places["V1"] == GRIPPER
    assert arm.deck.place_of("V1") == GRIPPER and arm.deck.vial_at("rack-1:A1") is None
    assert arm.find("V1", "rack-1:A1", {}) is True  # set down where it came from
    assert server.bench.places["V1"] == "rack-1:A1" and arm.deck.place_of("V1") == "rack-1:A1"


def test_a_place_without_an_answer_leaves_the_vial_in_the_gripper_on_the_deck(
    arm: PreciseFlexArm, server
) -> None:
    arm.move("V1", "rack-1:A1", BALANCE)
    server.schedule(FaultRule(Fault.DISCONNECT, after=server.commands + PICK_COMMANDS))
    with pytest.raises(InstrumentError):
        arm.move("V1", BALANCE, METER)
    assert server.bench.places["V1"] == GRIPPER and arm.deck.place_of("V1") == GRIPPER


def test_a_grip_on_an_empty_slot_is_a_named_error(arm: PreciseFlexArm, server) -> None:
    arm.move("V1", "rack-1:A1", WASTE)
    with pytest.raises(VialNotGripped, match="gripped nothing at rack-1:A1: vial V1") as caught:
        arm.move("V1", "rack-1:A1", BALANCE)
    assert isinstance(caught.value, DeviceFault)
    assert server.held is None and server.bench.vial_id is None
    assert arm.deck.place_of("V1") == WASTE  # the deck still has it where it was put


def test_a_tcs_error_and_a_dropped_link_are_instrument_errors(arm: PreciseFlexArm, server) -> None:
    arm.move("V1", "rack-1:A1", BALANCE)
    server.inject(Fault.ERROR)
    with pytest.raises(ArmFault, match="-3122") as caught:
        arm.move("V1", BALANCE, METER)
    assert caught.value.code == -3122
    server.inject(Fault.DISCONNECT)
    with pytest.raises(InstrumentError, match="closed the link"):
        arm.move("V1", BALANCE, METER)
    arm.move("V1", BALANCE, METER)  # connects afresh
    assert server.bench.places["V1"] == METER


def test_close_reports_an_arm_it_could_not_power_down(server) -> None:
    arm = PreciseFlexArm(server.host, server.port, POSES, timeout=5.0)
    arm.move("V1", "rack-1:A1", BALANCE)
    server.inject(Fault.ERROR)  # the detach answers -3122
    with pytest.raises(ArmStopFailed, match="may still be powered: .*-3122") as caught:
        arm.close()
    assert isinstance(caught.value, InstrumentError)
    assert arm._loop.loop.is_closed()  # closed all the same
    arm.close()  # a second close has nothing left to do


def test_the_timeout_message_names_the_wait_it_gave(arm: PreciseFlexArm, server) -> None:
    arm.move("V1", "rack-1:A1", BALANCE)
    # Only the silence waits so little: the lowered timeout reaches the operation's limit
    # (4 × 0.2 s), not the socket's 5 s read timeout, so the operation's limit runs out.
    arm.timeout = 0.2
    server.inject(Fault.SILENT)
    with pytest.raises(InstrumentTimeout) as caught:
        arm.where()
    wait = arm.timeout * OPERATION_TIMEOUTS
    message = str(caught.value)
    assert f"no answer within {wait} s" in message  # what it waited ...
    assert f"the whole operation {wait} s" in message  # ... is the limit it names


def test_find_sets_down_a_vial_the_gripper_still_holds(server) -> None:
    async def pick_and_die() -> None:  # a run that picked V1 and then died: no stop, no place
        backend = PreciseFlexBackend(host=server.host, port=server.port, timeout=2)
        await backend.setup()
        await backend.pick_up_resource(Pose.of("a", POSES[BALANCE]).coords(), plate_width=28.0)
        await backend.io.stop()

    server.bench.move("V1", "rack-1:A1", BALANCE)
    asyncio.run(pick_and_die())
    assert server.bench.places["V1"] == GRIPPER
    arm = PreciseFlexArm(server.host, server.port, POSES, timeout=5.0)
    try:
        assert arm.find("V1", BALANCE, {"EC": 1.0}) is True
    finally:
        arm.close()
    assert server.bench.vial_id == "V1" and server.held is None
    assert server.received.count("pickplate") == 1  # set down, not gripped again


def test_find_feels_for_a_vial_and_reports_one_that_is_gone(arm: PreciseFlexArm, server) -> None:
    arm.move("V1", "rack-1:A1", BALANCE)
    assert arm.find("V1", BALANCE, {"EC": 1.0}) is True
    assert server.bench.vial_id == "V1"
    assert arm.find("V9", METER, {"EC": 1.0}) is False
    assert server.held is None and server.fingers == pytest.approx(38.0, abs=1e-9)  # opened
    assert arm.deck.place_of("V9") is None


def test_callers_with_a_running_event_loop_use_the_arm_as_any_other(arm, server) -> None:
    async def flow_task() -> str | None:
        arm.move("V1", "rack-1:A1", METER)
        return server.bench.places["V1"]

    assert asyncio.run(flow_task()) == METER


def test_lab_file_values_outside_their_range_are_named_errors() -> None:
    with pytest.raises(LimitViolation, match="arm.limits.grip_force is 50.0; allowed: 1.0 to 20"):
        GripSettings.from_limits({"grip_force": 50.0})
    assert GripSettings.from_limits({"clearance": 120.0}).clearance == 120.0
    with pytest.raises(ConfigError, match="arm.positions.meter: .*6 or 7 finite numbers"):
        Pose.of(METER, [1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="config 3"):
        Pose.of(METER, [1.0, 2.0, 3.0, 0.0, 90.0, 180.0, 3])
    with pytest.raises(ConfigError, match="TCPIP::<host>::<port>::SOCKET"):
        arm_address("ASRL/dev/ttyUSB0::INSTR")
    assert arm_address("TCPIP::10.0.0.40::10100::SOCKET") == ("10.0.0.40", 10100)


def _lab(**arm: Any) -> dict[str, Any]:
    data = tomllib.loads(EXAMPLE.read_text("utf-8"))
    data["arm"] |= arm
    return data


def test_the_lab_file_arm_needs_the_campaign_places_taught() -> None:
    lab = parse_lab(_lab(), "lab.arm.toml")
    assert lab.arm is not None and lab.instruments()["arm"] is lab.arm
    assert len(lab.arm.positions) == 24 + 4
    positions = {k: v for k, v in lab.arm.positions.items() if k != METER}
    with pytest.raises(ConfigError, match=r"arm.positions: no taught position for \['meter'\]"):
        parse_lab(_lab(positions=positions), "lab.toml")
    with pytest.raises(ConfigError, match="arm.positions: rack-1:A1: .*6 or 7 finite numbers"):
        parse_lab(_lab(positions={**lab.arm.positions, "rack-1:A1": [1.0, 2.0]}), "lab.toml")
    without = {k: v for k, v in lab.arm.positions.items() if k != "standards"}
    with pytest.raises(ConfigError, match="no 'standards'"):
        parse_lab(_lab(positions=without), "lab.toml")
    with pytest.raises(ConfigError, match="arm.driver is 'ur5'; allowed: 'precise-flex'"):
        parse_lab(_lab(driver="ur5"), "lab.toml")
