"""SyringePump: DT-protocol dialogues (pyvisa-sim), limits, and the loopback simulator."""

from __future__ import annotations

import time

import pytest

from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.syringe_pump import (
    CommandOverflow,
    InvalidCommand,
    NotInitialized,
    PlungerMoveNotAllowed,
    PlungerOverload,
    PumpFault,
    PumpNotInitialized,
    PumpOverload,
    SyringePump,
)
from tests.unit.instruments.conftest import POSITION

T = SyringePump.TERMINATIONS
OK, OVERLOAD, UNINIT, BUSY, GARBLED, ADDR3, SPEED, VALVE, BYPASS = (
    f"TCPIP0::192.0.2.30::{4000 + i}::SOCKET" for i in range(1, 10)
)


def sent(resource) -> list[str]:
    return [line.split(" ", 2)[2] for line in resource.take().text.splitlines() if " > " in line]


def pump(dialogue, name: str, **kwargs) -> SyringePump:
    return SyringePump(dialogue("pump.yaml", name, T), poll_interval=0.0, **kwargs)


def test_initialize_move_and_read_back(dialogue) -> None:
    p = pump(dialogue, OK)
    p.initialize()
    assert p.position() == pytest.approx(0.0, **POSITION)
    p.move_to(1.0)  # A600: 1 mL of a 5 mL / 3000-step syringe
    assert p.position() == pytest.approx(1.0, **POSITION)
    p.select_port(3)
    lines = p.resource.take().text.splitlines()
    frames = [line.split(" ", 2)[2] for line in lines if " > " in line]
    assert frames == [
        "/1ZR",
        "/1Q",
        "/1?",
        "/1?6",
        "/1?",
        "/1A600R",
        "/1Q",
        "/1?",
        "/1?",
        "/1I3R",
        "/1Q",
        "/1?6",
    ]
    assert any(r"\x03" in line for line in lines)  # ETX shown escaped


def test_read_back_mismatch_is_a_fault(dialogue) -> None:
    p = pump(dialogue, OK)
    p.initialize()
    with pytest.raises(DeviceFault, match="valve reports port '3'"):
        p.select_port(2)
    with pytest.raises(DeviceFault, match="expected 300"):
        p.aspirate(0.5)  # the dialogue's plunger does not follow relative moves


def test_status_error_codes_are_typed(dialogue) -> None:
    with pytest.raises(PlungerOverload) as overload:
        pump(dialogue, OVERLOAD).initialize()
    assert overload.value.code == 9 and isinstance(overload.value, PumpOverload)
    p = pump(dialogue, UNINIT)
    with pytest.raises(NotInitialized) as uninit:
        p.move_to(1.0)
    assert uninit.value.code == 7 and isinstance(uninit.value, PumpNotInitialized)
    with pytest.raises(CommandOverflow, match="command overflow") as overflow:
        p.select_port(1)
    assert overflow.value.code == 15
    # an error in a command's own answer is read (and cleared) by one [Q], then raised
    assert sent(p.resource) == ["/1A600R", "/1Q", "/1I1R", "/1Q"]


def test_unknown_command_is_invalid_command(dialogue) -> None:
    p = pump(dialogue, OK)
    p.initialize()
    p.move_to(1.0)
    with pytest.raises(InvalidCommand, match="invalid command"):
        p.dispense(0.5)  # D300R is not in the dialogue: the device answers error 2


def test_busy_pump_times_out(dialogue) -> None:
    p = pump(dialogue, BUSY)
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout, match="busy"):
        p.wait_until_ready(timeout=0.05)
    assert time.monotonic() - start < 3.0  # gives up at its timeout, not never


def test_garbled_answers(dialogue) -> None:
    p = pump(dialogue, GARBLED)
    with pytest.raises(DeviceFault, match="expected"):
        p.wait_until_ready(0.05)
    with pytest.raises(DeviceFault, match="integer"):
        p.position()
    with pytest.raises(DeviceFault, match="status byte"):
        p.initialize()


def test_address_is_in_the_frame(dialogue) -> None:
    p = pump(dialogue, ADDR3, address=3)
    assert p.position() == pytest.approx(2.5, **POSITION)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        ("aspirate", 0.0),
        ("aspirate", -1.0),
        ("aspirate", 5.01),
        ("aspirate", float("nan")),
        ("dispense", 6.0),
        ("dispense", 1e-5),  # below one increment
        ("move_to", 5.5),
        ("move_to", -0.1),
        ("select_port", 0),
        ("select_port", 7),
    ],
)
def test_limits_are_checked_before_sending(dialogue, call: str, argument: float) -> None:
    p = pump(dialogue, OK)
    with pytest.raises(LimitViolation):
        getattr(p, call)(argument)
    assert p.resource.take().text == ""


@pytest.mark.parametrize("address", [0, 16])
def test_address_limits(dialogue, address: int) -> None:
    with pytest.raises(LimitViolation, match="1..15"):
        pump(dialogue, OK, address=address)


def test_speed_is_set_and_read_back(dialogue) -> None:
    p = pump(dialogue, SPEED)
    assert p.top_speed() == 1400
    p.set_top_speed(3000)
    assert p.top_speed() == 3000
    assert p.firmware() == "XCalibur DT 2.4"
    with pytest.raises(DeviceFault, match="top speed 3000 after 'S0'; expected 6000"):
        p.set_speed_code(0)  # the dialogue's speed does not follow [S]
    assert sent(p.resource)[-4:] == ["/1&", "/1S0R", "/1Q", "/1?2"]


