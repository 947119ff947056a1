"""Crystal oracle: Structure <-> Atoms, CHGNet relaxation, EMT on Cu, DFT configs (not run)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.calculators.espresso import Espresso
from ase.calculators.vasp import Vasp
from pymatgen.core import Lattice, Structure

from electroloop.simulations.oracle import CalculatorUnavailable
from electroloop.simulations.oracle.crystals import (
    CalculatorConfig,
    build_calculator,
    relax,
    single_point,
    to_atoms,
    to_structure,
)


def lif(a: float) -> Structure:
    """Rock-salt LiF primitive cell; experimental a = 4.03 Å."""
    cubic = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    return cubic.get_primitive_structure()


def copper(a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Cu"], [[0, 0, 0]])


def test_structure_atoms_round_trip() -> None:
    s = lif(4.1)
    back = to_structure(to_atoms(s))
    # pymatgen -> ASE -> pymatgen converts coordinates back and forth: rounding only (Å, fractions)
    assert back.lattice.matrix == pytest.approx(s.lattice.matrix, rel=1e-12, abs=1e-12)
    assert [str(x.specie) for x in back] == [str(x.specie) for x in s]
    assert back.frac_coords == pytest.approx(s.frac_coords, rel=1e-12, abs=1e-12)


def test_chgnet_relaxation_lowers_energy_and_forces() -> None:
    strained = lif(4.3)
    rattled = strained.copy()
    rattled.translate_sites([0], [0.03, -0.02, 0.01], frac_coords=True)
    before = single_point(rattled)
    after = relax(rattled, fmax=0.05, steps=100)
    assert after.energy < before.energy
    assert after.max_force < 0.05
    assert np.abs(after.stress).max() < 0.25 * np.abs(before.stress).max()
    a = (4 * after.final_structure().volume) ** (1 / 3)  # fcc primitive cell holds a³/4
    assert 3.9 < a < 4.2  # experimental 4.03 Å


def test_emt_on_copper() -> None:
    config = CalculatorConfig(name="emt")
    strained = copper(3.7)
    after = relax(strained, config, fmax=0.01, steps=100)
    assert after.energy < single_point(strained, config).energy
    # EMT's Cu lattice constant is ~3.59 Å (Jacobsen et al. 1996); experiment 3.61 Å
    assert after.final_structure().lattice.a == pytest.approx(3.59, abs=0.03)
    assert np.abs(after.stress).max() < 1e-3


def test_emt_refuses_elements_without_parameters() -> None:
    with pytest.raises(CalculatorUnavailable, match="Li"):
        single_point(lif(4.0), CalculatorConfig(name="emt"))


def test_config_builds_the_named_calculator(tmp_path) -> None:
    fake = tmp_path / "fake-dft"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert isinstance(build_calculator(CalculatorConfig(name="emt")), EMT)
    vasp = build_calculator(
        CalculatorConfig(name="vasp", command=f"{fake} -n 4", parameters={"encut": 520})
    )
    assert isinstance(vasp, Vasp) and vasp.parameters["encut"] == 520  # type: ignore[attr-defined]
    qe = build_calculator(
        CalculatorConfig(name="espresso", command=str(fake), pseudo_dir=str(tmp_path))
    )
    assert isinstance(qe, Espresso)


@pytest.mark.parametrize("name", ["vasp", "espresso"])
def test_missing_dft_executable_is_a_clear_error(name: str) -> None:
    config = CalculatorConfig(name=name, command="no-such-dft-binary -in x", pseudo_dir="/tmp")
    with pytest.raises(CalculatorUnavailable, match="no-such-dft-binary.*not on PATH"):
        build_calculator(config)


def test_missing_gpaw_package_is_a_clear_error() -> None:
    try:
        import gpaw  # noqa: F401
    except ImportError:
        with pytest.raises(CalculatorUnavailable, match="gpaw"):
            build_calculator(CalculatorConfig(name="gpaw"))
    else:
        pytest.skip("gpaw is installed here")
