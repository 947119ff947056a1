"""ConductivityMeter: SCPI parsing (pyvisa-sim dialogues) and the loopback simulator."""

from __future__ import annotations

import re

import pytest

from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.conductivity_meter import (
    ConductivityMeter,
    MeterError,
    TemperatureCompensation,
)
from electroloop.instruments.sim.server import Fault

T = ConductivityMeter.TERMINATIONS
OK, OVER, FAULTY, NO_PROBE = (
    f"TCPIP0::192.0.2.40::{port}::SOCKET" for port in (5025, 5026, 5027, 5028)
)


TCOMP, STUCK, DEAF = (f"TCPIP0::192.0.2.41::{port}::SOCKET" for port in (5025, 5026, 5027))


def meter(dialogue, name: str, yaml: str = "meter.yaml") -> ConductivityMeter:
    return ConductivityMeter(
        dialogue(yaml, name, T, timeout=0.05), max_errors=3, measurement_timeout=0.05
    )


def sent(m: ConductivityMeter) -> list[str]:
    """The commands the driver sent since the last call."""
    return [line.split(" ", 2)[2] for line in m.resource.take().text.splitlines() if " > " in line]


def test_parses_readings_and_converts_units(dialogue) -> None:
    m = meter(dialogue, OK)
    assert m.identity() == "Acme Instruments,CM-9,SN4242,2.1"
    # 1.183 S/m = 11.83 mS/cm: one multiplication by 10, only its rounding may differ.
    assert m.conductivity() == pytest.approx(11.83, rel=1e-12, abs=0.0)
    assert m.temperature() == 25.12  # parsed from "2.512000E+01": a copy
    m.reset()
    m.check_errors()
    assert sent(m) == ["*IDN?", "MEAS:COND?", "MEAS:TEMP?", "*RST", "SYST:ERR?", "SYST:ERR?"]


def test_rejected_command_is_read_from_the_error_queue(dialogue) -> None:
    m = meter(dialogue, NO_PROBE)
    with pytest.raises(MeterError, match="-113") as error:
        m.temperature()  # unknown to this meter: no reply, then SYST:ERR?
    assert error.value.errors == [(-113, "Undefined header")]
    assert isinstance(error.value.__context__, InstrumentTimeout)
    m.check_errors()  # the queue is empty again


def test_over_range_and_garbled_answers(dialogue) -> None:
    m = meter(dialogue, OVER)
    with pytest.raises(DeviceFault, match="over range"):
        m.conductivity()
    with pytest.raises(DeviceFault, match="NR3"):
        m.temperature()
    with pytest.raises(DeviceFault, match="4 fields"):
        m.identity()


def test_error_queue_that_never_empties(dialogue) -> None:
    m = meter(dialogue, FAULTY)
    with pytest.raises(DeviceFault, match="did not empty"):
        m.conductivity()


def test_timeout_with_empty_queue_stays_a_timeout(lab, connect) -> None:
    m = ConductivityMeter(connect(lab.meter_resource, T, timeout=0.5))
    lab.meter.inject(Fault.SILENT)
    with pytest.raises(InstrumentTimeout):
        m.temperature()


def test_compensation_is_set_read_back_and_applied(dialogue) -> None:
    m = meter(dialogue, TCOMP, "meter_tcomp.yaml")
    assert m.compensation() == TemperatureCompensation(False, 2.0, 25.0)
    sent(m)
    setting = TemperatureCompensation(enabled=True, coefficient=2.0, reference=25.0)
    assert m.set_compensation(setting) == setting
    assert sent(m) == [
        "SENS:COND:TCOMP:COEF 2",
        "SENS:COND:TCOMP:COEF?",
        "SENS:COND:TCOMP:REF 25",
        "SENS:COND:TCOMP:REF?",
        "SENS:COND:TCOMP ON",
        "SENS:COND:TCOMP?",
    ]
    reading = m.reading()
    # S/m to mS/cm: one multiplication by 10, only its rounding may differ.
    conductivities = (reading.conductivity, reading.raw_conductivity)
    assert conductivities == pytest.approx((11.0, 12.1), rel=1e-12, abs=0.0)
    assert reading.temperature == 30.0  # parsed: a copy
    # The meter's compensation law, to the 7 significant digits of its NR3 replies.
    assert reading.conductivity == pytest.approx(
        reading.raw_conductivity / (1 + 2.0 / 100 * (reading.temperature - 25.0)), rel=1e-6, abs=0.0
    )
    assert sent(m) == ["INIT", "*OPC?", "FETC:COND?", "FETC:COND:RAW?", "FETC:TEMP?"]