def test_initialisation_variants_and_valve_directions(dialogue) -> None:
    p = pump(dialogue, VALVE)
    p.initialize(1, output="left")  # [Y1]: half force, output on the left
    assert p.valve() == 6
    p.initialize(output="none")  # [W]: plunger only
    p.select_port(2)
    assert p.valve() == 2
    with pytest.raises(PlungerMoveNotAllowed) as refused:
        p.select_port(5, direction="ccw")
    assert refused.value.code == 11
    with pytest.raises(DeviceFault, match="valve reports port '2' after B"):
        p.bypass()  # the dialogue's valve does not follow [B]
    frames = sent(p.resource)
    assert frames[:3] == ["/1Y1R", "/1Q", "/1?"]
    assert "/1WR" in frames and "/1I2R" in frames and "/1O5R" in frames


def test_bypass_refuses_plunger_moves_before_sending(dialogue) -> None:
    p = pump(dialogue, BYPASS)
    p.bypass()
    assert p.valve() == "bypass"
    p.resource.take()
    for move in (lambda: p.aspirate(1.0), lambda: p.dispense(1.0), lambda: p.move_to(0.0)):
        with pytest.raises(LimitViolation, match="bypass"):
            move()
    assert p.resource.take().text == ""


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        ("set_top_speed", 4),
        ("set_top_speed", 6001),
        ("set_top_speed", 1400.0),
        ("set_speed_code", -1),
        ("set_speed_code", 41),
        ("set_speed_code", True),
        ("select_port", 2.0),
        ("initialize", 3),
    ],
)
def test_speed_and_valve_limits_before_sending(dialogue, call: str, argument: object) -> None:
    p = pump(dialogue, SPEED)
    with pytest.raises(LimitViolation):
        getattr(p, call)(argument)
    assert p.resource.take().text == ""


def test_max_top_speed_is_a_user_limit(dialogue) -> None:
    p = pump(dialogue, SPEED, max_top_speed=2000)
    with pytest.raises(LimitViolation, match="2000"):
        p.set_top_speed(2500)
    with pytest.raises(LimitViolation, match="max_top_speed 2000"):
        p.set_speed_code(5)  # 3200 pulses/s
    assert p.resource.take().text == ""
    with pytest.raises(LimitViolation):
        pump(dialogue, SPEED, max_top_speed=7000)


# -- against the loopback simulator ------------------------------------------------------


def test_transfers_liquid_on_the_bench(lab, connect) -> None:
    lab = lab
    p = SyringePump(connect(lab.pump_resources["EC"], T, instrument="pump EC"))
    p.initialize()
    p.select_port(lab.INPUT_PORT)
    p.aspirate(1.5)
    assert p.position() == pytest.approx(1.5, **POSITION)
    assert lab.bench.bottle_mass("EC") == pytest.approx(500.0 - 1.5 * 1.32, rel=0, abs=0.05)
    p.select_port(lab.OUTPUT_PORT)
    p.dispense(1.0)
    p.move_to(0.0)
    assert p.position() == pytest.approx(0.0, **POSITION)
    delivered = lab.bench.vial_contents()["EC"]
    assert delivered == pytest.approx(1.5 * 1.32, rel=0.02)
    # Mass is conserved on the bench: only the rounding of the transfers may differ.
    assert lab.bench.bottle_mass("EC") + delivered == pytest.approx(500.0, rel=1e-12, abs=0.0)


def test_limits_use_the_read_back_position(lab, connect) -> None:
    lab = lab
    p = SyringePump(connect(lab.pump_resources["EMC"], T))
    p.initialize()
    p.select_port(lab.INPUT_PORT)
    p.aspirate(4.0)
    p.resource.take()
    with pytest.raises(LimitViolation, match="up to 1.0000 mL"):
        p.aspirate(1.5)
    with pytest.raises(LimitViolation, match="4.0000 mL in the syringe"):
        p.dispense(4.5)
    assert p.resource.take().text == ""


def test_simulated_pump_reports_busy_then_ready(lab, connect) -> None:
    lab.pumps["DMC"].clock = SimClock(30.0)  # a full stroke at V1400: 4.3 s / 30 = 0.14 s
    resource = connect(lab.pump_resources["DMC"], T)
    p = SyringePump(resource)
    p.initialize()
    assert resource.query("/1P3000R") == "/0@\x03"  # accepted, busy
    assert resource.query("/1Q") == "/0@\x03"
    assert resource.query("/1D10R") == "/0O\x03"  # refused while busy: error 15
    with pytest.raises(PumpFault, match="command overflow"):
        p.wait_until_ready(timeout=2.0)  # [Q] reports the error once, then clears it
    p.wait_until_ready(timeout=2.0)
    assert p.position() == pytest.approx(5.0, **POSITION)


def test_simulated_faults(lab, connect) -> None:
    lab = lab
    p = SyringePump(connect(lab.pump_resources["EC"], T), poll_interval=0.001)
    with pytest.raises(PumpNotInitialized):
        p.move_to(1.0)
    p.initialize()
    lab.pumps["EC"].inject_error(9)
    with pytest.raises(PumpOverload):
        p.move_to(1.0)
    with pytest.raises(PumpOverload):  # persists until re-initialised
        p.move_to(1.0)
    p.initialize()
    p.move_to(1.0)
    assert p.position() == pytest.approx(1.0, **POSITION)
