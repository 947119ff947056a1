"""Crystal graphs: rock-salt LiF neighbour shells, periodic images, supercell and site-order
invariance, Gaussian edge features, and errors that name the structure."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from electroloop.errors import ConfigError
from electroloop.surrogates.crystal_graph import (
    MAX_Z,
    NODE_FEATURES,
    InvalidStructure,
    crystal_graph,
    element_features,
)
from electroloop.workflows.crystal_dataset import olivine

LIF_NN = 4.03 / 2  # Li-F distance in rock salt with a = 4.03 Å

SAME_SITE_DISTANCE = 1e-6
"""Å between the distances of one site computed from two cells (a supercell, another site order):
the float64 distances differ in the last bits, and `Data.distance` stores them as float32, whose
spacing near 2-5 Å is 2.4e-7-4.8e-7 Å; far below any physical difference between shells."""


def lif() -> Structure:
    """Rock-salt LiF, conventional cell (8 sites)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def site_environments(structure: Structure, **options: float) -> list[tuple]:
    """Per site: (element, sorted (neighbour element, distance Å) pairs), from the graph."""
    graph = crystal_graph(structure, **options)
    source, target = graph.edge_index.numpy()
    distance = graph.distance.numpy()
    out = []
    for i, site in enumerate(structure):
        rows = np.flatnonzero(target == i)
        shell = sorted((structure[int(source[k])].specie.symbol, float(distance[k])) for k in rows)
        out.append((site.specie.symbol, tuple(shell)))
    return out


def _same_environment(a: tuple, b: tuple) -> bool:
    """Same element, same neighbour elements, distances within `SAME_SITE_DISTANCE`."""
    (element, shell), (other_element, other_shell) = a, b
    return (
        element == other_element
        and [n for n, _ in shell] == [n for n, _ in other_shell]
        and all(
            abs(d - e) <= SAME_SITE_DISTANCE
            for (_, d), (_, e) in zip(shell, other_shell, strict=True)
        )
    )


def assert_same_environments(actual: list[tuple], expected: list[tuple]) -> None:
    """The two lists hold the same site environments, each as often (a multiset match)."""
    unmatched = list(expected)
    for environment in actual:
        match = next(
            (k for k, e in enumerate(unmatched) if _same_environment(environment, e)), None
        )
        assert match is not None, f"no site like {environment} in {unmatched}"
        del unmatched[match]
    assert not unmatched, f"sites left over: {unmatched}"


def test_every_rock_salt_site_has_six_counter_ions_at_2_015() -> None:
    s = lif()
    graph = crystal_graph(s)
    source, target = graph.edge_index.numpy()
    distance = graph.distance.numpy()
    assert graph.x.shape == (8, NODE_FEATURES)
    assert graph.edge_attr.shape == (graph.num_edges, 40)
    for i, site in enumerate(s):
        rows = np.flatnonzero(target == i)
        order = rows[np.argsort(distance[rows])]
        first = order[:6]
        assert distance[first] == pytest.approx(LIF_NN, abs=1e-3)
        assert distance[order[6]] > 2.8  # next shell: 12 like ions at a/√2 = 2.85 Å
        assert {s[int(j)].specie.symbol for j in source[first]} == (
            {"Li", "F"} - {site.specie.symbol}
        )
        # 12 nearest asked for; the 12 like ions at 2.85 Å are one shell, so all are kept
        assert len(rows) == 18


def test_periodic_images_make_the_shell_of_a_two_site_cell() -> None:
    primitive = lif().get_primitive_structure()
    assert len(primitive) == 2
    graph = crystal_graph(primitive)
    source, target = graph.edge_index.numpy()
    first = (target == 0) & (np.abs(graph.distance.numpy() - LIF_NN) < 1e-3)
    assert first.sum() == 6
    assert set(source[first].tolist()) == {1}  # one F site, six of its images
    images = {tuple(v) for v in graph.edge_image.numpy()[first]}
    assert len(images) == 6


def test_supercell_and_site_order_give_the_same_sites() -> None:
    s = olivine()
    base = site_environments(s)
    assert_same_environments(site_environments(s * (1, 2, 1)), base * 2)
    permutation = np.random.default_rng(0).permutation(len(s))
    shuffled = Structure.from_sites([s[int(i)] for i in permutation])
    assert_same_environments(site_environments(shuffled), base)
    primitive = lif().get_primitive_structure()
    graph, super_graph = crystal_graph(primitive), crystal_graph(primitive * (2, 2, 2))
    # node features are rows copied from the element table, not computed per graph
    assert super_graph.x.unique(dim=0).tolist() == graph.x.unique(dim=0).tolist()


def test_neighbour_count_and_cutoff_are_respected() -> None:
    graph = crystal_graph(olivine(), cutoff=4.0, max_neighbors=8)
    counts = np.bincount(graph.edge_index[1].numpy(), minlength=28)
    assert counts.min() >= 1 and counts.max() <= 10  # 8 plus any ties with the 8th
    assert graph.distance.max() <= 4.0


def test_gaussian_expansion_peaks_at_the_distance() -> None:
    graph = crystal_graph(lif(), cutoff=5.0, gaussians=51)  # centres every 0.1 Å
    k = int(np.argmin(graph.distance.numpy()))
    assert int(graph.edge_attr[k].argmax()) == 20  # 2.015 Å is nearest the 2.0 Å centre
    assert float(graph.edge_attr.max()) <= 1.0


def test_element_features_are_one_hot_plus_properties() -> None:
    li, f = element_features(3), element_features(9)
    assert li[2] == 1.0 and np.count_nonzero(li[:MAX_Z]) == 1  # one-hot: Z=3 set, all else 0
    assert f[MAX_Z] > li[MAX_Z]  # F is more electronegative than Li
    assert np.isfinite(element_features(2)).all()  # He has no Pauling electronegativity
    with pytest.raises(ConfigError, match="Z=95"):
        element_features(95)


@pytest.mark.parametrize(
    ("structure", "why"),
    [
        (Structure(Lattice.cubic(20.0), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]), "isolated"),
        (Structure(Lattice.cubic(4.0), ["Li", "F"], [[0, 0, 0], [0.05, 0, 0]]), "overlapping"),
        (
            Structure(Lattice(np.full((3, 3), np.nan)), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
            "non-finite",
        ),
        (
            Structure(
                Lattice.cubic(4.0), [{"Li": 0.5, "Na": 0.5}, "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]
            ),
            "disordered",
        ),
    ],
    ids=["isolated", "overlapping", "nan-lattice", "disordered"],
)
def test_invalid_structures_are_named(structure: Structure, why: str) -> None:
    formula = structure.composition.reduced_formula
    with pytest.raises(InvalidStructure, match=why) as caught:
        crystal_graph(structure)
    assert formula in str(caught.value)
    assert isinstance(caught.value, ConfigError)


def test_empty_structure_and_bad_parameters() -> None:
    with pytest.raises(InvalidStructure, match="empty"):
        crystal_graph(Structure(Lattice.cubic(4.0), [], []))
    with pytest.raises(ConfigError, match="cutoff"):
        crystal_graph(lif(), cutoff=0.0)
    with pytest.raises(ConfigError, match="max_neighbors"):
        crystal_graph(lif(), max_neighbors=0)
