"""The simulated DT pump over loopback TCP: timing on its clock, errors as the manual reports
them, valve behaviour, and a recorded session replayed without the simulator."""

from __future__ import annotations

import time

import pytest

from electroloop.errors import DeviceFault
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.syringe_pump import (
    InvalidOperand,
    PlungerMoveNotAllowed,
    SyringePump,
)
from electroloop.instruments.transport import ReplayResource, query
from tests.floats import SAME_COMPUTATION, assert_close
from tests.unit.instruments.conftest import POSITION

T = SyringePump.TERMINATIONS


def ask(resource, body: str) -> str:
    return query(resource, "/1" + body, instrument="pump")


def test_a_move_is_busy_for_its_duration_on_the_clock(lab, connect) -> None:
    server = lab.pumps["EC"]
    server.clock = SimClock(100.0)  # a full stroke at V1400 is 6000/1400 = 4.29 s: 43 ms
    resource = connect(server.resource_name, T)
    pump = SyringePump(resource, poll_interval=0.001)
    pump.initialize()
    pump.select_port(lab.INPUT_PORT)
    assert ask(resource, "A3000R") == "/0@\x03"  # accepted, busy
    time.sleep(0.015)
    midway = int(ask(resource, "?")[3:-1])
    assert 0 < midway < 3000  # the plunger reports where it is, mid-stroke
    assert ask(resource, "Q") == "/0@\x03"
    pump.wait_until_ready(1.0)
    assert pump.position() == pytest.approx(5.0, **POSITION)
    pump.set_speed_code(0)  # 6000 pulses/s: a full stroke in 1 s, 10 ms here
    start = time.monotonic()
    pump.move_to(0.0)
    fast_stroke = time.monotonic() - start
    pump.set_top_speed(1400)
    start = time.monotonic()
    pump.move_to(5.0)
    slow_stroke = time.monotonic() - start
    assert 0.008 < fast_stroke < slow_stroke and 0.04 < slow_stroke < 3.0
    assert pump.top_speed() == 1400 and server.top_speed == 1400


def test_errors_are_reported_when_the_manual_says(lab, connect) -> None:
    resource = connect(lab.pump_resources["EC"], T)
    pump = SyringePump(resource, poll_interval=0.001)
    assert ask(resource, "A300R") == "/0g\x03"  # error 7 at once: not initialised
    assert ask(resource, "Q") == "/0g\x03" and ask(resource, "Q") == "/0`\x03"  # then cleared
    pump.initialize()
    assert ask(resource, "E2000R") == "/0b\x03"  # unknown command: error 2 at once, not busy
    ask(resource, "Q")
    assert ask(resource, "A4000R") == "/0`\x03"  # out of range: accepted ...
    with pytest.raises(InvalidOperand):  # ... and reported by [Q]
        pump.wait_until_ready(1.0)
    assert ask(resource, "A3000A3500R") == "/0@\x03"  # runs up to the bad operand
    with pytest.raises(InvalidOperand):
        pump.wait_until_ready(1.0)
    assert pump.position() == pytest.approx(5.0, **POSITION)
    assert ask(resource, "V7000R")[2] == "`" and ask(resource, "?2") == "/0c1400\x03"
    ask(resource, "Q")
    assert ask(resource, "&") == "/0`XCalibur DT 2.4 (simulated)\x03"
    assert ask(resource, "?99")[2] == "b"  # an unknown report is an invalid command


def test_a_plunger_move_in_bypass_is_not_allowed(lab, connect) -> None:
    resource = connect(lab.pump_resources["EMC"], T)
    pump = SyringePump(resource, poll_interval=0.001)
    pump.initialize()
    pump.bypass()
    assert pump.valve() == "bypass"
    assert ask(resource, "P300R")[2] == "`"  # accepted ...
    with pytest.raises(PlungerMoveNotAllowed):  # ... refused when it runs (manual §3)
        pump.wait_until_ready(1.0)
    pump.select_port(3, direction="ccw")
    pump.aspirate(0.5)
    assert (pump.valve(), pump.position()) == (3, pytest.approx(0.5, **POSITION))


def test_initialisation_homes_valve_and_plunger(lab, connect) -> None:
    pump = SyringePump(connect(lab.pump_resources["DMC"], T), poll_interval=0.001)
    pump.initialize(2, output="left")  # [Y2]: the valve to the last port
    assert pump.valve() == 6 and pump.position() == pytest.approx(0.0, **POSITION)
    pump.select_port(lab.INPUT_PORT)
    pump.aspirate(2.0)
    pump.initialize()  # [Z]: valve to port 1 (the bottle), plunger home: liquid goes back
    assert pump.valve() == 1 and pump.position() == pytest.approx(0.0, **POSITION)
    # Mass is conserved on the bench: only the rounding of the transfers may differ.
    assert lab.bench.bottle_mass("DMC") == pytest.approx(500.0, rel=1e-12, abs=0.0)
    pump.initialize(output="none")  # [W]: the valve drive is not initialised ...
    with pytest.raises(DeviceFault, match="valve reports port '1' after I3"):
        pump.select_port(3)  # ... so the valve does not turn, and the read-back says so


def test_a_recorded_session_replays_to_the_same_results(lab, connect) -> None:
    def session(pump: SyringePump) -> list[object]:
        pump.initialize()
        pump.set_top_speed(3000)
        pump.select_port(lab.INPUT_PORT)
        pump.aspirate(1.25)
        seen: list[object] = [pump.position(), pump.valve(), pump.top_speed()]
        pump.select_port(lab.OUTPUT_PORT)
        pump.dispense(0.75)
        with pytest.raises(InvalidOperand):
            ask(pump.resource, "D3000R")
            pump.wait_until_ready(1.0)
        seen += [pump.position(), pump.valve(), pump.firmware()]
        return seen

    recorded = connect(lab.pump_resources["EC"], T)
    live = session(SyringePump(recorded, poll_interval=0.001))
    transcript = recorded.take()
    replay = ReplayResource(transcript)
    # Positions are computed (increments × step volume) on the way: the same arithmetic twice.
    assert_close(session(SyringePump(replay, poll_interval=0.0)), live, **SAME_COMPUTATION)
    assert replay.remaining == 0
    assert_close(live, [1.25, 1, 3000, 0.5, 2, "XCalibur DT 2.4 (simulated)"], **POSITION)
