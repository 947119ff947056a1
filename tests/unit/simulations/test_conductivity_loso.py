"""Leave-one-source-out over every held-out row: the old physics fails where the new one holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from electroloop.errors import SimulationError
from electroloop.models import Formulation
from electroloop.simulations import conductivity, physics
from electroloop.simulations.calisol import CalisolPoint, load_calisol
from electroloop.simulations.conductivity_fitters import (
    DOSING_MARGIN,
    LEGACY,
    fit_ec_correction,
    fit_sources,
    physics_fitter,
    tiered_fitter,
)
from electroloop.simulations.conductivity_loso import (
    BANDS,
    LosoReport,
    Scored,
    band_of,
    lipf6_in_carbonates,
    loso,
)

LANDESFEIND_2019 = "10.1149/2.0571912jes"  # 0.09–3.3 mol/kg, EC-free EMC:FEC among its blends
LOGAN_2018 = "10.1149/2.0271802jes"  # EC/EMC/DMC up to 2.1 mol/kg
DING_2001 = "10.1149/1.1403730"  # EC/EMC 0.2–0.5 EC, 0.42–1.81 mol/kg, −40..60 °C
SUBSET = (LANDESFEIND_2019, LOGAN_2018, DING_2001)
EC, EMC, DMC = (physics.SOLVENTS[n] for n in ("EC", "EMC", "DMC"))
LIPF6 = physics.SALTS["LiPF6"]


@pytest.fixture(scope="module")
def pool(shared_data: Path) -> list[CalisolPoint]:
    return [p for p in load_calisol(shared_data / "calisol23").points if p.salt == "LiPF6"]


@pytest.fixture(scope="module")
def demo_rows(pool: list[CalisolPoint]) -> list[CalisolPoint]:
    return [p for p in lipf6_in_carbonates(pool) if p.solvents <= {"EC", "EMC", "DMC"}]


@pytest.fixture(scope="module")
def old(pool: list[CalisolPoint], demo_rows: list[CalisolPoint]) -> LosoReport:
    return loso("old", tiered_fitter(**LEGACY), demo_rows, pool, sources=SUBSET)


@pytest.fixture(scope="module")
def new(pool: list[CalisolPoint], demo_rows: list[CalisolPoint]) -> LosoReport:
    return loso("new", physics_fitter(), demo_rows, pool, sources=SUBSET)


def test_every_held_out_row_is_counted(new: LosoReport, demo_rows: list[CalisolPoint]) -> None:
    held = [p for p in demo_rows if p.doi in SUBSET]
    assert new.overall.n == len(held) == sum(s.n for s in new.by_source.values())
    assert sum(s.n for s in new.by_band.values()) == len(held)
    assert list(new.by_band) == [name for name, _, _ in BANDS]


def test_old_physics_refuses_rows_and_is_too_low_above_1_5_mol_per_kg(old: LosoReport) -> None:
    # measured on these three folds: 7 of 451 rows refused (Landesfeind's < 0.2 mol/kg rows),
    # bias −0.31 mS/cm above 1.5 mol/kg, MAE 0.43 mS/cm
    assert old.overall.refused >= 5
    assert old.by_band["> 1.5"].bias < -0.25
    assert old.overall.mae > 0.40


def test_new_physics_scores_every_row_without_band_bias(new: LosoReport) -> None:
    # measured: 0 refused, MAE 0.34, bias +0.03 / +0.23 / +0.06 mS/cm by band
    assert new.overall.refused == 0
    assert new.overall.mae < 0.40
    for name, stats in new.by_band.items():
        assert abs(stats.bias) < 0.25, name


@pytest.mark.parametrize(
    ("fractions", "molality", "low", "high"),
    [
        ({EC: 0.7, EMC: 0.3}, 1.0, 6.0, 12.0),  # 70 % EC: refused before issue 20
        ({EC: 0.3, EMC: 0.7}, 0.067, 1.0, 4.0),  # the unseen lab's most dilute row
        ({EMC: 1.0}, 1.0, 3.0, 8.0),  # pure linear carbonates
        ({DMC: 1.0}, 1.0, 3.0, 10.0),
    ],
)
def test_domain_edge_rows_are_now_computed(
    fractions: dict[str, float], molality: float, low: float, high: float
) -> None:
    assert low < physics.conductivity(fractions, LIPF6, molality, 25.0) < high


@pytest.mark.parametrize(
    ("fractions", "molality", "named"),
    [
        ({EC: 0.3, EMC: 0.7}, 0.01, "molality is 0.01 mol/kg; allowed: 0.0444..3.26 mol/kg"),
        ({EC: 0.8, EMC: 0.2}, 1.0, "mass fraction of EC is 0.8; allowed: 0..0.7"),
        ({EC: 0.3, EMC: 0.7}, 4.0, "molality is 4 mol/kg; allowed: 0.0444..3.26 mol/kg"),
    ],
)
def test_bad_input_is_refused_naming_field_and_range(
    fractions: dict[str, float], molality: float, named: str
) -> None:
    with pytest.raises(SimulationError) as info:
        physics.conductivity(fractions, LIPF6, molality, 25.0)
    assert named in str(info.value)


def test_fit_sources_holds_a_lab_out(pool: list[CalisolPoint]) -> None:
    model = fit_sources(pool, exclude={DING_2001})
    assert DING_2001 not in model.sources and len(model.sources) >= 10
    blend = Formulation(
        fractions={"EC": 0.3, "EMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25.0
    )
    # shared/data/README.md: EC:EMC mixtures peak near 9.5–10 mS/cm at 25 °C
    assert model(blend) == pytest.approx(9.5, abs=1.0)
    only = fit_sources(pool, include={LANDESFEIND_2019, DING_2001})
    assert only.sources == (DING_2001, LANDESFEIND_2019)


def test_fit_sources_refuses_bad_input(pool: list[CalisolPoint]) -> None:
    with pytest.raises(SimulationError, match="no LiPF6 rows from sources"):
        fit_sources(pool, include={"10.0/none"})
    model = fit_sources(pool, include={DING_2001})
    other = Formulation(
        fractions={"EC": 0.3, "EMC": 0.7}, salt="LiBF4", molality=1.0, temperature=25.0
    )
    with pytest.raises(SimulationError, match=r"salt is 'LiBF4'; allowed: \['LiPF6'\]"):
        model(other)
    with pytest.raises(SimulationError, match="molality is 3 mol/kg; allowed: 0.212..1.81"):
        model.conductivity({"EC": 0.3, "EMC": 0.7}, 3.0, 25.0)  # Ding's box, halved below
    assert (
        fit_sources(pool, include={DING_2001}, extrapolate=True).conductivity(
            {"EC": 0.3, "EMC": 0.7}, 3.0, 25.0
        )
        > 0.0
    )


def test_bands_and_refusals_are_named() -> None:
    assert [band_of(m) for m in (0.0, 0.49, 0.5, 1.5, 3.0)] == [
        "< 0.5",
        "< 0.5",
        "0.5–1.5",
        "> 1.5",
        "> 1.5",
    ]
    with pytest.raises(SimulationError, match="molality is -1.0; allowed: >= 0 mol/kg"):
        band_of(-1.0)


def test_a_refused_row_is_counted_not_dropped(pool: list[CalisolPoint]) -> None:
    rows = [p for p in pool if p.doi == DING_2001][:10]
    report = loso("refuses", lambda train: lambda p: None, rows, pool)
    assert report.overall.n == 10 and report.overall.refused == 10 and report.overall.scored == 0
    computed = loso("constant", lambda train: lambda p: Scored(5.0, True), rows, pool)
    assert computed.overall.extrapolated == 10 and computed.overall.refused == 0


def test_the_old_physics_is_refitted_as_it_was_fitted(pool: list[CalisolPoint]) -> None:
    # the fold refit on every source reproduces the shipped EC correction (printed to 4 decimals)
    refitted = fit_ec_correction(pool)
    assert refitted == pytest.approx(conductivity.EC_CORRECTION, abs=1e-4)
    assert DOSING_MARGIN == physics.DOSING_MARGIN
