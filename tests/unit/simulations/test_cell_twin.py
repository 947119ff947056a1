"""The PyBaMM cell twin (O'Kane 2022 LG M50): capacity, electrolyte and SEI effects, cache, inputs.

Real PyBaMM runs, kept short (a 4-step rate test and 3-cycle cycling runs, SPMe).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from electroloop.errors import SimulationError
from electroloop.simulations.cell_twin import (
    CellTwin,
    Electrolyte,
    cycling,
    formation,
    rate_test,
)
from electroloop.simulations.conductivity import conductivity
from electroloop.simulations.sei import ADDITIVES, BARE_MULTIPLIER, sei_rate

BASE = {"EC": 0.3, "EMC": 0.7}


@pytest.fixture(scope="module")
def twin() -> CellTwin:
    """O'Kane's SEI without plating: these tests ask about the electrolyte, at half the cost."""
    return CellTwin(plating=False)


@pytest.fixture(scope="module")
def rate_runs(twin: CellTwin) -> dict[float, object]:
    return {
        sigma: twin.run(rate_test(), Electrolyte(BASE, conductivity=sigma)) for sigma in (3, 12)
    }


def test_nominal_capacity_at_c5_matches_chen2020(rate_runs: dict) -> None:
    # Chen et al. 2020: LG M50 nominal 5 Ah; the twin's C/5 discharge after CC-CV charge.
    c5 = rate_runs[12].cycles[0]
    assert c5.discharge_c_rate == 0.2  # parsed from the protocol's step text, not computed
    assert c5.discharge_capacity == pytest.approx(5.0, rel=0.03)
    assert 3.5 < c5.mean_discharge_voltage < 3.8
    # the mean voltage is energy / capacity: multiplying back is rounding only
    assert c5.discharge_energy == pytest.approx(
        c5.discharge_capacity * c5.mean_discharge_voltage, rel=1e-12
    )


def test_lower_conductivity_lowers_rate_capability(rate_runs: dict) -> None:
    low, high = rate_runs[3], rate_runs[12]
    assert low.discharge_capacities[-1] < high.discharge_capacities[-1] - 0.03  # 2C
    assert low.discharge_capacities[0] == pytest.approx(high.discharge_capacities[0], rel=0.005)
    assert low.rate_capability < high.rate_capability < 1.0


def test_conductivity_function_matches_scalar_form(twin: CellTwin, rate_runs: dict) -> None:
    """A σ(c, T) table of Nyman2008 × 12/9.49 reproduces the scalar 12 mS/cm run."""
    import pybamm
    from pybamm.input.parameters.lithium_ion import Chen2020

    def sigma(c: np.ndarray, kelvin: float) -> np.ndarray:
        out = Chen2020.electrolyte_conductivity_Nyman2008(pybamm.Vector(c), pybamm.Scalar(kelvin))
        return np.ravel(out.evaluate()) * 12.0 / 9.487

    run = twin.run(rate_test(), Electrolyte(BASE, conductivity_function=sigma))
    assert run.conductivity == pytest.approx(12.0, rel=1e-3)
    assert run.discharge_capacities == pytest.approx(rate_runs[12].discharge_capacities, rel=2e-3)


def test_electroloop_conductivity_feeds_the_twin() -> None:
    sigma = conductivity({"O=C1OCCO1": 0.3, "CCOC(=O)OC": 0.7}, "F[P-](F)(F)(F)(F)F.[Li+]", 1.1, 25)
    electrolyte = Electrolyte(BASE, conductivity=sigma)
    # scaled to Nyman2008 at 25 °C and evaluated back there: rounding only
    assert CellTwin()._conductivity(electrolyte)[0] == pytest.approx(sigma, rel=1e-12)


def test_additive_multipliers_follow_documented_rule() -> None:
    # m = BARE · exp(sum of dose-weighted logs): the documented closed form, rounding only
    bare = BARE_MULTIPLIER
    assert sei_rate(BASE).multiplier == pytest.approx(bare, rel=1e-12)
    assert sei_rate({"EC": 0.3, "EMC": 0.68, "VC": 0.02}).multiplier == pytest.approx(
        bare * 0.25, rel=1e-12
    )
    assert sei_rate({"EC": 0.3, "EMC": 0.69, "VC": 0.01}).multiplier == pytest.approx(
        bare * 0.25**0.5, rel=1e-12
    )
    assert sei_rate({"EC": 0.3, "EMC": 0.6, "FEC": 0.1}).multiplier == pytest.approx(
        bare * 0.35, rel=1e-12
    )
    both = sei_rate({"EC": 0.3, "EMC": 0.65, "FEC": 0.03, "VC": 0.02})
    assert both.multiplier == pytest.approx(bare * 0.25 * 0.35 ** (0.03 / 0.05), rel=1e-12)
    assert any("Aurbach" in p for p in both.provenance)
    assert any("doi:10.1021/cr500003w" in p for p in both.provenance)
    assert any("D2CP00417H" in p for p in both.provenance)  # the O'Kane 2022 reference
    for effect in ADDITIVES.values():
        assert effect.plausible[0] <= effect.ratio <= effect.plausible[1]
    # SMILES keys are accepted as well as names.
    by_smiles = sei_rate({"O=C1OCCO1": 0.3, "CCOC(=O)OC": 0.68, "O=c1occo1": 0.02})
    assert by_smiles.multiplier == pytest.approx(bare * 0.25, rel=1e-12)


def test_larger_sei_rate_fades_faster_and_plating_adds_fade() -> None:
    twin = CellTwin()  # O'Kane's SEI and plating
    baseline = twin.run(cycling(3, 1.0), Electrolyte(BASE, conductivity=9.5))
    with_vc = twin.run(cycling(3, 1.0), Electrolyte({**BASE, "EMC": 0.68, "VC": 0.02}, 9.5))
    assert with_vc.sei.multiplier == pytest.approx(1.0, rel=1e-12)  # sei_rate's closed form
    assert 0 < with_vc.capacity_fade < baseline.capacity_fade
    assert all(0.99 < c.coulombic_efficiency <= 1.0 for c in baseline.cycles[1:])
    no_plating = CellTwin(plating=False).run(cycling(3, 1.0), Electrolyte(BASE, 9.5))
    assert 0 < no_plating.capacity_fade < baseline.capacity_fade


def test_cache_hit_does_not_resolve(tmp_path: Path) -> None:
    twin = CellTwin(cache_dir=tmp_path)
    electrolyte = Electrolyte(BASE, conductivity=9.5)
    first = twin.run(formation(cycles=1, c_rate=1.0), electrolyte)
    assert twin.solves == 1
    again = twin.run(formation(cycles=1, c_rate=1.0), Electrolyte(dict(BASE), conductivity=9.5))
    assert again is first and twin.solves == 1
    fresh = CellTwin(cache_dir=tmp_path)  # another process: the JSON file answers
    # read back from the JSON file, not solved again: every float is copied, so exactly equal
    assert fresh.run(formation(cycles=1, c_rate=1.0), electrolyte) == first
    assert fresh.solves == 0
    assert len(list(tmp_path.glob("cell_twin-*.json"))) == 1


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: cycling(3, -1.0), "cycling c_rate"),
        (lambda: rate_test((0.2, 5.0)), "discharge c_rate"),
        (lambda: formation(cycles=0), "cycles"),
        (lambda: CellTwin(temperature=80.0), "temperature"),
        (lambda: CellTwin(plating="yes"), "plating"),
    ],
)
def test_bad_protocol_inputs_raise(call: object, field: str) -> None:
    with pytest.raises(SimulationError, match=f"{field}.*allowed"):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("electrolyte", "match"),
    [
        (Electrolyte({"EC": 0.3, "EMC": 0.68, "LiDFOB": 0.02}, 9.5), "LiDFOB.*allowed"),
        (Electrolyte({"EC": 0.3, "EMC": 0.6}, 9.5), "sum to 0.9.*allowed: 1"),
        (Electrolyte({"EC": 0.3, "EMC": 0.6, "VC": 0.1}, 9.5), "VC.*allowed: 0..0.05"),
        (Electrolyte(BASE, conductivity=-2.0), "conductivity.*allowed"),
        (Electrolyte(BASE), "exactly one"),
        (Electrolyte(BASE, conductivity=math.nan), "conductivity.*allowed"),
    ],
)
def test_bad_electrolyte_raises_before_solving(electrolyte: Electrolyte, match: str) -> None:
    twin = CellTwin()
    with pytest.raises(SimulationError, match=match):
        twin.run(formation(), electrolyte)
    assert twin.solves == 0
