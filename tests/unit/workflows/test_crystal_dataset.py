"""Substitution crystals: valid, deterministic, the intended compositions and lattices, and
labels that come from the crystal oracle (through its cache) with their provenance."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest
import torch

from electroloop.errors import ConfigError
from electroloop.settings import CalculatorConfig
from electroloop.simulations.oracle import CalculatorUnavailable
from electroloop.simulations.oracle.cache import ResultCache
from electroloop.simulations.oracle.crystals import single_point
from electroloop.surrogates.crystal_graph import crystal_graph
from electroloop.workflows.crystal_dataset import (
    STRAINS,
    decorate,
    generate,
    label,
    prototypes,
    split_by_group,
    to_graphs,
)
from tests.floats import SAME_COMPUTATION, assert_close


@pytest.fixture(scope="module")
def candidates():  # type: ignore[no-untyped-def]
    return generate()


def test_every_structure_is_a_valid_ordered_crystal(candidates) -> None:  # type: ignore[no-untyped-def]
    assert len(candidates) == 63 * len(STRAINS)
    assert len({c.group for c in candidates}) == 63
    for c in candidates:
        assert c.structure.is_ordered
        distances = c.structure.distance_matrix[np.triu_indices(len(c.structure), 1)]
        assert distances.min() > 1.4  # no bond shorter than P-O (~1.5 Å)
        assert crystal_graph(c.structure).num_nodes == len(c.structure)


def test_generation_is_deterministic(candidates) -> None:  # type: ignore[no-untyped-def]
    again = generate()
    assert [c.group for c in again] == [c.group for c in candidates]
    for a, b in zip(again, candidates, strict=True):
        assert a.structure == b.structure
        assert_close(a.structure.lattice.matrix, b.structure.lattice.matrix, **SAME_COMPUTATION)
        assert_close(a.structure.frac_coords, b.structure.frac_coords, **SAME_COMPUTATION)
        assert [s.specie.symbol for s in a.structure] == [s.specie.symbol for s in b.structure]


def test_compositions_are_as_intended(candidates) -> None:  # type: ignore[no-untyped-def]
    formulas = {c.group for c in candidates}
    for expected in (
        "rocksalt:LiF",
        "rocksalt:NaCl",
        "rocksalt:NaLi3(ClF)2",  # Li3Na on the cations, F2Cl2 on the anions
        "layered:LiCoO2",
        "layered:NaNiS2",
        "layered:Li3MnCoNiO6",  # NMC111-like
        "olivine:LiFePO4",
        "olivine:NaMnPO4",
    ):
        assert expected in formulas
    parents = {
        c.prototype: c
        for c in candidates
        if c.strain == "none" and c.formula in {"LiF", "LiCoO2", "LiFePO4"}
    }
    assert parents["rocksalt"].structure.get_space_group_info()[0] == "Fm-3m"
    assert parents["layered"].structure.get_space_group_info()[0] == "R-3m"
    assert parents["olivine"].structure.get_space_group_info()[0] == "Pnma"


def test_lattices_follow_ionic_radii_and_strains() -> None:
    rocksalt = next(p for p in prototypes() if p.name == "rocksalt")
    nacl = decorate(rocksalt, (("F", ("Cl",)), ("Li", ("Na",))))
    assert nacl.lattice.a == pytest.approx(5.64, rel=0.05)  # experiment 5.64 Å
    lif = rocksalt.structure
    expanded = decorate(rocksalt, (), "expand2")
    assert expanded.volume == pytest.approx(lif.volume * 1.02**3, rel=1e-12)  # rounding only
    sheared = decorate(rocksalt, (), "shear2")
    assert sheared.lattice.gamma < 90.0
    with pytest.raises(ConfigError, match="strain"):
        decorate(rocksalt, (), "twist")
    with pytest.raises(ConfigError, match="unknown prototypes"):
        generate(["perovskite"])


def test_split_keeps_compositions_apart(candidates) -> None:  # type: ignore[no-untyped-def]
    # split_by_group only reads .candidate, so candidates stand in for records here
    fake = [type("R", (), {"candidate": c})() for c in candidates]
    train, test = split_by_group(fake, 0.2, seed=3)  # type: ignore[arg-type]
    train_groups = {r.candidate.group for r in train}
    test_groups = {r.candidate.group for r in test}
    assert not train_groups & test_groups
    assert len(test_groups) == round(0.2 * 63)
    assert split_by_group(fake, 0.2, seed=3)[1] == test  # type: ignore[arg-type]


def test_labels_come_from_the_oracle_with_provenance(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chosen = generate(["rocksalt", "layered"], strains=("none", "uniaxial3"), max_per_prototype=1)
    assert len(chosen) == 4
    path = tmp_path / "oracle.sqlite"
    records = label(chosen, cache_path=path)
    assert len(ResultCache(path)) == 4
    for record in records:
        assert record.energy_per_atom == pytest.approx(
            single_point(record.structure).energy_per_atom, abs=1e-6
        )
        assert record.provenance.calculator == "chgnet"
        assert record.provenance.versions["chgnet"] == metadata.version("chgnet")
    again = label(chosen, cache_path=path)  # answered by the cache: no new rows
    assert len(ResultCache(path)) == 4
    # read back from the cache, not recomputed: copies, exactly equal
    assert [r.energy_per_atom for r in again] == [r.energy_per_atom for r in records]
    graphs = to_graphs(records)
    assert graphs[0].y.shape == torch.Size([1])
    # y is float32: rounding a float64 to 24 bits moves it by at most 6e-8 relative
    assert float(graphs[0].y) == pytest.approx(records[0].energy_per_atom, rel=1e-7)


def test_emt_is_refused_not_substituted() -> None:
    lif = generate(["rocksalt"], strains=("none",), max_per_prototype=1)
    with pytest.raises(CalculatorUnavailable, match="Li"):
        label(lif, CalculatorConfig(name="emt"))
