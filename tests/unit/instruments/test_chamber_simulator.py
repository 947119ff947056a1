"""Simulated thermal chamber over loopback TCP: ramp physics on the accelerated clock, door and
alarm interlocks, SCPI errors, and a recorded session replayed without the simulator."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from electroloop.instruments.sim.chamber import ChamberServer, approach
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.thermal_chamber import ChamberInterlock, ThermalChamber
from electroloop.instruments.transport import ReplayResource, query, write

T = ThermalChamber.TERMINATIONS
SPEEDUP = 6000.0  # 20 min of instrument time in 0.2 s


@pytest.fixture
def sim():
    with ChamberServer(clock=SimClock(SPEEDUP), seed=3) as server:
        yield server


@pytest.fixture
def chamber(sim, connect) -> ThermalChamber:
    return ThermalChamber(connect(sim.resource_name, T, instrument="chamber"), poll_interval=0.002)


# -- physics -------------------------------------------------------------------------------

temperatures = st.floats(-40.0, 150.0)
taus = st.floats(1.0, 1000.0)
rates = st.floats(0.001, 1.0) | st.just(math.inf)  # K/s
times = st.floats(0.0, 5000.0)


@given(temperatures, temperatures, taus, rates, times, times)
def test_approach_is_exact_over_any_split_of_time(t0, target, tau, rate, dt1, dt2) -> None:
    whole = approach(t0, target, tau, rate, dt1 + dt2)
    split = approach(approach(t0, target, tau, rate, dt1), target, tau, rate, dt2)
    assert split == pytest.approx(whole, abs=1e-9 * (1 + abs(t0 - target)))


@given(temperatures, temperatures, taus, rates, times)
def test_approach_never_overshoots_nor_beats_the_ramp(t0, target, tau, rate, dt) -> None:
    after = approach(t0, target, tau, rate, dt)
    assert min(t0, target) - 1e-9 <= after <= max(t0, target) + 1e-9
    if math.isfinite(rate):
        assert abs(after - t0) <= rate * dt + 1e-9


def test_a_ramp_at_1_k_per_min_over_20_k_takes_20_minutes(sim, chamber) -> None:
    assert chamber.temperature() == pytest.approx(22.0, abs=0.1)  # ambient
    assert chamber.set_ramp_rate(1.0) == 1.0
    assert chamber.set_setpoint(42.0) == 42.0
    chamber.start()
    samples = []
    for _ in range(2):
        time.sleep(0.03)  # 3 min of instrument time
        samples.append((sim.temperature_now(), sim.clock.now()))
    (t1, c1), (t2, c2) = samples
    assert (t2 - t1) / (c2 - c1) * 60.0 == pytest.approx(1.0, rel=0.01)  # K/min
    started = c1 - (t1 - 22.0) * 60.0  # when OUTP ON took effect, from the straight line
    final = chamber.wait_until_stable(tolerance=0.5, timeout=2.0)
    elapsed = sim.clock.now() - started
    # Linear at 1 K/min until 1 K (= r·τ) short, then τ·ln 2 to come within 0.5 K.
    expected = 19.0 * 60.0 + 60.0 * math.log(2.0)
    assert expected - 5.0 < elapsed < expected + 300.0  # polling adds a little
    assert final == pytest.approx(42.0, abs=0.6)
    chamber.stop()
    time.sleep(0.05)  # 5 min off: relaxing toward ambient with τ = 15 min
    assert 22.0 < sim.temperature_now() < 42.0 - 0.2 * 20.0


def test_door_interlock_in_the_driver_and_in_the_chamber(sim, chamber) -> None:
    sim.open_door()
    assert chamber.door() == "OPEN"
    with pytest.raises(ChamberInterlock, match="door is open"):
        chamber.start()
    write(chamber.resource, "OUTP ON", instrument="chamber")  # a careless client
    assert query(chamber.resource, "SYST:ERR?", instrument="chamber") == (
        '-221,"Settings conflict;door open"'
    )
    assert not chamber.output()
    sim.close_door()
    chamber.start()
    assert chamber.output()


def test_door_opened_while_waiting_stops_the_wait(sim, chamber) -> None:
    chamber.set_ramp_rate(20.0)
    chamber.set_setpoint(60.0)
    chamber.start()
    time.sleep(0.02)  # two minutes in: heating
    sim.open_door()
    warm = sim.temperature_now()
    with pytest.raises(ChamberInterlock, match="keep regulating: its door is open"):
        chamber.wait_until_stable(timeout=2.0)
    time.sleep(0.02)
    assert sim.temperature_now() < warm  # the controller suspends; the air cools to ambient


def test_alarm_switches_the_output_off_until_cleared(sim, chamber) -> None:
    chamber.start()
    sim.trip_alarm("OVERTEMP")
    assert chamber.alarm() == "OVERTEMP" and not chamber.output()
    with pytest.raises(ChamberInterlock, match="alarm OVERTEMP is active"):
        chamber.start()
    chamber.clear_alarm()
    chamber.start()
    assert chamber.status().output
    with pytest.raises(ValueError, match="allowed"):
        sim.trip_alarm("FIRE")


def test_long_forms_and_scpi_errors(chamber) -> None:
    io = chamber.resource

    def ask(message: str) -> str:
        return query(io, message, instrument="chamber")

    write(io, ":source:temperature:spoint 30.5", instrument="chamber")
    assert float(ask("TEMP?")) == 30.5
    write(io, "TEMPERATURE:RAMP:RATE MAX", instrument="chamber")
    assert float(ask("SOUR:TEMP:RAMP?")) == 20.0
    write(io, "OUTPUT:STATE 1", instrument="chamber")
    assert ask("OUTP:STAT?") == "1"
    assert ask("*OPC?") == "1"
    for bad in ("SOUR:TEMP 200", "SOUR:TEMP warm", "SOUR:TEMP", "OUTP MAYBE", "STAT:DOR?"):
        write(io, bad, instrument="chamber")
    codes = [int(ask("SYST:ERR?").split(",")[0]) for _ in range(6)]
    assert codes == [-222, -104, -109, -224, -113, 0]
    assert float(ask("SOUR:TEMP?")) == 30.5  # refused settings changed nothing
    write(io, "*RST", instrument="chamber")
    assert chamber.setpoint() == 25.0
    assert not chamber.output()


def test_replayed_session_gives_the_same_results(chamber) -> None:
    def session(c: ThermalChamber) -> list[object]:
        results: list[object] = [c.identity(), c.set_ramp_rate(20.0), c.set_setpoint(30.0)]
        c.start()
        results += [c.wait_until_stable(tolerance=0.5, timeout=2.0), c.status()]
        c.stop()
        return results

    live = session(chamber)
    replay = ReplayResource(chamber.resource.take())
    # The driver only parses: every float is a copy of the same reply text, live or replayed.
    assert session(ThermalChamber(replay, poll_interval=0.0)) == live
    assert replay.remaining == 0
