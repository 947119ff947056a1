"""The simulated lab's physics: the CALiSol-fitted model everywhere, the demo included (checked
against CALiSol rows), and loud outside its domain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from electroloop.errors import SimulationError
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.models import Salt, SearchSpace, Solvent
from electroloop.settings import Settings
from electroloop.simulations import electrolyte, physics
from electroloop.simulations.calisol import CalisolData, load_calisol
from electroloop.simulations.optimum import true_optimum
from electroloop.workflows.build import assemble
from tests.floats import SAME_COMPUTATION, assert_close

EC, PC, DMC = physics.SOLVENTS["EC"], physics.SOLVENTS["PC"], physics.SOLVENTS["DMC"]
LIPF6, LIBF4 = physics.SALTS["LiPF6"], physics.SALTS["LiBF4"]


@pytest.fixture(scope="module")
def data(shared_data: Path) -> CalisolData:
    return load_calisol(shared_data / "calisol23")


def space(solvents: list[tuple[str, str, float, float]], salt: Salt) -> SearchSpace:
    return SearchSpace(
        solvents=tuple(
            Solvent(name=n, smiles=s, min_fraction=lo, max_fraction=hi) for n, s, lo, hi in solvents
        ),
        salt=salt,
        temperature=25.0,
    )


LIPF6_EC_PC_DMC = space(
    [("EC", EC, 0.1, 0.5), ("PC", PC, 0.1, 0.5), ("DMC", DMC, 0.2, 0.8)],
    Salt(name="LiPF6", smiles="[Li+].F[P-](F)(F)(F)(F)F", min_molality=0.5, max_molality=2.0),
)
LIBF4_EC_PC = space(
    [("EC", EC, 0.0, 0.6), ("PC", PC, 0.4, 1.0)],
    Salt(name="LiBF4", smiles="[Li+].F[B-](F)(F)F", min_molality=0.3, max_molality=2.0),
)


def random_feasible(s: SearchSpace, n: int, seed: int) -> list[tuple[dict[str, float], float]]:
    """Uniform on the simplex, kept when inside every bound; fractions keyed by SMILES."""
    rng = np.random.default_rng(seed)
    out: list[tuple[dict[str, float], float]] = []
    while len(out) < n:
        w = rng.dirichlet(np.ones(len(s.solvents)))
        if all(v.min_fraction <= x <= v.max_fraction for v, x in zip(s.solvents, w, strict=True)):
            m = float(rng.uniform(s.salt.min_molality, s.salt.max_molality))
            fractions = {v.canonical_smiles: float(x) for v, x in zip(s.solvents, w, strict=True)}
            out.append((fractions, m))
    return out


def test_the_demo_space_is_computed_by_one_model_without_a_jump_at_the_old_tier_edge() -> None:
    demo = default_campaign().space
    salt = demo.salt.smiles  # as written in the campaign, not canonical
    for fractions, m in random_feasible(demo, 50, seed=3):
        for t in (-10.0, 25.0, 50.0):
            assert physics.model_of(fractions, salt, m, t) == electrolyte.MODEL
            assert 0.5 < physics.conductivity(fractions, salt, m, t) < 20.0  # ~17 at 50 °C
    # EC 0.1 was the Landesfeind tier's edge, where σ jumped by ~0.5 mS/cm; now it is smooth
    # there: ±0.1 % EC moves σ by the model's slope alone (~14 mS/cm per unit EC, so ~0.03)
    emc = physics.SOLVENTS["EMC"]
    below = physics.conductivity({EC: 0.099, emc: 0.901}, LIPF6, 1.0, 25.0)
    above = physics.conductivity({EC: 0.101, emc: 0.899}, LIPF6, 1.0, 25.0)
    assert above == pytest.approx(below, abs=0.05)


def test_the_demo_optimum() -> None:
    # Issue 20 moved the demo to the CALiSol model (was 12.5997 mS/cm at EC 0.346 / DMC 0.654,
    # 1.015 mol/kg under the Landesfeind tier). SLSQP stops at ftol 1e-12 on -log(conductivity):
    # the value at a flat maximum is reproduced to far better than 1e-9, its location only to
    # about sqrt(1e-12) per coordinate, well inside 1e-5.
    formulation, value = true_optimum(default_campaign().space)
    assert value == pytest.approx(12.251781258872963, rel=1e-9)
    assert formulation.molality == pytest.approx(0.9945189538398443, abs=1e-5)
    assert formulation.fractions == pytest.approx(
        {"EC": 0.3696853086367218, "EMC": 0.0, "DMC": 0.630314691363278}, abs=1e-5
    )
    assert list(formulation.fractions) == ["EC", "EMC", "DMC"]


def test_an_absent_solvent_does_not_change_the_value() -> None:
    blend = {EC: 0.3, DMC: 0.7}
    with_zero = {EC: 0.3, PC: 0.0, DMC: 0.7}
    # the absent solvent is dropped before the same closed form: rounding only
    assert physics.conductivity(with_zero, LIPF6, 1.0, 25.0) == pytest.approx(
        physics.conductivity(blend, LIPF6, 1.0, 25.0), rel=1e-12
    )
    assert physics.model_of({EC: 0.3, PC: 0.01, DMC: 0.69}, LIPF6, 1.0, 25.0) == electrolyte.MODEL


def _mae(data: CalisolData, salt: str, solvents: set[str], doi: str) -> tuple[int, float]:
    rows = [
        p
        for p in data.points
        if p.salt == salt and p.solvents == frozenset(solvents) and p.doi == doi
    ]
    salt_smiles = physics.SALTS[salt]
    errors = []
    for p in rows:
        fractions = {physics.SOLVENTS[n]: w for n, w in p.fractions}
        assert physics.model_of(fractions, salt_smiles, p.molality, p.temperature) == (
            electrolyte.MODEL
        )
        value = physics.conductivity(fractions, salt_smiles, p.molality, p.temperature)
        errors.append(abs(value - p.conductivity))
    return len(rows), float(np.mean(errors))


def test_libf4_in_pc_and_ec_pc_matches_calisol(data: CalisolData) -> None:
    # LiBF4 LOSO MAE: 0.32 mS/cm (docs/electrolyte_model.md). Measured here: PC 0.18 mS/cm on 121
    # rows, EC/PC 0.05 on 212, −40..59 °C. The other LiBF4-in-PC source (10.1021/je0498863)
    # interleaves rows of 0.03–1.6 mS/cm between neighbours at ~3 mS/cm, so it is not a yardstick.
    n, mae = _mae(data, "LiBF4", {"PC"}, "10.1149/1.1630593")
    assert n > 100 and mae < 0.32
    n, mae = _mae(data, "LiBF4", {"EC", "PC"}, "10.1149/1.1630593")
    assert n > 200 and mae < 0.32


def test_lipf6_in_ec_pc_dmc_matches_calisol(data: CalisolData) -> None:
    # The only EC/PC/DMC source: MAE 0.74 mS/cm on its 28 rows (−10..60 °C, 0.34–3.26 mol/kg),
    # below this system's own held-out error (1.04 mS/cm with the source left out of the fit) but
    # above LiPF6's overall LOSO 0.28; its replicate pairs differ by up to 0.7 mS/cm.
    n, mae = _mae(data, "LiPF6", {"EC", "PC", "DMC"}, "10.1149/1.1872737")
    assert n == 28 and mae < 0.8


@pytest.mark.parametrize(
    "s", [LIPF6_EC_PC_DMC, LIBF4_EC_PC], ids=["LiPF6-EC-PC-DMC", "LiBF4-EC-PC"]
)
def test_true_optimum_of_a_space_of_the_broad_model(s: SearchSpace) -> None:
    formulation, value = true_optimum(s)
    s.check(formulation)
    salt = s.salt.canonical_smiles
    # the value is the physics evaluated again at the returned formulation: rounding only
    assert value == pytest.approx(
        physics.conductivity(s.fractions_by_smiles(formulation), salt, formulation.molality, 25.0),
        rel=1e-12,
    )
    best_random = max(
        physics.conductivity(f, salt, m, 25.0) for f, m in random_feasible(s, 1000, seed=5)
    )
    assert best_random <= value + 1e-9
    assert_close(true_optimum(s), (formulation, value), **SAME_COMPUTATION)


def test_the_broad_model_takes_dosing_noise_past_its_box_but_not_more() -> None:
    high = electrolyte.default_model().domain("LiBF4").molality[1]
    physics.conductivity({PC: 1.0}, LIBF4, high + 0.01, 25.0)  # a dosing miss: computed
    with pytest.raises(SimulationError, match="molality is"):
        physics.conductivity({PC: 1.0}, LIBF4, high + 0.1, 25.0)


@pytest.mark.parametrize(
    ("fractions", "salt", "named"),
    [
        ({EC: 1.0}, "[Li+].[Cl-]", "supported salts: LiBF4 (F[B-](F)(F)F.[Li+]), LiBOB"),
        ({EC: 0.5, "CCO": 0.5}, LIPF6, "supported solvents: DEC (CCOC(=O)OCC), DMC"),
        ({EC: 0.3, DMC: 0.7}, LIBF4, "solvents ['DMC'] are not supported with LiBF4"),
        ({EC: 0.9, DMC: 0.1}, LIPF6, "mass fraction of EC is 0.9; allowed: 0..0.7"),
    ],
)
def test_unsupported_species_raise_listing_what_is(
    fractions: dict[str, float], salt: str, named: str
) -> None:
    with pytest.raises(SimulationError) as info:
        physics.conductivity(fractions, salt, 1.0, 25.0)
    assert named in str(info.value)


def test_spaces_outside_the_physics_are_refused_before_optimising() -> None:
    libf4_dmc = space([("EC", EC, 0.1, 0.5), ("DMC", DMC, 0.5, 0.9)], LIBF4_EC_PC.salt)
    with pytest.raises(SimulationError, match=r"DMC is not supported with LiBF4; .*PC \(CC1"):
        true_optimum(libf4_dmc)
    too_much_ec = space([("EC", EC, 0.1, 0.9), ("DMC", DMC, 0.1, 0.9)], LIPF6_EC_PC_DMC.salt)
    with pytest.raises(
        SimulationError, match=r"EC mass fraction reaches 0.1..0.9; allowed: 0..0.7"
    ):
        true_optimum(too_much_ec)


def test_a_dry_run_on_lipf6_in_ec_pc_dmc_measures_the_physics(tmp_path: Path) -> None:
    data = default_campaign().model_dump(mode="json")
    data |= {
        "name": "ec-pc-dmc",
        "planner": "sobol",
        "budget": 4,
        "batch_size": 4,
        "solvents": [
            {"name": "EC", "smiles": EC, "min_fraction": 0.1, "max_fraction": 0.5},
            {"name": "PC", "smiles": PC, "min_fraction": 0.05, "max_fraction": 0.4},
            {"name": "DMC", "smiles": DMC, "min_fraction": 0.2, "max_fraction": 0.85},
        ],
        "salt": {"name": "LiPF6", "smiles": LIPF6, "min_molality": 0.5, "max_molality": 2.0},
    }
    spec = parse_campaign(data, "test")
    with assemble(spec, Settings(home=tmp_path), "c1", []) as assembly:
        state = assembly.campaign.run()
    assert len(state.observations) == 4 and not state.failures
    for observation in state.observations.values():
        dosed = observation.as_dosed
        assert dosed is not None
        fractions = spec.space.fractions_by_smiles(dosed)
        assert physics.model_of(fractions, LIPF6, dosed.molality, dosed.temperature) == (
            electrolyte.MODEL
        )
        truth = physics.conductivity(fractions, LIPF6, dosed.molality, dosed.temperature)
        assert observation.values["conductivity"] == pytest.approx(truth, rel=0.03)
