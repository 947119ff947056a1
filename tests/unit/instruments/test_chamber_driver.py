"""ThermalChamber: pyvisa-sim dialogues, limits checked before sending, parser properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from electroloop.errors import ConfigError, DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.thermal_chamber import (
    ChamberError,
    ChamberInterlock,
    ChamberLimits,
    ChamberStatus,
    ThermalChamber,
    parse_alarm,
    parse_door,
)
from electroloop.instruments.transport import ReplayResource

T = ThermalChamber.TERMINATIONS
OK, DOOR_OPEN, ALARM, NEVER_SETTLES, GARBLED = (
    f"TCPIP0::192.0.2.50::{port}::SOCKET" for port in range(5025, 5030)
)


def chamber(dialogue, name: str, **kwargs) -> ThermalChamber:
    resource = dialogue("chamber.yaml", name, T, timeout=0.05)
    return ThermalChamber(resource, poll_interval=0.001, max_errors=3, **kwargs)


def sent(c: ThermalChamber) -> list[str]:
    return [line.split(" ", 2)[2] for line in c.resource.take().text.splitlines() if " > " in line]


def test_dialogue_sets_reads_back_and_starts(dialogue) -> None:
    c = chamber(dialogue, OK)
    assert c.identity() == "Acme Climate,TC-150,SN77,3.2"
    assert c.status() == ChamberStatus(25.0, 25.0, 1.0, False, "CLOSED", "NONE")
    sent(c)
    assert c.set_ramp_rate(2.5) == 2.5  # read back and parsed: copies, not computed
    assert c.set_setpoint(-12.5) == -12.5
    c.start()
    assert c.output()
    assert sent(c) == [
        "SOUR:TEMP:RAMP 2.5",
        "SOUR:TEMP:RAMP?",
        "SOUR:TEMP -12.5",
        "SOUR:TEMP?",
        "STAT:DOOR?",
        "STAT:ALARM?",
        "OUTP ON",
        "OUTP?",
        "OUTP?",
    ]
    c.stop()
    assert not c.output()
    c.reset()


def test_device_refuses_a_setpoint_within_the_driver_limits(dialogue) -> None:
    c = chamber(dialogue, OK)  # this chamber tops out at 100 °C
    with pytest.raises(ChamberError, match="-222") as error:
        c.set_setpoint(120.0)
    assert error.value.errors == [(-222, "Data out of range")]
    assert c.setpoint() == 25.0


def test_limits_are_checked_before_anything_is_sent(dialogue) -> None:
    c = chamber(dialogue, OK, limits=ChamberLimits(temperature=(10.0, 60.0), ramp_rate=(0.1, 5)))
    for bad in (9.9, 60.1, float("nan"), float("-inf")):
        with pytest.raises(LimitViolation, match="setpoint"):
            c.set_setpoint(bad)
    for bad in (0.0, 5.5, float("nan")):
        with pytest.raises(LimitViolation, match="ramp rate"):
            c.set_ramp_rate(bad)
    assert sent(c) == []
    with pytest.raises(ConfigError):
        ChamberLimits(temperature=(50.0, 10.0))


def test_open_door_refuses_start_before_sending_it(dialogue) -> None:
    c = chamber(dialogue, DOOR_OPEN)
    with pytest.raises(ChamberInterlock, match="door is open"):
        c.start()
    assert sent(c) == ["STAT:DOOR?", "STAT:ALARM?"]
    with pytest.raises(DeviceFault, match="output is off"):
        c.wait_until_stable(timeout=0.01)


def test_active_alarm_refuses_start_and_persists(dialogue) -> None:
    c = chamber(dialogue, ALARM)
    with pytest.raises(ChamberInterlock, match="alarm OVERTEMP"):
        c.start()
    with pytest.raises(ChamberInterlock, match="persists"):
        c.clear_alarm()
    with pytest.raises(ChamberInterlock, match="OVERTEMP"):
        c.wait_until_stable(tolerance=1.0, timeout=1.0)  # within 1 K, but not safe


def test_a_chamber_that_never_settles_times_out(dialogue) -> None:
    c = chamber(dialogue, NEVER_SETTLES)
    with pytest.raises(InstrumentTimeout, match=r"±0.5 K of 40.0 °C in 0.02 s \(last reading 25.0"):
        c.wait_until_stable(tolerance=0.5, timeout=0.02)
    assert c.wait_until_stable(tolerance=15.0, timeout=0.02) == 25.0  # the reading, as parsed


def test_garbled_answers_are_device_faults(dialogue) -> None:
    c = chamber(dialogue, GARBLED)
    for call, match in [
        (c.identity, "4 fields"),
        (c.temperature, "NR3"),
        (c.door, "AJAR"),
        (c.alarm, "over temp"),
        (c.output, "expected 1 or 0"),
        (c.check_errors, "SYST:ERR"),
    ]:
        with pytest.raises(DeviceFault, match=match):
            call()


# -- parser properties -------------------------------------------------------------------


@given(st.text(max_size=20))
def test_door_is_open_closed_or_a_device_fault(reply: str) -> None:
    try:
        state = parse_door(reply)
    except DeviceFault:
        assert reply.strip().upper() not in ("OPEN", "CLOSED")
    else:
        assert state == reply.strip().upper()


@given(st.sampled_from(["NONE", "OVERTEMP", "UNDERTEMP", "SENSOR", "COMPRESSOR", "WATER"]))
def test_known_alarms_parse(alarm: str) -> None:
    assert parse_alarm(f" {alarm.lower()}\r\n") == alarm


@given(st.text(max_size=40))
def test_any_alarm_reply_is_one_word_or_a_device_fault(reply: str) -> None:
    try:
        alarm = parse_alarm(reply)
    except DeviceFault:
        return
    assert alarm == reply.strip().upper()
    assert alarm and " " not in alarm and len(alarm) <= 32


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_the_driver_reads_any_recorded_temperature(value: float) -> None:
    transcript = f"t > MEAS:TEMP?\nt < {value:.6E}\nt > SOUR:TEMP?\nt < {value:.2f}\n"
    c = ThermalChamber(ReplayResource(transcript))
    assert c.temperature() == float(f"{value:.6E}")
    assert c.setpoint() == float(f"{value:.2f}")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_setpoints_outside_the_limits_are_never_sent(value: float) -> None:
    c = ThermalChamber(ReplayResource(""))  # any traffic would fail the test
    if not -40.0 <= value <= 150.0:
        with pytest.raises(LimitViolation):
            c.set_setpoint(value)
    if not 0.01 <= value <= 20.0:
        with pytest.raises(LimitViolation):
            c.set_ramp_rate(value)
