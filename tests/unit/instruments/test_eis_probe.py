"""Conductivity by impedance: the bulk-resistance fit, and the probe on a simulated cell."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from electroloop.errors import LimitViolation
from electroloop.instruments.eis_probe import (
    DEFAULT_FREQUENCIES,
    EisConductivityProbe,
    EisFitError,
    bulk_resistance,
    cell_impedance,
)
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.eis_cell import SimulatedEisCell
from electroloop.models import Stock
from electroloop.samples import METER
from electroloop.simulations.conductivity import conductivity

F = np.array(DEFAULT_FREQUENCIES)


@settings(max_examples=25, deadline=None)
@given(
    st.floats(min_value=0.0, max_value=6.0),  # log10 R_b / Ω
    st.floats(min_value=-13.0, max_value=-8.0),  # log10 C_g / F
    st.floats(min_value=-7.0, max_value=-4.0),  # log10 Q
    st.floats(min_value=0.7, max_value=1.0),
)
def test_the_fit_recovers_the_bulk_resistance_of_any_visible_cell(
    log_r: float, log_c: float, log_q: float, n: float
) -> None:
    r, c, q = 10**log_r, 10**log_c, 10**log_q
    assume(1 / (q * (2 * math.pi * F.max()) ** n) < 0.05 * r)  # the bulk shows at 1 MHz
    assume(1 / (2 * math.pi * r * c) > 10.0)  # the arc, if any, lies above 10 Hz
    fit = bulk_resistance(F, cell_impedance(F, r, c, q, n))
    assert fit.resistance == pytest.approx(r, rel=1e-3)  # an exact spectrum: fit tolerance


def test_a_noisy_liquid_electrolyte_spectrum_reads_within_one_percent() -> None:
    rng = np.random.default_rng(3)
    z = cell_impedance(F, 84.0, 1.8e-12, 1e-5, 0.9)  # ~12 mS/cm in a 1 cm⁻¹ cell
    noise = rng.normal(0.0, 0.002, (2, z.size))
    noisy = z + np.abs(z) * (noise[0] + 1j * noise[1])
    fit = bulk_resistance(F, noisy)
    assert fit.resistance == pytest.approx(84.0, rel=0.01)
    assert fit.residual < 0.01


def test_spectra_that_hide_the_bulk_are_refused_naming_why() -> None:
    low = np.logspace(2, 0, 13)  # 100 Hz to 1 Hz: the double layer only
    with pytest.raises(EisFitError, match="sweep to higher frequency"):
        bulk_resistance(low, cell_impedance(low, 84.0, 1.8e-12, 1e-5, 0.9))
    rng = np.random.default_rng(0)
    scatter = rng.uniform(1, 100, F.size) - 1j * rng.uniform(1, 100, F.size)
    with pytest.raises(EisFitError, match="rms; allowed: 5%"):
        bulk_resistance(F, scatter)
    with pytest.raises(EisFitError, match="at least 8"):
        bulk_resistance(F[:5], cell_impedance(F[:5], 84.0, 1e-12, 1e-5, 0.9))
    bad = cell_impedance(F, 84.0, 1e-12, 1e-5, 0.9)
    bad[3] = complex("nan")
    with pytest.raises(EisFitError, match="non-finite"):
        bulk_resistance(F, bad)


@pytest.fixture
def bench(stocks: list[Stock]) -> SimulatedBench:
    bench = SimulatedBench(stocks, 25.0, conductivity, seed=4)
    for name, grams in {"EC": 1.0, "LiPF6-EC": 1.2, "EMC": 2.0, "DMC": 0.8}.items():
        bench.deliver(name, grams / bench.stocks[name].density)
    return bench


def test_the_probe_reads_the_bench_through_the_cell_constant(bench: SimulatedBench) -> None:
    cell = SimulatedEisCell(bench, cell_constant=1.2)
    probe = EisConductivityProbe(cell, cell_constant=1.2)
    truth = bench.true_conductivity()
    assert probe.conductivity() == pytest.approx(truth, rel=0.01)
    assert probe.last_fit is not None
    assert probe.last_fit.resistance == pytest.approx(1.2 / (truth / 1000), rel=0.01)
    assert probe.temperature() == pytest.approx(25.0, abs=1e-12)
    wrong = EisConductivityProbe(cell, cell_constant=0.6)  # a constant off by half
    assert wrong.conductivity() == pytest.approx(truth / 2, rel=0.01)
    bench.add_standard("kcl", METER, lambda t: 1.413)  # the check standard reads true too
    assert probe.conductivity() == pytest.approx(1.413, rel=0.01)


@pytest.mark.parametrize("constant", [0.0, -1.0, 500.0, float("nan")])
def test_a_cell_constant_out_of_range_is_refused_before_any_sweep(constant: float) -> None:
    with pytest.raises(LimitViolation, match="cell constant"):
        EisConductivityProbe(SimulatedEisCell.__new__(SimulatedEisCell), cell_constant=constant)
    if constant == 0.0:  # and a sweep too short, refused the same way
        with pytest.raises(EisFitError, match="at least 8"):
            EisConductivityProbe(SimulatedEisCell.__new__(SimulatedEisCell), 1.0, [1e3, 1e2])
