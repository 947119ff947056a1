"""Content cache: keys, hits without recomputation, failures not cached."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from electroloop.errors import SimulationError
from electroloop.simulations.oracle import CalculationFailed, cache, crystals, molecules
from electroloop.simulations.oracle.cache import ResultCache, structure_hash

EC = "O=C1OCCO1"


class Counting:
    """Wraps the real `molecules.evaluate` and counts how often it really runs."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, smiles: str, params: molecules.XtbParameters) -> molecules.MoleculeResult:
        self.calls += 1
        return molecules.evaluate(smiles, params)


def test_second_call_is_served_from_the_cache(tmp_path: Path) -> None:
    store = ResultCache(tmp_path / "oracle.sqlite")
    counting = Counting()
    first = cache.molecule(store, EC, compute=counting)
    second = cache.molecule(store, "C1COC(=O)O1", compute=counting)  # same molecule, other SMILES
    reopened = cache.molecule(ResultCache(tmp_path / "oracle.sqlite"), EC, compute=counting)
    assert counting.calls == 1
    assert second == first == reopened  # read back from the store: copied, not recomputed
    assert len(store) == 1


def test_other_parameters_are_another_key(tmp_path: Path) -> None:
    store = ResultCache(tmp_path / "oracle.sqlite")
    counting = Counting()
    cache.molecule(store, EC, compute=counting)
    cache.molecule(store, EC, molecules.XtbParameters(method="GFN1-xTB"), compute=counting)
    assert counting.calls == 2 and len(store) == 2


def test_failures_are_typed_and_not_cached(tmp_path: Path) -> None:
    store = ResultCache(tmp_path / "oracle.sqlite")
    with pytest.raises(CalculationFailed):
        cache.molecule(store, EC, molecules.XtbParameters(max_iterations=2))
    with pytest.raises(SimulationError, match="not-a-smiles"):
        cache.molecule(store, "not-a-smiles")
    assert len(store) == 0


def test_structure_hash_ignores_site_order_and_translations_by_a_lattice_vector() -> None:
    s = Structure(Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    shuffled = Structure(Lattice.cubic(4.03), ["F", "Li"], [[0.5, 0.5, -0.5], [1.0, 0, 0]])
    assert structure_hash(s) == structure_hash(shuffled)
    assert structure_hash(s) != structure_hash(Structure(s.lattice, ["Na", "F"], s.frac_coords))
    assert structure_hash(s) != structure_hash(
        Structure(Lattice.cubic(4.1), s.species, s.frac_coords)
    )


def test_crystal_cache_hit_skips_the_calculator(tmp_path: Path) -> None:
    store = ResultCache(tmp_path / "oracle.sqlite")
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]])
    config = crystals.CalculatorConfig(name="emt")
    calls = []

    def counted() -> crystals.CrystalResult:
        calls.append(1)
        return crystals.single_point(cu, config)

    def through_cache() -> crystals.CrystalResult:
        return store.get_or_compute(
            subject=structure_hash(cu),
            method="crystal/emt",
            parameters=config.model_dump(),
            versions=cache.package_versions(cache.CRYSTAL_PACKAGES),
            result_type=crystals.CrystalResult,
            compute=counted,
        )

    assert through_cache() == through_cache()  # the second is read back from the store
    assert len(calls) == 1
    relaxed = cache.crystal(store, cu, config, relax=True, fmax=0.01)
    assert cache.crystal(store, cu, config, relax=True, fmax=0.01) == relaxed  # a stored copy
    assert len(store) == 2