def test_cell_constant_limits_and_device_refusal(dialogue) -> None:
    m = meter(dialogue, TCOMP, "meter_tcomp.yaml")
    assert m.cell_constant() == 1.0  # parsed from the reply: a copy
    assert m.set_cell_constant(0.4567891) == 0.456789  # sent as 6 digits (.6G), read back
    with pytest.raises(MeterError, match="-222") as error:  # this meter takes at most 10
        m.set_cell_constant(50.0)
    assert error.value.errors == [(-222, "Data out of range")]
    assert m.cell_constant() == 0.456789
    sent(m)
    for bad in (0.001, 500.0, float("nan"), float("inf")):
        with pytest.raises(LimitViolation, match="cell constant"):
            m.set_cell_constant(bad)
    for bad_setting in (
        TemperatureCompensation(True, coefficient=11.0),
        TemperatureCompensation(True, coefficient=-0.1),
        TemperatureCompensation(True, reference=40.0),
        TemperatureCompensation(False, reference=float("nan")),
    ):
        with pytest.raises(LimitViolation):
            m.set_compensation(bad_setting)
    assert sent(m) == []  # refused before anything was sent


def test_acquisition_that_never_completes_times_out(dialogue) -> None:
    m = meter(dialogue, STUCK, "meter_tcomp.yaml")
    with pytest.raises(InstrumentTimeout, match=r"\*OPC\?"):
        m.reading()
    assert sent(m) == ["INIT", "*OPC?", "SYST:ERR?"]  # the queue explained nothing


def test_settings_that_do_not_take_are_device_faults(dialogue) -> None:
    m = meter(dialogue, DEAF, "meter_tcomp.yaml")
    with pytest.raises(DeviceFault, match="did not take SENS:COND:CELL 0.1"):
        m.set_cell_constant(0.1)
    with pytest.raises(DeviceFault, match="did not take SENS:COND:TCOMP ON"):
        m.set_compensation(TemperatureCompensation(True, coefficient=1.9, reference=20.0))
    with pytest.raises(DeviceFault, match="'OK'"):
        m.reading()


# -- against the loopback simulator ------------------------------------------------------


def test_reads_the_bench_within_noise(lab, connect) -> None:
    for name, grams in {"EC": 1.0, "LiPF6-EC": 1.2, "EMC": 2.0, "DMC": 0.8}.items():
        lab.bench.deliver(name, grams / lab.bench.stocks[name].density)
    m = ConductivityMeter(connect(lab.meter_resource, T, instrument="meter"))
    assert m.identity().startswith("Electroloop Sim,CM-100,")
    truth = lab.bench.true_conductivity()
    readings = [m.conductivity() for _ in range(20)]
    assert all(abs(r / truth - 1.0) < 0.03 for r in readings)  # 6 sigma of 0.5 %
    assert sum(readings) / len(readings) == pytest.approx(truth, rel=0.005)
    assert m.temperature() == pytest.approx(25.0, abs=0.3)
    m.reset()
    text = m.resource.take().text
    assert re.search(r"> MEAS:COND\?\n\S+ < \d\.\d{6}E[+-]\d\d\n", text)


def test_simulated_model_refusal_becomes_meter_error(lab, connect) -> None:
    m = ConductivityMeter(connect(lab.meter_resource, T))
    lab.bench.deliver("EMC", 1.0)  # no EC, no salt: outside the model's domain
    with pytest.raises(MeterError, match="-222"):
        m.conductivity()
    lab.meter.inject_error(-350, "Queue overflow")
    with pytest.raises(MeterError, match="Queue overflow"):
        m.check_errors()
