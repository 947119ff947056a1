"""Simulated conductivity meter over loopback TCP: compensation math, cell constant, SCPI
errors, acquisition timing and a recorded session replayed without the simulator."""

from __future__ import annotations

import time

import pytest

from electroloop.errors import LimitViolation
from electroloop.instruments.conductivity_meter import (
    ConductivityMeter,
    MeterError,
    TemperatureCompensation,
)
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.meter import MeterServer
from electroloop.instruments.transport import ReplayResource, query, write
from tests.floats import SAME_COMPUTATION, assert_close

T = ConductivityMeter.TERMINATIONS
GRAMS = {"EC": 1.0, "LiPF6-EC": 1.2, "EMC": 2.0, "DMC": 0.8}


def fill(bench) -> None:
    for name, grams in GRAMS.items():
        bench.deliver(name, grams / bench.stocks[name].density)


def test_compensation_refers_the_raw_reading_to_the_reference_temperature(lab, connect) -> None:
    fill(lab.bench)
    lab.bench.temperature = 32.0  # the sample is warmer than the reference
    truth = lab.bench.true_conductivity()  # at 32 °C
    m = ConductivityMeter(connect(lab.meter_resource, T))
    off = m.reading()
    # Compensation is OFF after power-up: both are the same reply times 10.
    assert_close(off.conductivity, off.raw_conductivity, **SAME_COMPUTATION)
    assert off.raw_conductivity == pytest.approx(truth, rel=0.03)
    assert off.temperature == pytest.approx(32.0, abs=0.3)
    setting = TemperatureCompensation(enabled=True, coefficient=2.1, reference=25.0)
    assert m.set_compensation(setting) == setting
    for _ in range(5):
        r = m.reading()
        factor = 1.0 + 2.1 / 100.0 * (r.temperature - 25.0)
        # The law applied to three NR3 replies of 7 significant digits (5e-7 relative each).
        assert r.conductivity == pytest.approx(r.raw_conductivity / factor, rel=2e-6, abs=0.0)
        assert r.raw_conductivity == pytest.approx(truth, rel=0.03)
    assert m.conductivity() < truth  # MEAS:COND? answers the compensated value
    m.reset()  # *RST switches compensation off again
    assert m.compensation() == TemperatureCompensation(False, 2.0, 25.0)


def test_cell_constant_scales_the_reading_and_survives_reset(lab, connect) -> None:
    fill(lab.bench)
    truth = lab.bench.true_conductivity()
    m = ConductivityMeter(connect(lab.meter_resource, T))
    assert m.cell_constant() == 1.0  # parsed from the reply: a copy
    assert m.set_cell_constant(0.5) == 0.5  # wrong for this 1.0 cm⁻¹ cell
    assert m.conductivity() == pytest.approx(truth / 2, rel=0.03)
    m.reset()
    assert m.cell_constant() == 0.5  # calibration data, kept over *RST
    with pytest.raises(LimitViolation):
        m.set_cell_constant(0.0)


def test_long_forms_and_scpi_errors(lab, connect) -> None:
    io = connect(lab.meter_resource, T, timeout=0.5)

    def ask(message: str) -> str:
        return query(io, message, instrument="meter")

    write(io, ":sense:conductivity:tcompensation:coefficient 1.5", instrument="meter")
    assert float(ask("SENSE:CONDUCTIVITY:TCOMPENSATION:COEFFICIENT?")) == 1.5
    write(io, "cond:tcomp:stat on", instrument="meter")
    assert ask("SENS:COND:TCOMP:STATE?") == "1"
    write(io, "COND:TCOMP:REF MAX", instrument="meter")
    assert float(ask("COND:TCOMP:REF?")) == 30.0
    assert ask("SYSTEM:ERROR:NEXT?") == '0,"No error"'
    for bad in (
        "SENS:COND:CELL",  # -109 missing parameter
        "SENS:COND:CELL abc",  # -104 data type error
        "SENS:COND:CELL 1,2",  # -108 parameter not allowed
        "SENS:COND:CELL 1000",  # -222 data out of range
        "SENS:COND:TCOMP MAYBE",  # -224 illegal parameter value
        "SENS:CONDU:CELL 1",  # -113 undefined header (not a short or long form)
        "*RST",
        "FETC:TEMP?",  # -230: *RST dropped the last acquisition; answers NAN
    ):
        if bad.endswith("?"):
            assert ask(bad) == "9.91E+37"
        else:
            write(io, bad, instrument="meter")
    codes = [int(ask("SYST:ERR?").split(",")[0]) for _ in range(7)]
    assert codes == [-109, -104, -108, -222, -224, -113, -230]
    for _ in range(20):
        write(io, "NOPE", instrument="meter")
    errors = [ask("SYST:ERR?") for _ in range(17)]
    assert errors[-2:] == ['-350,"Queue overflow"', '0,"No error"']


def test_acquisition_takes_instrument_time(lab, connect) -> None:
    fill(lab.bench)
    with MeterServer(lab.bench, clock=SimClock(100.0), measurement_time=5.0) as slow:
        m = ConductivityMeter(connect(slow.resource_name, T, timeout=0.5))
        write(m.resource, "INIT", instrument="meter")
        write(m.resource, "INIT", instrument="meter")  # still measuring: -213 init ignored
        start = time.monotonic()
        assert query(m.resource, "*OPC?", instrument="meter") == "1"
        assert 0.02 < time.monotonic() - start < 3.0  # 5 s of instrument time at 100x
        with pytest.raises(MeterError, match="-213"):
            m.check_errors()
        start = time.monotonic()
        assert m.reading().raw_conductivity == pytest.approx(
            lab.bench.true_conductivity(), rel=0.03
        )
        assert time.monotonic() - start > 0.04


def test_replayed_session_gives_the_same_results(lab, connect) -> None:
    fill(lab.bench)
    lab.bench.temperature = 28.0

    def session(m: ConductivityMeter) -> list[object]:
        results: list[object] = [m.identity(), m.set_cell_constant(0.98)]
        results.append(m.set_compensation(TemperatureCompensation(True, 1.8, 20.0)))
        results += [m.reading(), m.conductivity(), m.temperature(), m.compensation()]
        m.reset()
        return results

    recorded = connect(lab.meter_resource, T, instrument="meter")
    live = session(ConductivityMeter(recorded))
    transcript = recorded.take()
    replay = ReplayResource(transcript)
    # Conductivities are computed (S/m times 10) on the way: the same arithmetic twice.
    assert_close(session(ConductivityMeter(replay)), live, **SAME_COMPUTATION)
    assert replay.remaining == 0
